"""Read-side assembly of the creator pages: what a creator's page shows, in a fixed number of queries.

Nothing here decides anything. The verdict and its reasons come from ``shops.eligibility``
(``eligibility_attach``, ``creator_forecast_today``) and ``shops.api.eligibility_serializers``;
who may add what comes from ``affiliate.rules`` (``creator_refusal_codes``,
``product_refusal_codes``) fed with ``affiliate.selectors.verdicts_effective``, the same
building blocks as ``creator_precheck`` and ``creator_add_product``; which rows exist for the
reader comes from ``shops.visibility``. This module only loads them in bulk and shapes them for
the templates.
"""

import dataclasses
import datetime as dt
from decimal import Decimal

from django.core.paginator import Page, Paginator
from django.db.models import Exists, OuterRef, Q, QuerySet
from django.utils.formats import date_format
from django.utils.translation import get_language, gettext

from affiliate import rules
from affiliate.models import AffiliatePlan, Creator, CreatorAdd, CreatorSnapshot, PlanInvitation
from affiliate.selectors import (
    CREATOR_REASON_FRAGMENTS,
    creator_add_details,
    entity_reason_text,
    verdict_effective,
    verdicts_effective,
)
from shops.api.eligibility_serializers import reasons_rendered
from shops.api.operations_serializers import creator_add_params, reasons_worded
from shops.eligibility import creator_forecast_today, eligibility_attach
from shops.forecast import DOWN, WINDOW_DAYS, Forecast
from shops.models import Category, Entity, User
from shops.reasons import status_message, status_next_step, threshold_params
from shops.rules import Thresholds
from shops.rules import codes as c
from shops.selectors import DEFAULT_MARKET, thresholds_for_market
from shops.visibility import creator_adds_visible_to, creators_visible_to, plans_visible_to

REFUSALS_PER_PAGE = 10
PLANS_PER_PAGE = 10
CREATORS_PER_PAGE = 25

# Line colours of the charts: the score in the brand blue, the minimum dashed in the "bad" red.
SCORE_COLOUR = "#1f5fbf"
MINIMUM_COLOUR = "#b3261e"

PPS_CODES = (c.PPS_BELOW_MIN, c.PPS_MISSING)
CHR_CODES = (c.CHR_BELOW_MIN, c.CHR_MISSING)


def category_name(category: Category) -> str:
    """The category's name in the active language (the feed gives a Chinese name too)."""
    if (get_language() or "").lower().startswith("zh") and category.name_zh:
        return category.name_zh
    return category.name


def _figure(value) -> str | None:
    """3.5, 150, 2.88: an exact decimal without trailing zeros (as the API and the messages show it)."""
    return format(Decimal(value).normalize(), "f") if value is not None else None


def _float(value) -> float | None:
    # Chart points only: the rules never see these floats.
    return float(value) if value is not None else None


# The verdict --------------------------------------------------------------------------------------


@dataclasses.dataclass
class Score:
    """One of the two C1 scores, beside the minimum of the rule set in force."""

    metric: str
    label: str
    # Exact figures as text (2.88, 150): the template shows them as the rules read them.
    value: str | None
    minimum: str
    # From the verdict's own codes (None until evaluated): no second comparison here.
    meets: bool | None


@dataclasses.dataclass
class Chart:
    canvas_id: str
    title: str
    config: dict
    rows: list[tuple[dt.date, str | None]]
    first: str | None
    last: str | None
    low: str | None
    high: str | None
    minimum: str


@dataclasses.dataclass
class ForecastShown:
    """``shops.forecast.Forecast`` with its figures as text, for a sentence in the template."""

    forecast: Forecast
    falling: bool
    rate: str
    trend_score: str
    threshold: str | None

    @classmethod
    def of(cls, forecast: Forecast | None) -> "ForecastShown | None":
        if forecast is None:
            return None
        return cls(
            forecast=forecast,
            falling=forecast.direction == DOWN,
            rate=_figure(abs(forecast.slope_per_day)),
            trend_score=_figure(forecast.trend_score),
            threshold=_figure(forecast.threshold),
        )


@dataclasses.dataclass
class CategoryAccess:
    category: Category
    name: str
    parent_name: str
    may_promote: bool
    reasons: list[str]


@dataclasses.dataclass
class CreatorSummary:
    """Everything above the tables of a creator's page."""

    creator: Creator
    status: str | None
    computed_status: str | None
    override: object
    status_message: str
    status_next_step: str
    reasons: list[dict]
    thresholds: Thresholds
    scores: list[Score]
    forecast: ForecastShown | None
    charts: list[Chart]
    # What the rules read (an active override wins), for the categories and the plans.
    verdict: rules.EntityVerdict
    gated_categories: list[CategoryAccess]
    open_category_count: int

    @property
    def qualified(self) -> bool:
        return self.status == c.QUALIFIED


