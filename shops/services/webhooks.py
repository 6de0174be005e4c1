"""Webhooks: events are written to an outbox in the transaction of the change and delivered
after commit, so no event is lost when Redis is briefly down.

The path of an event: ``webhook_event_record`` writes a ``WebhookEvent`` row and, after commit,
queues the dispatch task. ``webhook_outbox_dispatch`` turns each undispatched event into one
``WebhookDelivery`` per subscription allowed to see it, and queues one delivery task each.
``webhook_deliver`` signs and POSTs; a failure is retried with exponential backoff by the
retry beat. If the broker is unreachable nothing is queued, but the rows stay and the beat
entries (dispatch every minute, retries every 30 s) deliver them once it is back.
"""

import dataclasses
import datetime as dt
import hashlib
import hmac
import ipaddress
import json
import logging
import secrets
import socket
import time
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from urllib.parse import urlsplit

import requests
from django.conf import settings
from django.core.exceptions import PermissionDenied, ValidationError
from django.core.validators import URLValidator
from django.db import transaction
from django.db.models import Q, QuerySet
from django.utils import timezone
from kombu.exceptions import OperationalError

from privacy.selectors import sharing_withheld, sharing_withheld_for
from shops.models import ApiToken, SellerMembership, User, WebhookDelivery, WebhookEvent, WebhookSubscription
from shops.services.audit import audit_record

logger = logging.getLogger(__name__)

EVENTS = [choice for choice, _ in WebhookSubscription.Event.choices]
OPS_ONLY_EVENTS = {WebhookSubscription.Event.RUN_COMPLETED}
USER_AGENT = "CompliancePortal-Webhooks/1.0"
TIMEOUT_SECONDS = 5
MAX_BACKOFF_SECONDS = 3600
# A claimed delivery is not taken again for this long (a worker that died mid-send is retried).
CLAIM_SECONDS = 60
SECRET_PREFIX = "whsec_"  # noqa: S105 - a marker, not a secret  # nosec B105 # a prefix marker, not a secret


def _retry_base_seconds() -> float:
    return float(getattr(settings, "WEBHOOK_RETRY_BASE_SECONDS", 30))


def _max_attempts() -> int:
    return int(getattr(settings, "WEBHOOK_MAX_ATTEMPTS", 8))


def _production() -> bool:
    # Deliberately not DEBUG: a production server debugged with DEBUG=1 must not become a way
    # to make requests to the internal network.
    return getattr(settings, "ENVIRONMENT", "local") == "production"


# Queueing ---------------------------------------------------------------------------------------


def _queue(task, *args) -> bool:
    """``task.delay(*args)``; an unreachable broker is logged, not raised (the beat catches up)."""
    try:
        task.delay(*args)
    except (OperationalError, ConnectionError) as exc:
        logger.warning("Webhook task %s not queued, the broker is unreachable (the beat retries): %s", task.name, exc)
        return False
    return True


def _queue_dispatch() -> None:
    from shops.webhook_tasks import webhook_dispatch_task

    _queue(webhook_dispatch_task)


def _queue_deliveries(delivery_ids: Sequence[int]) -> None:
    from shops.webhook_tasks import webhook_deliver_task

    for delivery_id in delivery_ids:
        # After one refusal the broker is down for the rest as well; the retry beat has them.
        if not _queue(webhook_deliver_task, delivery_id):
            return


# The outbox -------------------------------------------------------------------------------------


def webhook_subscribed(event: str) -> bool:
    """Whether any active subscription wants ``event`` (events are skipped when nobody listens)."""
    return any(
        event in events
        for events in WebhookSubscription.objects.filter(active=True, token__revoked_at__isnull=True).values_list(
            "events", flat=True
        )
    )


def webhook_event_record(*, event: str, payload: dict, seller_ids: Iterable[int] = (), dedupe_key: str) -> None:
    """Put one event in the outbox (idempotent by ``dedupe_key``); call inside the change's transaction."""
    _, created = WebhookEvent.objects.get_or_create(
        dedupe_key=dedupe_key, defaults={"event": event, "payload": payload, "seller_ids": sorted(set(seller_ids))}
    )
    if created:
        transaction.on_commit(_queue_dispatch)


