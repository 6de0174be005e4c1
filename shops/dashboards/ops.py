"""What the ops pages show, read in a fixed number of queries whatever the data size.

Counts are set-based aggregates (one ``GROUP BY`` per entity type); lists are paginated and
their related objects loaded per page in one query per kind. Nothing here decides a status:
verdicts come from the history the engine wrote, reasons are worded by the same helpers as the
API (``reasons_rendered``), appeals come from ``appeals_queue`` and recovery steps from
``recovery_outstanding_steps``.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections import Counter
from collections.abc import Sequence

from django.core.cache import cache
from django.core.paginator import Page, Paginator
from django.db import connection
from django.db.models import Count, F, Q, QuerySet
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from affiliate.models import AffiliatePlan, Creator
from shops.api.eligibility_serializers import baseline_shown, inputs_shown, reasons_rendered
from shops.appeal_checklists import ChecklistItem
from shops.dashboards.seller import INPUT_LABELS
from shops.eligibility import thresholds_by_version
from shops.models import (
    Appeal,
    AppealEvidence,
    Entity,
    EvaluationRun,
    LicenceFlag,
    Override,
    Product,
    RecoveryReview,
    Shop,
    ShopUnbinding,
    StatusHistory,
)
from shops.rules import codes as c
from shops.selectors import overrides_active
from shops.services.appeals import QueuedAppeal, appeal_checklist_for
from shops.services.integrity import (
    REBIND_BAN_DAYS,
    STEP_DOCUMENTS,
    STEP_EXAM,
    STEP_LETTER,
    recovery_outstanding_steps,
)

PAGE_SIZE = 25
RUNS_SHOWN = 6
SEARCH_RESULTS = 20
STATUSES = {
    Entity.SHOP: c.SHOP_STATUSES,
    Entity.PRODUCT: c.PRODUCT_STATUSES,
    Entity.CREATOR: c.CREATOR_STATUSES,
}
STEP_LABELS = {
    STEP_LETTER: gettext_lazy("Explanation letter"),
    STEP_DOCUMENTS: gettext_lazy("Tax proof and shipping documents"),
    STEP_EXAM: gettext_lazy("Certification exam"),
}


def paginate(items: QuerySet | Sequence, page: str | int | None, per_page: int = PAGE_SIZE) -> Page:
    """One page (a count and a slice); an out-of-range or bad number gives the nearest page."""
    return Paginator(items, per_page).get_page(page)


def duration_text(delta: dt.timedelta | None) -> str:
    """A short, translated duration: "45 s", "3 min 5 s", "2 h 10 min"."""
    if delta is None:
        return ""
    seconds = max(int(delta.total_seconds()), 0)
    hours, rest = divmod(seconds, 3600)
    minutes, seconds = divmod(rest, 60)
    if hours:
        return _("%(h)d h %(m)d min") % {"h": hours, "m": minutes}
    if minutes:
        return _("%(m)d min %(s)d s") % {"m": minutes, "s": seconds}
    return _("%(s)d s") % {"s": seconds}


# Overview ---------------------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class CountRow:
    market: str
    cells: list[int]
    total: int


@dataclasses.dataclass(frozen=True)
class CountTable:
    entity: str
    statuses: list[str | None]
    rows: list[CountRow]
    totals: list[int]
    total: int


def _count_table(entity: str, counts: dict[tuple[str, str | None], int]) -> CountTable:
    statuses: list[str | None] = list(STATUSES[entity])
    # "Not evaluated" gets a column only when some entity has no verdict yet.
    if any(status is None for _market, status in counts):
        statuses.append(None)
    markets = sorted({market for market, _status in counts})
    rows = []
    for market in markets:
        cells = [counts.get((market, status), 0) for status in statuses]
        rows.append(CountRow(market, cells, sum(cells)))
    totals = [sum(row.cells[i] for row in rows) for i in range(len(statuses))]
    return CountTable(entity, statuses, rows, totals, sum(totals))


# How long one state of the verdicts' counts is kept (it is replaced as soon as a verdict changes).
COUNTS_CACHE_SECONDS = 6 * 3600


def verdicts_version() -> tuple:
    """Changes whenever a count by status can change: every change of a verdict writes a history
    row, and a new shop, product or creator gets a new id. One query of four index probes."""
    tables = [connection.ops.quote_name(model._meta.db_table) for model in (StatusHistory, Shop, Product, Creator)]
    with connection.cursor() as cursor:
        cursor.execute("SELECT " + ", ".join(f"(SELECT MAX(id) FROM {table})" for table in tables))  # noqa: S608  # nosec B608 # quoted table names of our models
        return tuple(cursor.fetchone())


def status_counts() -> list[CountTable]:
    """Shops and products by market and status, creators by status.

    Three GROUP BY queries over every entity (≈ 0.6 s at 1M products), so they are counted once
    per state of the verdicts (``verdicts_version``) and kept in the cache until a verdict changes.
    """
    key = "ops:status-counts:" + ":".join(str(part) for part in verdicts_version())
    counts = cache.get(key)
    if counts is None:
        counts = _status_counts()
        cache.set(key, counts, COUNTS_CACHE_SECONDS)
    return counts


def _status_counts() -> list[CountTable]:
    shops = Shop.objects.order_by().values_list("market", "status").annotate(n=Count("id"))
    products = Product.objects.order_by().values_list("shop__market", "status").annotate(n=Count("id"))
    creators = Creator.objects.order_by().values_list("status").annotate(n=Count("id"))
    return [
        _count_table(Entity.SHOP, {(market, status): n for market, status, n in shops}),
        _count_table(Entity.PRODUCT, {(market, status): n for market, status, n in products}),
        _count_table(Entity.CREATOR, {("", status): n for status, n in creators}),
    ]


@dataclasses.dataclass(frozen=True)
class RunRow:
    run: EvaluationRun
    duration: str
    percent: int
    running: bool


def runs_recent(now: dt.datetime, limit: int = RUNS_SHOWN) -> list[RunRow]:
    rows = []
    for run in EvaluationRun.objects.select_related("created_by").order_by("-started_at", "-id")[:limit]:
        running = run.state == EvaluationRun.State.RUNNING
        elapsed = (now - run.started_at) if running else run.duration
        rows.append(RunRow(run, duration_text(elapsed), int(run.progress * 100), running))
    return rows


@dataclasses.dataclass(frozen=True)
class ChangeRow:
    entity: str
    status: str
    last_day: int
    last_run: int


def status_changes(now: dt.datetime, last_run: EvaluationRun | None) -> list[ChangeRow]:
    """Verdicts changed, by entity and new status: by the runs started in the last day, and by the last run.

    Every history row is written by a run, and in the same transaction the run adds it to its
    counters (``stats[entity]["transitions"]``, ``"OLD->NEW": n``): one query for the runs'
    counters, instead of counting their history rows (2.1M for a first run at 1M products).
    """
    last_id = last_run.pk if last_run else None
    runs = EvaluationRun.objects.filter(Q(started_at__gte=now - dt.timedelta(days=1)) | Q(pk=last_id)).values_list(
        "pk", "started_at", "stats"
    )
    day: Counter = Counter()
    last: Counter = Counter()
    for pk, started_at, stats in runs:
        for entity, entity_stats in (stats or {}).items():
            for transition, count in (entity_stats.get("transitions") or {}).items():
                key = (entity, transition.rsplit("->", 1)[-1])
                if started_at >= now - dt.timedelta(days=1):
                    day[key] += count
                if pk == last_id:
                    last[key] += count
    ordered = []
    for entity, statuses in STATUSES.items():
        for status in statuses:
            if (entity, status) in day or (entity, status) in last:
                ordered.append(ChangeRow(entity, status, day[entity, status], last[entity, status]))
    return ordered


@dataclasses.dataclass(frozen=True)
class QueueSizes:
    open_appeals: int
    overdue_appeals: int
    open_recovery_reviews: int
    open_licence_flags: int
    active_overrides: int


def queue_sizes(now: dt.datetime) -> QueueSizes:
    appeals = Appeal.objects.filter(state=Appeal.State.SUBMITTED).aggregate(
        open=Count("id"), overdue=Count("id", filter=Q(due_at__lt=now))
    )
    return QueueSizes(
        open_appeals=appeals["open"],
        overdue_appeals=appeals["overdue"],
        open_recovery_reviews=RecoveryReview.objects.filter(state=RecoveryReview.State.OPEN).count(),
        open_licence_flags=LicenceFlag.objects.filter(resolved_at__isnull=True).count(),
        active_overrides=_active_overrides(now).count(),
    )


@dataclasses.dataclass(frozen=True)
class Overview:
    counts: list[CountTable]
    runs: list[RunRow]
    changes: list[ChangeRow]
    last_run: EvaluationRun | None
    queues: QueueSizes

    @property
    def running(self) -> bool:
        return any(row.running for row in self.runs)


def overview(now: dt.datetime) -> Overview:
    runs = runs_recent(now)
    # A running run has changed only part of the data yet: compare with the last finished one.
    finished = [row.run for row in runs if not row.running]
    last_run = finished[0] if finished else (runs[0].run if runs else None)
    return Overview(
        counts=status_counts(),
        runs=runs,
        changes=status_changes(now, last_run),
        last_run=last_run,
        queues=queue_sizes(now),
    )


# The figures a verdict rests on, named as on the seller's pages (shops) and in the rules.
OPS_INPUT_LABELS = {
    **INPUT_LABELS,
    "nrr": gettext_lazy("Negative review rate"),
    "reviews_30d": gettext_lazy("Reviews (30 days)"),
    "negative_reviews_30d": gettext_lazy("Negative reviews (30 days)"),
    "listing_status": gettext_lazy("Listing"),
    "counterfeit_flag": gettext_lazy("Counterfeit flag"),
    "shop_status": gettext_lazy("Shop status"),
    "appeal_failed": gettext_lazy("Appeal already failed"),
    "pps": gettext_lazy("Promotion performance score (PPS)"),
    "chr": gettext_lazy("Creator health rating (CHR)"),
}


def inputs_labelled(inputs: dict | None) -> dict | None:
    """A verdict's inputs keyed by their names in words (unknown ones keep their own name)."""
    if inputs is None:
        return None
    return {str(OPS_INPUT_LABELS.get(name, name)): value for name, value in inputs.items()}


