"""Appeals against shop and product verdicts, and the ops overrides they lead to.

A seller member appeals the entity's latest verdict (a ``StatusHistory`` row) with a file for
every checklist item of its reason codes. Ops approve it, which creates an ``Override`` shown
over the verdict (the entity's status and its history stay as computed), or reject it with a
reason the seller sees. Every state change writes its audit entry and notifies the seller's
members in one transaction; the notifications are deduplicated per appeal and state.

Windows (**decision**, both bounds inclusive to the microsecond):

- first appeal: ``now <= verdict.created_at + 30 days``;
- second appeal: only when the first was *rejected*, and ``now <= first.decided_at + 15 days``;
- at most two appeals per verdict, withdrawn ones included; one open appeal at a time.

An override is in force while ``now < expires_at`` (``shops.selectors.overrides_active``): at
``expires_at`` it has expired, and ``overrides_expire`` tells the seller once.
"""

import dataclasses
import datetime as dt
import uuid
from collections.abc import Iterable, Sequence
from pathlib import PurePath
from typing import Literal

from django.conf import settings
from django.core.exceptions import PermissionDenied, ValidationError
from django.core.files.uploadedfile import UploadedFile
from django.db import models, transaction
from django.db.models import Exists, F, OuterRef, Q
from django.db.models.functions import Cast
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from shops.appeal_checklists import CHECKLISTS, NOT_APPEALABLE, ChecklistItem
from shops.models import (
    Appeal,
    AppealEvidence,
    AuditEntry,
    Entity,
    Notification,
    Override,
    Product,
    SellerMembership,
    Shop,
    StatusHistory,
    User,
    WebhookSubscription,
)
from shops.rules import codes as c
from shops.services.access import require_ops
from shops.services.audit import audit_record
from shops.services.notifications import notification_send, notifications_send_many, seller_member_ids
from shops.services.webhooks import webhook_event_record
from shops.uploads import upload_checked

AppealEntity = Literal["shop", "product"]

FIRST_APPEAL_WINDOW = dt.timedelta(days=30)
SECOND_APPEAL_WINDOW = dt.timedelta(days=15)
MAX_APPEALS_PER_VERDICT = 2
STATEMENT_MIN_LENGTH = 20
MAX_EVIDENCE_BYTES = 10 * 1024 * 1024
EVIDENCE_TYPES = ("pdf", "png", "jpg", "jpeg", "xlsx", "csv", "txt")
OVERRIDE_EXPIRED_ACTION = "override.expire"
STATUSES = {Entity.SHOP: c.SHOP_STATUSES, Entity.PRODUCT: c.PRODUCT_STATUSES}


# Checklists -------------------------------------------------------------------------------------


def appeal_checklist(code: str) -> list[ChecklistItem]:
    """The evidence items an appeal against ``code`` must answer (empty: not appealable here)."""
    if code not in CHECKLISTS:
        raise ValueError(f"{code} is not a shop or product reason code")
    return list(CHECKLISTS[code])


def appeal_checklist_for(codes: Iterable[str]) -> list[ChecklistItem]:
    """Every item of every code, each key once, in the order of the codes."""
    items: dict[str, ChecklistItem] = {}
    for code in codes:
        for item in appeal_checklist(code):
            items.setdefault(item.key, item)
    return list(items.values())


# Submitting -------------------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class _Target:
    entity: str
    entity_id: int
    key: str
    seller_id: int


def _target(entity: str, entity_id: int) -> _Target:
    if entity == Entity.SHOP:
        row = Shop.objects.filter(pk=entity_id).values_list("key", "seller_id").first()
    elif entity == Entity.PRODUCT:
        row = Product.objects.filter(pk=entity_id).values_list("key", "shop__seller_id").first()
    else:
        raise ValidationError(
            _("Only shop and product verdicts can be appealed."), code="invalid_entity", params={"entity": entity}
        )
    if row is None:
        raise ValidationError(
            _("There is no %(entity)s with id %(id)s."),
            code="unknown_entity",
            params={"entity": entity, "id": entity_id},
        )
    return _Target(str(entity), entity_id, row[0], row[1])


def _is_member(user: User, seller_id: int) -> bool:
    return bool(
        user.is_authenticated
        and user.is_active
        and SellerMembership.objects.filter(user_id=user.pk, seller_id=seller_id).exists()
    )


def _check_appealable(verdict: StatusHistory) -> None:
    if verdict.new_status == c.ELIGIBLE:
        raise ValidationError(_("An eligible verdict cannot be appealed."), code="not_appealable")
    for code in verdict.new_reasons:
        if code in NOT_APPEALABLE:
            raise ValidationError(NOT_APPEALABLE[code], code="not_appealable")