def webhook_events_record_many(events: list[tuple[str, dict, list[int], str]]) -> None:
    """Set-based: (event, payload, seller ids, dedupe key) per event."""
    if not events:
        return
    WebhookEvent.objects.bulk_create(
        [
            WebhookEvent(event=event, payload=payload, seller_ids=sorted(set(seller_ids)), dedupe_key=key)
            for event, payload, seller_ids, key in events
        ],
        batch_size=1000,
        ignore_conflicts=True,
    )
    transaction.on_commit(_queue_dispatch)


# Who may see an event ---------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class Audience:
    """What a subscriber's user may see: everything (ops), its sellers' objects, its creator."""

    ops: bool
    seller_ids: frozenset[int]
    creator_key: str | None


def webhook_audiences(users: Iterable[User]) -> dict[int, Audience]:
    """The audience of each user, by user id, in one query (the users carry ``creator``)."""
    users = list(users)
    sellers: dict[int, set[int]] = defaultdict(set)
    for user_id, seller_id in SellerMembership.objects.filter(user__in=users).values_list("user_id", "seller_id"):
        sellers[user_id].add(seller_id)
    return {
        user.pk: Audience(
            ops=user.is_ops,
            seller_ids=frozenset(sellers[user.pk]),
            creator_key=user.creator.key if user.creator_id else None,
        )
        for user in users
    }


def webhook_event_visible(event: WebhookEvent, audience: Audience) -> bool:
    """Ops see every event; a seller's client events about its sellers' objects; a creator's
    client events about its own creator (payload ``entity`` "creator" and ``id`` its key)."""
    if audience.ops:
        return True
    if event.event in OPS_ONLY_EVENTS:
        return False
    if audience.seller_ids.intersection(event.seller_ids):
        return True
    payload = event.payload if isinstance(event.payload, dict) else {}
    return audience.creator_key is not None and (
        payload.get("entity") == "creator" and payload.get("id") == audience.creator_key
    )


def _deliverable_subscriptions() -> QuerySet[WebhookSubscription]:
    return WebhookSubscription.objects.filter(
        active=True, token__revoked_at__isnull=True, token__user__is_active=True
    ).select_related("token__user__creator")


def webhook_outbox_dispatch(*, limit: int = 500) -> int:
    """Turn up to ``limit`` undispatched events into deliveries; returns how many events.

    Concurrent dispatchers skip each other's rows (FOR UPDATE SKIP LOCKED), and a delivery is
    unique per subscription and event, so an event is never delivered twice to one subscriber.
    """
    now = timezone.now()
    with transaction.atomic():
        events = list(
            WebhookEvent.objects.filter(dispatched_at__isnull=True)
            .order_by("created_at", "id")
            .select_for_update(skip_locked=True)[:limit]
        )
        if not events:
            return 0
        subscriptions = list(_deliverable_subscriptions())
        audiences = webhook_audiences({s.token.user for s in subscriptions})
        withheld = sharing_withheld() if subscriptions else None
        deliveries = [
            WebhookDelivery(subscription=subscription, event=event, next_attempt_at=now)
            for event in events
            if withheld is None or not _sharing_withheld(event, withheld)
            for subscription in subscriptions
            if event.event in subscription.events
            and webhook_event_visible(event, audiences[subscription.token.user_id])
        ]
        WebhookDelivery.objects.bulk_create(deliveries, batch_size=1000, ignore_conflicts=True)
        event_ids = [event.pk for event in events]
        WebhookEvent.objects.filter(pk__in=event_ids).update(dispatched_at=now)
        delivery_ids = list(
            WebhookDelivery.objects.filter(
                event_id__in=event_ids, state=WebhookDelivery.State.PENDING, attempts=0
            ).values_list("id", flat=True)
        )
        transaction.on_commit(lambda: _queue_deliveries(delivery_ids))
    logger.info("Webhook outbox: %s events dispatched as %s deliveries", len(events), len(delivery_ids))
    return len(events)


def webhook_deliveries_due(*, limit: int = 1000) -> list[int]:
    """Pending deliveries whose (next) attempt is due: retries, and those never queued."""
    return list(
        WebhookDelivery.objects.filter(state=WebhookDelivery.State.PENDING, next_attempt_at__lte=timezone.now())
        .order_by("next_attempt_at")
        .values_list("id", flat=True)[:limit]
    )