# Disqualification review queue ------------------------------------------------------------------


@dataclasses.dataclass
class ReviewRow:
    history: StatusHistory
    target: Shop | Product | None
    seller_name: str
    seller_key: str
    market: str
    reasons: list[dict]
    inputs: dict | None
    baseline: dict | None
    override: Override | None
    appeals: list[Appeal]


def disqualified_verdicts(*, entity: str = "", q: str = "", market: str = "") -> QuerySet[StatusHistory]:
    """Shop and product verdicts that disqualified, newest first."""
    rows = StatusHistory.objects.filter(new_status=c.DISQUALIFIED, entity__in=[Entity.SHOP, Entity.PRODUCT])
    if entity in (Entity.SHOP, Entity.PRODUCT):
        rows = rows.filter(entity=entity)
    if q:
        rows = rows.filter(entity_key__icontains=q)
    if market:
        rows = rows.filter(
            Q(entity=Entity.SHOP, entity_id__in=Shop.objects.filter(market=market).values("id"))
            | Q(entity=Entity.PRODUCT, entity_id__in=Product.objects.filter(shop__market=market).values("id"))
        )
    return rows.order_by("-id")


def disqualified_count(entity: str = "") -> int:
    """How many rows ``disqualified_verdicts(entity=entity)`` holds, from the runs' counters.

    Each run counts its history rows by transition (``stats[entity]["transitions"]``) in the
    transaction that writes them, so the sum over the runs is the count of the history rows,
    without counting them (a number that grows by tens of thousands a day at 1M products).
    """
    entities = [entity] if entity in (Entity.SHOP, Entity.PRODUCT) else [Entity.SHOP, Entity.PRODUCT]
    total = 0
    for stats in EvaluationRun.objects.exclude(changed=0).values_list("stats", flat=True).iterator():
        for name in entities:
            transitions = ((stats or {}).get(name) or {}).get("transitions") or {}
            total += sum(n for label, n in transitions.items() if label.rsplit("->", 1)[-1] == c.DISQUALIFIED)
    return total


