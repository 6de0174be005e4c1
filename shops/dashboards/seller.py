"""What the seller's pages show: the portfolio, a shop and an affiliate plan.

Every object comes from ``shops.visibility``; verdicts are worded by the helpers the API and
the notifications use (``reasons_rendered``, ``status_message``, ``status_next_step``), the
forecast is ``shop_forecast_today``, the blast radius the affiliate selectors'. Each builder
runs a fixed number of queries whatever the size of the portfolio, the history or the plans:
lists are paginated or capped, and their related rows are loaded per kind, never per row.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import itertools
from collections import Counter, defaultdict
from collections.abc import Mapping
from decimal import Decimal

from django.core.paginator import Page, Paginator
from django.db.models import Case, Count, IntegerField, Max, Min, Q, QuerySet, Value, When
from django.utils import timezone
from django.utils.formats import date_format
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from affiliate import rules as plan_rules
from affiliate.models import AffiliatePlan, PlanProduct
from affiliate.selectors import (
    BlastRadius,
    PrecheckResult,
    blast_radius_actual,
    blast_radius_preview,
    creator_precheck,
    entity_reason_text,
)
from shops.api.eligibility_serializers import inputs_shown, reasons_rendered
from shops.eligibility import eligibility_attach, shop_forecast_today, thresholds_by_version
from shops.forecast import DOWN, MIN_POINTS, WINDOW_DAYS, Forecast
from shops.models import Appeal, Entity, Override, Seller, SellerMembership, Shop, ShopSnapshot, StatusHistory, User
from shops.reasons import STATUS_MESSAGES, status_message, status_next_step, threshold_params
from shops.rules import ShopFacts, Thresholds, can_add_to_affiliate, shop_can_add_to_affiliate
from shops.rules import codes as c
from shops.rules.eligibility import shop_has_sps
from shops.selectors import overrides_active, rulesets_in_force, thresholds_for_market
from shops.services.appeals import appeal_deadline, appeal_refusal
from shops.visibility import plans_visible_to, shops_visible_to

PORTFOLIO_PAGE_SIZE = 50
CHANGED_SHOWN = 20
HISTORY_PAGE_SIZE = 10
PLANS_SHOWN = 20
PLAN_PRODUCTS_SHOWN = 6
LEFT_PLAN_SHOWN = 50
# The filter value for shops without a verdict yet (their status is null).
NOT_EVALUATED = plan_rules.NOT_EVALUATED
STATUS_ORDER = (c.ELIGIBLE, c.RESTRICTED, c.DISQUALIFIED, NOT_EVALUATED)
# Lists put what needs attention first: the worst status, then no verdict yet, then eligible.
SEVERITY = {c.DISQUALIFIED: 0, c.RESTRICTED: 1, c.WARNING: 1, None: 2}


def severity(status: str | None) -> int:
    return SEVERITY.get(status, 3)


MARKET_NAMES = {
    "US": gettext_lazy("United States"),
    "UK": gettext_lazy("United Kingdom"),
    "TH": gettext_lazy("Thailand"),
    "MY": gettext_lazy("Malaysia"),
    "VN": gettext_lazy("Vietnam"),
    "SG": gettext_lazy("Singapore"),
    "PH": gettext_lazy("Philippines"),
    "ID": gettext_lazy("Indonesia"),
}

# The metrics a shop verdict rests on (``StatusHistory.inputs``), in the order they are shown.
INPUT_LABELS = {
    "sps": gettext_lazy("Shop Performance Score"),
    "has_sps": gettext_lazy("Score counts"),
    "orders_90d": gettext_lazy("Orders in the window"),
    "account_status": gettext_lazy("Account status"),
    "ip_violation": gettext_lazy("Intellectual-property violation"),
    "fair_trade_violation": gettext_lazy("Fair-trading violation"),
    "review_violation": gettext_lazy("Buyer-review violation"),
    "permanently_disqualified": gettext_lazy("Permanently disqualified"),
    "unbound_at": gettext_lazy("Unbound from licence"),
    "market": gettext_lazy("Market"),
    "metrics_as_of": gettext_lazy("Metrics of"),
}
ACCOUNT_STATUS_LABELS = {
    c.ACCOUNT_ACTIVE: gettext_lazy("active"),
    c.ACCOUNT_SUSPENDED_TEMPORARY: gettext_lazy("suspended (temporary)"),
    c.ACCOUNT_SUSPENDED_PERMANENT: gettext_lazy("suspended (permanent)"),
    c.ACCOUNT_CLOSED: gettext_lazy("closed"),
}


def market_name(code: str) -> str:
    return str(MARKET_NAMES.get(code, code))


# Verdicts in words ------------------------------------------------------------------------------


@dataclasses.dataclass
class VerdictShown:
    """A verdict as a person reads it: the status that counts, why, and what to do."""

    status: str | None
    computed: str | None
    summary: str
    reasons: list[dict]
    next_steps: list[str]
    override: Override | None = None
    history: StatusHistory | None = None

    @property
    def overridden(self) -> bool:
        return self.override is not None


def verdict_shown(obj) -> VerdictShown:
    """``obj`` carries ``status``, ``reasons`` and ``eligibility`` (``eligibility_attach``).

    The reasons are the computed ones even under an override: they still apply once it ends.
    The steps are the reasons' own; without a known reason, the status's (as the notifications).
    """
    eligibility = obj.eligibility
    thresholds = eligibility.thresholds
    params = threshold_params(thresholds) if thresholds is not None else None
    codes = list(obj.reasons or ()) if obj.status else [NOT_EVALUATED]
    reasons = reasons_rendered(codes, thresholds)
    steps = [reason["next_step"] for reason in reasons if reason["next_step"]]
    if not steps and obj.status in STATUS_MESSAGES:
        steps = [status_next_step(obj.status, params)]
    if eligibility.override is not None:
        steps = [reasons_rendered([plan_rules.OPS_OVERRIDE], None)[0]["next_step"], *steps]
    effective = eligibility.effective_status(obj.status)
    summary = status_message(effective, params) if effective in STATUS_MESSAGES else ""
    return VerdictShown(
        status=effective,
        computed=obj.status,
        summary=summary,
        reasons=[reason for reason in reasons if reason["message"]],
        next_steps=list(dict.fromkeys(steps)),
        override=eligibility.override,
        history=eligibility.history,
    )


# Portfolio --------------------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class PortfolioFilters:
    market: str = ""
    status: str = ""
    seller: str = ""
    q: str = ""

    @classmethod
    def from_params(cls, params: Mapping[str, str]) -> PortfolioFilters:
        """Unknown values are ignored rather than refused: a stale bookmark still shows the portfolio."""
        status = params.get("status", "")
        return cls(
            market=params.get("market", "").strip().upper()[:8],
            status=status if status in STATUS_ORDER else "",
            seller=params.get("seller", "").strip()[:64],
            q=params.get("q", "").strip()[:100],
        )

    @property
    def active(self) -> bool:
        return any((self.market, self.status, self.seller, self.q))

    def query(self, **changes: str) -> str:
        """These filters as a query string, with ``changes`` applied (empty values dropped)."""
        from urllib.parse import urlencode

        values = dataclasses.asdict(self) | changes
        return urlencode({key: value for key, value in values.items() if value})


@dataclasses.dataclass(frozen=True)
class StatusLink:
    """A summary count that filters the list: its status ('' for all shops) and query string."""

    status: str
    count: int
    query: str
    current: bool

    @property
    def tone(self) -> str:
        return STATUS_TONES.get(self.status, "all")


STATUS_TONES = {c.ELIGIBLE: "ok", c.RESTRICTED: "warn", c.DISQUALIFIED: "bad", NOT_EVALUATED: "none"}


@dataclasses.dataclass
class ShopRow:
    shop: Shop
    verdict: VerdictShown
    changed: bool = False

    @property
    def market_name(self) -> str:
        return market_name(self.shop.market)


@dataclasses.dataclass
class ChangedShop:
    row: ShopRow
    was: str | None
    changed_at: dt.datetime
    changes: int


@dataclasses.dataclass
class MarketGroup:
    market: str
    name: str
    total: int | None
    rows: list[ShopRow]


@dataclasses.dataclass
class Portfolio:
    filters: PortfolioFilters
    page: Page
    groups: list[MarketGroup]
    since: dt.datetime | None
    # Filled on the full page only (a partial update shows the table alone).
    counts: list[tuple[str, int]] = dataclasses.field(default_factory=list)
    total: int = 0
    markets: list[tuple[str, str, int]] = dataclasses.field(default_factory=list)
    sellers: list[Seller] = dataclasses.field(default_factory=list)
    changed: list[ChangedShop] = dataclasses.field(default_factory=list)
    changed_total: int = 0

    @property
    def several_sellers(self) -> bool:
        return len(self.sellers) > 1

    @property
    def status_links(self) -> list[StatusLink]:
        links = [StatusLink("", self.total, self.filters.query(status=""), not self.filters.status)]
        for status, count in self.counts:
            current = self.filters.status == status
            links.append(StatusLink(status, count, self.filters.query(status=status), current))
        return links


def _overridden(visible: QuerySet[Shop]) -> dict[int, tuple[str | None, Override]]:
    """Shop id -> (computed status, active override) for the visible shops under an override.

    Shops with an unrevoked override are few: they are read first, and ``overrides_active``
    (the one definition of "in force") decides among them.
    """
    unrevoked = Override.objects.filter(entity=Entity.SHOP, revoked_at__isnull=True).values("entity_id")
    candidates = dict(visible.filter(pk__in=unrevoked).values_list("pk", "status"))
    active = overrides_active(entity=Entity.SHOP, entity_ids=list(candidates)) if candidates else {}
    return {pk: (candidates[pk], override) for pk, override in active.items()}


def _status_q(status: str, overridden: Mapping[int, tuple[str | None, Override]]) -> Q:
    """Shops whose effective status is ``status``: an override moves a shop to its own status."""
    computed = Q(status__isnull=True) if status == NOT_EVALUATED else Q(status=status)
    moved_in = [pk for pk, (_computed, override) in overridden.items() if override.status == status]
    return (computed & ~Q(pk__in=list(overridden))) | Q(pk__in=moved_in)


def _status_counts(visible: QuerySet[Shop], overridden: Mapping[int, tuple[str | None, Override]]) -> Counter:
    counts = Counter()
    for status, n in visible.order_by().values_list("status").annotate(n=Count("id")):
        counts[status or NOT_EVALUATED] += n
    for computed, override in overridden.values():
        counts[computed or NOT_EVALUATED] -= 1
        counts[override.status] += 1
    return counts


def _severity(overridden) -> Case:
    """``severity`` in SQL, to order a whole portfolio before it is paginated: of the status shown,
    which is an override's where ops set one."""
    by_override = defaultdict(list)
    for shop_id, (_computed, override) in overridden.items():
        by_override[override.status].append(shop_id)
    whens = [When(pk__in=ids, then=Value(severity(status))) for status, ids in by_override.items()]
    whens += [When(status=status, then=Value(rank)) for status, rank in SEVERITY.items() if status is not None]
    return Case(
        *whens, When(status__isnull=True, then=Value(SEVERITY[None])), default=Value(3), output_field=IntegerField()
    )


