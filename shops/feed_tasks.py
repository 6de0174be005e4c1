"""Celery tasks of API feed imports (see shops/services/feed_jobs.py)."""

from celery import shared_task

from shops.services.feed_jobs import feed_job_process


# Acknowledged after the import: a worker lost mid-import leaves the job to the next delivery.
@shared_task(acks_late=True, reject_on_worker_lost=True)
def feed_job_task(job_id: int) -> None:
    feed_job_process(job_id=job_id)
