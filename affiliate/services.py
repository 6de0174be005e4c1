"""Writes for affiliate plans and creator adds: the only place a plan change is saved.

Every plan change checks the effective verdicts (an active ops override wins), runs in one
transaction with the shop row locked, so that an evaluation run disqualifying the shop at the
same moment either sees the change or is seen by it, and appends an audit entry.
"""

import dataclasses
from collections.abc import Iterable, Mapping
from decimal import Decimal, InvalidOperation

from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction
from django.db.models import Exists, F, OuterRef, Q
from django.utils import timezone
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

from affiliate import rules
from affiliate.models import AffiliatePlan, Creator, CreatorAdd, PlanInvitation, PlanProduct
from affiliate.selectors import (
    creator_add_details,
    creator_thresholds,
    entity_reason_text,
    shop_manageable_by,
    verdict_effective,
    verdicts_effective,
)
from shops.models import Entity, Notification, Product, Shop, User
from shops.reasons import threshold_params
from shops.selectors import rulesets_in_force, thresholds_for_market
from shops.services.audit import audit_record
from shops.services.notifications import notification_send, notifications_send_many, seller_member_ids

TIER_LABELS = {"bronze": _("Bronze"), "silver": _("Silver"), "gold": _("Gold"), "platinum": _("Platinum")}


class PlanRefused(Exception):
    """A plan action the rules do not allow: reason codes for machines, a message for people.

    ``details`` maps product keys to their own codes when several products were checked.
    """

    def __init__(self, codes: list[str], message: str, *, details: dict | None = None):
        super().__init__(message)
        self.codes = list(dict.fromkeys(codes))
        self.message = message
        self.details = details or {}


# Checks ---------------------------------------------------------------------------------------------


def _check_access(user: User, shop: Shop) -> None:
    if not shop_manageable_by(user=user, shop=shop):
        raise PermissionDenied(gettext("You cannot manage the affiliate plans of shop %(shop)s.") % {"shop": shop.key})


def _kind(kind: str) -> str:
    if kind not in rules.PLAN_KINDS:
        raise ValidationError(
            gettext("Unknown plan kind %(kind)s.") % {"kind": kind}, code="invalid_kind", params={"kind": kind}
        )
    return kind


def _rate(value) -> Decimal:
    """A commission in percent as an exact decimal with at most two places (the stored precision)."""
    try:
        rate = value if isinstance(value, Decimal) else Decimal(str(value))
    except (InvalidOperation, ValueError, TypeError):
        rate = None
    if isinstance(value, bool) or rate is None or not rate.is_finite() or rate.as_tuple().exponent < -2:
        raise ValidationError(
            gettext("A commission rate is a percentage with at most two decimals, e.g. 12.5."), code="invalid_rate"
        )
    return rate


def _commission_message(code: str, rate: Decimal, tier: str, product: Product | None) -> str:
    params = {
        "rate": _number(rate),
        "product": product.key if product is not None else "",
        "min": _number(rules.COMMISSION_MIN),
        "max": _number(rules.COMMISSION_MAX),
        "cap": _number(rules.tier_cap(tier)),
        "tier": str(TIER_LABELS.get(tier, tier)),
    }
    if code == rules.COMMISSION_OUT_OF_RANGE:
        return gettext("A commission of %(rate)s%% is outside the allowed range of %(min)s%% to %(max)s%%.") % params
    return (
        gettext("A commission of %(rate)s%% is above the %(cap)s%% cap of a %(tier)s shop; offer %(cap)s%% or less.")
        % params
    )


def _number(value: Decimal) -> str:
    return format(value.normalize(), "f")


def _reasons_text(codes: list[str], shop: Shop) -> str:
    params = threshold_params(thresholds_for_market(rulesets_in_force(as_of=timezone.localdate()), shop.market))
    return " ".join(entity_reason_text(code, params) for code in codes)