def _filtered(visible: QuerySet[Shop], filters: PortfolioFilters, overridden) -> QuerySet[Shop]:
    shops = visible
    if filters.market:
        shops = shops.filter(market=filters.market)
    if filters.seller:
        shops = shops.filter(seller__key=filters.seller)
    if filters.q:
        shops = shops.filter(Q(name__icontains=filters.q) | Q(key__icontains=filters.q))
    if filters.status:
        shops = shops.filter(_status_q(filters.status, overridden))
    return shops


SELLER_LABEL = ("id", "key", "legal_name")


def with_seller_label(shops: QuerySet[Shop]) -> QuerySet[Shop]:
    """Shops with their seller's key and legal name only: its contact and bank details stay unread."""
    hidden = [f"seller__{field.name}" for field in Seller._meta.concrete_fields if field.name not in SELLER_LABEL]
    return shops.select_related("seller").defer(*hidden)


def _changed_since(visible: QuerySet[Shop], since: dt.datetime, few: int) -> tuple[list[dict], set[int]]:
    """The shops whose verdict changed after ``since``: the ``few`` newest with what they were, and all ids.

    Each of the few: ``entity_id``, ``was`` (the status before its first change since), ``at``
    (its latest change) and ``n`` (how many changes).
    """
    per_shop = list(
        StatusHistory.objects.filter(entity=Entity.SHOP, entity_id__in=visible.values("pk"), created_at__gt=since)
        .values("entity_id")
        .annotate(first=Min("id"), last=Max("id"), n=Count("id"))
        .order_by("-last")
    )
    shown = per_shop[:few]
    if not shown:
        return [], {row["entity_id"] for row in per_shop}
    ends = {row["first"] for row in shown} | {row["last"] for row in shown}
    rows = {row.pk: row for row in StatusHistory.objects.filter(id__in=ends).only("old_status", "created_at")}
    for row in shown:
        row["was"], row["at"] = rows[row["first"]].old_status, rows[row["last"]].created_at
    return shown, {row["entity_id"] for row in per_shop}


