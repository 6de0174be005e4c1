"""The pure eligibility rules, clause by clause of spec/eligibility-rules.md.

Every threshold is tested at, just below and just above its boundary. No database: these
tests build plain facts and read plain verdicts.
"""

import itertools
import random
from decimal import Decimal
from fractions import Fraction

import pytest

from shops.rules import codes as c
from shops.rules.eligibility import (
    Baseline,
    CreatorFacts,
    ProductFacts,
    ShopFacts,
    Thresholds,
    Verdict,
    can_add_to_affiliate,
    creator_may_promote,
    evaluate_creator,
    evaluate_product,
    evaluate_shop,
    nrr_code,
    shop_can_add_to_affiliate,
    shop_has_sps,
)

DEFAULTS = Thresholds(version=1)
D = Decimal


def shop_facts(**overrides: object) -> ShopFacts:
    base = {
        "account_status": c.ACCOUNT_ACTIVE,
        "orders_90d": 100,
        "sps": D("4.2"),
        "ip_violation": False,
        "fair_trade_violation": False,
        "review_violation": False,
    }
    return ShopFacts(**(base | overrides))


def product_facts(**overrides: object) -> ProductFacts:
    base = {
        "listing_status": c.LISTING_LIVE,
        "reviews_30d": 100,
        "negative_reviews_30d": 0,
        "ip_violation": False,
        "fair_trade_violation": False,
        "review_violation": False,
        "counterfeit_flag": False,
        "appeal_failed": False,
    }
    return ProductFacts(**(base | overrides))


NO_VIOLATION = {"ip_violation": False, "fair_trade_violation": False, "review_violation": False}
IP = {"ip_violation": True}
FAIR = {"fair_trade_violation": True}
REVIEW = {"review_violation": True}
ALL_VIOLATIONS = IP | FAIR | REVIEW
ALL_VIOLATION_CODES = (c.IP_VIOLATION, c.FAIR_TRADE_VIOLATION, c.REVIEW_VIOLATION)

# A leaf category whose average NRR is exactly 1/10.
A_TENTH = Baseline.from_decimal(D("0.1"))


# Shop ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("orders", "sps", "has_sps"),
    [
        pytest.param(29, D("4.0"), False, id="29-orders-with-a-feed-sps-has-none"),
        pytest.param(30, D("4.0"), True, id="30-orders-has-an-sps"),
        pytest.param(31, D("4.0"), True, id="31-orders-has-an-sps"),
        pytest.param(0, D("4.0"), False, id="no-orders-has-none"),
        pytest.param(30, None, False, id="30-orders-without-a-feed-sps-has-none"),
        pytest.param(10_000, None, False, id="many-orders-without-a-feed-sps-has-none"),
    ],
)
def test_s1_a_shop_has_an_sps_only_from_30_orders_in_the_window(orders: int, sps: Decimal | None, has_sps: bool):
    assert shop_has_sps(shop_facts(orders_90d=orders, sps=sps), DEFAULTS) is has_sps


@pytest.mark.parametrize(
    ("orders", "sps", "violations", "expected"),
    [
        # A low SPS below 30 orders is ignored: the shop is judged by S5 instead.
        pytest.param(29, D("3.2"), {}, Verdict(c.ELIGIBLE, ()), id="29-orders-low-sps-ignored-eligible"),
        pytest.param(29, D("2.0"), {}, Verdict(c.ELIGIBLE, ()), id="29-orders-very-low-sps-ignored-eligible"),
        pytest.param(
            29, D("2.0"), IP, Verdict(c.RESTRICTED, (c.IP_VIOLATION,)), id="29-orders-sps-ignored-violation-restricts"
        ),
        pytest.param(
            30, D("3.2"), {}, Verdict(c.RESTRICTED, (c.SPS_BELOW_ELIGIBLE,)), id="30-orders-low-sps-restricts"
        ),
        pytest.param(
            31, D("3.2"), {}, Verdict(c.RESTRICTED, (c.SPS_BELOW_ELIGIBLE,)), id="31-orders-low-sps-restricts"
        ),
        pytest.param(30, D("2.0"), IP, Verdict(c.DISQUALIFIED, (c.SPS_BELOW_DISQUALIFY,)), id="30-orders-sps-decides"),
        pytest.param(29, None, {}, Verdict(c.ELIGIBLE, ()), id="29-orders-no-sps-eligible"),
        pytest.param(30, None, {}, Verdict(c.ELIGIBLE, ()), id="30-orders-no-sps-eligible"),
        pytest.param(31, None, FAIR, Verdict(c.RESTRICTED, (c.FAIR_TRADE_VIOLATION,)), id="31-orders-no-sps-s5"),
    ],
)
def test_s1_below_30_orders_a_feed_sps_is_ignored(
    orders: int, sps: Decimal | None, violations: dict[str, bool], expected: Verdict
):
    assert evaluate_shop(shop_facts(orders_90d=orders, sps=sps, **violations), DEFAULTS) == expected