def _shop_verdict(shop: Shop) -> rules.EntityVerdict:
    return verdict_effective(entity=Entity.SHOP, obj=shop)


def _refuse_unless_shop_may_add(shop: Shop) -> rules.EntityVerdict:
    """S3/S7/P0: a shop that is not ELIGIBLE creates no plan and adds no product."""
    verdict = _shop_verdict(shop)
    codes = rules.shop_refusal_codes(verdict)
    if codes:
        raise PlanRefused(
            codes,
            gettext("Shop %(shop)s cannot create affiliate plans or add products to them now. %(reasons)s")
            % {"shop": shop.key, "reasons": _reasons_text(codes, shop)},
        )
    return verdict


def _refuse_unless_active(plan: AffiliatePlan) -> None:
    if plan.status != AffiliatePlan.Status.ACTIVE:
        raise PlanRefused(
            [rules.PLAN_NOT_ACTIVE],
            gettext("Plan %(plan)s is %(status)s and can no longer be changed.")
            % {"plan": plan.name, "status": plan.get_status_display()},
        )


def _locked_shop(shop: Shop) -> Shop:
    """The shop row, locked: an evaluation run updating it waits for this transaction."""
    return Shop.objects.select_for_update().get(pk=shop.pk)


def _locked_plan(plan: AffiliatePlan) -> tuple[Shop, AffiliatePlan]:
    # Shop first, then plan: the order an evaluation run takes them in (S7).
    shop = _locked_shop(Shop(pk=plan.shop_id))
    return shop, AffiliatePlan.objects.select_for_update().get(pk=plan.pk)


def _product_rates(products) -> list[tuple[Product, Decimal]]:
    pairs = products.items() if isinstance(products, Mapping) else products
    return [(product, _rate(rate)) for product, rate in pairs]


def _product_problems(
    shop: Shop,
    shop_verdict: rules.EntityVerdict,
    items: list[tuple[Product, Decimal]],
    *,
    in_plan: Iterable[int] = (),
) -> dict[str, tuple[list[str], list[str]]]:
    """Product key -> (codes, sentences) for every product that may not join the plan."""
    verdicts = verdicts_effective(entity=Entity.PRODUCT, objects=[product for product, _ in items])
    seen = set(in_plan)
    problems: dict[str, tuple[list[str], list[str]]] = {}
    for product, rate in items:
        codes, sentences = [], []
        if product.shop_id != shop.pk:
            codes.append(rules.PRODUCT_NOT_IN_SHOP)
            sentences.append(
                gettext("Product %(product)s does not belong to shop %(shop)s.")
                % {"product": product.key, "shop": shop.key}
            )
        elif product.pk in seen:
            codes.append(rules.PRODUCT_ALREADY_IN_PLAN)
            sentences.append(gettext("Product %(product)s is already in this plan.") % {"product": product.key})
        else:
            eligibility = rules.product_refusal_codes(shop_verdict, verdicts[product.pk])
            if eligibility:
                codes += eligibility
                sentences.append(
                    gettext("Product %(product)s cannot be added to an affiliate plan now. %(reasons)s")
                    % {"product": product.key, "reasons": _reasons_text(eligibility, shop)}
                )
        seen.add(product.pk)
        commission = rules.commission_code(rate, shop.tier)
        if commission:
            codes.append(commission)
            sentences.append(
                gettext("Product %(product)s: %(problem)s")
                % {"product": product.key, "problem": _commission_message(commission, rate, shop.tier, product)}
            )
        if codes:
            problems[product.key] = (codes, sentences)
    return problems


def _raise_problems(problems: dict[str, tuple[list[str], list[str]]]) -> None:
    if problems:
        raise PlanRefused(
            [code for codes, _ in problems.values() for code in codes],
            " ".join(sentence for _, sentences in problems.values() for sentence in sentences),
            details={"products": {key: codes for key, (codes, _) in problems.items()}},
        )


def _rates_json(items: Iterable[tuple[Product, Decimal]]) -> dict[str, str]:
    return {product.key: _number(rate) for product, rate in items}


