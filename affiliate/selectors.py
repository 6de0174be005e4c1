"""Reads for affiliate plans: effective verdicts, plans of a shop, rates, pre-checks, blast radius."""

import dataclasses
import datetime as dt
from collections.abc import Iterable
from decimal import Decimal

from django.db.models import Count, Exists, OuterRef, Prefetch, Q, QuerySet
from django.utils import timezone
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

from affiliate import rules
from affiliate.models import AffiliatePlan, Creator, CreatorAdd, PlanInvitation, PlanProduct
from shops.models import Entity, EvaluationRun, Product, SellerMembership, Shop, StatusHistory, User
from shops.rules import Thresholds
from shops.rules import codes as c
from shops.selectors import DEFAULT_MARKET, overrides_active, rulesets_in_force, thresholds_for_market


def verdicts_effective(*, entity: str, objects: Iterable) -> dict[int, rules.EntityVerdict]:
    """Object id -> the verdict that counts: an active ops override wins over the computed one.

    One query for any number of objects of one entity type (``effective_status`` in bulk).
    """
    objects = list(objects)
    overrides = overrides_active(entity=entity, entity_ids=[obj.pk for obj in objects])
    verdicts = {}
    for obj in objects:
        override = overrides.get(obj.pk)
        if override is not None:
            verdicts[obj.pk] = rules.EntityVerdict(override.status, (), overridden=True)
        else:
            verdicts[obj.pk] = rules.EntityVerdict(obj.status, tuple(obj.reasons or ()))
    return verdicts


def verdict_effective(*, entity: str, obj) -> rules.EntityVerdict:
    return verdicts_effective(entity=entity, objects=[obj])[obj.pk]


def shop_manageable_by(*, user: User, shop: Shop) -> bool:
    """Ops staff and the members of the shop's seller may manage its plans."""
    if not user.is_active:
        return False
    return user.is_ops or SellerMembership.objects.filter(user=user, seller_id=shop.seller_id).exists()


def plans_for_shop(*, shop: Shop, active_only: bool = False) -> QuerySet[AffiliatePlan]:
    """A shop's plans, newest first, each with ``active_memberships`` (products) and counts.

    A restricted shop keeps and sees its running plans (S3); terminated ones stay listed (S8).
    """
    plans = AffiliatePlan.objects.filter(shop=shop)
    if active_only:
        plans = plans.filter(status=AffiliatePlan.Status.ACTIVE)
    active = PlanProduct.objects.filter(removed_at__isnull=True).select_related("product").order_by("product__key")
    return (
        plans.annotate(
            product_count=Count("memberships", filter=Q(memberships__removed_at__isnull=True), distinct=True),
            creator_count=Count("invited_creators", distinct=True),
        )
        .prefetch_related(Prefetch("memberships", queryset=active, to_attr="active_memberships"))
        .order_by("-created_at", "-id")
    )


def plan_memberships_active(*, plan: AffiliatePlan) -> QuerySet[PlanProduct]:
    return (
        PlanProduct.objects.filter(plan=plan, removed_at__isnull=True)
        .select_related("product__category")
        .order_by("product__key")
    )


def commission_rate_for(*, creator: Creator, product: Product) -> Decimal | None:
    """The commission ``creator`` earns on ``product`` now, or None (one query).

    Only active plans and memberships count; the choice itself is ``rules.choose_commission_rate``.
    """
    invited = PlanInvitation.objects.filter(plan_id=OuterRef("plan_id"), creator=creator)
    offers = (
        PlanProduct.objects.filter(product=product, removed_at__isnull=True, plan__status=AffiliatePlan.Status.ACTIVE)
        .annotate(invited=Exists(invited))
        .values_list("plan__kind", "commission_rate", "invited")
    )
    return rules.choose_commission_rate(rules.RateOffer(kind, rate, invited) for kind, rate, invited in offers)


# Blast radius ------------------------------------------------------------------------------------


@dataclasses.dataclass
class BlastRadius:
    """What a disqualification of a shop or a product ends (preview) or ended (actual).

    For a shop the plans are terminated (S7); for a product they lose it and go on (P5).
    """

    shop: Shop | None
    product: Product | None
    plans: list[AffiliatePlan]
    memberships: list[PlanProduct]
    creators: list[Creator]
    run: EvaluationRun | None = None

    @property
    def plans_end(self) -> bool:
        return self.shop is not None

    @property
    def products(self) -> list[Product]:
        seen: dict[int, Product] = {}
        for membership in self.memberships:
            seen.setdefault(membership.product_id, membership.product)
        return sorted(seen.values(), key=lambda product: product.key)