def creators_for(user: User, *, query: str = "", status: str = "") -> QuerySet[Creator]:
    """The creators ``user`` may see, optionally searched by id, handle or name and status."""
    creators = creators_visible_to(user)
    if query:
        creators = creators.filter(
            Q(key__icontains=query) | Q(handle__icontains=query.lstrip("@")) | Q(display_name__icontains=query)
        )
    if status == "none":
        creators = creators.filter(status__isnull=True)
    elif status in c.CREATOR_STATUSES:
        creators = creators.filter(status=status)
    return creators.order_by("key")


def creators_page(user: User, *, query: str = "", status: str = "", page: str | int = 1) -> Page:
    """One page of the ops creator search, each creator with its ``eligibility`` attached."""
    paginator = Paginator(creators_for(user, query=query, status=status), CREATORS_PER_PAGE)
    result = paginator.get_page(page)
    eligibility_attach(Entity.CREATOR, list(result.object_list))
    return result


def creator_thresholds_now(rulesets: dict[str, Thresholds]) -> Thresholds:
    """C1 thresholds in force (creators have no market), as ``affiliate.selectors.creator_thresholds``."""
    return thresholds_for_market(rulesets, DEFAULT_MARKET)


def creator_summary(creator: Creator, *, today: dt.date, rulesets: dict[str, Thresholds]) -> CreatorSummary:
    """The verdict, scores, forecast, 90-day charts and gated categories of one creator.

    A fixed number of queries whatever the history holds: the verdict's override, history row
    and rule set, the forecast (rule sets in force and PPS snapshots), the chart snapshots, the
    effective verdict and the categories. ``rulesets`` are those in force today.
    """
    eligibility_attach(Entity.CREATOR, [creator])
    eligibility = creator.eligibility
    status = eligibility.effective_status(creator.status)
    verdict = verdict_effective(entity=Entity.CREATOR, obj=creator)
    thresholds = creator_thresholds_now(rulesets)
    # Reasons are worded with the verdict's own rule set; the charts and scores with today's.
    verdict_thresholds = eligibility.thresholds or thresholds
    params = threshold_params(verdict_thresholds)
    codes = list(creator.reasons or ())
    evaluated = creator.status is not None
    scores = [
        Score(
            "pps", gettext("Promotion performance score (PPS)"), _figure(creator.pps), _figure(thresholds.pps_min), None
        ),
        Score("chr", gettext("Creator health rating (CHR)"), _figure(creator.chr), _figure(thresholds.chr_min), None),
    ]
    if evaluated:
        scores[0].meets = not any(code in codes for code in PPS_CODES)
        scores[1].meets = not any(code in codes for code in CHR_CODES)
    return CreatorSummary(
        creator=creator,
        status=status,
        computed_status=creator.status,
        override=eligibility.override,
        status_message=status_message(status, params) if status in c.CREATOR_STATUSES else "",
        status_next_step=status_next_step(status, params) if status in c.CREATOR_STATUSES else "",
        reasons=reasons_rendered(codes, verdict_thresholds),
        thresholds=thresholds,
        scores=scores,
        forecast=ForecastShown.of(creator_forecast_today(creator, today)),
        charts=_charts(creator, thresholds, today),
        verdict=verdict,
        gated_categories=_gated_categories(creator, verdict, thresholds),
        open_category_count=Category.objects.filter(gated=False, children__isnull=True).count(),
    )