def review_page(*, entity: str = "", q: str = "", market: str = "", page: str | int | None = None) -> Page:
    """One page of the review queue; unsearched, its count comes from the runs' counters."""
    paginator = Paginator(disqualified_verdicts(entity=entity, q=q, market=market), PAGE_SIZE)
    if not q and not market:
        paginator.count = disqualified_count(entity)
    return paginator.get_page(page)


def review_rows(history: Sequence[StatusHistory], now: dt.datetime) -> list[ReviewRow]:
    """Each history row with its entity, seller, worded reasons, active override and appeals: 6 queries."""
    shop_ids = [row.entity_id for row in history if row.entity == Entity.SHOP]
    product_ids = [row.entity_id for row in history if row.entity == Entity.PRODUCT]
    shops = Shop.objects.select_related("seller").in_bulk(shop_ids)
    products = Product.objects.select_related("shop__seller").in_bulk(product_ids)
    thresholds = thresholds_by_version(row.ruleset_version for row in history)
    overrides = {
        Entity.SHOP: overrides_active(entity=Entity.SHOP, entity_ids=shop_ids, at=now),
        Entity.PRODUCT: overrides_active(entity=Entity.PRODUCT, entity_ids=product_ids, at=now),
    }
    appeals: dict[int, list[Appeal]] = {}
    for appeal in Appeal.objects.filter(verdict_id__in=[row.pk for row in history]).order_by("attempt"):
        appeals.setdefault(appeal.verdict_id, []).append(appeal)
    rows = []
    for row in history:
        target = (shops if row.entity == Entity.SHOP else products).get(row.entity_id)
        seller = None
        if isinstance(target, Shop):
            seller, market = target.seller, target.market
        elif isinstance(target, Product):
            seller, market = target.shop.seller, target.shop.market
        else:
            market = ""
        rows.append(
            ReviewRow(
                history=row,
                target=target,
                seller_name=seller.legal_name if seller else "",
                seller_key=seller.key if seller else "",
                market=market,
                reasons=reasons_rendered(row.new_reasons, thresholds.get(row.ruleset_version)),
                inputs=inputs_labelled(inputs_shown(row.inputs)),
                baseline=baseline_shown(row.baseline),
                override=overrides[row.entity].get(row.entity_id),
                appeals=appeals.get(row.pk, []),
            )
        )
    return rows


