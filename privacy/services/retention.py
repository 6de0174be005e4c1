"""Retention (policies 003 §5 and 004): one policy per data class, applied every day by
``retention_apply_task``; each run logs what it removed. Ops can lengthen or shorten a policy,
never below its legal floor (evaluation and transaction records: 3 years; access log: 180 days).

A run is idempotent: it removes what is older than the cut-off, so a second run the same day
finds nothing. Evaluation history is removed only once a row has been superseded for the whole
period (the current verdict's row always stays) and no appeal points to it.
"""

import datetime as dt
import logging

from django.core.exceptions import PermissionDenied, ValidationError
from django.db import models, transaction
from django.db.models import Exists, OuterRef
from django.utils import timezone
from django.utils.translation import gettext as _

from privacy.models import (
    AccessLog,
    AnalyticsEvent,
    DataClass,
    DataExport,
    ErasureReceipt,
    RetentionPolicy,
    RetentionRun,
    RightsRequest,
)
from privacy.services.exports import export_remove_file
from shops.models import Appeal, LoginAttempt, Notification, StatusHistory, User
from shops.services.audit import audit_record
from shops.services.evaluation import status_history_delete

logger = logging.getLogger(__name__)
BATCH = 10_000
THREE_YEARS = 3 * 365

# data class -> (default days, legal minimum days)
DEFAULTS: dict[str, tuple[int, int]] = {
    DataClass.ACCESS_LOG: (180, 180),
    DataClass.SIGN_IN_ATTEMPTS: (180, 30),
    DataClass.ANALYTICS_EVENTS: (365, 1),
    DataClass.CLOSED_RIGHTS_REQUESTS: (THREE_YEARS, THREE_YEARS),
    DataClass.NOTIFICATION_HISTORY: (THREE_YEARS, THREE_YEARS),
    DataClass.EVALUATION_HISTORY: (THREE_YEARS, THREE_YEARS),
    DataClass.EXPORTS: (7, 1),
    DataClass.UNVERIFIED_REQUESTS: (2, 1),
}


def retention_policies_ensure() -> list[RetentionPolicy]:
    """Create the default policy of any data class that has none (existing ones are kept)."""
    existing = {p.data_class: p for p in RetentionPolicy.objects.all()}
    missing = [
        RetentionPolicy(data_class=data_class, days=days, minimum_days=minimum)
        for data_class, (days, minimum) in DEFAULTS.items()
        if data_class not in existing
    ]
    RetentionPolicy.objects.bulk_create(missing, ignore_conflicts=True)
    return list(RetentionPolicy.objects.order_by("data_class"))


def retention_policy_update(*, actor: User, data_class: str, days: int, enabled: bool) -> RetentionPolicy:
    if not (actor.is_authenticated and actor.is_active and actor.is_ops):
        raise PermissionDenied("Only ops staff can change retention policies.")
    retention_policies_ensure()
    with transaction.atomic():
        policy = RetentionPolicy.objects.select_for_update().get(data_class=data_class)
        if days < max(policy.minimum_days, 1):
            raise ValidationError(
                {"days": [_("At least %(days)s days for this data class.") % {"days": max(policy.minimum_days, 1)}]}
            )
        before = {"days": policy.days, "enabled": policy.enabled}
        policy.days, policy.enabled, policy.updated_by = days, enabled, actor
        policy.save(update_fields=["days", "enabled", "updated_by", "updated_at"])
        audit_record(
            actor=actor,
            action="privacy.retention_update",
            object_type="retention_policy",
            object_id=data_class,
            details={"before": before, "after": {"days": days, "enabled": enabled}},
        )
    return policy


def _delete_in_batches(queryset: models.QuerySet) -> int:
    """Delete by primary key in batches, so a large backlog never holds one huge transaction."""
    model, total = queryset.model, 0
    while True:
        ids = list(queryset.values_list("pk", flat=True)[:BATCH])
        if not ids:
            return total
        with transaction.atomic():
            total += model._base_manager.filter(pk__in=ids).delete()[1].get(model._meta.label, 0)


