"""Where a score is heading: a shop's SPS or a creator's PPS, and the day it would cross a threshold.

A least-squares line through the daily snapshots of the last 90 days, computed exactly with
fractions (no binary floats), gives the trend per day and the score it points at on the
newest day. Falling, the forecast names the next threshold below that score (for a shop
3.5 then 3.0, ``sps_eligible`` and ``sps_disqualify``); rising, the one to reach (3.5). The
crossing day is the first day the line is on the other side as the rules compare: below a
threshold is ``score < threshold`` and reaching it is ``score >= threshold``
(spec S2-S4, C1).

No forecast with fewer than 7 days of scores or a flat line. A crossing more than a year
ahead is not dated (a straight line says nothing that far out); nor is one when no
threshold lies ahead in the trend's direction.
"""

import datetime as dt
import math
from collections.abc import Sequence
from decimal import ROUND_HALF_UP, Decimal, localcontext
from fractions import Fraction
from typing import NamedTuple

from affiliate.models import Creator, CreatorSnapshot
from shops.models import Shop, ShopSnapshot
from shops.rules import Thresholds

WINDOW_DAYS = 90
MIN_POINTS = 7
HORIZON_DAYS = 365
UP = "up"
DOWN = "down"


class Forecast(NamedTuple):
    metric: str
    points: int
    first_date: dt.date
    last_date: dt.date
    # Score change per day (4 places) and the line's score on the newest day (2 places).
    slope_per_day: Decimal
    trend_score: Decimal
    direction: str
    threshold: Decimal | None
    crosses_on: dt.date | None


def _decimal(value: Fraction, places: str) -> Decimal:
    with localcontext(prec=50):
        exact = Decimal(value.numerator) / Decimal(value.denominator)
    return exact.quantize(Decimal(places), rounding=ROUND_HALF_UP)


def score_forecast(
    points: Sequence[tuple[dt.date, Decimal]],
    *,
    metric: str,
    falling: Sequence[Decimal],
    rising: Decimal,
) -> Forecast | None:
    """The trend of ``points`` (one score per day) and when it crosses a threshold.

    ``falling`` lists the thresholds met with ``score >= t``, highest first; ``rising`` is the
    one to reach. Pure: no database, no clock.
    """
    points = sorted(points)
    if len(points) < MIN_POINTS:
        return None
    first = points[0][0]
    xs = [(day - first).days for day, _ in points]
    ys = [Fraction(score) for _, score in points]
    n = len(points)
    sx, sy = sum(xs), sum(ys)
    sxx = sum(x * x for x in xs)
    sxy = sum(x * y for x, y in zip(xs, ys, strict=True))
    spread = n * sxx - sx * sx
    if spread == 0:
        return None
    slope = (n * sxy - sx * sy) / spread
    if slope == 0:
        return None
    intercept = (sy - slope * sx) / n
    last_x = xs[-1]
    trend = intercept + slope * last_x

    threshold, crossing_x = None, None
    if slope < 0:
        direction = DOWN
        threshold = next((t for t in sorted(falling, reverse=True) if trend >= Fraction(t)), None)
        if threshold is not None:
            # The line is below t for every x > (t - intercept) / slope.
            crossing_x = math.floor((Fraction(threshold) - intercept) / slope) + 1
    else:
        direction = UP
        if trend < Fraction(rising):
            threshold = rising
            crossing_x = math.ceil((Fraction(rising) - intercept) / slope)
    crosses_on = None
    if crossing_x is not None and crossing_x - last_x <= HORIZON_DAYS:
        crosses_on = first + dt.timedelta(days=crossing_x)
    return Forecast(
        metric=metric,
        points=n,
        first_date=first,
        last_date=points[-1][0],
        slope_per_day=_decimal(slope, "0.0001"),
        trend_score=_decimal(trend, "0.01"),
        direction=direction,
        threshold=threshold,
        crosses_on=crosses_on,
    )


def _window(newest: dt.date | None, today: dt.date) -> tuple[dt.date, dt.date]:
    end = newest or today
    return end - dt.timedelta(days=WINDOW_DAYS - 1), end


def shop_forecast(*, shop: Shop, thresholds: Thresholds, today: dt.date) -> Forecast | None:
    """SPS over the 90 days up to the shop's newest snapshot, against 3.5 and 3.0 (S2-S4)."""
    start, end = _window(shop.metrics_as_of, today)
    points = ShopSnapshot.objects.filter(shop=shop, date__gte=start, date__lte=end, sps__isnull=False).values_list(
        "date", "sps"
    )
    return score_forecast(
        list(points),
        metric="sps",
        falling=(thresholds.sps_eligible, thresholds.sps_disqualify),
        rising=thresholds.sps_eligible,
    )


def creator_forecast(*, creator: Creator, thresholds: Thresholds, today: dt.date) -> Forecast | None:
    """PPS over the 90 days up to the creator's newest snapshot, against ``pps_min`` (C1)."""
    start, end = _window(creator.metrics_as_of, today)
    points = CreatorSnapshot.objects.filter(
        creator=creator, date__gte=start, date__lte=end, pps__isnull=False
    ).values_list("date", "pps")
    return score_forecast(list(points), metric="pps", falling=(thresholds.pps_min,), rising=thresholds.pps_min)
