"""What the seller's product pages show: the table, one product and the CSV export.

Products come from ``products_visible_to`` and are filtered by the API's own
``products_filtered``; verdict data from ``eligibility_attach`` and ``reasons_rendered``. The
NRR figures (spec P1) put the product's newest counts beside the category average and the rule
set of the latest finished evaluation (the one that confirmed the status shown), and the
"what would fix it" count comes from the pure ``reviews_to_clear_warning``.

The table pages by keyset (sort value, id), never by OFFSET, and counts at most
``COUNT_CAP`` rows, so every page costs the same few queries with a million products.
"""

from __future__ import annotations

import base64
import binascii
import dataclasses
import datetime as dt
import json
from collections.abc import Callable, Iterable, Iterator, Mapping
from decimal import ROUND_HALF_UP, Decimal
from fractions import Fraction
from typing import Any

from django.db.models import Case, F, FloatField, IntegerField, Q, QuerySet, Value, When
from django.db.models.functions import Cast, Coalesce, NullIf
from django.utils.formats import number_format
from django.utils.functional import Promise
from django.utils.translation import get_language
from django.utils.translation import gettext_lazy as _

from affiliate.models import PlanProduct
from shops.api.eligibility_filters import products_filtered
from shops.api.eligibility_serializers import baseline_shown, inputs_shown, reasons_rendered
from shops.eligibility import eligibility_attach, thresholds_by_version
from shops.models import Appeal, Category, Entity, EvaluationRun, Product, Shop, StatusHistory, User
from shops.reasons import status_message, status_next_step, threshold_params
from shops.rules import Baseline, Thresholds, can_add_to_affiliate
from shops.rules import codes as c
from shops.rules.nrr_fix import reviews_to_clear_warning
from shops.selectors import DEFAULT_MARKET, overrides_active
from shops.services.appeals import appeal_deadline, appeal_refusal
from shops.services.evaluation import category_baselines_of_run
from shops.visibility import products_visible_to, shops_visible_to

PAGE_SIZE = 50
COUNT_CAP = 10_000
SEARCH_MAX_LENGTH = 100
# Above this many shops or categories a filter is a text field, not a list.
CHOICES_MAX = 300
HISTORY_SHOWN = 10
EXPORT_CHUNK = 2_000
NRR_CODES = frozenset({c.NRR_ABOVE_WARNING, c.NRR_ABOVE_DISQUALIFY})
FILTER_NAMES = ("status", "reason", "category", "shop", "q")


# Sorting and keyset pages -------------------------------------------------------------------------


def _status_rank():
    # Worst first when descending; a product never evaluated sorts below ELIGIBLE.
    return Case(
        When(status=c.DISQUALIFIED, then=Value(3)),
        When(status=c.WARNING, then=Value(2)),
        When(status=c.ELIGIBLE, then=Value(1)),
        default=Value(0),
        output_field=IntegerField(),
    )


def _nrr():
    # Only an order: a float is exact enough to rank rates and to resume after one (repr round-trips).
    rate = Cast("negative_reviews_30d", FloatField()) / NullIf(Cast("reviews_30d", FloatField()), Value(0.0))
    return Coalesce(rate, Value(-1.0), output_field=FloatField())


@dataclasses.dataclass(frozen=True)
class SortColumn:
    label: Promise
    expression: Callable[[], Any]
    parse: Callable[[Any], Any]
    unique: bool = False