def _check_window(verdict: StatusHistory, previous: list[Appeal], now: dt.datetime) -> int:
    """The attempt number the new appeal gets, or why there can be none."""
    if any(appeal.state == Appeal.State.SUBMITTED for appeal in previous):
        raise ValidationError(_("This verdict already has an open appeal."), code="appeal_open")
    if len(previous) >= MAX_APPEALS_PER_VERDICT:
        raise ValidationError(
            _("A verdict can be appealed at most %(max)s times."),
            code="appeal_limit",
            params={"max": MAX_APPEALS_PER_VERDICT},
        )
    if not previous:
        if now > verdict.created_at + FIRST_APPEAL_WINDOW:
            raise ValidationError(
                _("The appeal window closed %(days)s days after the verdict."),
                code="window_closed",
                params={"days": FIRST_APPEAL_WINDOW.days},
            )
        return 1
    last = previous[-1]
    if last.state == Appeal.State.APPROVED:
        raise ValidationError(_("The appeal against this verdict was approved."), code="already_approved")
    if last.state != Appeal.State.REJECTED:
        raise ValidationError(
            _("A second appeal is possible only after the first one was rejected."),
            code="second_appeal_needs_rejection",
        )
    if now > last.decided_at + SECOND_APPEAL_WINDOW:
        raise ValidationError(
            _("The second appeal window closed %(days)s days after the first appeal was rejected."),
            code="window_closed",
            params={"days": SECOND_APPEAL_WINDOW.days},
        )
    return last.attempt + 1


def _check_statement(statement: str) -> str:
    statement = (statement or "").strip()
    if len(statement) < STATEMENT_MIN_LENGTH:
        raise ValidationError(
            _("Explain the appeal in at least %(min)s characters."),
            code="statement_too_short",
            params={"min": STATEMENT_MIN_LENGTH},
        )
    return statement


def _check_file(upload: UploadedFile) -> str:
    return upload_checked(upload, types=EVIDENCE_TYPES, max_bytes=MAX_EVIDENCE_BYTES)


def _check_evidence(
    evidence: Sequence[tuple[str, UploadedFile]], checklist: list[ChecklistItem]
) -> list[tuple[str, UploadedFile, str]]:
    required = {item.key for item in checklist}
    for key, _upload in evidence:
        if key not in required:
            raise ValidationError(
                _("%(item)s is not on the checklist of this verdict."),
                code="evidence_unknown_item",
                params={"item": key},
            )
    given = {key for key, _upload in evidence}
    missing = [item for item in checklist if item.key not in given]
    if missing:
        raise ValidationError(
            _("Evidence is missing for: %(items)s."),
            code="evidence_missing",
            params={"items": "; ".join(f"{item.label} ({item.key})" for item in missing)},
        )
    return [(key, upload, _check_file(upload)) for key, upload in evidence]


def appeal_submit(
    *,
    user: User,
    entity: AppealEntity,
    entity_id: int,
    statement: str,
    evidence: Sequence[tuple[str, UploadedFile]],
    now: dt.datetime | None = None,
) -> Appeal:
    """A seller member appeals the latest verdict of one of the seller's shops or products."""
    now = now or timezone.now()
    target = _target(entity, entity_id)
    if not _is_member(user, target.seller_id):
        raise PermissionDenied("Only members of the seller can appeal its verdicts")
    stored: list[AppealEvidence] = []
    try:
        with transaction.atomic():
            # Locking the verdict serialises appeals against it: attempts are counted once.
            verdict = (
                StatusHistory.objects.select_for_update()
                .filter(entity=target.entity, entity_id=target.entity_id)
                .order_by("-created_at", "-id")
                .first()
            )
            if verdict is None:
                raise ValidationError(
                    _("This %(entity)s has no verdict yet."), code="no_verdict", params={"entity": entity}
                )
            _check_appealable(verdict)
            attempt = _check_window(verdict, list(verdict.appeals.order_by("attempt")), now)
            statement = _check_statement(statement)
            checklist = appeal_checklist_for(verdict.new_reasons)
            files = _check_evidence(evidence, checklist)

            appeal = Appeal.objects.create(
                entity=target.entity,
                entity_id=target.entity_id,
                entity_key=target.key,
                seller_id=target.seller_id,
                verdict=verdict,
                reason_codes=list(verdict.new_reasons),
                attempt=attempt,
                statement=statement,
                submitted_by=user,
                due_at=now + dt.timedelta(days=getattr(settings, "APPEAL_REVIEW_DAYS", 7)),
            )
            # submitted_at is auto_now_add: pin it to ``now`` so it agrees with due_at.
            Appeal.objects.filter(pk=appeal.pk).update(submitted_at=now)
            appeal.submitted_at = now
            for key, upload, extension in files:
                item = AppealEvidence(
                    appeal=appeal, item=key, original_name=PurePath(upload.name).name[:255], size=upload.size
                )
                # A random stored name: the seller's file name is kept only as data.
                item.file.save(f"{uuid.uuid4().hex}.{extension}", upload, save=True)
                stored.append(item)
            _notify(appeal, "appeal.submitted")
            audit_record(
                actor=user,
                action="appeal.submit",
                object_type="appeal",
                object_id=appeal.pk,
                reason=statement,
                details=_audit_details(appeal) | {"evidence": [key for key, _upload, _ext in files]},
            )
    except BaseException:
        for item in stored:
            item.file.storage.delete(item.file.name)
        raise
    return appeal


