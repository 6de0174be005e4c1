"""The access log: every API call and every view of personal data (who, what, when, from
where), and whose data it touched, so a person can see who accessed their data.

A request must not wait for a database write (nor add one to every API call), so entries are
pushed to a Redis list and written in bulk by ``access_log_flush_task`` every minute; without
Redis (a local checkout) they are written at once. Product analytics events travel the same way.
Subjects are resolved when the entries are flushed: the API call names shop, product or creator
keys, the flush turns them into sellers and creators with one query per kind.
"""

import datetime as dt
import json
import logging
from collections import defaultdict
from collections.abc import Iterable
from functools import lru_cache

import redis
from django.conf import settings
from django.db import connection, transaction
from django.utils import timezone
from django.utils.dateparse import parse_datetime

from affiliate.models import Creator
from privacy.models import AccessLog, AccessLogSubject, AnalyticsEvent
from privacy.services.common import client_ip, user_agent
from shops.models import Product, Shop, User

logger = logging.getLogger(__name__)

FLUSH_BATCH = 5000
LOCK_SECONDS = 120


def _buffer_url() -> str | None:
    url = settings.PRIVACY_BUFFER_REDIS_URL
    if url:
        return url
    broker = settings.CELERY_BROKER_URL or ""
    return broker if broker.startswith(("redis://", "rediss://")) else None


@lru_cache(maxsize=2)
def _client(url: str) -> redis.Redis:
    return redis.Redis.from_url(url, socket_timeout=1, socket_connect_timeout=1)


def _buffer_key() -> str:
    # One list per database: several test databases (or deployments) may share one Redis.
    return f"privacy:buffer:{connection.settings_dict['NAME']}"


def _push(entry: dict) -> None:
    url = _buffer_url()
    if url:
        try:
            _client(url).rpush(_buffer_key(), json.dumps(entry, separators=(",", ":")))
            return
        except redis.RedisError as exc:
            logger.warning("Privacy buffer unavailable, writing the entry at once: %s", exc)
    _write([entry])


def access_log_record(
    *,
    request=None,
    actor: User | None,
    channel: str,
    view_name: str = "",
    subjects: Iterable[tuple[str, int]] = (),
    refs: dict[str, list[str]] | None = None,
    status_code: int | None = None,
    token_prefix: str = "",
    method: str | None = None,
    path: str | None = None,
) -> None:
    """Log one access; ``subjects`` are (kind, id) pairs, ``refs`` keys by kind (shop, product, creator)."""
    actor_id = actor.pk if actor is not None and actor.is_authenticated else None
    _push(
        {
            "type": "access",
            "at": timezone.now().isoformat(),
            "actor": actor_id,
            "role": getattr(actor, "role", "") if actor_id else "",
            "token": token_prefix,
            "channel": channel,
            "method": method or (request.method if request is not None else "GET"),
            "path": (path or (request.path if request is not None else ""))[:500],
            "view": view_name[:100],
            "status": status_code,
            "ip": client_ip(request),
            "ua": user_agent(request),
            "subjects": [[kind, int(pk)] for kind, pk in subjects],
            "refs": refs or {},
        }
    )


def analytics_record(*, user: User, name: str) -> None:
    """Record a page view for product analytics; callers check the user's consent first."""
    _push({"type": "analytics", "at": timezone.now().isoformat(), "user": user.pk, "name": name[:100]})


def access_log_flush(*, limit: int = FLUSH_BATCH) -> int:
    """Write buffered entries to the database; returns how many were taken from the buffer."""
    url = _buffer_url()
    if not url:
        return 0
    client, key = _client(url), _buffer_key()
    lock = client.lock(f"{key}:flush", timeout=LOCK_SECONDS, blocking=False)
    if not lock.acquire(blocking=False):
        return 0
    total = 0
    try:
        while True:
            raw = client.lrange(key, 0, limit - 1)
            if not raw:
                return total
            _write([json.loads(item) for item in raw])
            # Only after the rows are committed: a failed write leaves the entries for the next run.
            client.ltrim(key, len(raw), -1)
            total += len(raw)
            if len(raw) < limit:
                return total
    finally:
        lock.release()


def access_log_buffer_clear() -> None:
    """Empty this database's buffer (tests start from nothing)."""
    url = _buffer_url()
    if url:
        _client(url).delete(_buffer_key())


def _write(entries: list[dict]) -> None:
    access = [e for e in entries if e.get("type") == "access"]
    analytics = [e for e in entries if e.get("type") == "analytics"]
    with transaction.atomic():
        if access:
            _write_access(access)
        if analytics:
            _write_analytics(analytics)


def _at(entry: dict) -> dt.datetime:
    return parse_datetime(entry["at"]) or timezone.now()


def _write_access(entries: list[dict]) -> None:
    refs: dict[str, set[str]] = defaultdict(set)
    for entry in entries:
        for kind, keys in (entry.get("refs") or {}).items():
            refs[kind].update(str(key) for key in keys)
    resolved = _resolve(refs)
    actor_ids = {e["actor"] for e in entries if e.get("actor")}
    known_actors = set(User.objects.filter(pk__in=actor_ids).values_list("pk", flat=True))
    logs = AccessLog.objects.bulk_create(
        [
            AccessLog(
                at=_at(e),
                actor_id=e.get("actor") if e.get("actor") in known_actors else None,
                actor_role=e.get("role") or "",
                token_prefix=e.get("token") or "",
                channel=e["channel"],
                method=(e.get("method") or "")[:8],
                path=e.get("path") or "",
                view_name=e.get("view") or "",
                status_code=e.get("status"),
                ip=e.get("ip") or None,
                user_agent=e.get("ua") or "",
            )
            for e in entries
        ],
        batch_size=1000,
    )
    subjects = []
    for log, entry in zip(logs, entries, strict=True):
        pairs = {(kind, int(pk)) for kind, pk in entry.get("subjects") or []}
        for kind, keys in (entry.get("refs") or {}).items():
            for key in keys:
                pairs.update(resolved.get((kind, str(key)), ()))
        subjects.extend(AccessLogSubject(log=log, kind=kind, subject_id=pk) for kind, pk in sorted(pairs))
    AccessLogSubject.objects.bulk_create(subjects, batch_size=2000)


def _resolve(refs: dict[str, set[str]]) -> dict[tuple[str, str], set[tuple[str, int]]]:
    """Keys named by API calls -> the sellers and creators whose data they are."""
    resolved: dict[tuple[str, str], set[tuple[str, int]]] = defaultdict(set)
    if refs.get("shop"):
        for key, seller_id in Shop.objects.filter(key__in=refs["shop"]).values_list("key", "seller_id"):
            resolved["shop", key].add(("seller", seller_id))
    if refs.get("product"):
        for key, seller_id in Product.objects.filter(key__in=refs["product"]).values_list("key", "shop__seller_id"):
            resolved["product", key].add(("seller", seller_id))
    if refs.get("creator"):
        for key, creator_id in Creator.objects.filter(key__in=refs["creator"]).values_list("key", "pk"):
            resolved["creator", key].add(("creator", creator_id))
    return resolved


def _write_analytics(entries: list[dict]) -> None:
    # Consent is read again: a withdrawal between the page view and the flush drops the event.
    consenting = set(
        User.objects.filter(
            pk__in={e["user"] for e in entries}, consent_product_analytics=True, erased_at__isnull=True
        ).values_list("pk", flat=True)
    )
    AnalyticsEvent.objects.bulk_create(
        [AnalyticsEvent(user_id=e["user"], name=e["name"], at=_at(e)) for e in entries if e["user"] in consenting],
        batch_size=1000,
    )