# Plans ----------------------------------------------------------------------------------------------


def plan_create(
    *,
    shop: Shop,
    user: User,
    name: str,
    kind: str,
    products: Mapping[Product, Decimal] | Iterable[tuple[Product, Decimal]] = (),
    creators: Iterable[Creator] = (),
    rate: Decimal | str | None = None,
) -> AffiliatePlan:
    """Create an open, targeted or shop-wide plan with its products (and invited creators).

    A shop-wide plan takes ``rate`` instead of ``products``: every product of the shop that is
    can_add_to_affiliate now joins at that rate (later ones are added by hand).
    """
    kind = _kind(kind)
    name = (name or "").strip()
    if not name:
        raise ValidationError(gettext("A plan needs a name."), code="name_required")
    items = _product_rates(products)
    creators = list({creator.pk: creator for creator in creators}.values())
    if kind == rules.SHOP_WIDE:
        if items or rate is None:
            raise ValidationError(
                gettext("A shop-wide plan takes one rate for all eligible products, not a list of products."),
                code="shop_wide_rate",
            )
        rate = _rate(rate)
    elif rate is not None:
        raise ValidationError(gettext("Only a shop-wide plan takes a single rate."), code="shop_wide_rate")
    _check_access(user, shop)

    with transaction.atomic():
        shop = _locked_shop(shop)
        shop_verdict = _refuse_unless_shop_may_add(shop)
        if creators and kind != rules.TARGETED:
            raise PlanRefused([rules.PLAN_NOT_TARGETED], gettext("Only a targeted plan invites creators."))
        if kind == rules.SHOP_WIDE:
            commission = rules.commission_code(rate, shop.tier)
            if commission:
                raise PlanRefused([commission], _commission_message(commission, rate, shop.tier, None))
            candidates = list(Product.objects.select_for_update().filter(shop=shop).order_by("pk"))
            verdicts = verdicts_effective(entity=Entity.PRODUCT, objects=candidates)
            items = [(p, rate) for p in candidates if not rules.product_refusal_codes(shop_verdict, verdicts[p.pk])]
        else:
            locked = Product.objects.select_for_update().filter(pk__in=[p.pk for p, _ in items]).order_by("pk")
            fresh = {product.pk: product for product in locked}
            items = [(fresh[product.pk], item_rate) for product, item_rate in items]
            _raise_problems(_product_problems(shop, shop_verdict, items))
        if not items:
            raise PlanRefused(
                [rules.PLAN_WITHOUT_PRODUCTS],
                gettext("A plan needs at least one product that can be added to affiliate plans now."),
            )
        plan = AffiliatePlan.objects.create(shop=shop, name=name, kind=kind, created_by=user)
        PlanProduct.objects.bulk_create(
            PlanProduct(plan=plan, product=product, commission_rate=item_rate) for product, item_rate in items
        )
        PlanInvitation.objects.bulk_create(PlanInvitation(plan=plan, creator=creator) for creator in creators)
        audit_record(
            actor=user,
            action="plan.create",
            object_type="plan",
            object_id=plan.pk,
            details={
                "shop": shop.key,
                "name": name,
                "kind": kind,
                "products": _rates_json(items),
                "creators": [creator.key for creator in creators],
            },
        )
    return plan