SORTS: dict[str, SortColumn] = {
    "key": SortColumn(_("Product ID"), lambda: F("key"), str, unique=True),
    "title": SortColumn(_("Name"), lambda: F("title"), str),
    "shop": SortColumn(_("Shop"), lambda: F("shop__key"), str),
    "category": SortColumn(_("Category"), lambda: F("category__name"), str),
    "status": SortColumn(_("Status"), _status_rank, int),
    "nrr": SortColumn(_("Negative review rate"), _nrr, float),
    "reviews": SortColumn(_("Reviews"), lambda: F("reviews_30d"), int),
}
DEFAULT_SORT = "-status"
# The "Sort by" list of the filter form (phones have no column headers to click).
SORT_OPTIONS: tuple[tuple[str, Promise], ...] = (
    ("-status", _("Status, worst first")),
    ("status", _("Status, best first")),
    ("-nrr", _("Negative review rate, highest first")),
    ("nrr", _("Negative review rate, lowest first")),
    ("-reviews", _("Reviews, most first")),
    ("reviews", _("Reviews, fewest first")),
    ("key", _("Product ID, A to Z")),
    ("-key", _("Product ID, Z to A")),
    ("title", _("Name, A to Z")),
    ("-title", _("Name, Z to A")),
    ("shop", _("Shop, A to Z")),
    ("category", _("Category, A to Z")),
)


@dataclasses.dataclass(frozen=True)
class Ordering:
    name: str
    descending: bool

    @property
    def param(self) -> str:
        return f"-{self.name}" if self.descending else self.name

    @property
    def column(self) -> SortColumn:
        return SORTS[self.name]

    def toggled_param(self, name: str) -> str:
        """The ``sort`` value a column header links to: the other direction if it is this column."""
        if name == self.name:
            return name if self.descending else f"-{name}"
        return f"-{name}" if name in {"status", "nrr", "reviews"} else name


def ordering_parse(value: str | None, default: str = DEFAULT_SORT) -> Ordering:
    """A whitelisted ordering from ``sort`` (``nrr``, ``-nrr``...); anything else is ``default``."""
    value = (value or "").strip()
    name = value.removeprefix("-")
    if name not in SORTS:
        return ordering_parse(default)
    return Ordering(name, value.startswith("-"))


def cursor_encode(value: Any, pk: int) -> str:
    raw = json.dumps([value, pk], separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def cursor_decode(token: str | None, column: SortColumn) -> tuple[Any, int] | None:
    """The (sort value, id) a page starts after; ``None`` for a missing or tampered token."""
    if not token or len(token) > 400:
        return None
    try:
        value, pk = json.loads(base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)))
        if isinstance(value, list | dict) or isinstance(pk, bool) or not isinstance(pk, int):
            return None
        return column.parse(value), pk
    except (ValueError, TypeError, binascii.Error):
        return None


def _beyond(queryset: QuerySet, ordering: Ordering, value: Any, pk: int, *, forward: bool) -> QuerySet:
    """Rows after (``forward``) or before the row (value, pk) in ``ordering``."""
    op = "lt" if ordering.descending == forward else "gt"
    condition = Q(**{f"sort_value__{op}": value})
    if not ordering.column.unique:
        condition |= Q(sort_value=value, **{f"pk__{op}": pk})
    return queryset.filter(condition)


def _ordered(queryset: QuerySet, ordering: Ordering, *, reverse: bool = False) -> QuerySet:
    descending = ordering.descending != reverse
    fields = ["sort_value"] if ordering.column.unique else ["sort_value", "pk"]
    return queryset.order_by(*(f"-{name}" if descending else name for name in fields))


# The table --------------------------------------------------------------------------------------


def products_matching(*, user: User, params: Mapping) -> QuerySet[Product]:
    """Visible products filtered as the API filters them, plus ``q`` (in the id or the title).

    Raises ``ValidationError`` keyed by the parameter for a bad filter value.
    """
    queryset = products_filtered(products_visible_to(user), params)
    query = (params.get("q") or "").strip()[:SEARCH_MAX_LENGTH]
    if query:
        queryset = queryset.filter(Q(key__icontains=query) | Q(title__icontains=query))
    return queryset


def _param_values(params: Mapping, name: str) -> list[str]:
    raw = params.getlist(name) if hasattr(params, "getlist") else params.get(name)
    values = raw if isinstance(raw, list | tuple) else [raw]
    return list(dict.fromkeys(str(value).strip() for value in values if value and str(value).strip()))


