"""Thin Celery tasks: ids and dates in, a service call, the next chunks out."""

import datetime as dt
import logging

from celery import shared_task
from django.utils import timezone

from compliance_portal.celery import OutboxTask
from shops.models import EvaluationRun
from shops.services.evaluation import (
    TRANSIENT_DB_ERRORS,
    RunInProgress,
    ScheduledRunExists,
    evaluation_chunk_failed,
    evaluation_chunk_retry_delay,
    evaluation_daily_due,
    evaluation_pending_chunk_ids,
    evaluation_process_chunk,
    evaluation_stalled,
    evaluation_start,
)

logger = logging.getLogger(__name__)


def evaluation_dispatch(run: EvaluationRun) -> int:
    """Queue one task per pending chunk of the run's current phase; returns how many were queued.

    With the broker down the rest are not tried: the chunks stay pending in PostgreSQL and
    ``evaluation_resume_task`` queues them again once the run is seen stalled.
    """
    queued = 0
    for chunk_id in evaluation_pending_chunk_ids(run=run):
        if evaluation_chunk_task.delay(chunk_id) is None:
            break
        queued += 1
    return queued


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


@shared_task
def evaluation_daily_catch_up_task() -> int | None:
    """Start today's scheduled run if its hour has passed without one (broker down, a manual
    run in progress at the hour, a local time skipped by a daylight-saving change)."""
    day = evaluation_daily_due(now=timezone.now())
    if day is None:
        return None
    logger.warning("The scheduled evaluation for %s has not started by now: starting it", day)
    return evaluation_daily_task(day.isoformat())


# Acknowledged once evaluated: a chunk whose worker died is delivered again (or re-queued by the
# sweep), and finds nothing left to do if it had committed.
@shared_task(bind=True, base=OutboxTask, acks_late=True, reject_on_worker_lost=True, max_retries=None)
def evaluation_chunk_task(self, chunk_id: int) -> None:
    try:
        chunk = evaluation_process_chunk(chunk_id=chunk_id)
    except TRANSIENT_DB_ERRORS as exc:
        # The chunk's transaction was rolled back with the connection: nothing of it was applied.
        delay = evaluation_chunk_retry_delay(attempt=self.request.retries)
        if delay is not None:
            logger.warning(
                "Chunk %s: database error, retry %s in %ss: %s", chunk_id, self.request.retries + 1, delay, exc
            )
            raise self.retry(exc=exc, countdown=delay) from None
        evaluation_chunk_failed(chunk_id=chunk_id, exc=exc, attempts=self.request.retries + 1)
        raise
    except Exception as exc:
        evaluation_chunk_failed(chunk_id=chunk_id, exc=exc, attempts=1)
        raise
    if chunk is None:
        return
    run = EvaluationRun.objects.get(pk=chunk.run_id)
    # The chunk that completed its phase hands the next phase to the workers.
    if run.state == EvaluationRun.State.RUNNING and run.phase != chunk.entity:
        evaluation_dispatch(run)


@shared_task
def evaluation_resume_task() -> int:
    """Re-queue the chunks of a run that stopped moving (lost messages, killed workers, broker down)."""
    run = EvaluationRun.objects.filter(state=EvaluationRun.State.RUNNING).first()
    if run is None or not evaluation_stalled(run=run, now=timezone.now()):
        return 0
    logger.warning("Run #%s made no progress lately; re-queueing the chunks of its %s phase", run.pk, run.phase)
    return evaluation_dispatch(run)


@shared_task(base=OutboxTask)
def notifications_email_task() -> int:
    """E-mail the notifications of users who want them at once.

    Not while an evaluation run is going: its chunks would wait behind the rendering of
    thousands of e-mails on the same workers. A run that starts while this task is sending makes
    it stop after the current batch of users. The run queues this task again when it finishes.
    """
    from shops.services.notification_email import notifications_email_pending

    def run_going() -> bool:
        return EvaluationRun.objects.filter(state=EvaluationRun.State.RUNNING).exists()

    if run_going():
        return 0
    return notifications_email_pending(digest=False, stop=run_going)


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


@shared_task
def ruleset_shadow_task(draft_id: str, token: str) -> None:
    """A rule-set draft's shadow run: a dry run whose outcome goes to the draft store."""
    from shops.services.rulesets import ruleset_shadow_run

    ruleset_shadow_run(draft_id=draft_id, token=token)
