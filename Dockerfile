# Graylab: one image for the web server and the Celery workers.
FROM python:3.11-slim-bookworm

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    GRAYLAB_DATA_DIR=/data

RUN useradd --create-home --uid 1000 graylab
WORKDIR /app

COPY pyproject.toml constraints.txt ./
RUN pip install --upgrade pip && pip install -c constraints.txt .

COPY . .
RUN mkdir -p /data && chown graylab:graylab /data \
 && DEBUG=false ALLOWED_HOSTS=localhost \
    SECRET_KEY=build-time-only-key-for-collectstatic-never-used-to-sign-anything \
    python manage.py collectstatic --noinput

USER graylab
EXPOSE 8000
CMD ["gunicorn", "config.wsgi:application", "--bind", "0.0.0.0:8000", "--workers", "4", "--threads", "4", "--access-logfile", "-"]