def plan_add_product(*, plan: AffiliatePlan, product: Product, rate: Decimal | str, user: User) -> PlanProduct:
    """Add a product that is can_add_to_affiliate now, at a rate within 1-80 % and the tier's cap."""
    rate = _rate(rate)
    _check_access(user, plan.shop)
    with transaction.atomic():
        shop, plan = _locked_plan(plan)
        _refuse_unless_active(plan)
        shop_verdict = _refuse_unless_shop_may_add(shop)
        product = Product.objects.select_for_update().get(pk=product.pk)
        in_plan = PlanProduct.objects.filter(plan=plan, removed_at__isnull=True).values_list("product_id", flat=True)
        problems = _product_problems(shop, shop_verdict, [(product, rate)], in_plan=in_plan)
        if plan.kind == rules.SHOP_WIDE:
            plan_rate = (
                PlanProduct.objects.filter(plan=plan).order_by("-added_at").values_list("commission_rate", flat=True)
            ).first()
            if plan_rate is not None and plan_rate != rate:
                codes, sentences = problems.setdefault(product.key, ([], []))
                codes.append(rules.SHOP_WIDE_SINGLE_RATE)
                sentences.append(
                    gettext("A shop-wide plan has one rate for every product: %(rate)s%%.")
                    % {"rate": _number(plan_rate)}
                )
        _raise_problems(problems)
        membership = PlanProduct.objects.create(plan=plan, product=product, commission_rate=rate)
        audit_record(
            actor=user,
            action="plan.add_product",
            object_type="plan",
            object_id=plan.pk,
            details={"product": product.key, "rate": _number(rate)},
        )
    return membership


def plan_remove_product(*, plan: AffiliatePlan, product: Product, user: User, reason: str = "") -> PlanProduct:
    """Take a product out of a running plan; the membership row stays, with its end time."""
    _check_access(user, plan.shop)
    with transaction.atomic():
        _, plan = _locked_plan(plan)
        _refuse_unless_active(plan)
        membership = (
            PlanProduct.objects.select_for_update().filter(plan=plan, product=product, removed_at__isnull=True).first()
        )
        if membership is None:
            raise PlanRefused(
                [rules.PRODUCT_NOT_IN_PLAN],
                gettext("Product %(product)s is not in plan %(plan)s.") % {"product": product.key, "plan": plan.name},
            )
        membership.removed_at = timezone.now()
        membership.save(update_fields=["removed_at"])
        audit_record(
            actor=user,
            action="plan.remove_product",
            object_type="plan",
            object_id=plan.pk,
            reason=reason,
            details={"product": product.key, "rate": _number(membership.commission_rate)},
        )
    return membership


def plan_end(*, plan: AffiliatePlan, user: User, reason: str) -> AffiliatePlan:
    """The seller ends a running plan: status ENDED, its products leave it; never reopened."""
    if not (reason or "").strip():
        raise ValidationError(gettext("Say why the plan ends."), code="reason_required")
    _check_access(user, plan.shop)
    with transaction.atomic():
        _, plan = _locked_plan(plan)
        _refuse_unless_active(plan)
        now = timezone.now()
        removed = PlanProduct.objects.filter(plan=plan, removed_at__isnull=True).update(removed_at=now)
        plan.status = AffiliatePlan.Status.ENDED
        plan.terminated_at = now  # the end time, for an ended plan as for a terminated one
        plan.save(update_fields=["status", "terminated_at"])
        audit_record(
            actor=user,
            action="plan.end",
            object_type="plan",
            object_id=plan.pk,
            reason=reason.strip(),
            details={"products_removed": removed},
        )
    return plan


def plan_invite_creator(*, plan: AffiliatePlan, creator: Creator, user: User) -> PlanInvitation:
    """Invite a creator to a running targeted plan; inviting twice returns the first invitation.

    Decision: a RESTRICTED shop may still invite (S3 forbids new products, not new creators).
    """
    _check_access(user, plan.shop)
    with transaction.atomic():
        _, plan = _locked_plan(plan)
        _refuse_unless_active(plan)
        if plan.kind != rules.TARGETED:
            raise PlanRefused([rules.PLAN_NOT_TARGETED], gettext("Only a targeted plan invites creators."))
        invitation, created = PlanInvitation.objects.get_or_create(plan=plan, creator=creator)
        if created:
            audit_record(
                actor=user,
                action="plan.invite_creator",
                object_type="plan",
                object_id=plan.pk,
                details={"creator": creator.key},
            )
    return invitation