def test_s1_the_minimum_order_count_comes_from_the_rule_set():
    thresholds = Thresholds(version=2, sps_min_orders=50)
    assert not shop_has_sps(shop_facts(orders_90d=49), thresholds)
    assert shop_has_sps(shop_facts(orders_90d=50), thresholds)


RESTRICTED_BY_SPS = Verdict(c.RESTRICTED, (c.SPS_BELOW_ELIGIBLE,))
DISQUALIFIED_BY_SPS = Verdict(c.DISQUALIFIED, (c.SPS_BELOW_DISQUALIFY,))


@pytest.mark.parametrize(
    ("sps", "expected"),
    [
        pytest.param(D("5"), Verdict(c.ELIGIBLE, ()), id="5-eligible"),
        pytest.param(D("3.5001"), Verdict(c.ELIGIBLE, ()), id="3.5001-eligible"),
        pytest.param(D("3.5"), Verdict(c.ELIGIBLE, ()), id="3.5-eligible"),
        pytest.param(D("3.5000"), Verdict(c.ELIGIBLE, ()), id="3.5000-from-the-database-eligible"),
        pytest.param(D("3.4999"), RESTRICTED_BY_SPS, id="3.4999-restricted"),
        pytest.param(D("3.0001"), RESTRICTED_BY_SPS, id="3.0001-restricted"),
        pytest.param(D("3.0"), RESTRICTED_BY_SPS, id="3.0-restricted"),
        pytest.param(D("2.9999"), DISQUALIFIED_BY_SPS, id="2.9999-disqualified"),
        pytest.param(D("0"), DISQUALIFIED_BY_SPS, id="0-disqualified"),
    ],
)
def test_s2_s3_s4_the_sps_decides_the_shop_status(sps: Decimal, expected: Verdict):
    verdict = evaluate_shop(shop_facts(sps=sps), DEFAULTS)
    assert verdict == expected
    # A disqualification by score is not permanent (S8): it ends when the score recovers.
    assert verdict.permanent is False


@pytest.mark.parametrize(
    ("sps", "expected"),
    [
        pytest.param(D("4.0"), Verdict(c.ELIGIBLE, ()), id="4.0-eligible"),
        pytest.param(D("3.9999"), RESTRICTED_BY_SPS, id="3.9999-restricted"),
        pytest.param(D("3.5"), RESTRICTED_BY_SPS, id="3.5-restricted"),
        pytest.param(D("3.4999"), DISQUALIFIED_BY_SPS, id="3.4999-disqualified"),
    ],
)
def test_s2_s3_s4_the_sps_thresholds_come_from_the_rule_set(sps: Decimal, expected: Verdict):
    thresholds = Thresholds(version=2, sps_eligible=D("4.0"), sps_disqualify=D("3.5"))
    assert evaluate_shop(shop_facts(sps=sps), thresholds) == expected


@pytest.mark.parametrize(
    ("violations", "expected"),
    [
        pytest.param(NO_VIOLATION, Verdict(c.ELIGIBLE, ()), id="none-eligible"),
        pytest.param(IP, Verdict(c.RESTRICTED, (c.IP_VIOLATION,)), id="ip"),
        pytest.param(FAIR, Verdict(c.RESTRICTED, (c.FAIR_TRADE_VIOLATION,)), id="fair-trade"),
        pytest.param(REVIEW, Verdict(c.RESTRICTED, (c.REVIEW_VIOLATION,)), id="review"),
        pytest.param(IP | REVIEW, Verdict(c.RESTRICTED, (c.IP_VIOLATION, c.REVIEW_VIOLATION)), id="ip-and-review"),
        pytest.param(ALL_VIOLATIONS, Verdict(c.RESTRICTED, ALL_VIOLATION_CODES), id="all-three-in-code-order"),
    ],
)
@pytest.mark.parametrize(
    ("orders", "sps"),
    [pytest.param(100, None, id="no-feed-sps"), pytest.param(12, D("4.9"), id="too-few-orders-for-the-sps")],
)
def test_s5_without_an_sps_every_violation_restricts_the_shop(
    orders: int, sps: Decimal | None, violations: dict[str, bool], expected: Verdict
):
    assert evaluate_shop(shop_facts(orders_90d=orders, sps=sps, **violations), DEFAULTS) == expected