def shop_markets() -> list[str]:
    """The markets shops are in: one index probe per market (a "skip scan"), not a DISTINCT over every shop."""
    table = connection.ops.quote_name(Shop._meta.db_table)
    with connection.cursor() as cursor:
        cursor.execute(
            f"""WITH RECURSIVE markets(market) AS (
                    SELECT min(market) FROM {table}
                    UNION ALL
                    SELECT (SELECT min(market) FROM {table} WHERE market > markets.market)
                    FROM markets WHERE markets.market IS NOT NULL)
                SELECT market FROM markets WHERE market IS NOT NULL"""  # noqa: S608  # nosec B608 # table name from model metadata, no values
        )
        return [market for (market,) in cursor.fetchall()]


# Appeals ----------------------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class QueueRow:
    appeal: Appeal
    checklist: list[ChecklistItem]
    answered: int
    time_left: dt.timedelta
    overdue: bool


def appeal_queue_rows(queued: Sequence[QueuedAppeal], now: dt.datetime) -> list[QueueRow]:
    rows = []
    for item in queued:
        given = {evidence.item for evidence in item.appeal.evidence.all()}
        answered = sum(1 for entry in item.checklist if entry.key in given)
        left = item.appeal.due_at - now
        rows.append(QueueRow(item.appeal, item.checklist, answered, left, left.total_seconds() < 0))
    return rows


@dataclasses.dataclass(frozen=True)
class ChecklistRow:
    item: ChecklistItem
    files: list[AppealEvidence]


@dataclasses.dataclass
class AppealReview:
    appeal: Appeal
    checklist: list[ChecklistRow]
    unlisted: list[AppealEvidence]
    reasons: list[dict]
    inputs: dict | None
    baseline: dict | None
    previous: list[Appeal]
    target: Shop | Product | None
    statuses: tuple[str, ...]
    time_left: dt.timedelta
    overdue: bool

    @property
    def complete(self) -> bool:
        return all(row.files for row in self.checklist)


def appeal_review(appeal: Appeal, now: dt.datetime) -> AppealReview:
    """The appeal with its checklist against the uploaded files, its verdict and earlier attempts: 3 queries."""
    checklist = appeal_checklist_for(appeal.reason_codes)
    evidence = list(appeal.evidence.all())
    keys = {item.key for item in checklist}
    verdict = appeal.verdict
    thresholds = thresholds_by_version([verdict.ruleset_version]).get(verdict.ruleset_version)
    previous = list(
        Appeal.objects.filter(verdict_id=appeal.verdict_id)
        .exclude(pk=appeal.pk)
        .select_related("decided_by", "submitted_by")
        .order_by("attempt")
    )
    model = Shop if appeal.entity == Entity.SHOP else Product
    related = "seller" if model is Shop else "shop__seller"
    target = model.objects.select_related(related).filter(pk=appeal.entity_id).first()
    left = appeal.due_at - now
    return AppealReview(
        appeal=appeal,
        checklist=[ChecklistRow(item, [e for e in evidence if e.item == item.key]) for item in checklist],
        unlisted=[e for e in evidence if e.item not in keys],
        reasons=reasons_rendered(appeal.reason_codes, thresholds),
        inputs=inputs_labelled(inputs_shown(verdict.inputs)),
        baseline=baseline_shown(verdict.baseline),
        previous=previous,
        target=target,
        statuses=STATUSES.get(appeal.entity, ()),
        time_left=left,
        overdue=appeal.state == Appeal.State.SUBMITTED and left.total_seconds() < 0,
    )


# Overrides --------------------------------------------------------------------------------------