def seller_portfolio(
    user: User,
    *,
    filters: PortfolioFilters = PortfolioFilters(),
    page_number: int | str | None = 1,
    since: dt.datetime | None = None,
    summary: bool = True,
    per_page: int = PORTFOLIO_PAGE_SIZE,
) -> Portfolio:
    """One page of the shops ``user`` can see, grouped by market, problems first.

    With ``summary``: the counts by effective status, the markets and sellers for the filters,
    and the shops whose verdict changed after ``since`` (first visit: ``since`` None, none);
    without, the page alone (an htmx update of the table), its changed shops still marked.
    """
    visible = shops_visible_to(user)
    overridden = _overridden(visible)
    recent, changed_ids = [], set()
    if since is not None:
        recent, changed_ids = _changed_since(visible, since, CHANGED_SHOWN if summary else 0)
    shops = (
        with_seller_label(_filtered(visible, filters, overridden))
        .annotate(severity=_severity(overridden))
        .order_by("market", "severity", "name", "key")
    )
    page = Paginator(shops, per_page).get_page(page_number)
    page_shops = list(page.object_list)
    changed_shops = []
    if recent:
        by_id = with_seller_label(visible).in_bulk([row["entity_id"] for row in recent])
        changed_shops = [by_id[row["entity_id"]] for row in recent if row["entity_id"] in by_id]
    # One load of the verdicts' overrides, history and rule sets for both lists.
    eligibility_attach(Entity.SHOP, page_shops + changed_shops)
    page.object_list = [ShopRow(shop, verdict_shown(shop), shop.pk in changed_ids) for shop in page_shops]

    portfolio = Portfolio(filters=filters, page=page, groups=[], since=since)
    portfolio.changed_total = len(changed_ids)
    shops_by_id = {shop.pk: shop for shop in changed_shops}
    portfolio.changed = [
        ChangedShop(ShopRow(shop, verdict_shown(shop), True), row["was"], row["at"], row["n"])
        for row in recent
        if (shop := shops_by_id.get(row["entity_id"])) is not None
    ]
    # The most recent changes are picked; among them, the ones needing attention come first.
    portfolio.changed.sort(key=lambda item: severity(item.row.verdict.status))
    market_counts: dict[str, int] = {}
    if summary:
        counts = _status_counts(visible, overridden)
        portfolio.total = sum(counts.values())
        portfolio.counts = [
            (status, counts[status]) for status in STATUS_ORDER if counts[status] or status != NOT_EVALUATED
        ]
        market_counts = dict(visible.order_by("market").values_list("market").annotate(n=Count("id")))
        portfolio.markets = [(code, market_name(code), n) for code, n in market_counts.items()]
        # A seller label is shown (and a seller filter offered) only when there are a few sellers.
        sellers = Seller.objects.filter(pk__in=visible.values("seller_id")).only(*SELLER_LABEL)
        sellers = list(sellers.order_by("legal_name", "key")[:51])
        portfolio.sellers = sellers if len(sellers) <= 50 else []
    only_market_filter = not (filters.status or filters.seller or filters.q)
    for market, rows in itertools.groupby(page.object_list, key=lambda row: row.shop.market):
        total = market_counts.get(market) if only_market_filter else None
        portfolio.groups.append(MarketGroup(market, market_name(market), total, list(rows)))
    return portfolio


