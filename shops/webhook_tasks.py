"""Celery tasks of webhook delivery (see shops/services/webhooks.py)."""

from celery import shared_task

from compliance_portal.celery import OutboxTask
from shops.services.webhooks import webhook_deliver, webhook_deliveries_due, webhook_outbox_dispatch

DISPATCH_BATCH = 500


@shared_task(base=OutboxTask)
def webhook_dispatch_task() -> int:
    """Empty the outbox in batches (queued after each recorded event, and by the beat every minute)."""
    total = 0
    while True:
        count = webhook_outbox_dispatch(limit=DISPATCH_BATCH)
        total += count
        if count < DISPATCH_BATCH:
            return total


@shared_task(base=OutboxTask, acks_late=True, reject_on_worker_lost=True)
def webhook_deliver_task(delivery_id: int) -> None:
    webhook_deliver(delivery_id=delivery_id)


@shared_task
def webhook_retry_task() -> int:
    """Queue the deliveries whose retry is due, and any the broker refused to queue earlier."""
    queued = 0
    for delivery_id in webhook_deliveries_due():
        if webhook_deliver_task.delay(delivery_id) is None:
            break
        queued += 1
    return queued