# Notifications and audit ------------------------------------------------------------------------


def _notify(appeal: Appeal, event: str, *, note: str = "", **extra) -> int:
    """Tell the seller's members and record the ``appeal.updated`` webhook event (same transaction)."""
    webhook_event_record(
        event=WebhookSubscription.Event.APPEAL_UPDATED,
        payload={
            "appeal": appeal.pk,
            "entity": appeal.entity,
            "id": appeal.entity_key,
            "key": appeal.entity_key,
            "state": appeal.state,
            "attempt": appeal.attempt,
            "decision_reason": appeal.decision_reason,
        },
        seller_ids=[appeal.seller_id],
        dedupe_key=f"appeal:{appeal.pk}:{appeal.state}",
    )
    members = seller_member_ids([appeal.seller_id]).get(appeal.seller_id, [])
    context = {
        "event": event,
        "entity": appeal.entity,
        "key": appeal.entity_key,
        "appeal": appeal.pk,
        "attempt": appeal.attempt,
        "state": appeal.state,
        "verdict_status": appeal.verdict.new_status,
        "reasons": list(appeal.reason_codes),
        "due_at": appeal.due_at.isoformat(),
        # The renderer shows ``decision_reason`` as the operations team's note.
        "note": note,
        "decision_reason": note,
    } | extra
    return notification_send(
        users=members,
        kind=Notification.Kind.APPEAL,
        subject=f"{appeal.entity}:{appeal.entity_key}",
        context=context,
        dedupe_key=f"appeal:{appeal.pk}:{appeal.state}",
    )


def _audit_details(appeal: Appeal) -> dict:
    return {
        "entity": appeal.entity,
        "key": appeal.entity_key,
        "verdict": appeal.verdict_id,
        "attempt": appeal.attempt,
        "reasons": list(appeal.reason_codes),
        "state": appeal.state,
    }


# The ops queue and decisions --------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class QueuedAppeal:
    appeal: Appeal
    checklist: list[ChecklistItem]


def appeals_queue() -> list[QueuedAppeal]:
    """Open appeals, the nearest deadline first, with their evidence and checklist: two queries."""
    appeals = (
        Appeal.objects.filter(state=Appeal.State.SUBMITTED)
        .select_related("seller", "verdict", "submitted_by")
        .prefetch_related("evidence")
        .order_by("due_at", "id")
    )
    return [QueuedAppeal(appeal, appeal_checklist_for(appeal.reason_codes)) for appeal in appeals]


def _require_reason(reason: str) -> str:
    reason = (reason or "").strip()
    if not reason:
        raise ValidationError(_("A reason is required."), code="reason_required")
    return reason


def _lock_open(appeal: Appeal) -> Appeal:
    locked = Appeal.objects.select_for_update().select_related("verdict").get(pk=appeal.pk)
    if locked.state != Appeal.State.SUBMITTED:
        raise ValidationError(
            _("This appeal is already %(state)s."), code="appeal_closed", params={"state": locked.get_state_display()}
        )
    return locked


def _close(appeal: Appeal, state: str, *, user: User, reason: str, now: dt.datetime) -> None:
    appeal.state, appeal.decided_by, appeal.decided_at, appeal.decision_reason = state, user, now, reason
    appeal.save(update_fields=["state", "decided_by", "decided_at", "decision_reason"])


