"""The eligibility rules of ``spec/eligibility-rules.md``, clause by clause.

Every comparison is exact: scores are ``Decimal`` and the NRR rule compares integer
cross-products, so a product sitting exactly on a boundary lands on the documented side.
"""

from decimal import Decimal
from fractions import Fraction
from typing import NamedTuple

from shops.rules import codes as c


class Thresholds(NamedTuple):
    """One rule-set version's thresholds (spec keys in brackets in the spec)."""

    version: int
    sps_min_orders: int = 30
    sps_window_days: int = 90
    sps_eligible: Decimal = Decimal("3.5")
    sps_disqualify: Decimal = Decimal("3.0")
    nrr_window_days: int = 30
    nrr_warning_multiple: Fraction = Fraction(2)
    nrr_disqualify_multiple: Fraction = Fraction(3)
    pps_min: Decimal = Decimal("3.5")
    chr_min: Decimal = Decimal("150")


class Verdict(NamedTuple):
    status: str
    reasons: tuple[str, ...]
    # S6: the shop carries a permanent disqualification after this verdict.
    permanent: bool = False


class ShopFacts(NamedTuple):
    account_status: str
    orders_90d: int
    sps: Decimal | None
    ip_violation: bool
    fair_trade_violation: bool
    review_violation: bool
    # S6: an earlier suspension disqualified the shop for good (until lifted by ops).
    permanently_disqualified: bool = False
    # Seed 001: force-unbound from its business licence by ops.
    unbound: bool = False


class ProductFacts(NamedTuple):
    listing_status: str
    reviews_30d: int
    negative_reviews_30d: int
    ip_violation: bool
    fair_trade_violation: bool
    review_violation: bool
    counterfeit_flag: bool
    appeal_failed: bool


class CreatorFacts(NamedTuple):
    pps: Decimal | None
    chr: Decimal | None


class Baseline(NamedTuple):
    """The leaf category's average NRR ``A`` as an exact fraction numerator/denominator."""

    numerator: int
    denominator: int

    @classmethod
    def from_decimal(cls, value: Decimal) -> "Baseline":
        ratio = Fraction(value)
        return cls(ratio.numerator, ratio.denominator)

    @property
    def value(self) -> Fraction | None:
        return Fraction(self.numerator, self.denominator) if self.denominator else None


def _violation_codes(facts: ShopFacts | ProductFacts) -> list[str]:
    found = []
    if facts.ip_violation:
        found.append(c.IP_VIOLATION)
    if facts.fair_trade_violation:
        found.append(c.FAIR_TRADE_VIOLATION)
    if facts.review_violation:
        found.append(c.REVIEW_VIOLATION)
    return found


def shop_has_sps(facts: ShopFacts, thresholds: Thresholds) -> bool:
    """S1: an SPS counts only with at least ``sps_min_orders`` orders in the window."""
    return facts.sps is not None and facts.orders_90d >= thresholds.sps_min_orders


def evaluate_shop(facts: ShopFacts, thresholds: Thresholds) -> Verdict:
    # S6: a suspension disqualifies for good and wins over every other rule.
    if facts.permanently_disqualified or facts.account_status in c.SUSPENDED_ACCOUNT_STATUSES:
        return Verdict(c.DISQUALIFIED, (c.ACCOUNT_SUSPENDED,), permanent=True)
    # An unbound shop has no affiliate programme until ops bind it again (seed 001).
    if facts.unbound:
        return Verdict(c.DISQUALIFIED, (c.SHOP_UNBOUND,))
    if shop_has_sps(facts, thresholds):
        # S4, S3, S2. With an SPS, shop-level violations do not change the status (S5).
        if facts.sps < thresholds.sps_disqualify:
            return Verdict(c.DISQUALIFIED, (c.SPS_BELOW_DISQUALIFY,))
        if facts.sps < thresholds.sps_eligible:
            return Verdict(c.RESTRICTED, (c.SPS_BELOW_ELIGIBLE,))
        return Verdict(c.ELIGIBLE, ())
    # S5: without an SPS every violation is reported and restricts the shop.
    violations = _violation_codes(facts)
    if violations:
        return Verdict(c.RESTRICTED, tuple(violations))
    return Verdict(c.ELIGIBLE, ())


