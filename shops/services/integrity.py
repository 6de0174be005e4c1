"""Account integrity (seed 001): shops per business licence, forced unbinding, recovery.

A business licence may hold at most ``MAX_ACTIVE_SHOPS_PER_LICENCE`` active shops; more raise a
flag for ops. Ops may force-unbind a shop: its plans end, its scores are reset, its history
stays, and its licence binds no new shop for ``REBIND_BAN_DAYS``. The way back is a 3-step
recovery review (letter, then tax proof and shipping documents, then the certification exam),
a passed decision, and an ops rebind once the ban is over.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from decimal import Decimal
from typing import Any, NamedTuple

from django.core.exceptions import PermissionDenied, ValidationError
from django.core.files.uploadedfile import UploadedFile
from django.db import transaction
from django.db.models import Count, F, Q, Window
from django.utils import timezone

from affiliate.models import AffiliatePlan, PlanProduct
from shops.models import (
    AuditEntry,
    Entity,
    LicenceFlag,
    Notification,
    Product,
    RecoveryReview,
    SellerMembership,
    Shop,
    ShopUnbinding,
    StatusHistory,
    User,
)
from shops.rules import codes as c
from shops.services.access import require_ops
from shops.services.audit import audit_record
from shops.services.notifications import notifications_send_many, seller_member_ids
from shops.uploads import upload_checked

MAX_ACTIVE_SHOPS_PER_LICENCE = 3
REBIND_BAN_DAYS = 90
EXAM_PASS_SCORE = Decimal("85")
MAX_FILE_BYTES = 10 * 1024 * 1024
RECOVERY_FILE_TYPES = ("pdf", "png", "jpg", "jpeg")

ACTIVE_SHOP = Q(account_status=c.ACCOUNT_ACTIVE, unbound_at__isnull=True)

# Recovery steps, in the order they must be done.
STEP_LETTER = "letter"
STEP_DOCUMENTS = "documents"
STEP_EXAM = "exam"
STEP_NAMES = {
    STEP_LETTER: "the explanation letter",
    STEP_DOCUMENTS: "the tax proof and shipping documents",
    STEP_EXAM: "the certification exam",
}


# Access -----------------------------------------------------------------------------------------


def _require_member_or_ops(user: User, seller_id: int, action: str) -> None:
    if user.is_active and user.is_ops:
        return
    if user.is_active and SellerMembership.objects.filter(user=user, seller_id=seller_id).exists():
        return
    raise PermissionDenied(f"Only a member of the shop's seller or ops staff can {action}.")


def _required_text(value: str, what: str) -> str:
    value = (value or "").strip()
    if not value:
        raise ValidationError(f"A {what} is required.")
    return value


def _ops_user_ids() -> list[int]:
    return list(
        User.objects.filter(role__in=(User.Role.OPS, User.Role.OPS_ADMIN), is_active=True).values_list("id", flat=True)
    )


def _notify(user_ids: Iterable[int], *, subject: str, context: dict, dedupe_key: str) -> None:
    kind = Notification.Kind.ACCOUNT
    notifications_send_many([(user_id, kind, subject, context, dedupe_key) for user_id in dict.fromkeys(user_ids)])


# Shops per licence ---------------------------------------------------------------------------------


def licences_flag_refresh(*, now: dt.datetime | None = None) -> list[LicenceFlag]:
    """Flag every licence with more active shops than allowed; returns its open flags.

    Idempotent: an open flag is updated with the current shops, never duplicated, and each ops
    user is told about a flag once. A licence back within the limit keeps its open flag until
    ops resolve it (the resolution says what was done).
    """
    now = now or timezone.now()
    licence = F("seller__business_licence_no")
    over: dict[str, list[str]] = {}
    # One query: each active shop with the number of active shops of its licence.
    for number, key in (
        Shop.objects.filter(ACTIVE_SHOP)
        .annotate(licence=licence, active=Window(Count("id"), partition_by=[licence]))
        .filter(active__gt=MAX_ACTIVE_SHOPS_PER_LICENCE)
        .order_by("key")
        .values_list("licence", "key")
    ):
        over.setdefault(number, []).append(key)
    if not over:
        return []
    with transaction.atomic():
        open_flags = LicenceFlag.objects.select_for_update().filter(
            resolved_at__isnull=True, business_licence_no__in=over
        )
        known = set(open_flags.values_list("business_licence_no", flat=True))
        new_licences = [number for number in over if number not in known]
        # A refresh running at the same time may insert the same flag: the open-flag constraint wins.
        LicenceFlag.objects.bulk_create(
            [
                LicenceFlag(business_licence_no=number, active_shops=len(over[number]), shop_keys=over[number])
                for number in new_licences
            ],
            ignore_conflicts=True,
        )
        LicenceFlag.objects.filter(resolved_at__isnull=True, business_licence_no__in=new_licences).update(
            flagged_at=now
        )
        flags = sorted(open_flags, key=lambda flag: flag.business_licence_no)
        changed = []
        for flag in flags:
            keys = over[flag.business_licence_no]
            if flag.active_shops != len(keys) or flag.shop_keys != keys:
                flag.active_shops, flag.shop_keys = len(keys), keys
                changed.append(flag)
        LicenceFlag.objects.bulk_update(changed, ["active_shops", "shop_keys"])
        # A system action (no actor), audited once per new flag in a single insert.
        AuditEntry.objects.bulk_create(
            [
                AuditEntry(
                    action="licence_flag.raise",
                    object_type="licence_flag",
                    object_id=str(flag.pk),
                    details={"business_licence_no": flag.business_licence_no, "shop_keys": flag.shop_keys},
                )
                for flag in flags
                if flag.business_licence_no in new_licences
            ]
        )
        ops = _ops_user_ids()
        notifications_send_many(
            [
                (
                    user_id,
                    Notification.Kind.ACCOUNT,
                    f"licence:{flag.business_licence_no}",
                    {
                        "event": "licence.flagged",
                        "licence": flag.business_licence_no,
                        "count": flag.active_shops,
                        "limit": MAX_ACTIVE_SHOPS_PER_LICENCE,
                        "shops": flag.shop_keys,
                    },
                    f"licence_flag:{flag.pk}",
                )
                for flag in flags
                for user_id in ops
            ]
        )
    return flags


def licence_flag_resolve(*, flag: LicenceFlag, user: User, resolution: str) -> LicenceFlag:
    require_ops(user, "resolve a licence flag")
    resolution = _required_text(resolution, "resolution")
    with transaction.atomic():
        locked = LicenceFlag.objects.select_for_update().get(pk=flag.pk)
        if locked.resolved_at is not None:
            raise ValidationError(f"The flag on licence {locked.business_licence_no} is already resolved.")
        locked.resolved_at, locked.resolved_by, locked.resolution = timezone.now(), user, resolution
        locked.save(update_fields=["resolved_at", "resolved_by", "resolution"])
        audit_record(
            actor=user,
            action="licence_flag.resolve",
            object_type="licence_flag",
            object_id=locked.pk,
            reason=resolution,
            details={"business_licence_no": locked.business_licence_no, "active_shops": locked.active_shops},
        )
    flag.refresh_from_db()
    return flag


# The rebind ban ------------------------------------------------------------------------------------


class LicenceBan(NamedTuple):
    unbound_on: dt.date
    until: dt.date  # the first day the licence may bind a new shop again


def licence_bans(*, business_licence_nos: Iterable[str]) -> dict[str, list[LicenceBan]]:
    """Every unbinding of each licence as a ban (in force or not): one query."""
    bans: dict[str, list[LicenceBan]] = {}
    for number, unbound_at, until in ShopUnbinding.objects.filter(
        business_licence_no__in=set(business_licence_nos)
    ).values_list("business_licence_no", "unbound_at", "rebind_allowed_on"):
        bans.setdefault(number, []).append(LicenceBan(timezone.localdate(unbound_at), until))
    return bans


def licence_ban_in_force(bans: Iterable[LicenceBan], on: dt.date) -> LicenceBan | None:
    """The ban that keeps the licence from binding on ``on`` longest; from day 0 to day 89 inclusive."""
    in_force = [ban for ban in bans if ban.unbound_on <= on < ban.until]
    return max(in_force, key=lambda ban: ban.until, default=None)


def licence_rebind_allowed_on(*, business_licence_no: str, on: dt.date | None = None) -> dt.date | None:
    """The day the licence may bind a new shop again, or None when it may on ``on`` (today)."""
    on = on or timezone.localdate()
    bans = licence_bans(business_licence_nos=[business_licence_no]).get(business_licence_no, [])
    ban = licence_ban_in_force(bans, on)
    return ban.until if ban else None


# Forced unbinding ------------------------------------------------------------------------------


def shop_force_unbind(*, shop: Shop, user: User, reason: str, now: dt.datetime | None = None) -> ShopUnbinding:
    """Unbind a shop from its licence: plans end, scores reset, the licence waits 90 days.

    The verdict is left to the engine: the next run finds the shop unbound (SHOP_UNBOUND). The
    snapshots and the status history are kept, so the business history report still works.
    """
    require_ops(user, "unbind a shop")
    reason = _required_text(reason, "reason")
    now = now or timezone.now()
    with transaction.atomic():
        locked = Shop.objects.select_for_update(of=("self",)).select_related("seller").get(pk=shop.pk)
        if locked.unbound_at is not None:
            raise ValidationError(
                f"Shop {locked.key} is already unbound (since {timezone.localdate(locked.unbound_at)})."
            )
        plans = AffiliatePlan.objects.filter(shop=locked, status=AffiliatePlan.Status.ACTIVE)
        plan_ids = list(plans.values_list("id", flat=True))
        removed = PlanProduct.objects.filter(plan_id__in=plan_ids, removed_at__isnull=True).update(
            removed_at=now, removal_reasons=[c.SHOP_UNBOUND]
        )
        AffiliatePlan.objects.filter(pk__in=plan_ids).update(
            status=AffiliatePlan.Status.TERMINATED, terminated_at=now, termination_reasons=[c.SHOP_UNBOUND]
        )
        previous = {"sps": None if locked.sps is None else str(locked.sps), "orders_90d": locked.orders_90d}
        Shop.objects.filter(pk=locked.pk).update(unbound_at=now, sps=None, orders_90d=0)
        unbinding = ShopUnbinding.objects.create(
            shop=locked,
            business_licence_no=locked.seller.business_licence_no,
            reason=reason,
            unbound_at=now,
            rebind_allowed_on=timezone.localdate(now) + dt.timedelta(days=REBIND_BAN_DAYS),
            created_by=user,
        )
        audit_record(
            actor=user,
            action="shop.force_unbind",
            object_type="shop",
            object_id=locked.key,
            reason=reason,
            details={
                "unbinding": unbinding.pk,
                "business_licence_no": unbinding.business_licence_no,
                "rebind_allowed_on": unbinding.rebind_allowed_on.isoformat(),
                "plans_terminated": plan_ids,
                "memberships_removed": removed,
                "scores_before": previous,
            },
        )
        _notify(
            seller_member_ids([locked.seller_id]).get(locked.seller_id, []),
            subject=f"shop:{locked.key}",
            context={
                "event": "shop.unbound",
                "key": locked.key,
                "licence": unbinding.business_licence_no,
                "unbound_on": timezone.localdate(now).isoformat(),
                "rebind_from": unbinding.rebind_allowed_on.isoformat(),
                "plans_terminated": len(plan_ids),
                "reason": reason,
            },
            dedupe_key=f"shop_unbinding:{unbinding.pk}",
        )
    shop.refresh_from_db()
    return unbinding


def shop_rebind(*, shop: Shop, user: User, reason: str, now: dt.datetime | None = None) -> Shop:
    """Bind an unbound shop again: after a passed recovery review, once the ban is over."""
    require_ops(user, "bind a shop again")
    reason = _required_text(reason, "reason")
    now = now or timezone.now()
    today = timezone.localdate(now)
    with transaction.atomic():
        locked = Shop.objects.select_for_update(of=("self",)).select_related("seller").get(pk=shop.pk)
        if locked.unbound_at is None:
            raise ValidationError(f"Shop {locked.key} is not unbound.")
        unbinding = locked.unbindings.order_by("-unbound_at", "-id").first()
        if unbinding is None or not unbinding.recovery_reviews.filter(state=RecoveryReview.State.PASSED).exists():
            raise ValidationError(f"Shop {locked.key} can be bound again only after a passed recovery review.")
        ban = licence_ban_in_force(
            [
                LicenceBan(timezone.localdate(unbinding.unbound_at), unbinding.rebind_allowed_on),
                *licence_bans(business_licence_nos=[locked.seller.business_licence_no]).get(
                    locked.seller.business_licence_no, []
                ),
            ],
            today,
        )
        if ban is not None:
            raise ValidationError(
                f"Shop {locked.key} cannot be bound again until {ban.until} (unbound on {ban.unbound_on})."
            )
        Shop.objects.filter(pk=locked.pk).update(unbound_at=None)
        audit_record(
            actor=user,
            action="shop.rebind",
            object_type="shop",
            object_id=locked.key,
            reason=reason,
            details={"unbinding": unbinding.pk, "unbound_at": locked.unbound_at.isoformat()},
        )
        _notify_recovery(locked, step="rebound", dedupe_key=f"shop_rebind:{unbinding.pk}", reason=reason)
    shop.refresh_from_db()
    return shop


# Recovery review ---------------------------------------------------------------------------------


def _notify_recovery(shop: Shop, *, step: str, dedupe_key: str, **extra: Any) -> None:
    """Seller members follow their review; ops users are the reviewers."""
    members = seller_member_ids([shop.seller_id]).get(shop.seller_id, [])
    context = {"event": "recovery.updated", "key": shop.key, "step": step, "pass_score": str(EXAM_PASS_SCORE)}
    _notify([*members, *_ops_user_ids()], subject=f"shop:{shop.key}", context=context | extra, dedupe_key=dedupe_key)


def _locked_open_review(review: RecoveryReview) -> RecoveryReview:
    locked = RecoveryReview.objects.select_for_update(of=("self",)).select_related("unbinding__shop").get(pk=review.pk)
    if locked.state != RecoveryReview.State.OPEN:
        raise ValidationError(f"The recovery review has been decided ({locked.state}); start a new one.")
    return locked


def _require_steps_done(review: RecoveryReview, steps: Iterable[str], *, before: str) -> None:
    for step in steps:
        if _step_done_at(review, step) is None:
            raise ValidationError(f"{STEP_NAMES[step].capitalize()} must be submitted before {before}.")


def _require_step_not_done(review: RecoveryReview, step: str) -> None:
    # Evidence is never replaced: a wrong submission is settled by a failed decision and a new review.
    done_at = _step_done_at(review, step)
    if done_at is not None:
        raise ValidationError(
            f"{STEP_NAMES[step].capitalize()} was already submitted on {timezone.localdate(done_at)}."
        )


def _step_done_at(review: RecoveryReview, step: str) -> dt.datetime | None:
    return {STEP_LETTER: review.letter_at, STEP_DOCUMENTS: review.documents_at, STEP_EXAM: review.exam_at}[step]


def _checked_file(file: UploadedFile | None, what: str) -> str:
    """A non-empty PDF, PNG or JPEG of at most 10 MB; returns its extension with the dot."""
    if file is None:
        raise ValidationError(f"The {what} file is required.")
    return "." + upload_checked(file, types=RECOVERY_FILE_TYPES, max_bytes=MAX_FILE_BYTES, label=f"The {what}")


def recovery_review_open(*, unbinding: ShopUnbinding, user: User) -> RecoveryReview:
    shop = unbinding.shop
    _require_member_or_ops(user, shop.seller_id, "open a recovery review")
    with transaction.atomic():
        locked = ShopUnbinding.objects.select_for_update(of=("self",)).select_related("shop").get(pk=unbinding.pk)
        shop = locked.shop
        latest = shop.unbindings.order_by("-unbound_at", "-id").first()
        if shop.unbound_at is None or latest is None or latest.pk != locked.pk:
            raise ValidationError(f"Shop {shop.key} is no longer unbound by this unbinding.")
        for state in (RecoveryReview.State.OPEN, RecoveryReview.State.PASSED):
            if locked.recovery_reviews.filter(state=state).exists():
                raise ValidationError(
                    f"The unbinding of shop {shop.key} already has a recovery review that is {state}."
                )
        review = RecoveryReview.objects.create(unbinding=locked)
        audit_record(
            actor=user,
            action="recovery.open",
            object_type="recovery_review",
            object_id=review.pk,
            details={"shop": shop.key, "unbinding": locked.pk},
        )
        _notify_recovery(shop, step="opened", dedupe_key=f"recovery:{review.pk}:opened")
    return review


def recovery_submit_letter(*, review: RecoveryReview, user: User, file: UploadedFile) -> RecoveryReview:
    """Step 1: the letter explaining the cause of the unbinding."""
    _require_member_or_ops(user, review.unbinding.shop.seller_id, "submit recovery documents")
    extension = _checked_file(file, "explanation letter")
    with transaction.atomic():
        locked = _locked_open_review(review)
        _require_step_not_done(locked, STEP_LETTER)
        locked.letter.save(f"{locked.pk}-letter{extension}", file, save=False)
        locked.letter_at = timezone.now()
        locked.save(update_fields=["letter", "letter_at"])
        _record_step(locked, user, STEP_LETTER, {"file": locked.letter.name, "size": file.size})
    review.refresh_from_db()
    return review


def recovery_submit_documents(
    *, review: RecoveryReview, user: User, tax_proof: UploadedFile, shipping_documents: UploadedFile
) -> RecoveryReview:
    """Step 2: tax proof and shipping documents of the last 3 months, after the letter."""
    _require_member_or_ops(user, review.unbinding.shop.seller_id, "submit recovery documents")
    extensions = (_checked_file(tax_proof, "tax proof"), _checked_file(shipping_documents, "shipping documents"))
    with transaction.atomic():
        locked = _locked_open_review(review)
        _require_steps_done(locked, [STEP_LETTER], before=STEP_NAMES[STEP_DOCUMENTS])
        _require_step_not_done(locked, STEP_DOCUMENTS)
        locked.tax_proof.save(f"{locked.pk}-tax-proof{extensions[0]}", tax_proof, save=False)
        locked.shipping_documents.save(f"{locked.pk}-shipping{extensions[1]}", shipping_documents, save=False)
        locked.documents_at = timezone.now()
        locked.save(update_fields=["tax_proof", "shipping_documents", "documents_at"])
        details = {"tax_proof": locked.tax_proof.name, "shipping_documents": locked.shipping_documents.name}
        _record_step(locked, user, STEP_DOCUMENTS, details)
    review.refresh_from_db()
    return review


def recovery_record_exam(*, review: RecoveryReview, user: User, score: Decimal) -> RecoveryReview:
    """Step 3: the certification exam score in percent (ops only), after the documents."""
    require_ops(user, "record a certification exam score")
    if isinstance(score, bool) or not isinstance(score, Decimal | int):
        raise ValidationError(f"The exam score must be a decimal number, not {score!r}.")
    score = Decimal(score)
    if not score.is_finite() or not Decimal(0) <= score <= Decimal(100):
        raise ValidationError(f"The exam score must be between 0 and 100, got {score}.")
    if score != score.quantize(Decimal("0.01")):
        raise ValidationError(f"The exam score has at most 2 decimal places, got {score}.")
    with transaction.atomic():
        locked = _locked_open_review(review)
        _require_steps_done(locked, [STEP_LETTER, STEP_DOCUMENTS], before="the exam score is recorded")
        _require_step_not_done(locked, STEP_EXAM)
        locked.exam_score, locked.exam_at = score, timezone.now()
        locked.save(update_fields=["exam_score", "exam_at"])
        _record_step(locked, user, STEP_EXAM, {"score": str(score), "passed": score >= EXAM_PASS_SCORE})
    review.refresh_from_db()
    return review


def _record_step(review: RecoveryReview, user: User, step: str, details: dict) -> None:
    shop = review.unbinding.shop
    audit_record(
        actor=user,
        action=f"recovery.{step}",
        object_type="recovery_review",
        object_id=review.pk,
        details={"shop": shop.key, **details},
    )
    extra = {"exam_score": str(review.exam_score)} if step == STEP_EXAM else {}
    _notify_recovery(shop, step=step, dedupe_key=f"recovery:{review.pk}:{step}", **extra)


def recovery_outstanding_steps(review: RecoveryReview) -> list[str]:
    """The steps not done, or not passed (an exam below 85 %), in the order they are done."""
    outstanding = [step for step in STEP_NAMES if _step_done_at(review, step) is None]
    if STEP_EXAM not in outstanding and review.exam_score < EXAM_PASS_SCORE:
        outstanding.append(STEP_EXAM)
    return outstanding


def recovery_decide(*, review: RecoveryReview, user: User) -> RecoveryReview:
    """Passed when every step is done and the exam reached 85 %; otherwise failed, naming why."""
    require_ops(user, "decide a recovery review")
    with transaction.atomic():
        locked = _locked_open_review(review)
        outstanding = recovery_outstanding_steps(locked)
        locked.state = RecoveryReview.State.FAILED if outstanding else RecoveryReview.State.PASSED
        locked.decided_by, locked.decided_at = user, timezone.now()
        locked.save(update_fields=["state", "decided_by", "decided_at"])
        exam_score = None if locked.exam_score is None else str(locked.exam_score)
        audit_record(
            actor=user,
            action="recovery.decide",
            object_type="recovery_review",
            object_id=locked.pk,
            details={
                "shop": locked.unbinding.shop.key,
                "state": locked.state,
                "outstanding": outstanding,
                "exam_score": exam_score,
            },
        )
        _notify_recovery(
            locked.unbinding.shop,
            step=locked.state,
            dedupe_key=f"recovery:{locked.pk}:decided",
            outstanding=outstanding,
            exam_score=exam_score,
        )
    review.refresh_from_db()
    return review


# Business history report ---------------------------------------------------------------------------


def _iso(value: dt.date | dt.datetime | None) -> str | None:
    return None if value is None else value.isoformat()


def _text(value: Decimal | None) -> str | None:
    return None if value is None else str(value)


def business_history_report(*, shop: Shop) -> dict[str, Any]:
    """The shop's whole history, JSON-ready: verdicts (shop and products), days, plans, unbindings.

    Everything here outlives an unbinding, so the report serves the seller's way back.
    """
    shop = Shop.objects.select_related("seller").get(pk=shop.pk)
    products = Product.objects.filter(shop_id=shop.pk).values("id")
    history = StatusHistory.objects.filter(
        Q(entity=Entity.SHOP, entity_id=shop.pk) | Q(entity=Entity.PRODUCT, entity_id__in=products)
    ).order_by("as_of", "id")
    plans = AffiliatePlan.objects.filter(shop_id=shop.pk).annotate(products=Count("memberships")).order_by("id")
    unbindings = shop.unbindings.select_related("created_by").prefetch_related("recovery_reviews").order_by("id")
    return {
        "shop": {
            "key": shop.key,
            "name": shop.name,
            "seller": shop.seller.key,
            "business_licence_no": shop.seller.business_licence_no,
            "market": shop.market,
            "tier": shop.tier,
            "account_status": shop.account_status,
            "status": shop.status,
            "reasons": shop.reasons,
            "sps": _text(shop.sps),
            "orders_90d": shop.orders_90d,
            "unbound_at": _iso(shop.unbound_at),
        },
        "history": [
            {
                "date": _iso(row.as_of),
                "recorded_at": _iso(row.created_at),
                "entity": row.entity,
                "key": row.entity_key,
                "old_status": row.old_status,
                "new_status": row.new_status,
                "old_reasons": row.old_reasons,
                "reasons": row.new_reasons,
                "inputs": row.inputs,
                "baseline": row.baseline,
                "ruleset_version": row.ruleset_version,
                "run": row.run_id,
            }
            for row in history.iterator()
        ],
        "snapshots": [
            {"date": _iso(day), "account_status": status, "sps": _text(sps), "orders_90d": orders}
            for day, status, sps, orders in shop.snapshots.order_by("date").values_list(
                "date", "account_status", "sps", "orders_90d"
            )
        ],
        "plans": [
            {
                "name": plan.name,
                "kind": plan.kind,
                "status": plan.status,
                "created_at": _iso(plan.created_at),
                "terminated_at": _iso(plan.terminated_at),
                "end_reasons": plan.termination_reasons,
                "products": plan.products,
            }
            for plan in plans
        ],
        "unbindings": [
            {
                "unbound_at": _iso(unbinding.unbound_at),
                "rebind_allowed_on": _iso(unbinding.rebind_allowed_on),
                "business_licence_no": unbinding.business_licence_no,
                "reason": unbinding.reason,
                "by": unbinding.created_by.email,
                "recovery_reviews": [
                    {
                        "state": review.state,
                        "opened_at": _iso(review.created_at),
                        "letter_at": _iso(review.letter_at),
                        "documents_at": _iso(review.documents_at),
                        "exam_at": _iso(review.exam_at),
                        "exam_score": _text(review.exam_score),
                        "decided_at": _iso(review.decided_at),
                    }
                    for review in sorted(unbinding.recovery_reviews.all(), key=lambda review: review.pk)
                ],
            }
            for unbinding in unbindings
        ],
    }
