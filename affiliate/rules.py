"""Pure affiliate-plan policy: tier caps, refusal codes and the rate a creator earns.

Plain values in, codes or a rate out: no Django, no clock, no database. Statuses and the
eligibility codes come from ``shops.rules``; the codes defined here are plan-level ones.
"""

from collections.abc import Iterable
from decimal import Decimal
from typing import NamedTuple

from shops.rules import can_add_to_affiliate, creator_may_promote, shop_can_add_to_affiliate
from shops.rules import codes as c

# Plan kinds, as stored on AffiliatePlan.kind.
OPEN = "open"
TARGETED = "targeted"
SHOP_WIDE = "shop_wide"
PLAN_KINDS = (OPEN, TARGETED, SHOP_WIDE)

# Refusal codes of plan actions and creator adds (a public interface, like shops.rules.codes).
NOT_EVALUATED = "NOT_EVALUATED"
OPS_OVERRIDE = "OPS_OVERRIDE"
COMMISSION_OUT_OF_RANGE = "COMMISSION_OUT_OF_RANGE"
COMMISSION_ABOVE_TIER_CAP = "COMMISSION_ABOVE_TIER_CAP"
PLAN_NOT_ACTIVE = "PLAN_NOT_ACTIVE"
PLAN_NOT_TARGETED = "PLAN_NOT_TARGETED"
PLAN_WITHOUT_PRODUCTS = "PLAN_WITHOUT_PRODUCTS"
PLAN_ALREADY_RECREATED = "PLAN_ALREADY_RECREATED"
PLAN_NOT_TERMINATED = "PLAN_NOT_TERMINATED"
PRODUCT_NOT_IN_SHOP = "PRODUCT_NOT_IN_SHOP"
PRODUCT_ALREADY_IN_PLAN = "PRODUCT_ALREADY_IN_PLAN"
PRODUCT_NOT_IN_PLAN = "PRODUCT_NOT_IN_PLAN"
SHOP_WIDE_SINGLE_RATE = "SHOP_WIDE_SINGLE_RATE"

# Every plan offers 1 % to 80 % per product (PlanProduct.commission_rate).
COMMISSION_MIN = Decimal("1")
COMMISSION_MAX = Decimal("80")

# spec "Shop tiers": the highest commission a tier's plans may offer; exactly the cap is allowed.
TIER_COMMISSION_CAP: dict[str, Decimal] = {
    "bronze": Decimal("20"),
    "silver": Decimal("25"),
    "gold": Decimal("30"),
    "platinum": Decimal("40"),
}


class EntityVerdict(NamedTuple):
    """The status that counts for an entity (an active ops override wins) and its codes."""

    status: str | None
    reasons: tuple[str, ...] = ()
    overridden: bool = False


class RateOffer(NamedTuple):
    """One active plan membership of a product, as seen by one creator."""

    kind: str
    rate: Decimal
    invited: bool = False


def commission_code(rate: Decimal, tier: str) -> str | None:
    """The commission rule a rate breaks, if any: 1-80 % first, then the shop tier's cap."""
    if not COMMISSION_MIN <= rate <= COMMISSION_MAX:
        return COMMISSION_OUT_OF_RANGE
    if rate > tier_cap(tier):
        return COMMISSION_ABOVE_TIER_CAP
    return None


def tier_cap(tier: str) -> Decimal:
    return TIER_COMMISSION_CAP[tier]


def capped_rate(rate: Decimal, tier: str) -> Decimal:
    """A rate brought down to the tier's cap (plans recreated after a tier change)."""
    return min(rate, tier_cap(tier))


def _verdict_codes(verdict: EntityVerdict) -> list[str]:
    if verdict.status is None:
        return [NOT_EVALUATED]
    if verdict.overridden:
        # The override is a decision of its own; the computed codes no longer explain it.
        return [OPS_OVERRIDE]
    return list(verdict.reasons) or [verdict.status]


def shop_refusal_codes(shop: EntityVerdict) -> list[str]:
    """S3/S7: why a shop may not create plans or add products; empty when it may."""
    if shop_can_add_to_affiliate(shop.status):
        return []
    return _verdict_codes(shop)


def product_refusal_codes(shop: EntityVerdict, product: EntityVerdict) -> list[str]:
    """P0: why a product is not can_add_to_affiliate: its own codes, then its shop's."""
    if can_add_to_affiliate(shop.status, product.status):
        return []
    codes = [] if product.status == c.ELIGIBLE else _verdict_codes(product)
    codes += shop_refusal_codes(shop)
    return list(dict.fromkeys(codes))


def creator_refusal_codes(creator: EntityVerdict, *, category_gated: bool) -> list[str]:
    """C1/C2: why a creator may not add a product of this category; empty when it may."""
    if creator_may_promote(creator.status, category_gated):
        return []
    return _verdict_codes(creator)


def choose_commission_rate(offers: Iterable[RateOffer]) -> Decimal | None:
    """The rate a creator earns on a product.

    A targeted plan the creator is invited to wins over open and shop-wide plans. Among
    several plans of the winning sort, the highest rate applies (decision: the creator
    would pick it). None when no plan is open to this creator.
    """
    targeted, public = [], []
    for offer in offers:
        if offer.kind == TARGETED:
            if offer.invited:
                targeted.append(offer.rate)
        elif offer.kind in (OPEN, SHOP_WIDE):
            public.append(offer.rate)
    if targeted:
        return max(targeted)
    return max(public) if public else None