# Shop page --------------------------------------------------------------------------------------


def percent(value) -> str:
    """A commission rate as it was set: 12.5%, 10% (no trailing zeros)."""
    return f"{_figure(Decimal(value).normalize())}%"


@dataclasses.dataclass
class ProductInPlan:
    membership: PlanProduct
    status: str | None
    can_add: bool

    @property
    def rate(self) -> str:
        return percent(self.membership.commission_rate)


@dataclasses.dataclass
class PlanSummary:
    plan: AffiliatePlan
    products: list[ProductInPlan]

    @property
    def shown(self) -> list[ProductInPlan]:
        return self.products[:PLAN_PRODUCTS_SHOWN]

    @property
    def more(self) -> int:
        return max(0, len(self.products) - PLAN_PRODUCTS_SHOWN)


@dataclasses.dataclass
class HistoryRow:
    row: StatusHistory
    reasons: list[dict]
    inputs: list[tuple[str, str]]
    more_inputs: list[tuple[str, str]]
    # On the current verdict only: can it be appealed (deadline), or why not, and its appeals.
    appeal_until: dt.datetime | None = None
    appeal_refusal: str = ""
    appeals: list[Appeal] = dataclasses.field(default_factory=list)

    @property
    def open_appeal(self) -> Appeal | None:
        return next((a for a in self.appeals if a.state == Appeal.State.SUBMITTED), None)


