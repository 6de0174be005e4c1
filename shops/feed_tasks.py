"""Celery tasks of API feed imports (see shops/services/feed_jobs.py)."""

import datetime as dt
import logging

from celery import shared_task
from django.conf import settings
from django.db.models import Q
from django.utils import timezone

from compliance_portal.celery import OutboxTask
from shops.models import FeedJob
from shops.services.feed_jobs import feed_job_process

logger = logging.getLogger(__name__)


# Acknowledged after the import: a worker lost mid-import leaves the job to the next delivery.
# Queued after commit; with the broker down the job row stays queued for feed_jobs_requeue_task.
@shared_task(base=OutboxTask, acks_late=True, reject_on_worker_lost=True)
def feed_job_task(job_id: int) -> None:
    feed_job_process(job_id=job_id)


@shared_task
def feed_jobs_requeue_task() -> int:
    """Queue again the jobs whose message was lost: still queued, or left running by a dead worker.

    A duplicate is harmless: the import holds an advisory lock and skips a finished job.
    """
    cutoff = timezone.now() - dt.timedelta(seconds=settings.FEED_JOB_REQUEUE_AFTER_SECONDS)
    lost = FeedJob.objects.filter(
        Q(state=FeedJob.State.QUEUED, created_at__lt=cutoff) | Q(state=FeedJob.State.RUNNING, started_at__lt=cutoff)
    )
    queued = 0
    for job_id in lost.order_by("created_at").values_list("id", flat=True):
        if feed_job_task.delay(job_id) is None:
            break
        queued += 1
    if queued:
        logger.warning("Feed jobs: %s queued again (message lost or worker gone)", queued)
    return queued