def _charts(creator: Creator, thresholds: Thresholds, today: dt.date) -> list[Chart]:
    """PPS and CHR of the 90 days up to the newest snapshot (the forecast's window), one query."""
    end = creator.metrics_as_of or today
    start = end - dt.timedelta(days=WINDOW_DAYS - 1)
    by_day = {
        day: (pps, chr_)
        for day, pps, chr_ in CreatorSnapshot.objects.filter(creator=creator, date__gte=start, date__lte=end)
        .order_by("date")
        .values_list("date", "pps", "chr")
    }
    if not by_day:
        return []
    days = [start + dt.timedelta(days=offset) for offset in range(WINDOW_DAYS)]
    days = [day for day in days if day >= min(by_day)]
    labels = [date_format(day, "MONTH_DAY_FORMAT") for day in days]
    charts = []
    for index, (metric, title, minimum) in enumerate(
        (
            ("pps", gettext("PPS, last 90 days"), thresholds.pps_min),
            ("chr", gettext("CHR, last 90 days"), thresholds.chr_min),
        )
    ):
        points = [(day, by_day.get(day, (None, None))[index]) for day in days]
        values = [value for _day, value in points if value is not None]
        score_label = "PPS" if metric == "pps" else "CHR"
        minimum_label = gettext("Minimum for gated categories (%(minimum)s)") % {"minimum": _figure(minimum)}
        config = {
            "type": "line",
            "data": {
                "labels": labels,
                "datasets": [
                    {
                        "label": score_label,
                        "data": [_float(value) for _day, value in points],
                        "borderColor": SCORE_COLOUR,
                        "backgroundColor": SCORE_COLOUR,
                        "borderWidth": 2,
                        "pointRadius": 0,
                        "tension": 0.2,
                        "spanGaps": True,
                    },
                    {
                        "label": minimum_label,
                        "data": [_float(minimum)] * len(days),
                        "borderColor": MINIMUM_COLOUR,
                        "backgroundColor": MINIMUM_COLOUR,
                        "borderWidth": 2,
                        "borderDash": [6, 4],
                        "pointRadius": 0,
                    },
                ],
            },
            "options": {
                "interaction": {"mode": "index", "intersect": False},
                "plugins": {"legend": {"position": "bottom", "labels": {"boxWidth": 24, "boxHeight": 3}}},
                "scales": {"x": {"ticks": {"maxTicksLimit": 6, "maxRotation": 0}}},
            },
        }
        charts.append(
            Chart(
                canvas_id=f"{metric}-chart",
                title=title,
                config=config,
                rows=[(day, _figure(value)) for day, value in points],
                first=_figure(values[0]) if values else None,
                last=_figure(values[-1]) if values else None,
                low=_figure(min(values)) if values else None,
                high=_figure(max(values)) if values else None,
                minimum=_figure(minimum),
            )
        )
    return charts


def _gated_categories(creator: Creator, verdict: rules.EntityVerdict, thresholds: Thresholds) -> list[CategoryAccess]:
    """C1: every gated category, and whether this creator may add its products now."""
    codes = rules.creator_refusal_codes(verdict, category_gated=True)
    figures = {
        "pps": _figure(creator.pps),
        "chr": _figure(creator.chr),
        "pps_min": _figure(thresholds.pps_min),
        "chr_min": _figure(thresholds.chr_min),
    }
    reasons = [_creator_fragment(code, figures) for code in codes]
    access = []
    for category in Category.objects.filter(gated=True).select_related("parent").order_by("parent__name", "name"):
        access.append(
            CategoryAccess(
                category=category,
                name=category_name(category),
                parent_name=category_name(category.parent) if category.parent else "",
                may_promote=not codes,
                reasons=reasons,
            )
        )
    return access


def _creator_fragment(code: str, details: dict) -> str:
    """A short reason: "PPS 2.88 < 3.5" rather than the full message (the page shows that once)."""
    fragment = CREATOR_REASON_FRAGMENTS.get(code)
    if fragment is None:
        return entity_reason_text(code)
    return str(fragment) % details


# Refused adds ---------------------------------------------------------------------------------------


@dataclasses.dataclass
class Refusal:
    add: CreatorAdd
    reasons: list[dict]
    figures: list[tuple[str, str]]


def creator_refusals_page(
    user: User, creator: Creator, *, rulesets: dict[str, Thresholds], page: str | int = 1
) -> Page:
    """The creator's refused adds, newest first, with reasons worded like the API's (two queries)."""
    adds = creator_adds_visible_to(user).filter(creator=creator, accepted=False).order_by("-created_at", "-id")
    result = Paginator(adds, REFUSALS_PER_PAGE).get_page(page)
    result.object_list = [
        Refusal(add, reasons_worded(add.reasons, creator_add_params(add, rulesets)), _refusal_figures(add.details))
        for add in result.object_list
    ]
    return result


def _refusal_figures(details: dict) -> list[tuple[str, str]]:
    """The scores and minimums recorded with the refusal, as label/value pairs."""
    figures = []
    if details.get("category"):
        category = details["category"]
        figures.append((gettext("Category"), f"{category} ({gettext('gated')})" if details.get("gated") else category))
    for metric, label in (("pps", "PPS"), ("chr", "CHR")):
        if details.get(f"{metric}_min") is not None:
            value = details.get(metric) if details.get(metric) is not None else gettext("none yet")
            figures.append(
                (
                    label,
                    gettext("%(value)s (minimum %(minimum)s)") % {"value": value, "minimum": details[f"{metric}_min"]},
                )
            )
    return figures