def shops_chosen(*, user: User, params: Mapping) -> list[Shop]:
    """The shops the ``shop`` filter names (none without it), in one query.

    Raises ``Shop.DoesNotExist`` when a key names no shop the user may see: the pages answer
    404 as the shop's own page does, for another seller's shop and an unknown key alike, so the
    answer never tells that a shop exists. (The API keeps its empty result for the same filter.)
    """
    keys = _param_values(params, "shop")
    if not keys:
        return []
    found = {shop.key: shop for shop in shops_visible_to(user).filter(key__in=keys).only("id", "key", "name")}
    if len(found) != len(keys):
        raise Shop.DoesNotExist("No visible shop has one of these keys.")
    return [found[key] for key in keys]


@dataclasses.dataclass
class ProductPage:
    rows: list[Product]
    ordering: Ordering
    total: int
    total_capped: bool
    next_cursor: str | None
    previous_cursor: str | None

    @property
    def is_first(self) -> bool:
        return self.previous_cursor is None


def default_sort(user: User) -> str:
    """Worst first for a seller's catalogue; ops see the whole platform, in the key index's order."""
    return "key" if user.is_ops else DEFAULT_SORT


def products_page(*, user: User, params: Mapping, page_size: int | None = None) -> ProductPage:
    """One page of the table in a fixed number of queries; ``after``/``before`` are keyset cursors.

    The page's ids are chosen first from the product rows alone (a narrow sort, joins only where
    a filter or the sort needs them), then its 50 rows are read with their shop and category.
    """
    page_size = page_size or PAGE_SIZE
    matching = products_matching(user=user, params=params)
    ordering = ordering_parse(params.get("sort"), default=default_sort(user))
    total = matching.values("pk")[: COUNT_CAP + 1].count()
    queryset = matching.annotate(sort_value=ordering.column.expression())
    after = cursor_decode(params.get("after"), ordering.column)
    before = None if after else cursor_decode(params.get("before"), ordering.column)
    if before is not None:
        queryset = _ordered(_beyond(queryset, ordering, *before, forward=False), ordering, reverse=True)
        keys = list(queryset.values_list("pk", "sort_value")[: page_size + 1])
        has_previous, has_next = len(keys) > page_size, True
        keys = keys[:page_size][::-1]
    else:
        if after is not None:
            queryset = _beyond(queryset, ordering, *after, forward=True)
        keys = list(_ordered(queryset, ordering).values_list("pk", "sort_value")[: page_size + 1])
        has_previous, has_next = after is not None, len(keys) > page_size
        keys = keys[:page_size]
    rows = []
    if keys:
        by_id = Product.objects.select_related("shop", "category").in_bulk([pk for pk, _value in keys])
        rows = [by_id[pk] for pk, _value in keys]
    product_rows_attach(rows)
    return ProductPage(
        rows=rows,
        ordering=ordering,
        total=min(total, COUNT_CAP),
        total_capped=total > COUNT_CAP,
        next_cursor=cursor_encode(*keys[-1][::-1]) if has_next and keys else None,
        previous_cursor=cursor_encode(*keys[0][::-1]) if has_previous and keys else None,
    )


@dataclasses.dataclass(frozen=True)
class FilterChoices:
    statuses: tuple[str, ...]
    reasons: list[tuple[str, str]]
    # None: too many to list, the filter is a text field for the id.
    categories: list[tuple[str, str]] | None
    shops: list[tuple[str, str]] | None


def filter_choices(*, user: User, language: str = "en") -> FilterChoices:
    """The options of the filter form: two queries, bounded by ``CHOICES_MAX``."""
    shops = list(shops_visible_to(user).order_by("key").values_list("key", "name")[: CHOICES_MAX + 1])
    categories_qs = Category.objects.order_by("name", "key")
    if not user.is_ops:
        categories_qs = categories_qs.filter(pk__in=products_visible_to(user).values("category_id"))
    zh = language.lower().startswith("zh")
    categories = [
        (key, (name_zh if zh and name_zh else name))
        for key, name, name_zh in categories_qs.values_list("key", "name", "name_zh")[: CHOICES_MAX + 1]
    ]
    return FilterChoices(
        statuses=c.PRODUCT_STATUSES,
        reasons=[(code, code) for code in c.PRODUCT_CODES],
        categories=categories if len(categories) <= CHOICES_MAX else None,
        shops=shops if len(shops) <= CHOICES_MAX else None,
    )


