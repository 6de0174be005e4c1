"""Celery tasks of webhook delivery (see shops/services/webhooks.py)."""