def appeal_approve(
    *,
    appeal: Appeal,
    user: User,
    reason: str,
    status: str = c.ELIGIBLE,
    expires_at: dt.datetime | None = None,
    now: dt.datetime | None = None,
) -> Appeal:
    """Ops grant the appeal: an override with ``status`` over the verdict, which stays as computed."""
    require_ops(user, "approve appeals")
    reason = _require_reason(reason)
    now = now or timezone.now()
    with transaction.atomic():
        appeal = _lock_open(appeal)
        override = _override_create(
            entity=appeal.entity,
            entity_id=appeal.entity_id,
            entity_key=appeal.entity_key,
            status=status,
            reason=reason,
            user=user,
            expires_at=expires_at,
            now=now,
            appeal=appeal,
        )
        _close(appeal, Appeal.State.APPROVED, user=user, reason=reason, now=now)
        _notify(
            appeal,
            "appeal.approved",
            note=reason,
            override=override.pk,
            status=override.status,
            expires_at=expires_at.isoformat() if expires_at else None,
        )
        audit_record(
            actor=user,
            action="appeal.approve",
            object_type="appeal",
            object_id=appeal.pk,
            reason=reason,
            details=_audit_details(appeal) | {"override": override.pk},
        )
    return appeal


def appeal_reject(*, appeal: Appeal, user: User, reason: str, now: dt.datetime | None = None) -> Appeal:
    """Ops refuse the appeal; the reason is shown to the seller and opens the second window."""
    require_ops(user, "reject appeals")
    reason = _require_reason(reason)
    now = now or timezone.now()
    with transaction.atomic():
        appeal = _lock_open(appeal)
        _close(appeal, Appeal.State.REJECTED, user=user, reason=reason, now=now)
        _notify(appeal, "appeal.rejected", note=reason)
        audit_record(
            actor=user,
            action="appeal.reject",
            object_type="appeal",
            object_id=appeal.pk,
            reason=reason,
            details=_audit_details(appeal),
        )
    return appeal


def appeal_withdraw(*, appeal: Appeal, user: User, now: dt.datetime | None = None) -> Appeal:
    """A seller member takes an open appeal back; it still counts towards the two appeals."""
    if not _is_member(user, appeal.seller_id):
        raise PermissionDenied("Only members of the seller can withdraw its appeals")
    now = now or timezone.now()
    with transaction.atomic():
        appeal = _lock_open(appeal)
        _close(appeal, Appeal.State.WITHDRAWN, user=user, reason="", now=now)
        _notify(appeal, "appeal.withdrawn")
        audit_record(
            actor=user,
            action="appeal.withdraw",
            object_type="appeal",
            object_id=appeal.pk,
            details=_audit_details(appeal),
        )
    return appeal


# Overrides --------------------------------------------------------------------------------------


def _override_create(
    *,
    entity: str,
    entity_id: int,
    entity_key: str,
    status: str,
    reason: str,
    user: User,
    expires_at: dt.datetime | None,
    now: dt.datetime,
    appeal: Appeal | None = None,
) -> Override:
    if status not in STATUSES.get(entity, ()):
        raise ValidationError(
            _("%(status)s is not a %(entity)s status."),
            code="invalid_status",
            params={"status": status, "entity": entity},
        )
    if expires_at is not None and expires_at <= now:
        raise ValidationError(_("The override must expire in the future."), code="expires_in_past")
    override = Override.objects.create(
        entity=entity,
        entity_id=entity_id,
        entity_key=entity_key,
        status=status,
        reason=reason,
        appeal=appeal,
        expires_at=expires_at,
        created_by=user,
    )
    # created_at is auto_now_add; the newest override wins, so it must follow ``now``.
    Override.objects.filter(pk=override.pk).update(created_at=now)
    override.created_at = now
    audit_record(
        actor=user,
        action="override.create",
        object_type="override",
        object_id=override.pk,
        reason=reason,
        details={
            "entity": entity,
            "key": entity_key,
            "status": status,
            "expires_at": expires_at.isoformat() if expires_at else None,
            "appeal": appeal.pk if appeal else None,
        },
    )
    return override


def override_create(
    *,
    entity: AppealEntity,
    entity_id: int,
    status: str,
    reason: str,
    user: User,
    expires_at: dt.datetime | None = None,
    now: dt.datetime | None = None,
) -> Override:
    """Ops show ``status`` over a shop's or product's computed verdict, until revoked or expired."""
    require_ops(user, "create overrides")
    reason = _require_reason(reason)
    target = _target(entity, entity_id)
    with transaction.atomic():
        return _override_create(
            entity=target.entity,
            entity_id=target.entity_id,
            entity_key=target.key,
            status=status,
            reason=reason,
            user=user,
            expires_at=expires_at,
            now=now or timezone.now(),
        )