@dataclasses.dataclass
class ChartPoint:
    day: dt.date
    sps: object
    orders: int


@dataclasses.dataclass
class ShopPage:
    shop: Shop
    verdict: VerdictShown
    thresholds: Thresholds
    has_score: bool
    forecast: Forecast | None
    forecast_sentence: str
    points: list[ChartPoint]
    chart_config: dict
    chart_summary: str
    plans: list[PlanSummary]
    plans_total: int
    blast_preview: BlastRadius | None
    blast_actual: BlastRadius | None
    history: Page
    is_member: bool

    @property
    def market_name(self) -> str:
        return market_name(self.shop.market)

    @property
    def can_add_to_affiliate(self) -> bool:
        return shop_can_add_to_affiliate(self.verdict.status)

    @property
    def chart_days(self) -> int:
        return WINDOW_DAYS

    @property
    def figures(self) -> dict[str, str]:
        """The thresholds as text without trailing zeros (3.5, 30), as the messages show them."""
        return threshold_params(self.thresholds)

    @property
    def orders_share(self) -> int:
        """Orders as a percentage of those needed for a score, capped at 100 (for a meter)."""
        needed = self.thresholds.sps_min_orders
        return 100 if not needed else min(100, round(100 * self.shop.orders_90d / needed))


def _figure(value) -> str:
    if isinstance(value, Decimal):
        return format(value.normalize(), "f")
    return str(value)


def _input_value(name: str, value) -> str:
    if isinstance(value, bool):
        return _("yes") if value else _("no")
    if value is None:
        return "—"
    if name == "account_status":
        return str(ACCOUNT_STATUS_LABELS.get(value, value))
    if name == "market":
        return market_name(value)
    if name in ("metrics_as_of", "unbound_at") and isinstance(value, str):
        try:
            return date_format(dt.date.fromisoformat(value[:10]), "DATE_FORMAT")
        except ValueError:
            return value
    return _figure(value)


PRIMARY_INPUTS = ("sps", "has_sps", "orders_90d", "account_status")


def inputs_listed(inputs: dict | None) -> tuple[list[tuple[str, str]], list[tuple[str, str]]]:
    """A verdict's inputs as (label, value): the ones to read first, and the rest.

    First come the score, the orders and the account, and any violation or flag that is set;
    the others (all clear) follow. Unknown inputs keep their own name.
    """
    shown = inputs_shown(inputs) or {}
    order = {name: n for n, name in enumerate(INPUT_LABELS)}
    first, rest = [], []
    for name in sorted(shown, key=lambda name: order.get(name, len(order))):
        value = shown[name]
        pair = (str(INPUT_LABELS.get(name, name)), _input_value(name, value))
        flagged = value is True or (name == "unbound_at" and bool(value))
        (first if name in PRIMARY_INPUTS or flagged else rest).append(pair)
    return first, rest


def shop_history(
    user: User,
    shop: Shop,
    *,
    page_number: int | str | None = 1,
    is_member: bool | None = None,
    now: dt.datetime | None = None,
) -> Page:
    """The shop's verdicts, newest first, each with its inputs and the reasons in its rule set's words.

    The newest row is the current verdict: a member of the seller sees whether it can be
    appealed (``appeal_refusal``: the checks of ``appeal_submit``) and its appeals so far.
    """
    rows = StatusHistory.objects.filter(entity=Entity.SHOP, entity_id=shop.pk).order_by("-id")
    page = Paginator(rows, HISTORY_PAGE_SIZE).get_page(page_number)
    thresholds = thresholds_by_version(row.ruleset_version for row in page.object_list)
    shown = [
        HistoryRow(
            row, reasons_rendered(row.new_reasons, thresholds.get(row.ruleset_version)), *inputs_listed(row.inputs)
        )
        for row in page.object_list
    ]
    if is_member is None:
        is_member = _is_member(user, shop)
    if page.number == 1 and shown and is_member:
        current = shown[0]
        current.appeals = list(Appeal.objects.filter(verdict=current.row).order_by("attempt"))
        refusal = appeal_refusal(verdict=current.row, appeals=current.appeals, now=now)
        if refusal is None:
            current.appeal_until = appeal_deadline(verdict=current.row, appeals=current.appeals)
        elif current.row.new_status != c.ELIGIBLE:
            current.appeal_refusal = " ".join(refusal.messages)
    page.object_list = shown
    return page