@pytest.mark.parametrize(
    "violations",
    [
        pytest.param(IP, id="ip"),
        pytest.param(FAIR, id="fair-trade"),
        pytest.param(REVIEW, id="review"),
        pytest.param(ALL_VIOLATIONS, id="all-three"),
    ],
)
@pytest.mark.parametrize(
    ("sps", "expected"),
    [
        pytest.param(D("4.2"), Verdict(c.ELIGIBLE, ()), id="good-sps-stays-eligible"),
        pytest.param(D("3.2"), RESTRICTED_BY_SPS, id="middling-sps-only-its-own-code"),
        pytest.param(D("2.0"), DISQUALIFIED_BY_SPS, id="low-sps-only-its-own-code"),
    ],
)
def test_s5_with_an_sps_shop_violations_neither_change_the_status_nor_add_a_code(
    violations: dict[str, bool], sps: Decimal, expected: Verdict
):
    assert evaluate_shop(shop_facts(sps=sps, **violations), DEFAULTS) == expected


SUSPENDED_FOR_GOOD = Verdict(c.DISQUALIFIED, (c.ACCOUNT_SUSPENDED,), permanent=True)


@pytest.mark.parametrize(
    ("facts", "expected"),
    [
        pytest.param(
            shop_facts(account_status=c.ACCOUNT_SUSPENDED_TEMPORARY, sps=D("5")),
            SUSPENDED_FOR_GOOD,
            id="temporary-suspension-beats-a-perfect-sps",
        ),
        pytest.param(
            shop_facts(account_status=c.ACCOUNT_SUSPENDED_PERMANENT, sps=D("5")),
            SUSPENDED_FOR_GOOD,
            id="permanent-suspension-beats-a-perfect-sps",
        ),
        pytest.param(
            shop_facts(account_status=c.ACCOUNT_SUSPENDED_TEMPORARY, sps=D("2.0")),
            SUSPENDED_FOR_GOOD,
            id="suspension-replaces-the-sps-code",
        ),
        pytest.param(
            shop_facts(account_status=c.ACCOUNT_SUSPENDED_PERMANENT, sps=D("3.2")),
            SUSPENDED_FOR_GOOD,
            id="suspension-replaces-the-restriction",
        ),
        pytest.param(
            shop_facts(account_status=c.ACCOUNT_SUSPENDED_TEMPORARY, sps=None, **ALL_VIOLATIONS),
            SUSPENDED_FOR_GOOD,
            id="suspension-replaces-violation-codes",
        ),
        pytest.param(
            shop_facts(account_status=c.ACCOUNT_SUSPENDED_PERMANENT, orders_90d=0, sps=None),
            SUSPENDED_FOR_GOOD,
            id="suspension-of-a-new-shop",
        ),
        pytest.param(
            shop_facts(account_status=c.ACCOUNT_ACTIVE, sps=D("5"), permanently_disqualified=True),
            SUSPENDED_FOR_GOOD,
            id="disqualification-stays-after-the-suspension-ends",
        ),
        pytest.param(
            shop_facts(account_status=c.ACCOUNT_CLOSED, sps=D("5"), permanently_disqualified=True),
            SUSPENDED_FOR_GOOD,
            id="permanent-disqualification-of-a-closed-account",
        ),
    ],
)
def test_s6_a_suspension_disqualifies_for_good_and_wins_over_every_rule(facts: ShopFacts, expected: Verdict):
    assert evaluate_shop(facts, DEFAULTS) == expected


@pytest.mark.parametrize(
    ("facts", "expected"),
    [
        pytest.param(shop_facts(sps=D("4.2")), Verdict(c.ELIGIBLE, ()), id="good-sps-eligible"),
        pytest.param(shop_facts(sps=D("3.2")), RESTRICTED_BY_SPS, id="middling-sps-restricted"),
        pytest.param(shop_facts(sps=D("2.0")), DISQUALIFIED_BY_SPS, id="low-sps-disqualified-not-permanently"),
        pytest.param(shop_facts(sps=None, **IP), Verdict(c.RESTRICTED, (c.IP_VIOLATION,)), id="no-sps-violation"),
        pytest.param(shop_facts(sps=None), Verdict(c.ELIGIBLE, ()), id="no-sps-clean"),
    ],
)
def test_s6_a_closed_account_is_evaluated_like_an_active_one(facts: ShopFacts, expected: Verdict):
    assert evaluate_shop(facts._replace(account_status=c.ACCOUNT_CLOSED), DEFAULTS) == expected
    assert evaluate_shop(facts, DEFAULTS) == expected


@pytest.mark.parametrize("status", c.SHOP_STATUSES + (None,))
def test_s3_only_an_eligible_shop_may_add_products_to_affiliate_plans(status: str | None):
    assert shop_can_add_to_affiliate(status) is (status == c.ELIGIBLE)