# Recreating plans after recovery (S8) -----------------------------------------------------------------


@dataclasses.dataclass
class PlanRecreation:
    """One terminated plan and the new plan copying it (None when no product may join now)."""

    old: AffiliatePlan
    new: AffiliatePlan | None
    rates: dict[str, Decimal]
    capped: dict[str, tuple[Decimal, Decimal]]
    skipped: dict[str, list[str]]


def plans_recreate(*, shop: Shop, user: User, plans: Iterable[AffiliatePlan] | None = None) -> list[PlanRecreation]:
    """S8: new plans copying the shop's terminated ones; the old ones stay terminated.

    Each copy keeps the name, kind and invited creators, and the products that were in the plan
    when it ended and are can_add_to_affiliate now, at their old rates capped by today's tier.
    Without ``plans``, every terminated plan not recreated yet. Refused unless the shop is ELIGIBLE.
    """
    _check_access(user, shop)
    with transaction.atomic():
        shop = _locked_shop(shop)
        shop_verdict = _refuse_unless_shop_may_add(shop)
        recreated = AffiliatePlan.objects.filter(recreated_from=OuterRef("pk"))
        candidates = AffiliatePlan.objects.annotate(recreated=Exists(recreated))
        if plans is None:
            old_plans = list(
                candidates.filter(shop=shop, status=AffiliatePlan.Status.TERMINATED, recreated=False).order_by("pk")
            )
        else:
            old_plans = list(candidates.filter(pk__in=[plan.pk for plan in plans]).order_by("pk"))
            _refuse_unless_recreatable(shop, old_plans)
        if not old_plans:
            return []
        # The products a plan held when it ended: still in it, or taken out by the terminating run.
        memberships = (
            PlanProduct.objects.filter(plan__in=old_plans)
            .filter(Q(removed_at__isnull=True) | Q(removed_by_run_id=F("plan__terminated_by_run_id")))
            .select_related("product")
            .order_by("plan_id", "product__key")
        )
        by_plan: dict[int, list[PlanProduct]] = {}
        for membership in memberships:
            by_plan.setdefault(membership.plan_id, []).append(membership)
        invited: dict[int, list[int]] = {}
        for plan_id, creator_id in PlanInvitation.objects.filter(plan__in=old_plans).values_list(
            "plan_id", "creator_id"
        ):
            invited.setdefault(plan_id, []).append(creator_id)
        products = {m.product_id: m.product for ms in by_plan.values() for m in ms}
        verdicts = verdicts_effective(entity=Entity.PRODUCT, objects=products.values())

        results = []
        for old in old_plans:
            result = PlanRecreation(old, None, {}, {}, {})
            for membership in by_plan.get(old.pk, []):
                product = membership.product
                codes = rules.product_refusal_codes(shop_verdict, verdicts[product.pk])
                if codes:
                    result.skipped[product.key] = codes
                    continue
                rate = rules.capped_rate(membership.commission_rate, shop.tier)
                result.rates[product.key] = rate
                if rate != membership.commission_rate:
                    result.capped[product.key] = (membership.commission_rate, rate)
            if result.rates:
                result.new = _plan_copy(old, result, products, invited.get(old.pk, []), user)
            results.append(result)
        _notify_recreated(shop, [result for result in results if result.new is not None])
    return results


def _refuse_unless_recreatable(shop: Shop, old_plans: list[AffiliatePlan]) -> None:
    problems = {}
    for plan in old_plans:
        if plan.shop_id != shop.pk or plan.status != AffiliatePlan.Status.TERMINATED:
            problems[plan.pk] = rules.PLAN_NOT_TERMINATED
        elif plan.recreated:
            problems[plan.pk] = rules.PLAN_ALREADY_RECREATED
    if problems:
        raise PlanRefused(
            list(problems.values()),
            gettext(
                "Only terminated plans of shop %(shop)s that were not recreated yet can be recreated: "
                "plans %(plans)s cannot."
            )
            % {"shop": shop.key, "plans": ", ".join(str(pk) for pk in problems)},
            details={"plans": problems},
        )