# NRR figures (spec P1) ------------------------------------------------------------------------------


def _decimal(value: Fraction, places: int) -> Decimal:
    exact = Decimal(value.numerator) / Decimal(value.denominator)
    return exact.quantize(Decimal(1).scaleb(-places), rounding=ROUND_HALF_UP)


@dataclasses.dataclass(frozen=True)
class NrrFigures:
    """A product's negative review rate beside its category average, as P1 compares them."""

    negative: int
    reviews: int
    average: Fraction | None
    benchmark: bool
    thresholds: Thresholds | None
    evaluated_on: dt.date | None
    reviews_to_clear: int | None

    @property
    def rate(self) -> Fraction | None:
        return Fraction(self.negative, self.reviews) if self.reviews else None

    @property
    def multiple(self) -> Fraction | None:
        if self.rate is None or not self.average:
            return None
        return self.rate / self.average

    @property
    def warning_multiple(self) -> str:
        return threshold_params(self.thresholds)["nrr_warning_multiple"] if self.thresholds else ""

    @property
    def disqualify_multiple(self) -> str:
        return threshold_params(self.thresholds)["nrr_disqualify_multiple"] if self.thresholds else ""

    @property
    def window_days(self) -> str:
        return threshold_params(self.thresholds)["nrr_window_days"] if self.thresholds else "30"

    @property
    def rate_shown(self) -> str:
        return number_format(_decimal(self.rate * 100, 2), 2) if self.rate is not None else ""

    @property
    def average_shown(self) -> str:
        return number_format(_decimal(self.average * 100, 2), 2) if self.average is not None else ""

    @property
    def multiple_shown(self) -> str:
        """One decimal, or more where one would land on a threshold the exact value is not on."""
        multiple = self.multiple
        if multiple is None:
            return ""
        lines = set()
        if self.thresholds:
            lines = {self.thresholds.nrr_warning_multiple, self.thresholds.nrr_disqualify_multiple}
        for places in (1, 2, 4, 6):
            rounded = _decimal(multiple, places)
            if Fraction(rounded) == multiple or Fraction(rounded) not in lines:
                break
        return number_format(rounded, places)

    @property
    def tone(self) -> str:
        """ok / warn / bad by the exact comparison of P1 (at the warning multiple is a warning)."""
        multiple, thresholds = self.multiple, self.thresholds
        if multiple is None or thresholds is None or self.negative == 0:
            return "ok" if self.negative == 0 and self.reviews else "none"
        if multiple > thresholds.nrr_disqualify_multiple:
            return "bad"
        return "warn" if multiple >= thresholds.nrr_warning_multiple else "ok"


@dataclasses.dataclass
class _RunFacts:
    """The latest finished evaluation: its category averages and its rule sets per market."""

    run: EvaluationRun | None
    baselines: dict[int, tuple[Baseline | None, dict]]
    thresholds: dict[str, Thresholds]

    def thresholds_for(self, market: str) -> Thresholds | None:
        return self.thresholds.get(market) or self.thresholds.get(DEFAULT_MARKET)

    def figures(self, *, negative: int, reviews: int, category_id: int, market: str) -> NrrFigures:
        baseline, info = self.baselines.get(category_id, (None, {}))
        thresholds = self.thresholds_for(market)
        fix = None
        if thresholds is not None and baseline is not None:
            fix = reviews_to_clear_warning(
                negative=negative, reviews=reviews, baseline=baseline, multiple=thresholds.nrr_warning_multiple
            )
        return NrrFigures(
            negative=negative,
            reviews=reviews,
            average=baseline.value if baseline is not None else None,
            benchmark=info.get("source") == "benchmark",
            thresholds=thresholds,
            evaluated_on=self.run.as_of if self.run else None,
            reviews_to_clear=fix,
        )


