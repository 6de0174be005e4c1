"""Thin Celery tasks: ids and dates in, a service call, the next chunks out."""

import datetime as dt
import logging

from celery import shared_task
from django.utils import timezone

from shops.models import EvaluationRun
from shops.services.evaluation import (
    RunInProgress,
    ScheduledRunExists,
    evaluation_pending_chunk_ids,
    evaluation_process_chunk,
    evaluation_start,
)

logger = logging.getLogger(__name__)

# A run whose chunks have seen no progress for this long has lost its messages.
STALLED_AFTER = dt.timedelta(minutes=10)


def evaluation_dispatch(run: EvaluationRun) -> int:
    """Queue one task per pending chunk of the run's current phase."""
    chunk_ids = evaluation_pending_chunk_ids(run=run)
    for chunk_id in chunk_ids:
        evaluation_chunk_task.delay(chunk_id)
    return len(chunk_ids)


@shared_task
def evaluation_daily_task(as_of: str | None = None) -> int | None:
    day = dt.date.fromisoformat(as_of) if as_of else timezone.localdate()
    try:
        run = evaluation_start(as_of=day, trigger=EvaluationRun.Trigger.SCHEDULED)
    except (RunInProgress, ScheduledRunExists) as exc:
        logger.warning("Daily evaluation for %s not started: %s", day, exc)
        return None
    evaluation_dispatch(run)
    return run.pk


@shared_task(acks_late=True, reject_on_worker_lost=True)
def evaluation_chunk_task(chunk_id: int) -> None:
    chunk = evaluation_process_chunk(chunk_id=chunk_id)
    if chunk is None:
        return
    run = EvaluationRun.objects.get(pk=chunk.run_id)
    # The chunk that completed its phase hands the next phase to the workers.
    if run.state == EvaluationRun.State.RUNNING and run.phase != chunk.entity:
        evaluation_dispatch(run)


@shared_task
def evaluation_resume_task() -> None:
    """Re-queue the chunks of a run that stopped moving (lost messages, killed workers)."""
    run = EvaluationRun.objects.filter(state=EvaluationRun.State.RUNNING).first()
    if run is None:
        return
    last = run.chunks.filter(done=True).order_by("-finished_at").values_list("finished_at", flat=True).first()
    if (last or run.started_at) < timezone.now() - STALLED_AFTER:
        logger.warning("Run #%s made no progress since %s; re-queueing its chunks", run.pk, last or run.started_at)
        evaluation_dispatch(run)


@shared_task
def notifications_email_task() -> int:
    """E-mail the notifications of users who want them at once."""
    from shops.services.notification_email import notifications_email_pending

    return notifications_email_pending(digest=False)


@shared_task
def notifications_digest_task() -> int:
    """Once a day: one e-mail per digest user with everything not yet e-mailed."""
    from shops.services.notification_email import notifications_email_pending

    return notifications_email_pending(digest=True)


@shared_task
def overrides_expire_task() -> int:
    """Tell sellers once about each override that has expired; safe to run as often as wanted."""
    from shops.services.appeals import overrides_expire

    return overrides_expire()


@shared_task
def licences_flag_refresh_task() -> int:
    """Flag business licences bound to more active shops than allowed (seed 001)."""
    from shops.services.integrity import licences_flag_refresh

    return len(licences_flag_refresh())
