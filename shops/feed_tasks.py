"""Celery tasks of API feed imports (see shops/services/feed_jobs.py)."""