def _is_member(user: User, shop: Shop) -> bool:
    # Only the seller's members appeal (ops see every shop but decide appeals instead).
    return SellerMembership.objects.filter(user_id=user.pk, seller_id=shop.seller_id).exists()


def _plans_of(user: User, shop: Shop, shop_status: str | None) -> tuple[list[PlanSummary], int]:
    """The shop's plans the user can see, running ones first, with each product's effective verdict."""
    plans = plans_visible_to(user).filter(shop=shop)
    total = plans.count()
    running_first = Case(When(status=AffiliatePlan.Status.ACTIVE, then=Value(0)), default=Value(1))
    shown = list(plans.order_by(running_first, "-created_at", "-id")[:PLANS_SHOWN])
    return _plan_summaries(shown, shop_status), total


def _plan_summaries(plans: list[AffiliatePlan], shop_status: str | None) -> list[PlanSummary]:
    memberships = [m for plan in plans for m in plan.active_memberships]
    eligibility_attach(Entity.PRODUCT, [m.product for m in memberships])
    summaries = []
    for plan in plans:
        products = []
        for membership in plan.active_memberships:
            product = membership.product
            status = product.eligibility.effective_status(product.status)
            products.append(ProductInPlan(membership, status, can_add_to_affiliate(shop_status, status)))
        products.sort(key=lambda item: severity(item.status))  # stable: by product key within a status
        summaries.append(PlanSummary(plan, products))
    return summaries


def forecast_sentence(forecast: Forecast | None, points: int, thresholds: Thresholds) -> str:
    """Where the score is heading, in one sentence (the day named is the first past the threshold)."""
    if forecast is None:
        if points < MIN_POINTS:
            return _(
                "No forecast yet: a forecast needs scores on at least %(needed)s days of the last %(days)s; "
                "this shop has %(points)s."
            ) % {"needed": MIN_POINTS, "days": WINDOW_DAYS, "points": points}
        return _("No forecast: the score has been flat over the last %(days)s days.") % {"days": WINDOW_DAYS}
    slope = forecast.slope_per_day
    params = {
        "slope": ("+" if slope > 0 else "") + _figure(slope.normalize()),
        "threshold": _figure(forecast.threshold) if forecast.threshold is not None else "",
        "date": date_format(forecast.crosses_on, "DATE_FORMAT") if forecast.crosses_on else "",
        "eligible": _figure(thresholds.sps_eligible),
        "disqualify": _figure(thresholds.sps_disqualify),
    }
    if forecast.direction == DOWN:
        if forecast.threshold is None:
            return _("The score is falling (%(slope)s a day) and is already below %(disqualify)s.") % params
        if forecast.crosses_on is None:
            return (
                _(
                    "The score is falling slowly (%(slope)s a day): at this trend it stays at or above %(threshold)s "
                    "for at least a year."
                )
                % params
            )
        return _("At this trend (%(slope)s a day) the score falls below %(threshold)s on %(date)s.") % params
    if forecast.threshold is None:
        return _("The score is rising (%(slope)s a day) and is at or above %(eligible)s.") % params
    if forecast.crosses_on is None:
        return (
            _(
                "The score is rising slowly (%(slope)s a day): at this trend it does not reach %(threshold)s "
                "within a year."
            )
            % params
        )
    return _("At this trend (%(slope)s a day) the score crosses %(threshold)s on %(date)s.") % params


def _snapshots(shop: Shop, today: dt.date) -> list[ChartPoint]:
    # The forecast's window: the 90 days up to the shop's newest metrics.
    end = shop.metrics_as_of or today
    start = end - dt.timedelta(days=WINDOW_DAYS - 1)
    rows = ShopSnapshot.objects.filter(shop=shop, date__gte=start, date__lte=end).order_by("date")
    return [ChartPoint(day, sps, orders) for day, sps, orders in rows.values_list("date", "sps", "orders_90d")]