def _active_overrides(now: dt.datetime) -> QuerySet[Override]:
    # The same condition as ``shops.selectors.overrides_active``, for every entity at once.
    return Override.objects.filter(Q(expires_at__isnull=True) | Q(expires_at__gt=now), revoked_at__isnull=True)


def overrides_in_force(now: dt.datetime, *, entity: str = "", q: str = "") -> QuerySet[Override]:
    overrides = _active_overrides(now).select_related("created_by", "appeal")
    if entity in (Entity.SHOP, Entity.PRODUCT):
        overrides = overrides.filter(entity=entity)
    if q:
        overrides = overrides.filter(entity_key__icontains=q)
    return overrides.order_by(F("expires_at").asc(nulls_last=True), "-created_at", "-id")


# Force-unbind and recovery ----------------------------------------------------------------------


def shops_search(shops: QuerySet[Shop], q: str) -> list[Shop]:
    """Shops whose key, name, seller or licence number matches ``q``; exact keys first."""
    q = q.strip()
    if not q:
        return []
    matches = shops.filter(
        Q(key__icontains=q)
        | Q(name__icontains=q)
        | Q(seller__key__iexact=q)
        | Q(seller__legal_name__icontains=q)
        | Q(seller__business_licence_no__iexact=q)
    ).select_related("seller")
    found = list(matches.order_by("key")[:SEARCH_RESULTS])
    return sorted(found, key=lambda shop: shop.key.lower() != q.lower())


@dataclasses.dataclass(frozen=True)
class UnbindPreview:
    shop: Shop
    active_plans: int
    rebind_allowed_on: dt.date
    ban_days: int


def unbind_preview(shop: Shop, today: dt.date) -> UnbindPreview:
    """What a forced unbinding would end, shown before ops confirm it: one query."""
    plans = AffiliatePlan.objects.filter(shop=shop, status=AffiliatePlan.Status.ACTIVE).count()
    return UnbindPreview(shop, plans, today + dt.timedelta(days=REBIND_BAN_DAYS), REBIND_BAN_DAYS)


@dataclasses.dataclass(frozen=True)
class UnbindingRow:
    unbinding: ShopUnbinding
    reviews: list[RecoveryReview]
    can_open_review: bool


def unbindings_recent() -> QuerySet[ShopUnbinding]:
    return ShopUnbinding.objects.select_related("shop__seller", "created_by").order_by("-unbound_at", "-id")


def unbinding_rows(unbindings: Sequence[ShopUnbinding]) -> list[UnbindingRow]:
    """Each unbinding with its recovery reviews (one query) and whether a review may be opened."""
    reviews: dict[int, list[RecoveryReview]] = {}
    for review in RecoveryReview.objects.filter(unbinding__in=list(unbindings)).order_by("created_at", "id"):
        reviews.setdefault(review.unbinding_id, []).append(review)
    latest: dict[int, int] = {}
    for unbinding in unbindings:
        latest.setdefault(unbinding.shop_id, unbinding.pk)
    rows = []
    for unbinding in unbindings:
        own = reviews.get(unbinding.pk, [])
        blocked = any(r.state in (RecoveryReview.State.OPEN, RecoveryReview.State.PASSED) for r in own)
        # Only the shop's newest unbinding (on this page) of a still unbound shop can be reviewed;
        # the service checks this again when the form is sent.
        openable = unbinding.shop.unbound_at is not None and latest[unbinding.shop_id] == unbinding.pk and not blocked
        rows.append(UnbindingRow(unbinding, own, openable))
    return rows


@dataclasses.dataclass(frozen=True)
class ReviewStep:
    key: str
    label: str
    done_at: dt.datetime | None
    outstanding: bool


@dataclasses.dataclass(frozen=True)
class RecoveryRow:
    review: RecoveryReview
    steps: list[ReviewStep]
    outstanding: list[str]

    @property
    def outstanding_labels(self) -> list[str]:
        return [str(STEP_LABELS[step]) for step in self.outstanding]


def recovery_reviews(state: str = RecoveryReview.State.OPEN) -> QuerySet[RecoveryReview]:
    reviews = RecoveryReview.objects.select_related("unbinding__shop__seller", "decided_by")
    if state in RecoveryReview.State.values:
        reviews = reviews.filter(state=state)
    return reviews.order_by("created_at", "id")


def recovery_row(review: RecoveryReview) -> RecoveryRow:
    outstanding = recovery_outstanding_steps(review)
    done_at = {STEP_LETTER: review.letter_at, STEP_DOCUMENTS: review.documents_at, STEP_EXAM: review.exam_at}
    steps = [ReviewStep(key, str(label), done_at[key], key in outstanding) for key, label in STEP_LABELS.items()]
    return RecoveryRow(review, steps, outstanding)