def _closed_requests(cutoff: dt.datetime) -> int:
    requests = RightsRequest.objects.filter(state__in=RightsRequest.CLOSED_STATES, closed_at__lt=cutoff)
    return _delete_requests(requests)


def _delete_requests(requests: models.QuerySet) -> int:
    total = 0
    for request in requests.iterator(chunk_size=500):
        with transaction.atomic():
            for export in DataExport.objects.filter(request=request):
                export_remove_file(export)
            ErasureReceipt.objects.filter(request=request).delete()
            total += RightsRequest.objects.filter(pk=request.pk).delete()[1].get("privacy.RightsRequest", 0)
    return total


def _evaluation_history(cutoff: dt.datetime) -> int:
    superseded = StatusHistory._base_manager.filter(
        entity=OuterRef("entity"), entity_id=OuterRef("entity_id"), created_at__gt=OuterRef("created_at")
    ).filter(created_at__lt=cutoff)
    appealed = Appeal.objects.filter(verdict_id=OuterRef("pk"))
    expired = StatusHistory._base_manager.filter(created_at__lt=cutoff).filter(Exists(superseded), ~Exists(appealed))
    total = 0
    while ids := list(expired.values_list("pk", flat=True)[:BATCH]):
        total += status_history_delete(ids)
    return total


def _exports(cutoff: dt.datetime, now: dt.datetime) -> int:
    count = 0
    for export in DataExport.objects.filter(state=DataExport.State.READY, ready_at__lt=cutoff):
        export_remove_file(export)
        count += DataExport.objects.filter(pk=export.pk, state=DataExport.State.READY).update(
            state=DataExport.State.EXPIRED,
            path="",
            token_hash="",  # nosec B106 # clears the token hash, not a password
        )
    return count


def retention_apply(*, now: dt.datetime | None = None) -> RetentionRun:
    """Apply every enabled policy; returns the run with what was removed per data class."""
    now = now or timezone.now()
    run = RetentionRun.objects.create(started_at=now)
    removed: dict[str, dict] = {}
    for policy in retention_policies_ensure():
        if not policy.enabled:
            continue
        cutoff = now - dt.timedelta(days=policy.days)
        data_class = policy.data_class
        if data_class == DataClass.ACCESS_LOG:
            count = _delete_in_batches(AccessLog.objects.filter(at__lt=cutoff))
        elif data_class == DataClass.SIGN_IN_ATTEMPTS:
            count = _delete_in_batches(LoginAttempt.objects.filter(at__lt=cutoff))
        elif data_class == DataClass.ANALYTICS_EVENTS:
            count = _delete_in_batches(AnalyticsEvent.objects.filter(at__lt=cutoff))
        elif data_class == DataClass.NOTIFICATION_HISTORY:
            count = _delete_in_batches(Notification.objects.filter(created_at__lt=cutoff))
        elif data_class == DataClass.EVALUATION_HISTORY:
            count = _evaluation_history(cutoff)
        elif data_class == DataClass.CLOSED_RIGHTS_REQUESTS:
            count = _closed_requests(cutoff)
        elif data_class == DataClass.UNVERIFIED_REQUESTS:
            count = _delete_requests(
                RightsRequest.objects.filter(state=RightsRequest.State.UNVERIFIED, created_at__lt=cutoff)
            )
        elif data_class == DataClass.EXPORTS:
            count = _exports(cutoff, now)
        else:  # a class without a remover is a programming error, not something to skip silently
            raise ValueError(f"No retention for {data_class}")
        removed[data_class] = {"days": policy.days, "cutoff": cutoff.isoformat(), "removed": count}
    run.removed, run.finished_at = removed, timezone.now()
    run.save(update_fields=["removed", "finished_at"])
    logger.info("Retention run %s removed %s", run.pk, {k: v["removed"] for k, v in removed.items()})
    return run