def sps_chart(points: list[ChartPoint], thresholds: Thresholds) -> tuple[dict, str]:
    """A Chart.js configuration of the SPS with the rule set's two threshold lines, and its text alternative."""
    labels = [date_format(point.day, "MONTH_DAY_FORMAT") for point in points]
    scores = [float(point.sps) if point.sps is not None else None for point in points]
    eligible, disqualify = float(thresholds.sps_eligible), float(thresholds.sps_disqualify)
    known = [score for score in scores if score is not None]
    low = min([*known, disqualify])
    config = {
        "type": "line",
        "data": {
            "labels": labels,
            "datasets": [
                {
                    "label": _("Shop Performance Score"),
                    "data": scores,
                    "borderColor": "#1f5fbf",
                    "backgroundColor": "rgba(31, 95, 191, 0.08)",
                    "fill": True,
                    "tension": 0.25,
                    "pointRadius": 0,
                    "pointHoverRadius": 4,
                    "borderWidth": 2,
                    "spanGaps": True,
                },
                {
                    "label": _("Fully eligible from %(score)s") % {"score": _figure(thresholds.sps_eligible)},
                    "data": [eligible] * len(points),
                    "borderColor": "#137a3b",
                    "borderDash": [6, 4],
                    "borderWidth": 1.5,
                    "pointRadius": 0,
                    "fill": False,
                },
                {
                    "label": _("Disqualified below %(score)s") % {"score": _figure(thresholds.sps_disqualify)},
                    "data": [disqualify] * len(points),
                    "borderColor": "#b3261e",
                    "borderDash": [2, 3],
                    "borderWidth": 1.5,
                    "pointRadius": 0,
                    "fill": False,
                },
            ],
        },
        "options": {
            "interaction": {"mode": "index", "intersect": False},
            "scales": {
                "y": {"suggestedMin": max(0, round(low - 0.3, 1)), "suggestedMax": 5},
                "x": {"ticks": {"maxTicksLimit": 8, "maxRotation": 0}},
            },
            "plugins": {"legend": {"position": "bottom", "labels": {"boxHeight": 2}}},
        },
    }
    return config, _chart_summary(points, thresholds)


def _chart_summary(points: list[ChartPoint], thresholds: Thresholds) -> str:
    scored = [point for point in points if point.sps is not None]
    if not scored:
        return _("No Shop Performance Score in the last %(days)s days.") % {"days": WINDOW_DAYS}
    first, last = scored[0], scored[-1]
    return _(
        "Shop Performance Score from %(first_date)s to %(last_date)s: %(first)s at the start, %(last)s at the end, "
        "lowest %(low)s, highest %(high)s. Fully eligible from %(eligible)s; disqualified below %(disqualify)s."
    ) % {
        "first_date": date_format(first.day, "DATE_FORMAT"),
        "last_date": date_format(last.day, "DATE_FORMAT"),
        "first": _figure(first.sps.normalize()),
        "last": _figure(last.sps.normalize()),
        "low": _figure(min(p.sps for p in scored).normalize()),
        "high": _figure(max(p.sps for p in scored).normalize()),
        "eligible": _figure(thresholds.sps_eligible),
        "disqualify": _figure(thresholds.sps_disqualify),
    }


def shop_page(user: User, shop: Shop, *, today: dt.date, history_page: int | str | None = 1) -> ShopPage:
    """Everything the shop page shows; ``shop`` comes from ``shops_visible_to(user)``."""
    eligibility_attach(Entity.SHOP, [shop])
    verdict = verdict_shown(shop)
    # The thresholds in force today for the shop's market: the lines to cross from here on.
    thresholds = thresholds_for_market(rulesets_in_force(as_of=today), shop.market)
    forecast = shop_forecast_today(shop, today)
    points = _snapshots(shop, today)
    scored_days = sum(1 for point in points if point.sps is not None)
    chart_config, chart_summary = sps_chart(points, thresholds)
    facts = ShopFacts(
        shop.account_status,
        shop.orders_90d,
        shop.sps,
        shop.ip_violation,
        shop.fair_trade_violation,
        shop.review_violation,
    )
    plans, plans_total = _plans_of(user, shop, verdict.status)
    # What a disqualification would end now, unless the shop is disqualified already.
    preview = None if verdict.status == c.DISQUALIFIED else blast_radius_preview(shop=shop)
    actual = blast_radius_actual(shop=shop)
    is_member = _is_member(user, shop)
    return ShopPage(
        shop=shop,
        verdict=verdict,
        thresholds=thresholds,
        has_score=shop_has_sps(facts, thresholds),
        forecast=forecast,
        forecast_sentence=forecast_sentence(forecast, scored_days, thresholds),
        points=points,
        chart_config=chart_config,
        chart_summary=chart_summary,
        plans=plans,
        plans_total=plans_total,
        blast_preview=preview,
        blast_actual=actual if actual.run is not None else None,
        history=shop_history(user, shop, page_number=history_page, is_member=is_member),
        is_member=is_member,
    )