# Product: P0 ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("shop_status", "facts", "expected"),
    [
        pytest.param(
            c.DISQUALIFIED, product_facts(), Verdict(c.DISQUALIFIED, (c.SHOP_DISQUALIFIED,)), id="shop-disqualified"
        ),
        pytest.param(
            c.DISQUALIFIED,
            product_facts(negative_reviews_30d=25),
            Verdict(c.DISQUALIFIED, (c.SHOP_DISQUALIFIED, c.NRR_ABOVE_WARNING)),
            id="shop-disqualified-outranks-a-warning",
        ),
        pytest.param(c.RESTRICTED, product_facts(), Verdict(c.ELIGIBLE, ()), id="restricted-shop-keeps-product"),
        pytest.param(
            c.RESTRICTED,
            product_facts(negative_reviews_30d=25),
            Verdict(c.WARNING, (c.NRR_ABOVE_WARNING,)),
            id="restricted-shop-product-warning",
        ),
        pytest.param(c.ELIGIBLE, product_facts(), Verdict(c.ELIGIBLE, ()), id="eligible-shop"),
        pytest.param(None, product_facts(), Verdict(c.ELIGIBLE, ()), id="shop-not-yet-evaluated"),
    ],
)
def test_p0_a_disqualified_shop_disqualifies_its_products(
    shop_status: str | None, facts: ProductFacts, expected: Verdict
):
    assert evaluate_product(facts, shop_status, A_TENTH, DEFAULTS) == expected


@pytest.mark.parametrize(
    ("shop_status", "product_status"),
    [
        pytest.param(shop, product, id=f"shop-{shop}-product-{product}")
        for shop, product in itertools.product(c.SHOP_STATUSES + (None,), c.PRODUCT_STATUSES + (None,))
    ],
)
def test_p0_a_product_joins_a_plan_only_when_shop_and_product_are_eligible(
    shop_status: str | None, product_status: str | None
):
    expected = shop_status == c.ELIGIBLE and product_status == c.ELIGIBLE
    assert can_add_to_affiliate(shop_status, product_status) is expected


# Product: P1 (NRR) ----------------------------------------------------------------------

WARN = c.NRR_ABOVE_WARNING
DQ = c.NRR_ABOVE_DISQUALIFY


@pytest.mark.parametrize(
    ("negative", "reviews", "baseline", "expected"),
    [
        pytest.param(0, 0, A_TENTH, None, id="no-reviews-passes"),
        pytest.param(0, 0, Baseline(0, 400), None, id="no-reviews-passes-with-a-zero-average"),
        pytest.param(0, 50, A_TENTH, None, id="no-negative-review-passes"),
        pytest.param(0, 50, Baseline(0, 400), None, id="no-negative-review-passes-with-a-zero-average"),
        pytest.param(0, 50, Baseline.from_decimal(D("0")), None, id="no-negative-review-passes-zero-benchmark"),
        pytest.param(1, 100, Baseline(0, 400), DQ, id="one-negative-review-is-over-3x-a-zero-average"),
        pytest.param(5, 10, None, None, id="no-category-baseline-passes"),
        pytest.param(5, 10, Baseline(0, 0), None, id="category-without-reviews-passes"),
        pytest.param(1, 100, A_TENTH, None, id="far-below-average"),
        pytest.param(10, 100, A_TENTH, None, id="at-the-average"),
        pytest.param(19, 100, A_TENTH, None, id="just-under-2x"),
        pytest.param(199, 1000, A_TENTH, None, id="just-under-2x-by-a-thousandth"),
        pytest.param(1999999, 10000000, A_TENTH, None, id="just-under-2x-by-a-ten-millionth"),
        pytest.param(20, 100, A_TENTH, WARN, id="exactly-2x-warns"),
        pytest.param(2, 10, A_TENTH, WARN, id="exactly-2x-other-sample-size-warns"),
        pytest.param(201, 1000, A_TENTH, WARN, id="just-above-2x-warns"),
        pytest.param(29, 100, A_TENTH, WARN, id="just-under-3x-warns"),
        pytest.param(30, 100, A_TENTH, WARN, id="exactly-3x-warns"),
        pytest.param(3, 10, A_TENTH, WARN, id="exactly-3x-benchmark-0.1-nrr-3-of-10-warns"),
        pytest.param(3, 10, Baseline(10, 100), WARN, id="exactly-3x-computed-average-warns"),
        pytest.param(3000001, 10000000, A_TENTH, DQ, id="just-above-3x-by-a-ten-millionth"),
        pytest.param(301, 1000, A_TENTH, DQ, id="just-above-3x-disqualifies"),
        pytest.param(31, 100, A_TENTH, DQ, id="above-3x-disqualifies"),
        pytest.param(100, 100, A_TENTH, DQ, id="every-review-negative"),
        pytest.param(3, 7, Baseline(1, 7), WARN, id="exactly-3x-of-a-computed-1-in-7"),
        pytest.param(3, 7, Baseline(2, 14), WARN, id="exactly-3x-of-an-unreduced-2-in-14"),
        pytest.param(2, 7, Baseline(1, 7), WARN, id="exactly-2x-of-a-computed-1-in-7"),
        pytest.param(1, 7, Baseline(1, 7), None, id="at-a-computed-1-in-7"),
        # A benchmark is taken as given: 1 in 100 is just above 3 x 0.0033333333.
        pytest.param(1, 100, Baseline.from_decimal(D("0.0033333333")), DQ, id="rounded-benchmark-taken-exactly"),
        pytest.param(1, 100, Baseline.from_decimal(D("0.0033333334")), WARN, id="benchmark-rounded-up-warns"),
    ],
)
def test_p1_nrr_is_compared_with_the_leaf_category_average(
    negative: int, reviews: int, baseline: Baseline | None, expected: str | None
):
    assert nrr_code(product_facts(negative_reviews_30d=negative, reviews_30d=reviews), baseline, DEFAULTS) == expected