def _one_target(shop: Shop | None, product: Product | None) -> None:
    if (shop is None) == (product is None):
        raise TypeError("Give exactly one of shop or product")


def _creators_affected(plan_ids: list[int], product_ids: list[int]) -> list[Creator]:
    """Invited creators of the plans and creators who added the products (one query)."""
    if not plan_ids and not product_ids:
        return []
    invited = PlanInvitation.objects.filter(plan_id__in=plan_ids).order_by().values("creator_id")
    added = CreatorAdd.objects.filter(product_id__in=product_ids, accepted=True).order_by().values("creator_id")
    # One IN over the union: "pk IN (a) OR pk IN (b)" makes PostgreSQL scan every creator (1M).
    return list(Creator.objects.filter(pk__in=invited.union(added)).order_by("key"))


def blast_radius_preview(*, shop: Shop | None = None, product: Product | None = None) -> BlastRadius:
    """What disqualifying ``shop`` or ``product`` now would end; three queries, whatever the size."""
    _one_target(shop, product)
    active = AffiliatePlan.objects.filter(status=AffiliatePlan.Status.ACTIVE)
    if shop is not None:
        plans = list(active.filter(shop=shop).order_by("-created_at", "-id"))
    else:
        in_plan = PlanProduct.objects.filter(plan_id=OuterRef("pk"), product=product, removed_at__isnull=True)
        plans = list(active.filter(Exists(in_plan)).order_by("-created_at", "-id"))
    by_id = {plan.pk: plan for plan in plans}
    memberships = PlanProduct.objects.filter(plan_id__in=list(by_id), removed_at__isnull=True)
    if product is not None:
        memberships = memberships.filter(product=product)
    memberships = list(memberships.select_related("product").order_by("plan_id", "product__key")) if by_id else []
    for membership in memberships:
        membership.plan = by_id[membership.plan_id]
    product_ids = sorted({m.product_id for m in memberships})
    return BlastRadius(shop, product, plans, memberships, _creators_affected(list(by_id), product_ids))


def disqualification_run_latest(*, entity: str, entity_id: int) -> EvaluationRun | None:
    """The run that last disqualified this entity (a change into DISQUALIFIED)."""
    row = (
        StatusHistory.objects.filter(entity=entity, entity_id=entity_id, new_status=c.DISQUALIFIED)
        .exclude(old_status=c.DISQUALIFIED)
        .select_related("run")
        .order_by("-id")
        .first()
    )
    return row.run if row else None


def blast_radius_actual(
    *, shop: Shop | None = None, product: Product | None = None, run: EvaluationRun | None = None
) -> BlastRadius:
    """What a real disqualification ended: plans terminated and memberships removed by the run.

    Without ``run``, the latest run that disqualified the entity. Four queries at most.
    """
    _one_target(shop, product)
    if run is None:
        entity, target = (Entity.SHOP, shop) if shop is not None else (Entity.PRODUCT, product)
        run = disqualification_run_latest(entity=entity, entity_id=target.pk)
        if run is None:
            return BlastRadius(shop, product, [], [], [], None)
    target = Q(plan__shop=shop) if shop is not None else Q(product=product)
    removed = PlanProduct.objects.filter(target, removed_by_run=run).select_related("plan", "product")
    memberships = list(removed.order_by("plan_id", "product__key"))
    if shop is not None:
        # A plan can end with no product left in it; it is still part of what the run ended.
        plans = list(AffiliatePlan.objects.filter(shop=shop, terminated_by_run=run).order_by("-created_at", "-id"))
    else:
        plans = sorted({m.plan_id: m.plan for m in memberships}.values(), key=lambda p: (p.created_at, p.pk))
        plans.reverse()
    plan_ids = [plan.pk for plan in plans]
    product_ids = sorted({m.product_id for m in memberships})
    return BlastRadius(shop, product, plans, memberships, _creators_affected(plan_ids, product_ids), run)


# Creator pre-check (C2) ----------------------------------------------------------------------------