# Plan page --------------------------------------------------------------------------------------


@dataclasses.dataclass
class PlanProductRow:
    membership: PlanProduct
    verdict: VerdictShown | None
    can_add: bool

    @property
    def rate(self) -> str:
        return percent(self.membership.commission_rate)


@dataclasses.dataclass
class PlanPage:
    plan: AffiliatePlan
    for_creator: bool
    shop_verdict: VerdictShown | None
    products: list[PlanProductRow]
    # For a creator: (commission rate, may I promote it) per product.
    precheck: list[tuple[str | None, PrecheckResult]]
    # Products that left the plan, grouped by day and reasons: (day, reasons, [(membership, rate)]).
    left: list[tuple[dt.date, list[str], list[tuple[PlanProduct, str]]]]
    termination_reasons: list[str]
    recreations: list[AffiliatePlan]
    blast_preview: BlastRadius | None
    blast_actual: BlastRadius | None

    @property
    def market_name(self) -> str:
        return market_name(self.plan.shop.market)


def plan_page(user: User, plan: AffiliatePlan) -> PlanPage:
    """Everything the plan page shows; ``plan`` comes from ``plans_visible_to(user)``.

    A creator sees the plan's products and rates and whether it may promote each one (the
    C2 pre-check), not the seller's verdicts, nor the shop's blast radius.
    """
    for_creator = user.role == User.Role.CREATOR
    memberships = list(plan.active_memberships)
    reasons = [entity_reason_text(code) for code in plan.termination_reasons or ()]
    page = PlanPage(plan, for_creator, None, [], [], [], reasons, [], None, None)
    if for_creator:
        if user.creator_id:
            rates = {m.product_id: percent(m.commission_rate) for m in memberships}
            results = creator_precheck(creator=user.creator, plan=plan)
            page.precheck = [(rates.get(result.product.pk), result) for result in results]
        return page

    shop = plan.shop
    eligibility_attach(Entity.SHOP, [shop])
    page.shop_verdict = verdict_shown(shop)
    eligibility_attach(Entity.PRODUCT, [m.product for m in memberships])
    for membership in memberships:
        product = membership.product
        verdict = verdict_shown(product)
        page.products.append(
            PlanProductRow(membership, verdict, can_add_to_affiliate(page.shop_verdict.status, verdict.status))
        )
    page.products.sort(key=lambda row: severity(row.verdict.status))
    left = (
        PlanProduct.objects.filter(plan=plan, removed_at__isnull=False)
        .select_related("product")
        .order_by("-removed_at", "-id")[:LEFT_PLAN_SHOWN]
    )
    # A disqualification removes many products at once for the same reasons: say them once.
    groups: dict[tuple, list[tuple[PlanProduct, str]]] = {}
    for membership in left:
        day = timezone.localdate(membership.removed_at)
        key = (day, tuple(membership.removal_reasons or ()))
        groups.setdefault(key, []).append((membership, percent(membership.commission_rate)))
    page.left = [(day, [entity_reason_text(code) for code in codes], items) for (day, codes), items in groups.items()]
    page.recreations = list(plans_visible_to(user).filter(recreated_from=plan).order_by("-created_at"))
    if plan.terminated_by_run_id is not None:
        page.blast_actual = blast_radius_actual(shop=shop, run=plan.terminated_by_run)
    elif plan.status == AffiliatePlan.Status.ACTIVE and page.shop_verdict.status != c.ELIGIBLE:
        # A running plan of a shop at risk: what its disqualification would end.
        page.blast_preview = blast_radius_preview(shop=shop)
    return page
