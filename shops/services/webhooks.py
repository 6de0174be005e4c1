"""Webhooks: events are written to an outbox in the transaction of the change and delivered
after commit, so no event is lost when Redis is briefly down."""

from collections.abc import Iterable

from shops.models import WebhookEvent, WebhookSubscription


def webhook_subscribed(event: str) -> bool:
    """Whether any active subscription wants ``event`` (events are skipped when nobody listens)."""
    return any(
        event in events for events in WebhookSubscription.objects.filter(active=True).values_list("events", flat=True)
    )


def webhook_event_record(*, event: str, payload: dict, seller_ids: Iterable[int] = (), dedupe_key: str) -> None:
    """Put one event in the outbox (idempotent by ``dedupe_key``); call inside the change's transaction."""
    WebhookEvent.objects.get_or_create(
        dedupe_key=dedupe_key, defaults={"event": event, "payload": payload, "seller_ids": sorted(set(seller_ids))}
    )


def webhook_events_record_many(events: list[tuple[str, dict, list[int], str]]) -> None:
    """Set-based: (event, payload, seller ids, dedupe key) per event."""
    WebhookEvent.objects.bulk_create(
        [
            WebhookEvent(event=event, payload=payload, seller_ids=sorted(set(seller_ids)), dedupe_key=key)
            for event, payload, seller_ids, key in events
        ],
        batch_size=1000,
        ignore_conflicts=True,
    )