# Signing ----------------------------------------------------------------------------------------


def webhook_signature(secret: str, timestamp: int | str, body: bytes | str) -> str:
    """``sha256=<hex HMAC-SHA256(secret, "<timestamp>.<body>")>``, the ``X-CP-Signature`` header."""
    if isinstance(body, str):
        body = body.encode()
    digest = hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256).hexdigest()
    return f"sha256={digest}"


def webhook_verify(
    secret: str, headers: Mapping[str, str], body: bytes | str, tolerance: int = 300, *, now: float | None = None
) -> bool:
    """For receivers: the signature matches the body and the timestamp is at most ``tolerance``
    seconds away (a replayed old request fails). Header names are matched case-insensitively.

    >>> webhook_verify(secret, request.headers, request.body)  # doctest: +SKIP
    """
    lowered = {str(name).lower(): value for name, value in headers.items()}
    timestamp = str(lowered.get("x-cp-timestamp", ""))
    signature = str(lowered.get("x-cp-signature", ""))
    if not timestamp.isdigit():
        return False
    if abs((time.time() if now is None else now) - int(timestamp)) > tolerance:
        return False
    return hmac.compare_digest(signature, webhook_signature(secret, timestamp, body))


def _body(event: WebhookEvent) -> bytes:
    document = {"id": event.pk, "event": event.event, "created_at": event.created_at.isoformat(), "data": event.payload}
    return json.dumps(document, separators=(",", ":"), sort_keys=True).encode()


# Delivery ---------------------------------------------------------------------------------------


def webhook_backoff(attempts: int) -> dt.timedelta:
    """The wait after the ``attempts``-th failed attempt: base, 2 x base, 4 x base ... at most 1 h."""
    return dt.timedelta(seconds=min(_retry_base_seconds() * 2 ** max(attempts - 1, 0), MAX_BACKOFF_SECONDS))


def _refusal(subscription: WebhookSubscription, event: WebhookEvent) -> str | None:
    """Why this delivery may not be sent now (checked again at send time: things change)."""
    token = subscription.token
    if not subscription.active:
        return "The subscription is paused."
    if token.revoked_at is not None or not token.user.is_active:
        return "The subscription's API token is revoked."
    if not webhook_event_visible(event, webhook_audiences([token.user])[token.user_id]):
        return "The subscriber may no longer see this event."
    seller_ids, creator_key = _event_subjects(event)
    if (seller_ids or creator_key) and sharing_withheld_for(seller_ids=seller_ids, creator_key=creator_key):
        return "The person this event is about withdrew consent to sharing their data."
    return None


# Consent (privacy centre): no event carrying the data of a person who withdrew consent to
# sharing is delivered; checked when deliveries are made and again just before sending.


def _event_subjects(event: WebhookEvent) -> tuple[list[int], str | None]:
    payload = event.payload if isinstance(event.payload, dict) else {}
    creator_key = payload.get("id") if payload.get("entity") == "creator" else None
    return list(event.seller_ids or []), creator_key


def _sharing_withheld(event: WebhookEvent, withheld) -> bool:
    seller_ids, creator_key = _event_subjects(event)
    return withheld.covers(seller_ids=seller_ids, creator_key=creator_key)