def override_revoke(*, override: Override, user: User, reason: str, now: dt.datetime | None = None) -> Override:
    require_ops(user, "revoke overrides")
    reason = _require_reason(reason)
    now = now or timezone.now()
    with transaction.atomic():
        override = Override.objects.select_for_update().get(pk=override.pk)
        if override.revoked_at is not None:
            raise ValidationError(_("This override was already revoked."), code="already_revoked")
        override.revoked_at, override.revoked_by = now, user
        override.save(update_fields=["revoked_at", "revoked_by"])
        audit_record(
            actor=user,
            action="override.revoke",
            object_type="override",
            object_id=override.pk,
            reason=reason,
            details={"entity": override.entity, "key": override.entity_key, "status": override.status},
        )
    return override


def overrides_expire(*, now: dt.datetime | None = None) -> int:
    """Tell the seller, once, about each override that has expired; returns how many were new.

    Expiry is by time alone (nothing in the override changes); the ``override.expire`` audit
    entry marks an override as done, so repeated runs find nothing more to do.
    """
    now = now or timezone.now()
    done = AuditEntry.objects.filter(
        action=OVERRIDE_EXPIRED_ACTION,
        object_type="override",
        object_id=Cast(OuterRef("pk"), output_field=models.CharField()),
    )
    with transaction.atomic():
        expired = list(
            Override.objects.select_for_update(skip_locked=True)
            .filter(Q(revoked_at__isnull=True) | Q(revoked_at__gt=F("expires_at")), expires_at__lte=now)
            .exclude(Exists(done))
            .order_by("id")
        )
        if not expired:
            return 0
        facts = _entity_facts(expired)
        members = seller_member_ids({seller_id for seller_id, _status, _reasons in facts.values()})
        items = []
        for override in expired:
            seller_id, status, reasons = facts.get((override.entity, override.entity_id), (None, None, []))
            context = {
                "event": "override.expired",
                "entity": override.entity,
                "key": override.entity_key,
                "override": override.pk,
                "status": override.status,
                "expires_at": override.expires_at.isoformat(),
                "computed_status": status,
                "reasons": list(reasons),
            }
            subject = f"{override.entity}:{override.entity_key}"
            key = f"override:{override.pk}:expired"
            items.extend(
                (user_id, Notification.Kind.STATUS_CHANGE, subject, context, key)
                for user_id in members.get(seller_id, [])
            )
            audit_record(
                actor=None,
                action=OVERRIDE_EXPIRED_ACTION,
                object_type="override",
                object_id=override.pk,
                details={"entity": override.entity, "key": override.entity_key, "status": override.status},
            )
        notifications_send_many(items)
    return len(expired)


def _entity_facts(overrides: list[Override]) -> dict[tuple[str, int], tuple[int, str | None, list[str]]]:
    """(entity, id) -> (seller id, computed status, reasons) for the entities of ``overrides``."""
    sources = {
        Entity.SHOP: (Shop.objects, "seller_id"),
        Entity.PRODUCT: (Product.objects, "shop__seller_id"),
    }
    facts = {}
    for entity, (manager, seller_field) in sources.items():
        ids = [o.entity_id for o in overrides if o.entity == entity]
        if ids:
            for pk, seller_id, status, reasons in manager.filter(pk__in=ids).values_list(
                "pk", seller_field, "status", "reasons"
            ):
                facts[entity, pk] = (seller_id, status, reasons)
    return facts


# Read side: until when can this verdict be appealed? ---------------------------------------------


def appeal_deadline(*, verdict: StatusHistory, appeals: Iterable[Appeal]) -> dt.datetime | None:
    """The last moment a new appeal against ``verdict`` is in time (with ``appeal_refusal`` None).

    30 days after the verdict for a first appeal, 15 days after the rejection for a second one;
    ``appeals`` are the verdict's appeals. None while an appeal is undecided.
    """
    appeals = sorted(appeals, key=lambda appeal: appeal.attempt)
    if not appeals:
        return verdict.created_at + FIRST_APPEAL_WINDOW
    last = appeals[-1]
    return last.decided_at + SECOND_APPEAL_WINDOW if last.decided_at else None


def appeal_refusal(
    *, verdict: StatusHistory, appeals: Iterable[Appeal], now: dt.datetime | None = None
) -> ValidationError | None:
    """Why ``appeal_submit`` would refuse a new appeal against ``verdict`` now (``None``: it would not).

    The same checks, in the same order, for pages that offer the appeal button; ``appeals`` are
    the verdict's appeals. The caller checks that ``verdict`` is still the entity's latest one.
    """
    try:
        _check_appealable(verdict)
        _check_window(verdict, sorted(appeals, key=lambda appeal: appeal.attempt), now or timezone.now())
    except ValidationError as refusal:
        return refusal
    return None
