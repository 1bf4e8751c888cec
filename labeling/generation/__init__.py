"""Candidate generation: model endpoints, runs, and the executor that turns planned candidates
into candidates on the ``generation`` queue.

``endpoints`` (admins' endpoint settings) · ``runs`` (create, plan, finalise, cancel, resume,
recover) · ``dispatch`` (batches sent to the workers) · ``executor`` (claim, call, store) ·
``tasks`` (the Celery tasks, which take ids and call one of the above) · ``client`` (the
``openai`` client) · ``semaphore`` (the per-endpoint concurrency limit across workers).
"""
