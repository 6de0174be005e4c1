"""How many more reviews without a negative one take a product's NRR under the warning line.

Spec ``eligibility-rules.md``, P1: with ``A`` the leaf-category average and ``m`` the rule
set's ``nrr_warning_multiple``, a product is a warning when ``NRR >= m × A`` (**decision**:
exactly ``m × A`` is a warning), so the NRR rule passes only when ``NRR < m × A`` — strictly.

After ``N`` more reviews, none of them negative, ``NRR = neg / (reviews + N)``. With
``A = a_num / a_den`` and ``m = m_num / m_den`` the condition is, in integers,

    neg × a_den × m_den  <  m_num × a_num × (reviews + N)

so the smallest such ``N`` is ``floor(neg × a_den × m_den / (m_num × a_num)) + 1 − reviews``
(never below 0). This is the same cross-multiplication as ``nrr_code``; the category average
and the thresholds are taken as they are (the answer assumes they do not move).
"""

from fractions import Fraction

from shops.rules.eligibility import Baseline


def reviews_to_clear_warning(
    *, negative: int, reviews: int, baseline: Baseline | None, multiple: Fraction
) -> int | None:
    """The fewest extra non-negative reviews after which P1 no longer warns; ``None``: none can.

    0 means the rate is already under ``multiple`` × the average (or the rule passes anyway:
    no negative review). ``None`` when there is no average to compare with, or the average is
    0, where any negative review stays at or above every multiple of it.
    """
    if negative < 0 or reviews < negative:
        raise ValueError("need 0 <= negative <= reviews")
    if negative == 0:
        return 0  # P1 decision: no negative review always passes
    if baseline is None or baseline.denominator == 0:
        return None
    multiple = Fraction(multiple)
    target = negative * baseline.denominator * multiple.denominator
    per_review = multiple.numerator * baseline.numerator
    if per_review <= 0:
        return None
    # reviews + N must be strictly greater than target / per_review.
    return max(0, target // per_review + 1 - reviews)