@pytest.mark.parametrize(
    ("negative", "reviews", "expected"),
    [
        pytest.param(0, 0, Verdict(c.ELIGIBLE, ()), id="no-reviews-eligible"),
        pytest.param(19, 100, Verdict(c.ELIGIBLE, ()), id="just-under-2x-eligible"),
        pytest.param(20, 100, Verdict(c.WARNING, (WARN,)), id="exactly-2x-warning"),
        pytest.param(30, 100, Verdict(c.WARNING, (WARN,)), id="exactly-3x-warning"),
        pytest.param(31, 100, Verdict(c.DISQUALIFIED, (DQ,)), id="above-3x-disqualified-with-one-nrr-code"),
    ],
)
def test_p1_the_nrr_code_sets_the_product_status(negative: int, reviews: int, expected: Verdict):
    facts = product_facts(negative_reviews_30d=negative, reviews_30d=reviews)
    assert evaluate_product(facts, c.ELIGIBLE, A_TENTH, DEFAULTS) == expected


def _naive_float_code(negative: int, reviews: int, average: float, warn: float, dq: float) -> str | None:
    nrr = negative / reviews
    if nrr > dq * average:
        return DQ
    return WARN if nrr >= warn * average else None


def _naive_decimal_code(negative: int, reviews: int, average: Decimal, warn: Decimal, dq: Decimal) -> str | None:
    nrr = D(negative) / D(reviews)
    if nrr > dq * average:
        return DQ
    return WARN if nrr >= warn * average else None


TWO = Fraction(2)

# Cases sitting exactly on a boundary where binary floats or 28-digit decimals land on the
# wrong side. ``average`` is how a naive implementation would hold A.
FLOAT_TRAPS = [
    # (negative, reviews, baseline, warn multiple, dq multiple, naive A as float, naive A as Decimal)
    pytest.param(9, 10, Baseline.from_decimal(D("0.3")), TWO, 3, 0.3, D("0.3"), id="benchmark-0.3-nrr-9-of-10-is-3x"),
    pytest.param(9, 20, Baseline.from_decimal(D("0.15")), TWO, 3, 0.15, D("0.15"), id="benchmark-0.15-nrr-9-of-20"),
    pytest.param(9, 11, Baseline(3, 11), TWO, 3, 3 / 11, D(3) / D(11), id="computed-3-in-11-nrr-9-of-11-is-3x"),
    pytest.param(2, 7, Baseline(1, 7), TWO, 3, 1 / 7, D(1) / D(7), id="computed-1-in-7-nrr-2-of-7-is-2x"),
    pytest.param(3, 10, Baseline(1, 5), Fraction(3, 2), 3, 1 / 5, D(1) / D(5), id="warn-1.5x-of-1-in-5"),
    pytest.param(5, 22, Baseline(1, 11), Fraction(5, 2), 3, 1 / 11, D(1) / D(11), id="warn-2.5x-of-1-in-11"),
]


@pytest.mark.parametrize(("negative", "reviews", "baseline", "warn", "dq", "float_a", "decimal_a"), FLOAT_TRAPS)
def test_p1_a_product_exactly_on_a_boundary_lands_on_the_documented_side(
    negative: int,
    reviews: int,
    baseline: Baseline,
    warn: Fraction,
    dq: int,
    float_a: float,
    decimal_a: Decimal,
):
    thresholds = Thresholds(version=2, nrr_warning_multiple=warn, nrr_disqualify_multiple=Fraction(dq))
    # Every case is exactly at a multiple of A: at or between the multiples is a warning.
    assert nrr_code(product_facts(negative_reviews_30d=negative, reviews_30d=reviews), baseline, thresholds) == WARN
    # The table only earns its place if naive arithmetic really gets these wrong.
    naive_float = _naive_float_code(negative, reviews, float_a, float(warn), float(dq))
    naive_decimal = _naive_decimal_code(negative, reviews, decimal_a, D(warn.numerator) / warn.denominator, D(dq))
    assert naive_float != WARN or naive_decimal != WARN


