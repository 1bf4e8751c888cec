"""Candidate generation: endpoints, runs, Celery tasks on the ``generation`` queue."""