def webhook_deliver(*, delivery_id: int) -> WebhookDelivery | None:
    """Send one delivery if it is pending and due; returns it, or None if there was nothing to do.

    The delivery is first claimed with a conditional UPDATE, so two tasks for the same
    delivery (a duplicated message, the retry beat) never both send it; a delivered delivery
    is never sent again. The outcome is written only if the claim still holds.
    """
    now = timezone.now()
    claimed_until = now + dt.timedelta(seconds=CLAIM_SECONDS)
    claimed = (
        WebhookDelivery.objects.filter(pk=delivery_id, state=WebhookDelivery.State.PENDING)
        .filter(Q(next_attempt_at__isnull=True) | Q(next_attempt_at__lte=now))
        .update(next_attempt_at=claimed_until)
    )
    if not claimed:
        return None
    delivery = (
        WebhookDelivery.objects.select_related("event", "subscription__token__user__creator")
        .filter(pk=delivery_id)
        .first()
    )
    if delivery is None:
        return None
    subscription, event = delivery.subscription, delivery.event
    refusal = _refusal(subscription, event)
    status_code, error = None, refusal or ""
    # Resolved again at send time: a name can come to point to an internal address.
    if refusal is None and _production():
        error = _url_problem(subscription.url) or ""
    if not error:
        body = _body(event)
        timestamp = int(time.time())
        headers = {
            "Content-Type": "application/json",
            "User-Agent": USER_AGENT,
            "X-CP-Event": event.event,
            "X-CP-Delivery": str(delivery.pk),
            "X-CP-Timestamp": str(timestamp),
            "X-CP-Signature": webhook_signature(subscription.secret, timestamp, body),
        }
        try:
            # Redirects are not followed: they could lead to an address the URL check refused.
            # Streamed, so that a receiver answering with a huge body costs us 200 bytes.
            with requests.post(
                subscription.url,
                data=body,
                headers=headers,
                timeout=TIMEOUT_SECONDS,
                allow_redirects=False,
                stream=True,
            ) as response:
                status_code = response.status_code
                if not 200 <= status_code < 300:
                    snippet = next(response.iter_content(200), b"").decode(errors="replace")
                    error = f"HTTP {status_code}: {snippet}"
        except requests.RequestException as exc:
            error = f"{type(exc).__name__}: {exc}"[:500]

    attempts = delivery.attempts + (0 if refusal else 1)  # a refused delivery was not attempted
    done = timezone.now()
    if not error:
        changes = {"state": WebhookDelivery.State.DELIVERED, "delivered_at": done, "next_attempt_at": None}
    elif attempts >= _max_attempts() or refusal is not None:
        changes = {"state": WebhookDelivery.State.FAILED, "next_attempt_at": None}
    else:
        changes = {"next_attempt_at": done + webhook_backoff(attempts)}
    changes |= {"attempts": attempts, "last_status_code": status_code, "last_error": error}
    # A manual redelivery in the meantime moved next_attempt_at: its outcome is the one kept.
    WebhookDelivery.objects.filter(
        pk=delivery.pk, state=WebhookDelivery.State.PENDING, next_attempt_at=claimed_until
    ).update(**changes)
    if error:
        logger.info("Webhook delivery #%s attempt %s failed: %s", delivery.pk, attempts, error)
    # None if the subscription was deleted meanwhile.
    return WebhookDelivery.objects.filter(pk=delivery.pk).first()


def webhook_redeliver(*, delivery: WebhookDelivery, user: User) -> WebhookDelivery:
    """Send a delivery again now, with a fresh set of attempts (the owner's manual redelivery)."""
    subscription = delivery.subscription
    _check_owner(subscription, user)
    if not subscription.active:
        raise ValidationError({"subscription": "The subscription is paused; activate it before redelivering."})
    with transaction.atomic():
        previous = WebhookDelivery.objects.select_for_update().get(pk=delivery.pk)
        audit_record(
            actor=user,
            action="webhook.redeliver",
            object_type="webhook_delivery",
            object_id=previous.pk,
            details={
                "subscription": subscription.pk,
                "event": previous.event_id,
                "previous_state": previous.state,
                "previous_attempts": previous.attempts,
                "previous_delivered_at": previous.delivered_at.isoformat() if previous.delivered_at else None,
            },
        )
        WebhookDelivery.objects.filter(pk=previous.pk).update(
            state=WebhookDelivery.State.PENDING,
            attempts=0,
            next_attempt_at=timezone.now(),
            last_status_code=None,
            last_error="",
            delivered_at=None,
        )
        transaction.on_commit(lambda: _queue_deliveries([previous.pk]))
    delivery.refresh_from_db()
    return delivery


# Subscriptions ----------------------------------------------------------------------------------