@pytest.mark.parametrize(
    ("negative", "reviews", "expected"),
    [
        pytest.param(24, 100, None, id="just-under-2.5x-passes"),
        pytest.param(25, 100, WARN, id="exactly-2.5x-warns"),
        pytest.param(249, 1000, None, id="2.49x-passes"),
        pytest.param(251, 1000, WARN, id="2.51x-warns"),
        pytest.param(40, 100, WARN, id="exactly-4x-warns"),
        pytest.param(401, 1000, DQ, id="just-above-4x-disqualifies"),
        pytest.param(31, 100, WARN, id="above-the-default-3x-only-warns"),
    ],
)
def test_p1_the_nrr_multiples_come_from_the_rule_set(negative: int, reviews: int, expected: str | None):
    thresholds = Thresholds(version=2, nrr_warning_multiple=Fraction(5, 2), nrr_disqualify_multiple=Fraction(4))
    facts = product_facts(negative_reviews_30d=negative, reviews_30d=reviews)
    assert nrr_code(facts, A_TENTH, thresholds) == expected


def test_p1_equal_warning_and_disqualify_multiples_warn_at_the_multiple_and_disqualify_above():
    thresholds = Thresholds(version=2, nrr_warning_multiple=Fraction(3), nrr_disqualify_multiple=Fraction(3))
    assert nrr_code(product_facts(negative_reviews_30d=29, reviews_30d=100), A_TENTH, thresholds) is None
    assert nrr_code(product_facts(negative_reviews_30d=30, reviews_30d=100), A_TENTH, thresholds) == WARN
    assert nrr_code(product_facts(negative_reviews_30d=31, reviews_30d=100), A_TENTH, thresholds) == DQ


def test_p1_a_benchmark_keeps_all_its_decimals_exactly():
    assert Baseline.from_decimal(D("0.1")).value == Fraction(1, 10)
    assert Baseline.from_decimal(D("0.1000000000")).value == Fraction(1, 10)
    assert Baseline.from_decimal(D("0.0033333333")).value == Fraction(33333333, 10**10)
    assert Baseline(0, 0).value is None


def _reference_nrr_code(
    negative: int, reviews: int, average: Fraction | None, warn: Fraction, dq: Fraction
) -> str | None:
    """P1 written the obvious way with exact fractions, as the oracle for nrr_code."""
    if reviews == 0 or negative == 0 or average is None:
        return None
    nrr = Fraction(negative, reviews)
    if nrr > dq * average:
        return DQ
    if nrr >= warn * average:
        return WARN
    return None


def _random_nrr_case(rng: random.Random, multiples: list[Fraction]) -> tuple[int, int, Baseline | None, Thresholds]:
    warn, dq = sorted(rng.sample(multiples, 2))
    thresholds = Thresholds(version=3, nrr_warning_multiple=warn, nrr_disqualify_multiple=dq)
    if rng.random() < 0.5:
        baseline = Baseline.from_decimal(D(rng.randint(0, 300)) / 1000)
    else:
        denominator = rng.randint(0, 60)
        baseline = Baseline(rng.randint(0, denominator), denominator)
    reviews = rng.randint(0, 40)
    negative = rng.randint(0, reviews)
    average = baseline.value
    if average and rng.random() < 0.5:
        # Aim at a boundary: exactly on a multiple of A, or one negative review either side.
        target = rng.choice((warn, dq)) * average
        if target <= 1:
            reviews = target.denominator * rng.randint(1, 3)
            negative = min(reviews, max(0, int(target * reviews) + rng.choice((-1, 0, 0, 1))))
    if rng.random() < 0.02:
        return negative, reviews, None, thresholds
    return negative, reviews, baseline, thresholds


def test_p1_nrr_code_agrees_with_an_exact_fraction_reference_on_random_cases():
    rng = random.Random(1234)
    multiples = [Fraction(1), Fraction(3, 2), Fraction(2), Fraction(5, 2), Fraction(3), Fraction(4)]
    on_a_boundary = 0
    seen: dict[str | None, int] = {None: 0, WARN: 0, DQ: 0}
    for _ in range(20_000):
        negative, reviews, baseline, thresholds = _random_nrr_case(rng, multiples)
        warn, dq = thresholds.nrr_warning_multiple, thresholds.nrr_disqualify_multiple
        average = baseline.value if baseline is not None else None

        expected = _reference_nrr_code(negative, reviews, average, warn, dq)
        facts = product_facts(negative_reviews_30d=negative, reviews_30d=reviews)
        assert nrr_code(facts, baseline, thresholds) == expected, (negative, reviews, baseline, warn, dq)

        seen[expected] += 1
        if negative and reviews and average is not None:
            on_a_boundary += Fraction(negative, reviews) in (warn * average, dq * average)
    # The random cases must actually exercise the exact boundaries and every outcome.
    assert on_a_boundary >= 1000, on_a_boundary
    assert min(seen.values()) >= 1000, seen