def _run_facts() -> _RunFacts:
    """Three queries: the run, its category averages, its rule sets."""
    run = (
        EvaluationRun.objects.filter(state=EvaluationRun.State.SUCCEEDED)
        .order_by(F("finished_at").desc(nulls_last=True), "-id")
        .only("id", "as_of", "ruleset_versions")
        .first()
    )
    if run is None:
        return _RunFacts(None, {}, {})
    versions = {("" if market == "default" else market): v for market, v in (run.ruleset_versions or {}).items()}
    by_version = thresholds_by_version(versions.values())
    thresholds = {market: by_version[v] for market, v in versions.items() if v in by_version}
    return _RunFacts(run, category_baselines_of_run(run=run), thresholds)


def product_rows_attach(products: list[Product], facts: _RunFacts | None = None) -> list[Product]:
    """Give each product ``eligibility``, ``nrr`` and ``reasons_shown``: fixed queries for any page."""
    if not products:
        return products
    eligibility_attach(Entity.PRODUCT, products)
    facts = facts or _run_facts()
    zh = (get_language() or "").lower().startswith("zh")
    for product in products:
        eligibility = product.eligibility
        product.effective_status = eligibility.effective_status(product.status)
        product.effective_shop_status = eligibility.effective_shop_status(product.shop.status)
        product.reasons_shown = reasons_rendered(product.reasons, eligibility.thresholds)
        product.nrr = facts.figures(
            negative=product.negative_reviews_30d,
            reviews=product.reviews_30d,
            category_id=product.category_id,
            market=product.shop.market,
        )
        product.has_nrr_reason = bool(NRR_CODES.intersection(product.reasons or ()))
        product.category_label = (zh and product.category.name_zh) or product.category.name
    return products


# One product ------------------------------------------------------------------------------------


@dataclasses.dataclass
class HistoryEntry:
    row: StatusHistory
    reasons: list[dict]
    inputs: dict
    baseline: dict | None

    @property
    def average_shown(self) -> str:
        """The recorded category average as a percentage ("" when there was none)."""
        value = (self.baseline or {}).get("value")
        if value in (None, ""):
            return ""
        return number_format(_decimal(Fraction(Decimal(str(value))) * 100, 2), 2)


@dataclasses.dataclass
class ProductDetail:
    product: Product
    status_message: str
    status_next_step: str
    can_add_to_affiliate: bool
    history: list[HistoryEntry]
    plans: list[PlanProduct]
    appeals: list[Appeal]
    # The verdict a new appeal would contest, or why none can be made now.
    appeal_verdict: StatusHistory | None
    appeal_refusal: str | None
    appeal_until: dt.datetime | None = None


def product_detail(*, user: User, product: Product, now: dt.datetime | None = None) -> ProductDetail:
    """Everything the product page shows, in a fixed number of queries."""
    product_rows_attach([product])
    eligibility = product.eligibility
    params = threshold_params(eligibility.thresholds) if eligibility.thresholds else None
    status = product.effective_status
    rows = list(
        StatusHistory.objects.filter(entity=Entity.PRODUCT, entity_id=product.pk).order_by("-id")[:HISTORY_SHOWN]
    )
    thresholds = thresholds_by_version(row.ruleset_version for row in rows)
    history = [
        HistoryEntry(
            row=row,
            reasons=reasons_rendered(row.new_reasons, thresholds.get(row.ruleset_version)),
            inputs=inputs_shown(row.inputs) or {},
            baseline=baseline_shown(row.baseline),
        )
        for row in rows
    ]
    plans = list(
        PlanProduct.objects.filter(product=product, removed_at__isnull=True)
        .select_related("plan")
        .order_by("-added_at")
    )
    appeals = list(Appeal.objects.filter(entity=Entity.PRODUCT, entity_id=product.pk).order_by("-submitted_at", "-id"))
    verdict, refusal, until = eligibility.history, None, None
    if user.is_ops or verdict is None:
        verdict = None  # ops decide appeals; they do not make them
    else:
        against = [appeal for appeal in appeals if appeal.verdict_id == verdict.pk]
        error = appeal_refusal(verdict=verdict, appeals=against, now=now)
        if error is not None:
            refusal = " ".join(error.messages)
        else:
            until = appeal_deadline(verdict=verdict, appeals=against)
    return ProductDetail(
        product=product,
        status_message=status_message(status, params) if status else "",
        status_next_step=status_next_step(status, params) if status else "",
        can_add_to_affiliate=can_add_to_affiliate(product.effective_shop_status, status),
        history=history,
        plans=plans,
        appeals=appeals,
        appeal_verdict=verdict,
        appeal_refusal=refusal,
        appeal_until=until,
    )