# Plans ------------------------------------------------------------------------------------------------


@dataclasses.dataclass
class PlanProductOffer:
    product: object
    rate: Decimal
    category: str
    may_promote: bool
    reasons: list[str]

    @property
    def rate_text(self) -> str:
        return _figure(self.rate)


@dataclasses.dataclass
class PlanOffer:
    plan: AffiliatePlan
    invited: bool
    offers: list[PlanProductOffer]

    @property
    def promotable(self) -> int:
        return sum(1 for offer in self.offers if offer.may_promote)

    @property
    def top_rate(self) -> str | None:
        """The best commission among the products the creator can add (among all when none)."""
        rates = [offer.rate for offer in self.offers if offer.may_promote] or [offer.rate for offer in self.offers]
        return _figure(max(rates)) if rates else None

    @property
    def blocked(self) -> list[PlanProductOffer]:
        return [offer for offer in self.offers if not offer.may_promote]


def plans_for_creator(user: User, creator: Creator) -> QuerySet[AffiliatePlan]:
    """Running plans open to ``creator`` among those ``user`` may see, the invitations first.

    For the creator itself this is exactly ``plans_visible_to`` minus ended plans; ops see the
    same plans as the creator would.
    """
    invited = PlanInvitation.objects.filter(plan_id=OuterRef("pk"), creator_id=creator.pk)
    public = Q(kind__in=[rules.OPEN, rules.SHOP_WIDE])
    return (
        plans_visible_to(user)
        .filter(status=AffiliatePlan.Status.ACTIVE)
        .annotate(invited=Exists(invited))
        .filter(Q(invited=True) | public)
        .order_by("-invited", "-created_at", "-id")
    )


def creator_plans_page(
    user: User,
    creator: Creator,
    *,
    rulesets: dict[str, Thresholds],
    page: str | int = 1,
    verdict: rules.EntityVerdict | None = None,
) -> Page:
    """One page of plans with, per product, whether the creator may add it now (C2), in eight queries.

    ``verdict`` is the creator's effective verdict when the caller has it already.
    """
    result = Paginator(plans_for_creator(user, creator), PLANS_PER_PAGE).get_page(page)
    plans = list(result.object_list)
    memberships = [membership for plan in plans for membership in plan.active_memberships]
    products = {membership.product_id: membership.product for membership in memberships}
    categories = Category.objects.in_bulk({product.category_id for product in products.values()})
    for membership in memberships:
        # Each plan's rows hold their own product objects: give every one its category, no query each.
        membership.product.category = categories[membership.product.category_id]
    shops = {plan.shop_id: plan.shop for plan in plans}
    shop_verdicts = verdicts_effective(entity=Entity.SHOP, objects=shops.values())
    product_verdicts = verdicts_effective(entity=Entity.PRODUCT, objects=products.values())
    creator_verdict = verdict or verdict_effective(entity=Entity.CREATOR, obj=creator)
    thresholds = creator_thresholds_now(rulesets)
    offers = []
    for plan in plans:
        plan_offers = []
        for membership in plan.active_memberships:
            product = membership.product
            product_codes = rules.product_refusal_codes(shop_verdicts[plan.shop_id], product_verdicts[product.pk])
            creator_codes = rules.creator_refusal_codes(creator_verdict, category_gated=product.category.gated)
            reasons = []
            if rules.shop_refusal_codes(shop_verdicts[plan.shop_id]):
                reasons.append(gettext("The shop cannot take new affiliate promotions at the moment."))
            elif product_codes:
                reasons.append(gettext("This product cannot be promoted by any creator at the moment."))
            if creator_codes:
                details = creator_add_details(creator=creator, product=product, thresholds=thresholds)
                fragments = ", ".join(_creator_fragment(code, details) for code in creator_codes)
                reasons.append(
                    gettext("%(category)s is gated: %(reasons)s")
                    % {"category": category_name(product.category), "reasons": fragments}
                )
            plan_offers.append(
                PlanProductOffer(
                    product=product,
                    rate=membership.commission_rate,
                    category=category_name(product.category),
                    may_promote=not (product_codes or creator_codes),
                    reasons=reasons,
                )
            )
        # The products the creator can add first; the closed ones after, with their reasons.
        plan_offers.sort(key=lambda offer: not offer.may_promote)
        offers.append(PlanOffer(plan=plan, invited=plan.invited, offers=plan_offers))
    result.object_list = offers
    return result