# Product: P2, P3, P4 and the combination of codes ----------------------------------------


@pytest.mark.parametrize(
    ("overrides", "code"),
    [
        pytest.param(IP, c.IP_VIOLATION, id="ip-violation"),
        pytest.param(FAIR, c.FAIR_TRADE_VIOLATION, id="fair-trade-violation"),
        pytest.param(REVIEW, c.REVIEW_VIOLATION, id="review-violation"),
        pytest.param({"counterfeit_flag": True}, c.COUNTERFEIT_FLAG, id="counterfeit"),
        pytest.param({"listing_status": c.LISTING_STATUS_DELISTED}, c.LISTING_DELISTED, id="delisted"),
        pytest.param({"listing_status": c.LISTING_STATUS_FROZEN}, c.LISTING_FROZEN, id="frozen"),
        pytest.param({"appeal_failed": True}, c.APPEAL_FAILED, id="appeal-failed"),
    ],
)
def test_p2_p3_p4_each_finding_alone_disqualifies_the_product_with_its_code(overrides: dict[str, object], code: str):
    facts = product_facts(**overrides)
    assert evaluate_product(facts, c.ELIGIBLE, A_TENTH, DEFAULTS) == Verdict(c.DISQUALIFIED, (code,))


@pytest.mark.parametrize(
    ("shop_status", "overrides", "expected_reasons"),
    [
        pytest.param(
            c.DISQUALIFIED,
            ALL_VIOLATIONS
            | {
                "negative_reviews_30d": 31,
                "counterfeit_flag": True,
                "listing_status": c.LISTING_STATUS_DELISTED,
                "appeal_failed": True,
            },
            (
                c.SHOP_DISQUALIFIED,
                DQ,
                c.IP_VIOLATION,
                c.FAIR_TRADE_VIOLATION,
                c.REVIEW_VIOLATION,
                c.COUNTERFEIT_FLAG,
                c.LISTING_DELISTED,
                c.APPEAL_FAILED,
            ),
            id="everything-delisted",
        ),
        pytest.param(
            c.DISQUALIFIED,
            ALL_VIOLATIONS
            | {
                "negative_reviews_30d": 20,
                "counterfeit_flag": True,
                "listing_status": c.LISTING_STATUS_FROZEN,
                "appeal_failed": True,
            },
            (
                c.SHOP_DISQUALIFIED,
                WARN,
                c.IP_VIOLATION,
                c.FAIR_TRADE_VIOLATION,
                c.REVIEW_VIOLATION,
                c.COUNTERFEIT_FLAG,
                c.LISTING_FROZEN,
                c.APPEAL_FAILED,
            ),
            id="everything-frozen-with-a-warning",
        ),
        pytest.param(
            c.ELIGIBLE, {"negative_reviews_30d": 20, **IP}, (WARN, c.IP_VIOLATION), id="warning-and-violation"
        ),
        pytest.param(
            c.RESTRICTED,
            {"counterfeit_flag": True, "appeal_failed": True},
            (c.COUNTERFEIT_FLAG, c.APPEAL_FAILED),
            id="counterfeit-and-appeal",
        ),
    ],
)
def test_p_every_code_that_applies_is_reported_in_code_order_and_the_status_is_the_worst(
    shop_status: str, overrides: dict[str, object], expected_reasons: tuple[str, ...]
):
    verdict = evaluate_product(product_facts(**overrides), shop_status, A_TENTH, DEFAULTS)
    assert verdict == Verdict(c.DISQUALIFIED, expected_reasons)


def test_p_every_combination_of_findings_gives_ordered_codes_and_the_worst_status():
    flags = ("ip_violation", "fair_trade_violation", "review_violation", "counterfeit_flag", "appeal_failed")
    # NRR level -> negative reviews out of 100 against A = 1/10.
    nrr_levels = {None: 5, WARN: 25, DQ: 35}
    combinations = itertools.product(
        itertools.product((False, True), repeat=len(flags)),
        nrr_levels.items(),
        c.LISTING_STATUSES,
        c.SHOP_STATUSES + (None,),
    )
    for flag_values, (nrr, negative), listing, shop_status in combinations:
        facts = product_facts(
            negative_reviews_30d=negative, listing_status=listing, **dict(zip(flags, flag_values, strict=True))
        )
        expected_codes = {
            c.SHOP_DISQUALIFIED: shop_status == c.DISQUALIFIED,
            c.NRR_ABOVE_DISQUALIFY: nrr == DQ,
            c.NRR_ABOVE_WARNING: nrr == WARN,
            c.IP_VIOLATION: facts.ip_violation,
            c.FAIR_TRADE_VIOLATION: facts.fair_trade_violation,
            c.REVIEW_VIOLATION: facts.review_violation,
            c.COUNTERFEIT_FLAG: facts.counterfeit_flag,
            c.LISTING_DELISTED: listing == c.LISTING_STATUS_DELISTED,
            c.LISTING_FROZEN: listing == c.LISTING_STATUS_FROZEN,
            c.APPEAL_FAILED: facts.appeal_failed,
        }
        reasons = tuple(code for code in c.PRODUCT_CODES if expected_codes[code])
        if not reasons:
            status = c.ELIGIBLE
        elif reasons == (WARN,):
            status = c.WARNING
        else:
            status = c.DISQUALIFIED

        verdict = evaluate_product(facts, shop_status, A_TENTH, DEFAULTS)
        assert verdict == Verdict(status, reasons), facts
        assert not {WARN, DQ} <= set(verdict.reasons)