# CSV export ----------------------------------------------------------------------------------------

EXPORT_FIELDS = (
    "product_id",
    "title",
    "shop_id",
    "shop_name",
    "market",
    "category_id",
    "category",
    "status",
    "override_status",
    "effective_status",
    "reasons",
    "reviews_30d",
    "negative_reviews_30d",
    "nrr",
    "category_average_nrr",
    "nrr_multiple",
    "reviews_to_clear_warning",
    "status_changed_at",
    "metrics_as_of",
)
_EXPORT_VALUES = (
    "pk",
    "key",
    "title",
    "shop__key",
    "shop__name",
    "shop__market",
    "category_id",
    "category__key",
    "category__name",
    "status",
    "reasons",
    "reviews_30d",
    "negative_reviews_30d",
    "status_changed_at",
    "metrics_as_of",
)


def _exact(value: Fraction | None, places: int = 6) -> str:
    return format(_decimal(value, places).normalize(), "f") if value is not None else ""


def _export_rows(rows: list[tuple], facts: _RunFacts) -> Iterator[list]:
    overrides = overrides_active(entity=Entity.PRODUCT, entity_ids=[row[0] for row in rows])
    for row in rows:
        values = dict(zip(_EXPORT_VALUES, row, strict=True))
        override = overrides.get(values["pk"])
        nrr = facts.figures(
            negative=values["negative_reviews_30d"],
            reviews=values["reviews_30d"],
            category_id=values["category_id"],
            market=values["shop__market"],
        )
        yield [
            values["key"],
            values["title"],
            values["shop__key"],
            values["shop__name"],
            values["shop__market"],
            values["category__key"],
            values["category__name"],
            values["status"] or "",
            override.status if override else "",
            (override.status if override else values["status"]) or "",
            " ".join(values["reasons"] or ()),
            values["reviews_30d"],
            values["negative_reviews_30d"],
            _exact(nrr.rate),
            _exact(nrr.average),
            _exact(nrr.multiple, 4),
            "" if nrr.reviews_to_clear is None else nrr.reviews_to_clear,
            values["status_changed_at"].isoformat() if values["status_changed_at"] else "",
            values["metrics_as_of"].isoformat() if values["metrics_as_of"] else "",
        ]


def products_export(*, user: User, params: Mapping, chunk_size: int | None = None) -> Iterator[list]:
    """Every matching visible product (not only one page), by product id, in keyset chunks.

    Chunks follow the unique key index (``key > last``), so a million rows stream in constant
    memory without a long-held cursor. Raises ``ValidationError`` for a bad filter at once.
    """
    matching = products_matching(user=user, params=params).order_by("key").values_list(*_EXPORT_VALUES)
    key_at = _EXPORT_VALUES.index("key")
    chunk_size = chunk_size or EXPORT_CHUNK

    def rows() -> Iterator[list]:
        facts = _run_facts()
        last = None
        while True:
            chunk = list((matching.filter(key__gt=last) if last is not None else matching)[:chunk_size])
            if chunk:
                yield from _export_rows(chunk, facts)
            if len(chunk) < chunk_size:
                return
            last = chunk[-1][key_at]

    return rows()


def visible_query(params: Mapping, *, drop: Iterable[str] = ()) -> dict[str, str]:
    """The filters and sort of the current view (for links), without cursors and ``drop``."""
    kept = {}
    for name in (*FILTER_NAMES, "sort"):
        value = (params.get(name) or "").strip()
        if value and name not in drop:
            kept[name] = value
    return kept