def _url_problem(url: str) -> str | None:
    """What is wrong with a receiver URL, or None. Production wants https to a public address."""
    try:
        url.encode()  # a lone surrogate passes the validator but not the database
        URLValidator(schemes=["http", "https"])(url)
        parts = urlsplit(url)
        port = parts.port or (443 if parts.scheme == "https" else 80)
    except (ValidationError, ValueError):
        return "Enter a valid http(s) URL."
    if parts.username or parts.password:
        return "The URL must not carry credentials: deliveries are authenticated by their signature."
    if not _production():
        return None
    if parts.scheme != "https":
        return "Webhook URLs must use https."
    host = parts.hostname or ""
    try:
        addresses = {ipaddress.ip_address(host)}
    except ValueError:
        try:
            infos = socket.getaddrinfo(host, port, proto=socket.IPPROTO_TCP)
        except (OSError, UnicodeError):
            return f"The host {host} cannot be resolved."
        addresses = {ipaddress.ip_address(info[4][0].split("%")[0]) for info in infos}
    if any(not address.is_global or address.is_multicast for address in addresses):
        return "Webhook URLs must point to a public address, not a private, loopback or reserved one."
    return None


def _clean(*, url: str | None, events: Sequence[str] | None, user: User) -> dict:
    errors, cleaned = {}, {}
    if url is not None:
        url = url.strip()
        problem = "The URL is longer than 500 characters." if len(url) > 500 else _url_problem(url)
        if problem:
            errors["url"] = problem
        cleaned["url"] = url
    if events is not None:
        unknown = sorted({str(e) for e in events} - set(EVENTS))
        if not events or unknown:
            errors["events"] = (
                f"Unknown events: {', '.join(unknown)}" if unknown else "Subscribe to at least one event."
            ) + f" (known: {', '.join(EVENTS)})"
        elif not user.is_ops and OPS_ONLY_EVENTS.intersection(events):
            errors["events"] = f"Only ops clients can subscribe to {', '.join(sorted(OPS_ONLY_EVENTS))}."
        cleaned["events"] = sorted(set(events))
    if errors:
        raise ValidationError(errors)
    return cleaned


def _check_owner(subscription: WebhookSubscription, user: User) -> None:
    if subscription.token.user_id != user.pk:
        raise PermissionDenied("Only the subscription's owner can change it.")


def webhook_subscriptions_of(*, user: User) -> QuerySet[WebhookSubscription]:
    """The subscriptions a user manages: those of its own tokens."""
    return WebhookSubscription.objects.filter(token__user=user).select_related("token")


def webhook_subscription_create(*, token: ApiToken, url: str, events: Sequence[str]) -> tuple[WebhookSubscription, str]:
    """Returns the subscription and its signing secret, which the caller shows once."""
    if token.revoked_at is not None:
        raise PermissionDenied("The API token is revoked.")
    cleaned = _clean(url=url, events=events, user=token.user)
    secret = SECRET_PREFIX + secrets.token_urlsafe(32)
    with transaction.atomic():
        subscription = WebhookSubscription.objects.create(token=token, secret=secret, **cleaned)
        audit_record(
            actor=token.user,
            action="webhook.create",
            object_type="webhook_subscription",
            object_id=subscription.pk,
            details={"url": subscription.url, "events": subscription.events, "token": token.prefix},
        )
    return subscription, secret


def webhook_subscription_update(
    *,
    subscription: WebhookSubscription,
    user: User,
    url: str | None = None,
    events: Sequence[str] | None = None,
    active: bool | None = None,
) -> WebhookSubscription:
    _check_owner(subscription, user)
    changes = _clean(url=url, events=events, user=user)
    if active is not None:
        changes["active"] = bool(active)
    with transaction.atomic():
        for field, value in changes.items():
            setattr(subscription, field, value)
        subscription.save(update_fields=list(changes))
        audit_record(
            actor=user,
            action="webhook.update",
            object_type="webhook_subscription",
            object_id=subscription.pk,
            details=changes,
        )
    return subscription


def webhook_subscription_delete(*, subscription: WebhookSubscription, user: User) -> None:
    """Deletes the subscription and its delivery log (the audit trail keeps the deletion)."""
    _check_owner(subscription, user)
    with transaction.atomic():
        audit_record(
            actor=user,
            action="webhook.delete",
            object_type="webhook_subscription",
            object_id=subscription.pk,
            details={"url": subscription.url, "events": subscription.events},
        )
        subscription.delete()