# Creator: C1, C2 ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("pps", "chr_", "expected"),
    [
        pytest.param(D("3.5"), D("150"), Verdict(c.QUALIFIED, ()), id="both-at-the-minimum"),
        pytest.param(D("3.5000"), D("150.0000"), Verdict(c.QUALIFIED, ()), id="both-at-the-minimum-from-the-db"),
        pytest.param(D("3.5001"), D("150.0001"), Verdict(c.QUALIFIED, ()), id="both-just-above"),
        pytest.param(D("5"), D("1000"), Verdict(c.QUALIFIED, ()), id="both-high"),
        pytest.param(D("3.4999"), D("150"), Verdict(c.NOT_QUALIFIED, (c.PPS_BELOW_MIN,)), id="pps-just-below"),
        pytest.param(D("3.5"), D("149.9999"), Verdict(c.NOT_QUALIFIED, (c.CHR_BELOW_MIN,)), id="chr-just-below"),
        pytest.param(
            D("3.4999"),
            D("149.9999"),
            Verdict(c.NOT_QUALIFIED, (c.PPS_BELOW_MIN, c.CHR_BELOW_MIN)),
            id="both-just-below",
        ),
        pytest.param(
            D("0"), D("0"), Verdict(c.NOT_QUALIFIED, (c.PPS_BELOW_MIN, c.CHR_BELOW_MIN)), id="both-zero-not-missing"
        ),
        pytest.param(None, D("150"), Verdict(c.NOT_QUALIFIED, (c.PPS_MISSING,)), id="pps-missing"),
        pytest.param(D("3.5"), None, Verdict(c.NOT_QUALIFIED, (c.CHR_MISSING,)), id="chr-missing"),
        pytest.param(None, None, Verdict(c.NOT_QUALIFIED, (c.PPS_MISSING, c.CHR_MISSING)), id="both-missing"),
        pytest.param(
            D("3.4999"), None, Verdict(c.NOT_QUALIFIED, (c.PPS_BELOW_MIN, c.CHR_MISSING)), id="pps-low-chr-missing"
        ),
        pytest.param(
            None, D("149.9999"), Verdict(c.NOT_QUALIFIED, (c.CHR_BELOW_MIN, c.PPS_MISSING)), id="pps-missing-chr-low"
        ),
    ],
)
def test_c1_a_creator_qualifies_with_pps_of_3_5_and_chr_of_150(
    pps: Decimal | None, chr_: Decimal | None, expected: Verdict
):
    assert evaluate_creator(CreatorFacts(pps=pps, chr=chr_), DEFAULTS) == expected


def test_c1_the_creator_thresholds_come_from_the_rule_set():
    thresholds = Thresholds(version=2, pps_min=D("4"), chr_min=D("200"))
    assert evaluate_creator(CreatorFacts(D("4"), D("200")), thresholds) == Verdict(c.QUALIFIED, ())
    assert evaluate_creator(CreatorFacts(D("3.9999"), D("199.9999")), thresholds) == Verdict(
        c.NOT_QUALIFIED, (c.PPS_BELOW_MIN, c.CHR_BELOW_MIN)
    )


@pytest.mark.parametrize(
    ("creator_status", "gated", "allowed"),
    [
        pytest.param(c.QUALIFIED, True, True, id="qualified-gated"),
        pytest.param(c.NOT_QUALIFIED, True, False, id="not-qualified-gated"),
        pytest.param(None, True, False, id="never-evaluated-gated"),
        pytest.param(c.QUALIFIED, False, True, id="qualified-not-gated"),
        pytest.param(c.NOT_QUALIFIED, False, True, id="not-qualified-not-gated"),
        pytest.param(None, False, True, id="never-evaluated-not-gated"),
    ],
)
def test_c1_c2_gated_categories_need_a_qualified_creator_and_others_need_none(
    creator_status: str | None, gated: bool, allowed: bool
):
    assert creator_may_promote(creator_status, gated) is allowed
