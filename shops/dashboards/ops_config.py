"""What the rule-set, feed and audit pages of ops show, in a fixed number of queries.

Rule sets are a short table read whole; drafts and shadow runs come from the draft store of
``shops.services.rulesets`` (no SQL). Feed jobs and the audit log grow without bound, so both are
read newest first by id with keyset pages (``before``/``after`` an id, never an OFFSET). The audit
table has no index on its time column, so a date range is turned into an id range first, by a
binary search over the primary key in one recursive query (ids grow with time).
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
from collections.abc import Iterable
from decimal import Decimal
from fractions import Fraction

from django.db import connection
from django.db.models import Func, IntegerField, Max, QuerySet, Subquery
from django.urls import NoReverseMatch, reverse
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from affiliate.models import Creator
from shops.api.eligibility_serializers import reasons_rendered
from shops.models import AuditEntry, Entity, FeedJob, Product, RuleSet, Shop, User
from shops.rules.eligibility import Thresholds
from shops.selectors import THRESHOLD_FIELDS, thresholds_from_values
from shops.services.feed_jobs import feed_jobs_visible
from shops.services.feeds import FILE_ORDER
from shops.services.rulesets import SHADOW_PAGE_SIZE, ShadowState, ruleset_shadow_changes

FEED_PAGE_SIZE = 25
AUDIT_PAGE_SIZE = 50
FEED_ERRORS_PAGE_SIZE = 200
# The action and object-type suggestions of the audit filters come from this many newest entries.
AUDIT_SUGGESTIONS_FROM = 2000
ENTITY_ORDER = (Entity.SHOP, Entity.PRODUCT, Entity.CREATOR)
ENTITY_LABELS = {Entity.SHOP: _("Shops"), Entity.PRODUCT: _("Products"), Entity.CREATOR: _("Creators")}
ENTITY_SINGULAR = {Entity.SHOP: _("Shop"), Entity.PRODUCT: _("Product"), Entity.CREATOR: _("Creator")}


@dataclasses.dataclass(frozen=True)
class ThresholdInfo:
    name: str
    label: str
    help: str
    group: str
    integer: bool


def _info(name: str, label, help_text, group, integer: bool = False) -> ThresholdInfo:
    return ThresholdInfo(name, label, help_text, group, integer)


THRESHOLDS = [
    _info(
        "sps_min_orders",
        _("Orders for an SPS"),
        _("S1: orders a shop needs in the window to have an SPS."),
        _("Shops"),
        True,
    ),
    _info(
        "sps_window_days",
        _("SPS order window (days)"),
        _("S1: the days those orders are counted over."),
        _("Shops"),
        True,
    ),
    _info(
        "sps_eligible",
        _("SPS eligible from"),
        _("S2: a score at or above this is eligible, below it restricted."),
        _("Shops"),
    ),
    _info(
        "sps_disqualify", _("SPS disqualified below"), _("S4: a score below this disqualifies the shop."), _("Shops")
    ),
    _info(
        "nrr_window_days",
        _("NRR window (days)"),
        _("P1: the days the negative review rate covers."),
        _("Products"),
        True,
    ),
    _info(
        "nrr_warning_multiple",
        _("NRR warning at"),
        _("P1: × the category average; at or above: warning."),
        _("Products"),
    ),
    _info(
        "nrr_disqualify_multiple",
        _("NRR disqualified above"),
        _("P1: × the category average; above: disqualified."),
        _("Products"),
    ),
    _info(
        "pps_min", _("Minimum PPS"), _("C1: a creator's PPS must be at least this (default set only)."), _("Creators")
    ),
    _info(
        "chr_min", _("Minimum CHR"), _("C1: a creator's CHR must be at least this (default set only)."), _("Creators")
    ),
]
THRESHOLD_INFO = {info.name: info for info in THRESHOLDS}
assert tuple(THRESHOLD_INFO) == THRESHOLD_FIELDS  # one row per threshold of the rules


def threshold_text(value) -> str:
    """3.5, 150, 2: no exponent, no trailing zeros; the NRR multiples are fractions with a decimal form."""
    if isinstance(value, Fraction):
        value = Decimal(value.numerator) / value.denominator
    if isinstance(value, Decimal):
        return format(value.normalize(), "f")
    return str(value)


# Rule sets -----------------------------------------------------------------------------------------


class RulesetState:
    IN_FORCE, SCHEDULED, SUPERSEDED = "in_force", "scheduled", "superseded"
    LABELS = {IN_FORCE: _("In force"), SCHEDULED: _("Scheduled"), SUPERSEDED: _("Superseded")}


def _with_states(rulesets: list[RuleSet], today: dt.date) -> list[RuleSet]:
    """Mark each version in force, scheduled (from a later day) or superseded, as rulesets_in_force reads them."""
    in_force: dict[str, int] = {}
    for ruleset in sorted(rulesets, key=lambda r: (r.effective_from, r.version), reverse=True):
        if ruleset.effective_from <= today:
            in_force.setdefault(ruleset.market, ruleset.pk)
    for ruleset in rulesets:
        if ruleset.effective_from > today:
            ruleset.state = RulesetState.SCHEDULED
        elif in_force.get(ruleset.market) == ruleset.pk:
            ruleset.state = RulesetState.IN_FORCE
        else:
            ruleset.state = RulesetState.SUPERSEDED
        ruleset.state_label = RulesetState.LABELS[ruleset.state]
        ruleset.shown = {name: threshold_text(getattr(ruleset, name)) for name in THRESHOLD_FIELDS}
    return rulesets


@dataclasses.dataclass
class MarketRulesets:
    market: str
    versions: list[RuleSet]

    @property
    def in_force(self) -> RuleSet | None:
        return next((r for r in self.versions if r.state == RulesetState.IN_FORCE), None)

    @property
    def scheduled(self) -> list[RuleSet]:
        return [r for r in self.versions if r.state == RulesetState.SCHEDULED]


def rulesets_by_market(*, today: dt.date) -> list[MarketRulesets]:
    """Every version, grouped by market (the default first), newest first: one query."""
    rulesets = _with_states(
        list(RuleSet.objects.select_related("created_by").order_by("market", "-effective_from", "-version")),
        today,
    )
    markets: dict[str, list[RuleSet]] = {}
    for ruleset in rulesets:
        markets.setdefault(ruleset.market, []).append(ruleset)
    return [MarketRulesets(market, versions) for market, versions in markets.items()]


@dataclasses.dataclass
class ThresholdRow:
    info: ThresholdInfo
    value: str
    other: str | None

    @property
    def changed(self) -> bool:
        return self.other is not None and Decimal(self.value) != Decimal(self.other)

    @property
    def up(self) -> bool:
        return self.other is not None and Decimal(self.value) > Decimal(self.other)


def threshold_rows(values: dict, other: dict | None) -> list[ThresholdRow]:
    """Each threshold with the value it is compared with (the previous version, or the one in force)."""
    return [
        ThresholdRow(info, threshold_text(values[info.name]), threshold_text(other[info.name]) if other else None)
        for info in THRESHOLDS
    ]


def ruleset_values_of(ruleset: RuleSet) -> dict:
    return {name: getattr(ruleset, name) for name in THRESHOLD_FIELDS}


@dataclasses.dataclass
class RulesetDetail:
    ruleset: RuleSet
    previous: RuleSet | None
    versions: list[RuleSet]
    rows: list[ThresholdRow]
    audit: list[AuditEntry]


def ruleset_detail(*, pk: int, today: dt.date) -> RulesetDetail | None:
    """One version with the other versions of its market and its audit entries: two queries."""
    market = RuleSet.objects.filter(pk=pk).values("market")[:1]
    versions = _with_states(
        list(
            RuleSet.objects.filter(market=Subquery(market))
            .select_related("created_by")
            .order_by("-effective_from", "-version")
        ),
        today,
    )
    ruleset = next((r for r in versions if r.pk == pk), None)
    if ruleset is None:
        return None
    earlier = [r for r in versions if r.effective_from < ruleset.effective_from]
    previous = earlier[0] if earlier else None
    audit = list(
        AuditEntry.objects.filter(object_type="ruleset", object_id=str(ruleset.version))
        .select_related("actor")
        .order_by("-id")[:20]
    )
    rows = threshold_rows(ruleset_values_of(ruleset), ruleset_values_of(previous) if previous else None)
    return RulesetDetail(ruleset, previous, versions, rows, _audit_shown(audit))


def next_version() -> int:
    return (RuleSet.objects.aggregate(top=Max("version"))["top"] or 0) + 1


def draft_thresholds(draft: dict) -> Thresholds:
    return thresholds_from_values(version=0, values={k: Decimal(v) for k, v in draft["values"].items()})


def base_thresholds(draft: dict) -> Thresholds:
    return thresholds_from_values(
        version=draft["base_version"], values={k: Decimal(v) for k, v in draft["base_values"].items()}
    )


@dataclasses.dataclass
class Transition:
    entity: str
    name: str
    old: str | None
    new: str
    count: int
    listed: int

    @property
    def entity_label(self) -> str:
        return str(ENTITY_SINGULAR[self.entity])


@dataclasses.dataclass
class EntityShadow:
    entity: str
    label: str
    evaluated: int
    transitions: list[Transition]

    @property
    def changed(self) -> int:
        return sum(t.count for t in self.transitions)

    @property
    def status_changed(self) -> int:
        """Changes of status; the others keep their status with other reasons."""
        return sum(t.count for t in self.transitions if t.old != t.new)


def _moment(value: str | None) -> dt.datetime | None:
    return dt.datetime.fromisoformat(value) if value else None


@dataclasses.dataclass
class ShadowSummary:
    state: str
    shadow: dict
    percent: int
    by_entity: list[EntityShadow]

    @property
    def as_of(self) -> dt.date:
        return dt.date.fromisoformat(self.shadow["as_of"])

    @property
    def queued_at(self) -> dt.datetime | None:
        return _moment(self.shadow.get("queued_at"))

    @property
    def started_at(self) -> dt.datetime | None:
        return _moment(self.shadow.get("started_at"))

    @property
    def finished_at(self) -> dt.datetime | None:
        return _moment(self.shadow.get("finished_at"))

    @property
    def seconds(self) -> float | None:
        if self.started_at and self.finished_at:
            return (self.finished_at - self.started_at).total_seconds()
        return None

    @property
    def total(self) -> int:
        return sum((self.shadow.get("totals") or {}).values())

    @property
    def done(self) -> int:
        return sum((self.shadow.get("progress") or {}).values())

    @property
    def active(self) -> bool:
        return self.state in ShadowState.ACTIVE

    @property
    def evaluated(self) -> int:
        return sum(e.evaluated for e in self.by_entity)

    @property
    def changed(self) -> int:
        return sum(e.changed for e in self.by_entity)

    @property
    def status_changed(self) -> int:
        return sum(e.status_changed for e in self.by_entity)

    @property
    def transitions(self) -> list[Transition]:
        return [t for e in self.by_entity for t in e.transitions]


def shadow_summary(draft: dict) -> ShadowSummary | None:
    shadow = draft.get("shadow")
    if not shadow:
        return None
    total = sum((shadow.get("totals") or {}).values())
    done = sum((shadow.get("progress") or {}).values())
    percent = min(99, int(100 * done / total)) if total else 0
    if shadow["state"] == ShadowState.SUCCEEDED:
        percent = 100
    by_entity = []
    for entity in ENTITY_ORDER:
        counts = shadow["transitions"].get(entity, {})
        listed = shadow["listed"].get(entity, {})
        items = [
            Transition(entity, name, *_split(name), count, listed.get(name, 0))
            for name, count in sorted(counts.items(), key=lambda item: (-item[1], item[0]))
        ]
        by_entity.append(EntityShadow(entity, ENTITY_LABELS[entity], shadow["evaluated"].get(entity, 0), items))
    return ShadowSummary(shadow["state"], shadow, percent, by_entity)


@dataclasses.dataclass
class DraftView:
    """A draft from the store with its dates parsed and its shadow run summed up."""

    draft: dict
    effective_from: dt.date
    created_at: dt.datetime
    summary: ShadowSummary | None

    @property
    def id(self) -> str:
        return self.draft["id"]

    @property
    def market(self) -> str:
        return self.draft["market"]

    @property
    def activated(self) -> dict | None:
        return self.draft["activated"]


def draft_view(draft: dict) -> DraftView:
    return DraftView(
        draft,
        dt.date.fromisoformat(draft["effective_from"]),
        dt.datetime.fromisoformat(draft["created_at"]),
        shadow_summary(draft),
    )


def _split(transition: str) -> tuple[str | None, str]:
    old, new = transition.split("->", 1)
    return (None if old == "NEW" else old), new


@dataclasses.dataclass
class ChangedPage:
    transition: Transition | None
    rows: list[dict]
    number: int
    pages: int

    @property
    def has_previous(self) -> bool:
        return self.number > 1

    @property
    def has_next(self) -> bool:
        return self.number < self.pages


NAME_FIELDS = {Entity.SHOP: (Shop, "name"), Entity.PRODUCT: (Product, "title"), Entity.CREATOR: (Creator, "handle")}
DETAIL_URLS = {Entity.SHOP: "shop_detail", Entity.PRODUCT: "product_detail", Entity.CREATOR: "creator_detail"}


def shadow_changed_page(draft: dict, summary: ShadowSummary, *, transition: str, entity: str, page: int) -> ChangedPage:
    """One page of one transition's changed entities with their names and reasons: one query."""
    chosen = next((t for t in summary.transitions if (t.entity, t.name) == (entity, transition)), None)
    if chosen is None:
        chosen = next(iter(summary.transitions), None)
    if chosen is None or not chosen.listed:
        return ChangedPage(chosen, [], 1, 1)
    pages = max(1, -(-chosen.listed // SHADOW_PAGE_SIZE))
    page = min(max(page, 1), pages)
    rows = ruleset_shadow_changes(draft=draft, entity=chosen.entity, transition=chosen.name, page=page)
    model, field = NAME_FIELDS[chosen.entity]
    names = dict(model.objects.filter(key__in=[row["key"] for row in rows]).values_list("key", field))
    old_rules, new_rules = base_thresholds(draft), draft_thresholds(draft)
    for row in rows:
        row["name"] = names.get(row["key"], "")
        row["url"] = _url(DETAIL_URLS[chosen.entity], row["key"])
        row["old_rendered"] = reasons_rendered(row["old_reasons"], old_rules)
        row["new_rendered"] = reasons_rendered(row["new_reasons"], new_rules)
    return ChangedPage(chosen, rows, page, pages)


def _url(name: str, *args) -> str | None:
    try:
        return reverse(name, args=args)
    except NoReverseMatch:
        return None


# Keyset pages ---------------------------------------------------------------------------------------


@dataclasses.dataclass
class KeysetPage:
    items: list
    newer: int | None  # ``after`` of the page before this one (newer rows), None on the first page
    older: int | None  # ``before`` of the next page (older rows), None on the last page


def keyset_page(queryset: QuerySet, *, before: int | None, after: int | None, size: int) -> KeysetPage:
    """Newest first by id: one query, with one row more than shown to tell whether more follow."""
    if after is not None and before is None:
        items = list(queryset.filter(id__gt=after).order_by("id")[: size + 1])
        more_newer = len(items) > size
        items = list(reversed(items[:size]))
        older = items[-1].pk if items else after + 1
        return KeysetPage(items, items[0].pk if more_newer and items else None, older)
    if before is not None:
        queryset = queryset.filter(id__lt=before)
    items = list(queryset.order_by("-id")[: size + 1])
    more_older = len(items) > size
    items = items[:size]
    newer = items[0].pk if before is not None and items else (before - 1 if before is not None else None)
    return KeysetPage(items, newer, items[-1].pk if more_older else None)


# Feeds ----------------------------------------------------------------------------------------------------


class _JsonArrayLength(Func):
    # The API's feed list counts errors the same way: a refused feed may hold thousands.
    function = "jsonb_array_length"
    output_field = IntegerField()

    def as_sqlite(self, compiler, connection, **extra):
        return super().as_sql(compiler, connection, function="json_array_length", **extra)


def feed_jobs_page(*, user: User, state: str, before: int | None, after: int | None) -> KeysetPage:
    jobs = feed_jobs_visible(user=user).defer("errors").annotate(error_total=_JsonArrayLength("errors"))
    if state:
        jobs = jobs.filter(state=state)
    page = keyset_page(jobs, before=before, after=after, size=FEED_PAGE_SIZE)
    for job in page.items:
        job.file_names = in_feed_order(job.files)
        job.rows_total = sum(counts.get("rows", 0) for counts in (job.counts or {}).values())
    return page


def in_feed_order(names: Iterable[str]) -> list[str]:
    return sorted(names, key=lambda name: FILE_ORDER.index(name) if name in FILE_ORDER else len(FILE_ORDER))


@dataclasses.dataclass
class FeedDetail:
    job: FeedJob
    files: list[str]
    counts: list[tuple[str, list[tuple[str, int | None]]]]
    count_columns: list[str]
    errors: list[dict]
    error_total: int
    error_page: int
    error_pages: int
    duration: dt.timedelta | None
    percent: int


def feed_detail(job: FeedJob, *, error_page: int) -> FeedDetail:
    """The job as loaded (one query): counts per file in feed order, a page of its errors."""
    by_file = [(name, job.counts[name]) for name in in_feed_order(job.counts or {})]
    columns = list(dict.fromkeys(column for _name, values in by_file for column in values))
    counts = [(name, [(column, values.get(column)) for column in columns]) for name, values in by_file]
    total = len(job.errors or [])
    pages = max(1, -(-total // FEED_ERRORS_PAGE_SIZE))
    error_page = min(max(error_page, 1), pages)
    start = (error_page - 1) * FEED_ERRORS_PAGE_SIZE
    errors = (job.errors or [])[start : start + FEED_ERRORS_PAGE_SIZE]
    duration = job.finished_at - job.started_at if job.finished_at and job.started_at else None
    progress = job.progress or {}
    stages = progress.get("stages") or []
    if job.state in (FeedJob.State.SUCCEEDED, FeedJob.State.FAILED):
        percent = 100
    elif stages:
        # Each file is validated, then written: every stage weighs the same.
        expected = max(len(stages), 2 * len(job.files or {}))
        done = sum(s.get("done", 0) / s["total"] if s.get("total") else 0 for s in stages)
        percent = min(99, int(100 * done / expected))
    else:
        percent = 0
    return FeedDetail(
        job, in_feed_order(job.files or {}), counts, columns, errors, total, error_page, pages, duration, percent
    )


def feed_error_lines(job: FeedJob) -> Iterable[str]:
    """The error report as the import command prints it: ``file:line: column: message``."""
    for error in job.errors or []:
        yield f"{error['file']}:{error['line']}: {error['column']}: {error['message']}\n"


# Audit log ------------------------------------------------------------------------------------------------


@dataclasses.dataclass
class AuditFilters:
    actor: str = ""
    action: str = ""
    object_type: str = ""
    object_id: str = ""
    date_from: dt.date | None = None
    date_to: dt.date | None = None

    @property
    def active(self) -> bool:
        return any(dataclasses.astuple(self))


def _day_start(day: dt.date) -> dt.datetime:
    return timezone.make_aware(dt.datetime.combine(day, dt.time.min))


# One binary search per moment; only the model's table name and a counter are formatted in.
_SEARCH = (
    "s{n}(lo, hi) AS (SELECT lo, hi FROM b UNION ALL "
    "SELECT CASE WHEN {holds} THEN lo ELSE (lo + hi) / 2 + 1 END, "
    "CASE WHEN {holds} THEN (lo + hi) / 2 ELSE hi END FROM s{n} WHERE lo < hi)"
)
# Does the first entry at or after the middle id come at or after the moment (or is there none)?
_HOLDS = "COALESCE((SELECT created_at FROM {table} WHERE id >= (lo + hi) / 2 ORDER BY id LIMIT 1) >= %s, 1 = 1)"
_BOUNDS = "WITH RECURSIVE b(lo, hi) AS (SELECT COALESCE(MIN(id), 0), COALESCE(MAX(id), 0) + 1 FROM {table}), "


def audit_id_bounds(moments: list[dt.datetime]) -> list[int]:
    """For each moment, the id of the first audit entry written at or after it (or max id + 1).

    One query whatever the table's size: a binary search over the primary key, one index probe
    per step, valid because entries are appended with growing ids and times.
    """
    table = connection.ops.quote_name(AuditEntry._meta.db_table)
    holds = _HOLDS.format(table=table)
    searches = [_SEARCH.format(n=n, holds=holds) for n in range(len(moments))]
    answers = [f"(SELECT MAX(lo) FROM s{n} WHERE lo >= hi)" for n in range(len(moments))]  # noqa: S608  # nosec B608 # only the quoted table name and generated aliases; values are parameters
    sql = _BOUNDS.format(table=table) + ", ".join(searches) + " SELECT " + ", ".join(answers)
    params = []
    for moment in moments:
        params += [connection.ops.adapt_datetimefield_value(moment)] * 2
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return [int(value) for value in cursor.fetchone()]


def audit_entries(filters: AuditFilters) -> QuerySet[AuditEntry]:
    entries = AuditEntry.objects.select_related("actor")
    if filters.actor:
        entries = entries.filter(actor_id__in=User.objects.filter(email__icontains=filters.actor).values("id"))
    if filters.action:
        # "appeal." finds every appeal action; anything else is one action.
        if filters.action.endswith("."):
            entries = entries.filter(action__startswith=filters.action)
        else:
            entries = entries.filter(action=filters.action)
    if filters.object_type:
        entries = entries.filter(object_type=filters.object_type)
    if filters.object_id:
        entries = entries.filter(object_id=filters.object_id)
    moments = []
    if filters.date_from:
        moments.append(_day_start(filters.date_from))
    if filters.date_to:
        moments.append(_day_start(filters.date_to + dt.timedelta(days=1)))
    if moments:
        bounds = iter(audit_id_bounds(moments))
        # The id range lets the database start where the days start; the times keep it exact.
        if filters.date_from:
            entries = entries.filter(id__gte=next(bounds), created_at__gte=moments[0])
        if filters.date_to:
            entries = entries.filter(id__lt=next(bounds), created_at__lt=moments[-1])
    return entries


def audit_page(filters: AuditFilters, *, before: int | None, after: int | None) -> KeysetPage:
    page = keyset_page(audit_entries(filters), before=before, after=after, size=AUDIT_PAGE_SIZE)
    _audit_shown(page.items)
    return page


def _audit_shown(entries: list[AuditEntry]) -> list[AuditEntry]:
    for entry in entries:
        entry.details_text = (
            json.dumps(entry.details, indent=2, ensure_ascii=False, sort_keys=True) if entry.details else ""
        )
        entry.object_url = audit_object_url(entry)
    return entries


def audit_object_url(entry: AuditEntry) -> str | None:
    """Where the audited object is shown, for the kinds that have a page."""
    if entry.object_type == "ruleset" and entry.details.get("ruleset_id"):
        return _url("ops_ruleset_detail", entry.details["ruleset_id"])
    if entry.object_type == "appeal" and entry.object_id.isdigit():
        return _url("ops_appeal_detail", int(entry.object_id))
    if entry.object_type == "shop":
        return _url("shop_detail", entry.object_id)
    if entry.object_type == "plan" and entry.object_id.isdigit():
        return _url("plan_detail", int(entry.object_id))
    return None


def audit_suggestions() -> tuple[list[str], list[str]]:
    """Actions and object types seen among the newest entries: one bounded query."""
    recent = AuditEntry.objects.order_by("-id").values_list("action", "object_type")[:AUDIT_SUGGESTIONS_FROM]
    actions, types = set(), set()
    for action, object_type in recent:
        actions.add(action)
        types.add(object_type)
    return sorted(actions), sorted(types)
