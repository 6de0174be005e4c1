"""The "N more reviews bring it under 2x" figure: exact, at every boundary, and in step with P1."""

from decimal import Decimal
from fractions import Fraction

import pytest

from shops.rules import Baseline, ProductFacts, Thresholds
from shops.rules import codes as c
from shops.rules.eligibility import nrr_code
from shops.rules.nrr_fix import reviews_to_clear_warning

TWO = Fraction(2)


def facts(negative: int, reviews: int) -> ProductFacts:
    return ProductFacts("live", reviews, negative, False, False, False, False, False)


@pytest.mark.parametrize(
    ("negative", "reviews", "baseline", "multiple", "expected"),
    [
        # A = 3/100, 2A = 6%. 6/100 is exactly 2x (a warning): 1 more review makes 6/101 < 6%.
        (6, 100, Baseline(3, 100), TWO, 1),
        # 6/99 is just above 2x: 2 more reviews reach 6/101.
        (6, 99, Baseline(3, 100), TWO, 2),
        # 6/101 is just below 2x already.
        (6, 101, Baseline(3, 100), TWO, 0),
        # 9/100 at A = 3% is exactly 3x (still a warning, P1): 51 more reach 9/151 < 6%, 50 give 9/150 = 6%.
        (9, 100, Baseline(3, 100), TWO, 51),
        # A computed from a larger sample: 9/300 reduces to 3/100, same answer as the first row.
        (6, 100, Baseline(9, 300), TWO, 1),
        # A platform benchmark given as a decimal (0.025): 2A = 5%, 5/100 is exactly 5%.
        (5, 100, Baseline.from_decimal(Decimal("0.025")), TWO, 1),
        # A non-integer multiple of a newer rule set: 2.5 x 2% = 5%.
        (5, 100, Baseline(2, 100), Fraction(5, 2), 1),
        (5, 100, Baseline(2, 100), Fraction(5, 2) + Fraction(1, 1000), 0),
        # No negative review always passes (P1 decision), even when A = 0.
        (0, 0, Baseline(0, 100), TWO, 0),
        (0, 50, None, TWO, 0),
        # A = 0 or no average: no number of reviews helps.
        (1, 100, Baseline(0, 100), TWO, None),
        (1, 100, Baseline(0, 0), TWO, None),
        (1, 100, None, TWO, None),
    ],
)
def test_the_fewest_reviews_to_clear_the_warning_at_each_boundary(negative, reviews, baseline, multiple, expected):
    assert (
        reviews_to_clear_warning(negative=negative, reviews=reviews, baseline=baseline, multiple=multiple) == expected
    )


@pytest.mark.parametrize("multiple", [TWO, Fraction(5, 2), Fraction(3, 2)])
@pytest.mark.parametrize("baseline", [Baseline(3, 100), Baseline(1, 7), Baseline(17, 1000)])
def test_the_answer_is_exactly_where_the_rule_stops_warning(multiple, baseline):
    # Whatever the figures: after N reviews P1 passes, after N - 1 it still gives a code.
    thresholds = Thresholds(version=1, nrr_warning_multiple=multiple, nrr_disqualify_multiple=Fraction(3))
    for reviews in range(1, 120):
        for negative in range(1, min(reviews, 15) + 1):
            n = reviews_to_clear_warning(negative=negative, reviews=reviews, baseline=baseline, multiple=multiple)
            assert nrr_code(facts(negative, reviews + n), baseline, thresholds) is None
            if n:
                assert nrr_code(facts(negative, reviews + n - 1), baseline, thresholds) in {
                    c.NRR_ABOVE_WARNING,
                    c.NRR_ABOVE_DISQUALIFY,
                }


def test_impossible_counts_are_refused():
    with pytest.raises(ValueError):
        reviews_to_clear_warning(negative=3, reviews=2, baseline=Baseline(1, 10), multiple=TWO)