def _plan_copy(
    old: AffiliatePlan, result: PlanRecreation, products: dict[int, Product], creator_ids: list[int], user: User
) -> AffiliatePlan:
    new = AffiliatePlan.objects.create(
        shop_id=old.shop_id, name=old.name, kind=old.kind, created_by=user, recreated_from=old
    )
    by_key = {product.key: product for product in products.values()}
    PlanProduct.objects.bulk_create(
        PlanProduct(plan=new, product=by_key[key], commission_rate=rate) for key, rate in result.rates.items()
    )
    PlanInvitation.objects.bulk_create(PlanInvitation(plan=new, creator_id=pk) for pk in creator_ids)
    audit_record(
        actor=user,
        action="plan.recreate",
        object_type="plan",
        object_id=new.pk,
        details={
            "recreated_from": old.pk,
            "kind": old.kind,
            "products": {key: _number(rate) for key, rate in result.rates.items()},
            "capped": {key: [_number(was), _number(now)] for key, (was, now) in result.capped.items()},
            "skipped": result.skipped,
            "creators": len(creator_ids),
        },
    )
    return new


def _notify_recreated(shop: Shop, results: list[PlanRecreation]) -> None:
    members = seller_member_ids([shop.seller_id]).get(shop.seller_id, [])
    items = []
    for result in results:
        context = {
            "event": "plan.recreated",
            "plan": result.new.name,
            "plan_id": result.new.pk,
            "recreated_from": result.old.pk,
            "shop": shop.key,
            "products": list(result.rates),
            "skipped": result.skipped,
        }
        key = f"plan.recreated:{result.new.pk}"
        items.extend((user_id, Notification.Kind.PLAN, f"plan:{result.new.pk}", context, key) for user_id in members)
    notifications_send_many(items)


# Creator adds (C2) --------------------------------------------------------------------------------------


def creator_add_product(*, creator: Creator, product: Product, placement: str) -> CreatorAdd:
    """C2: record a creator adding a product to a showcase, a live session or a video.

    Refused to everyone when the product is not can_add_to_affiliate, and to a creator who is
    not QUALIFIED when the category is gated; a refusal notifies the creator at once. Losing
    qualification later never removes an accepted add (C3).
    """
    if placement not in CreatorAdd.Placement.values:
        raise ValidationError(
            gettext("Unknown placement %(placement)s.") % {"placement": placement}, code="invalid_placement"
        )
    # Fresh rows: the verdicts that count are the stored ones now, not those of the caller's copies.
    product = Product.objects.select_related("shop", "category").get(pk=product.pk)
    creator = Creator.objects.get(pk=creator.pk)
    shop_verdict = _shop_verdict(product.shop)
    product_verdict = verdict_effective(entity=Entity.PRODUCT, obj=product)
    creator_verdict = verdict_effective(entity=Entity.CREATOR, obj=creator)
    codes = rules.product_refusal_codes(shop_verdict, product_verdict) + rules.creator_refusal_codes(
        creator_verdict, category_gated=product.category.gated
    )
    codes = list(dict.fromkeys(codes))
    thresholds = creator_thresholds()
    details = creator_add_details(creator=creator, product=product, thresholds=thresholds)
    with transaction.atomic():
        add = CreatorAdd.objects.create(
            creator=creator, product=product, placement=placement, accepted=not codes, reasons=codes, details=details
        )
        if codes:
            notification_send(
                users=User.objects.filter(creator=creator, is_active=True),
                kind=Notification.Kind.REFUSAL,
                subject=f"product:{product.key}",
                context={
                    "event": "creator_add.refused",
                    "product": product.key,
                    "placement": placement,
                    "reasons": codes,
                    "details": details,
                    "ruleset_version": thresholds.version,
                },
                dedupe_key=f"creator_add:{add.pk}",
            )
    return add
