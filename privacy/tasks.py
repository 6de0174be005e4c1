"""Thin Celery tasks of the privacy centre: ids in, a service called."""

from celery import shared_task

from privacy.services.access_log import access_log_flush
from privacy.services.erasure_notices import recipient_notices_send
from privacy.services.exports import export_build
from privacy.services.retention import retention_apply
from privacy.services.rights import rights_deadlines_alert


@shared_task(acks_late=True, reject_on_worker_lost=True)
def export_build_task(export_id: int) -> str | None:
    export = export_build(export_id=export_id)
    return export.state if export else None


@shared_task
def retention_apply_task() -> dict:
    return retention_apply().removed


@shared_task
def rights_deadlines_alert_task() -> dict:
    return rights_deadlines_alert()


@shared_task
def access_log_flush_task() -> int:
    return access_log_flush()


@shared_task
def recipient_notices_send_task(receipt_id: int | None = None) -> int:
    return recipient_notices_send(receipt_id=receipt_id)