def nrr_code(facts: ProductFacts, baseline: Baseline | None, thresholds: Thresholds) -> str | None:
    """P1: at most one NRR code, compared by integer cross-multiplication.

    NRR = neg / reviews and A = a_num / a_den, so ``NRR >= m * A`` is
    ``neg * a_den * m_den >= m_num * a_num * reviews`` with every term an integer.
    """
    negative, reviews = facts.negative_reviews_30d, facts.reviews_30d
    # Decision: no reviews or no negative review always passes, even when A = 0.
    if reviews == 0 or negative == 0 or baseline is None or baseline.denominator == 0:
        return None
    lhs = negative * baseline.denominator
    rhs = baseline.numerator * reviews
    dq = thresholds.nrr_disqualify_multiple
    if lhs * dq.denominator > dq.numerator * rhs:
        return c.NRR_ABOVE_DISQUALIFY
    warn = thresholds.nrr_warning_multiple
    # Decision: exactly at the warning multiple is a warning.
    if lhs * warn.denominator >= warn.numerator * rhs:
        return c.NRR_ABOVE_WARNING
    return None


def evaluate_product(
    facts: ProductFacts,
    shop_status: str | None,
    baseline: Baseline | None,
    thresholds: Thresholds,
) -> Verdict:
    reasons: list[str] = []
    # P0: the shop is evaluated first; a disqualified shop disqualifies its products.
    if shop_status == c.DISQUALIFIED:
        reasons.append(c.SHOP_DISQUALIFIED)
    nrr = nrr_code(facts, baseline, thresholds)
    if nrr is not None:
        reasons.append(nrr)
    reasons.extend(_violation_codes(facts))  # P2
    if facts.counterfeit_flag:  # P3
        reasons.append(c.COUNTERFEIT_FLAG)
    if facts.listing_status == c.LISTING_STATUS_DELISTED:  # P4
        reasons.append(c.LISTING_DELISTED)
    elif facts.listing_status == c.LISTING_STATUS_FROZEN:
        reasons.append(c.LISTING_FROZEN)
    if facts.appeal_failed:
        reasons.append(c.APPEAL_FAILED)
    # All codes are reported; the status is the worst one.
    if not reasons:
        return Verdict(c.ELIGIBLE, ())
    if reasons == [c.NRR_ABOVE_WARNING]:
        return Verdict(c.WARNING, (c.NRR_ABOVE_WARNING,))
    return Verdict(c.DISQUALIFIED, tuple(reasons))


def evaluate_creator(facts: CreatorFacts, thresholds: Thresholds) -> Verdict:
    # C1: both scores are needed; every missing or low score is reported.
    reasons: list[str] = []
    if facts.pps is not None and facts.pps < thresholds.pps_min:
        reasons.append(c.PPS_BELOW_MIN)
    if facts.chr is not None and facts.chr < thresholds.chr_min:
        reasons.append(c.CHR_BELOW_MIN)
    if facts.pps is None:
        reasons.append(c.PPS_MISSING)
    if facts.chr is None:
        reasons.append(c.CHR_MISSING)
    if reasons:
        return Verdict(c.NOT_QUALIFIED, tuple(reasons))
    return Verdict(c.QUALIFIED, ())


def can_add_to_affiliate(shop_status: str | None, product_status: str | None) -> bool:
    """P0: a product joins a plan only if its shop and the product are both ELIGIBLE."""
    return shop_status == c.ELIGIBLE and product_status == c.ELIGIBLE


def shop_can_add_to_affiliate(shop_status: str | None) -> bool:
    """S3: only an ELIGIBLE shop may add products to affiliate plans."""
    return shop_status == c.ELIGIBLE


def creator_may_promote(creator_status: str | None, category_gated: bool) -> bool:
    """C1/C2: gated categories need a qualified creator; other categories need nothing."""
    return not category_gated or creator_status == c.QUALIFIED
