"""The Celery worker: ``celery -A worker worker`` (and ``celery -A worker beat`` for the schedule)."""

from worker.celery_app import app

__all__ = ["app"]