def _figure(value) -> str | None:
    """3.4, 150: exact decimal text without trailing zeros, for messages and JSON."""
    if value is None:
        return None
    return format(Decimal(value).normalize(), "f")


def creator_thresholds(*, as_of: dt.date | None = None) -> Thresholds:
    """C1 thresholds of the default rule set in force (creators have no market)."""
    in_force = rulesets_in_force(as_of=as_of or timezone.localdate())
    return thresholds_for_market(in_force, DEFAULT_MARKET)


def creator_add_details(*, creator: Creator, product: Product, thresholds: Thresholds) -> dict:
    """The figures behind a creator add or a pre-check: scores, thresholds and the category."""
    category = product.category
    return {
        "pps": _figure(creator.pps),
        "chr": _figure(creator.chr),
        "pps_min": _figure(thresholds.pps_min),
        "chr_min": _figure(thresholds.chr_min),
        "category": category.name,
        "gated": category.gated,
        "ruleset_version": thresholds.version,
    }


CREATOR_REASON_FRAGMENTS = {
    c.PPS_BELOW_MIN: _("PPS %(pps)s < %(pps_min)s"),
    c.CHR_BELOW_MIN: _("CHR %(chr)s < %(chr_min)s"),
    c.PPS_MISSING: _("no PPS yet (%(pps_min)s needed)"),
    c.CHR_MISSING: _("no CHR yet (%(chr_min)s needed)"),
    rules.NOT_EVALUATED: _("not evaluated yet"),
    rules.OPS_OVERRIDE: _("status set by the operations team"),
}
ENTITY_REASON_FRAGMENTS = {
    rules.NOT_EVALUATED: _("not evaluated yet"),
    rules.OPS_OVERRIDE: _("status set by the operations team"),
}


def _fragment(fragments: dict, code: str, params: dict) -> str:
    template = fragments.get(code)
    return str(template) % params if template is not None else code


def entity_reason_text(code: str, params: dict | None = None) -> str:
    """One reason in words: the translated message of a verdict code, or a plan-level fragment."""
    from shops.reasons import REASON_MESSAGES, reason_message

    if code in REASON_MESSAGES:
        return reason_message(code, params)
    return _fragment(ENTITY_REASON_FRAGMENTS, code, {})


@dataclasses.dataclass(frozen=True)
class PrecheckResult:
    product: Product
    may_promote: bool
    codes: list[str]
    message: str
    details: dict


def creator_precheck(*, creator: Creator, plan: AffiliatePlan) -> list[PrecheckResult]:
    """For each product of the plan: could this creator add it now (C2), and why not. No writes."""
    memberships = list(plan_memberships_active(plan=plan))
    products = [m.product for m in memberships]
    shop = Shop.objects.get(pk=plan.shop_id)
    creator = Creator.objects.get(pk=creator.pk)
    shop_verdict = verdict_effective(entity=Entity.SHOP, obj=shop)
    product_verdicts = verdicts_effective(entity=Entity.PRODUCT, objects=products)
    creator_verdict = verdict_effective(entity=Entity.CREATOR, obj=creator)
    thresholds = creator_thresholds()
    results = []
    for product in products:
        details = creator_add_details(creator=creator, product=product, thresholds=thresholds)
        params = {**details, "product": product.title}
        product_codes = rules.product_refusal_codes(shop_verdict, product_verdicts[product.pk])
        creator_codes = rules.creator_refusal_codes(creator_verdict, category_gated=product.category.gated)
        sentences = []
        if product_codes:
            sentences.append(
                gettext("No creator can promote %(product)s now: %(reasons)s")
                % {"product": product.title, "reasons": " ".join(entity_reason_text(code) for code in product_codes)}
            )
        if creator_codes:
            reasons = ", ".join(_fragment(CREATOR_REASON_FRAGMENTS, code, params) for code in creator_codes)
            sentences.append(
                gettext("This creator cannot promote %(category)s: %(reasons)s")
                % {"category": details["category"], "reasons": reasons}
            )
        if not sentences:
            if product.category.gated:
                sentences.append(gettext("This creator can promote %(category)s.") % params)
            else:
                sentences.append(gettext("%(category)s is not gated: any creator can promote it.") % params)
        codes = list(dict.fromkeys(product_codes + creator_codes))
        results.append(PrecheckResult(product, not codes, codes, " ".join(sentences), details))
    return results
