"""The evaluation run: every shop, then every product, then every creator, as of one date.

A run is split into chunks of ids stored in PostgreSQL. Whoever takes a chunk (a Celery
worker, or the ``evaluate`` command itself) evaluates it in one transaction: the pure rules
are applied to plain rows, and only the entities whose verdict changed are written, each with
one history row and the effects of S7/P5. A chunk is marked done in the same transaction, so
a retried or duplicated chunk finds nothing left to do and changes nothing twice.
"""

import dataclasses
import datetime as dt
import json
import logging
import time
from collections import Counter, defaultdict
from collections.abc import Callable, Mapping
from decimal import Decimal

from django.conf import settings
from django.db import IntegrityError, InterfaceError, OperationalError, connection, transaction
from django.db.models import Count, Q, Sum, TextField
from django.db.models.functions import Cast
from django.utils import timezone

from affiliate.models import AffiliatePlan, Creator, CreatorSnapshot, PlanProduct
from shops import bulk
from shops.bulk import JsonText
from shops.models import (
    AuditEntry,
    Category,
    CategoryBaseline,
    Entity,
    EvaluationRun,
    Notification,
    Product,
    ProductSnapshot,
    RunChunk,
    Shop,
    ShopSnapshot,
    StatusHistory,
    User,
    WebhookSubscription,
)
from shops.rules import (
    Baseline,
    CreatorFacts,
    ProductFacts,
    ShopFacts,
    Thresholds,
    Verdict,
    evaluate_creator,
    evaluate_product,
    evaluate_shop,
)
from shops.rules import codes as c
from shops.rules.eligibility import shop_has_sps
from shops.selectors import rulesets_in_force, thresholds_for_market
from shops.services.notifications import notifications_send_many, seller_member_ids
from shops.services.webhooks import webhook_event_record, webhook_events_record_many, webhook_subscribed

logger = logging.getLogger(__name__)

PHASES = (Entity.SHOP, Entity.PRODUCT, Entity.CREATOR)

# A lost connection (PostgreSQL restarted, a failover), a deadlock or a serialisation failure: the
# chunk's transaction was rolled back as a whole, so evaluating it again is safe.
TRANSIENT_DB_ERRORS = (OperationalError, InterfaceError)


class RunInProgress(Exception):
    def __init__(self, run: EvaluationRun):
        self.run = run
        super().__init__(
            f"Evaluation run #{run.pk} (as of {run.as_of}) is already running "
            f"({run.done}/{run.total} evaluated). Only one run executes at a time."
        )


class ScheduledRunExists(Exception):
    pass


@dataclasses.dataclass(frozen=True)
class Change:
    """One entity whose verdict differs from the stored one."""

    entity_id: int
    key: str
    old_status: str | None
    old_reasons_json: str
    new_status: str
    new_reasons: tuple[str, ...]
    inputs: dict
    baseline: dict | None
    ruleset_version: int
    permanent: bool = False
    # The seller whose members are told (shops and products); read with the rows, not per change.
    seller_id: int | None = None

    @property
    def old_reasons(self) -> list[str]:
        return json.loads(self.old_reasons_json)


@dataclasses.dataclass
class Context:
    """What every chunk of a run (or of a dry run) evaluates against."""

    as_of: dt.date
    rules: dict[str, Thresholds]
    # category id -> (exact average, what to record about it)
    baselines: dict[int, tuple[Baseline | None, dict]] = dataclasses.field(default_factory=dict)
    # shop id -> (status, market) for the product phase: read once per run from the table,
    # or, in a dry run, collected while the shops are evaluated (nothing is written).
    shops: dict[int, tuple[str | None, str, int]] = dataclasses.field(default_factory=dict)
    collect_shops: bool = False


# Reading rows ---------------------------------------------------------------------------------

SHOP_METRICS = ("account_status", "orders_90d", "sps", "ip_violation", "fair_trade_violation", "review_violation")
PRODUCT_METRICS = (
    "listing_status",
    "reviews_30d",
    "negative_reviews_30d",
    "ip_violation",
    "fair_trade_violation",
    "review_violation",
    "counterfeit_flag",
    "appeal_failed",
)
CREATOR_METRICS = ("pps", "chr")


@dataclasses.dataclass(frozen=True)
class Kind:
    entity: str
    model: type
    snapshot_model: type
    snapshot_fk: str
    metrics: tuple[str, ...]
    extra: tuple[str, ...]

    @property
    def fields(self) -> tuple[str, ...]:
        return ("id", "key", "status", "reasons_text", "metrics_as_of", *self.metrics, *self.extra)


KINDS = {
    Entity.SHOP: Kind(
        Entity.SHOP,
        Shop,
        ShopSnapshot,
        "shop_id",
        SHOP_METRICS,
        ("market", "permanently_disqualified", "unbound_at", "seller_id"),
    ),
    Entity.PRODUCT: Kind(
        Entity.PRODUCT,
        Product,
        ProductSnapshot,
        "product_id",
        PRODUCT_METRICS,
        ("shop_id", "category_id"),
    ),
    Entity.CREATOR: Kind(Entity.CREATOR, Creator, CreatorSnapshot, "creator_id", CREATOR_METRICS, ()),
}


def _plain_rows(queryset, fields: tuple[str, ...]) -> list[tuple]:
    """Rows as tuples straight from the cursor: the batch path skips Django's per-value converters.

    ``reasons`` stays JSON text (compared as text, parsed only when it differs). PostgreSQL
    hands back exact types; SQLite's decimals, dates and booleans are converted here.
    """
    sql, params = queryset.values_list(*fields).query.sql_with_params()
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        rows = cursor.fetchall()
    if connection.vendor == "postgresql":
        return rows
    converters = [_sqlite_converter(queryset, name) for name in fields]
    return [
        tuple(v if convert is None or v is None else convert(v) for v, convert in zip(row, converters, strict=True))
        for row in rows
    ]


_SQLITE_CONVERTERS = {
    "DecimalField": lambda v: Decimal(str(v)),
    "DateField": lambda v: v if isinstance(v, dt.date) else dt.date.fromisoformat(v),
    "BooleanField": bool,
}


def _sqlite_converter(queryset, name: str):
    if name in queryset.query.annotations:
        return None
    model = queryset.model
    *path, last = name.split("__")
    for step in path:
        model = model._meta.get_field(step).related_model
    return _SQLITE_CONVERTERS.get(model._meta.get_field(last).get_internal_type())


# Every row starts with these columns; the entity's metrics follow from METRICS_AT.
ID, KEY, STATUS, REASONS, AS_OF = range(5)
METRICS_AT = 5


def _rows_as_of(kind: Kind, *, first_id: int, last_id: int, as_of: dt.date) -> list[tuple]:
    """Plain rows of one id range with the metrics in force on ``as_of``.

    The entity row holds its newest snapshot; only when that is newer than ``as_of`` (a
    backfill) is the newest snapshot on or before ``as_of`` read instead, if there is one.
    """
    entities = kind.model.objects.filter(id__gte=first_id, id__lte=last_id).order_by("id")
    # Reasons are read as JSON text and compared as text: no per-row JSON decoding.
    entities = entities.annotate(reasons_text=Cast("reasons", output_field=TextField()))
    rows = _plain_rows(entities, kind.fields)
    newer = [row[ID] for row in rows if row[AS_OF] is not None and row[AS_OF] > as_of]
    if not newer:
        return rows
    older: dict[int, tuple] = {}
    snapshots = kind.snapshot_model.objects.filter(**{f"{kind.snapshot_fk}__in": newer}, date__lte=as_of)
    for snapshot in _plain_rows(
        snapshots.order_by(kind.snapshot_fk, "-date"), (kind.snapshot_fk, "date", *kind.metrics)
    ):
        older.setdefault(snapshot[0], snapshot)
    end = METRICS_AT + len(kind.metrics)
    kept = []
    for row in rows:
        if row[AS_OF] is not None and row[AS_OF] > as_of:
            snapshot = older.get(row[ID])
            # No day on or before as_of: the entity's own (newer) metrics are all there is.
            if snapshot is not None:
                row = (*row[:AS_OF], snapshot[1], *snapshot[2:], *row[end:])
        kept.append(row)
    return kept


_REASONS_TEXT: dict[tuple[str, ...], JsonText] = {}


def _unchanged(row: tuple, status: str, reasons: tuple[str, ...]) -> bool:
    """Does the stored verdict (reasons as JSON text) equal the new one?"""
    if row[STATUS] != status:
        return False
    return row[REASONS] == _reasons_json(reasons) or json.loads(row[REASONS]) == list(reasons)


def _json_default(value):
    # Decimals as canonical text: the same on every database, never a binary float.
    if isinstance(value, Decimal):
        return format(value.normalize(), "f")
    if isinstance(value, dt.date):
        return value.isoformat()
    raise TypeError(f"{type(value).__name__} is not JSON serialisable")


def _inputs(kind: Kind, row: tuple) -> dict:
    """The metrics behind a verdict, for its history row."""
    inputs = dict(zip(kind.fields[METRICS_AT:], row[METRICS_AT:], strict=True))
    inputs.pop("seller_id", None)  # who is told, not what the verdict rests on
    inputs["metrics_as_of"] = row[AS_OF]
    return inputs


def _reasons_json(reasons: tuple[str, ...]) -> JsonText:
    text = _REASONS_TEXT.get(reasons)
    if text is None:
        text = _REASONS_TEXT.setdefault(reasons, JsonText(json.dumps(list(reasons))))
    return text


# Verdicts per entity type -------------------------------------------------------------------


def _change(
    kind: Kind,
    row: tuple,
    verdict: Verdict,
    version: int,
    baseline: dict | None = None,
    seller_id: int | None = None,
    **inputs,
) -> Change:
    return Change(
        entity_id=row[ID],
        key=row[KEY],
        old_status=row[STATUS],
        old_reasons_json=row[REASONS],
        new_status=verdict.status,
        new_reasons=verdict.reasons,
        inputs=_inputs(kind, row) | inputs,
        baseline=baseline,
        ruleset_version=version,
        permanent=verdict.permanent,
        seller_id=seller_id,
    )


def _shop_changes(rows: list[tuple], ctx: Context) -> list[Change]:
    kind, changes = KINDS[Entity.SHOP], []
    for row in rows:
        # Columns after the metrics: market, permanently_disqualified, unbound_at.
        market, permanent, unbound_at, seller_id = row[-4:]
        thresholds = thresholds_for_market(ctx.rules, market)
        facts = ShopFacts(*row[METRICS_AT:-4], permanent, unbound_at is not None)
        verdict = evaluate_shop(facts, thresholds)
        if ctx.collect_shops:
            ctx.shops[row[ID]] = (verdict.status, market, seller_id)
        if verdict.permanent == permanent and _unchanged(row, verdict.status, verdict.reasons):
            continue
        has_sps = shop_has_sps(facts, thresholds)
        changes.append(_change(kind, row, verdict, thresholds.version, seller_id=seller_id, has_sps=has_sps))
    return changes


def _product_changes(rows: list[tuple], ctx: Context) -> list[Change]:
    kind, changes, baselines, shops = KINDS[Entity.PRODUCT], [], ctx.baselines, ctx.shops
    for row in rows:
        # Columns after the metrics: shop_id, category_id.
        shop_id, category_id = row[-2:]
        shop = shops.get(shop_id)
        if shop is None:  # a shop created by a feed imported while this run was going
            shop = shops[shop_id] = Shop.objects.values_list("status", "market", "seller_id").get(pk=shop_id)
        shop_status, market, seller_id = shop
        thresholds = thresholds_for_market(ctx.rules, market)
        baseline, baseline_info = baselines.get(category_id, (None, None))
        facts = ProductFacts(*row[METRICS_AT:-2])
        verdict = evaluate_product(facts, shop_status, baseline, thresholds)
        if _unchanged(row, verdict.status, verdict.reasons):
            continue
        nrr = format(Decimal(facts.negative_reviews_30d) / facts.reviews_30d, "f") if facts.reviews_30d else None
        changes.append(
            _change(kind, row, verdict, thresholds.version, baseline_info, seller_id, shop__status=shop_status, nrr=nrr)
        )
    return changes


def _creator_changes(rows: list[tuple], ctx: Context) -> list[Change]:
    kind, changes = KINDS[Entity.CREATOR], []
    thresholds = thresholds_for_market(ctx.rules, "")
    for row in rows:
        verdict = evaluate_creator(CreatorFacts(*row[METRICS_AT:]), thresholds)
        if _unchanged(row, verdict.status, verdict.reasons):
            continue
        changes.append(_change(kind, row, verdict, thresholds.version))
    return changes


CHANGES = {Entity.SHOP: _shop_changes, Entity.PRODUCT: _product_changes, Entity.CREATOR: _creator_changes}


# Category baselines --------------------------------------------------------------------------


def category_baselines(*, as_of: dt.date) -> dict[int, tuple[Baseline | None, dict]]:
    """Each leaf category's average NRR over its products as of ``as_of`` (once per run).

    A platform benchmark given by the feed wins over the computed average (spec decision).
    """
    current = Q(metrics_as_of__isnull=True) | Q(metrics_as_of__lte=as_of)
    sums: dict[int, list[int]] = {
        row["category_id"]: [row["neg"] or 0, row["rev"] or 0, row["n"]]
        for row in Product.objects.filter(current)
        .values("category_id")
        .annotate(neg=Sum("negative_reviews_30d"), rev=Sum("reviews_30d"), n=Count("id"))
        .order_by()
    }
    # Products whose newest snapshot is after as_of count with their snapshot of that day.
    newer = {
        row["id"]: row
        for row in Product.objects.filter(metrics_as_of__gt=as_of).values(
            "id", "category_id", "negative_reviews_30d", "reviews_30d"
        )
    }
    older: dict[int, dict] = {}
    for snap in (
        ProductSnapshot.objects.filter(product__metrics_as_of__gt=as_of, date__lte=as_of)
        .order_by("product_id", "-date")
        .values("product_id", "negative_reviews_30d", "reviews_30d")
    ):
        older.setdefault(snap["product_id"], snap)
    for product_id, product in newer.items():
        snap = older.get(product_id, product)  # as in _rows_as_of: no older day, its own metrics
        entry = sums.setdefault(product["category_id"], [0, 0, 0])
        entry[0] += snap["negative_reviews_30d"]
        entry[1] += snap["reviews_30d"]
        entry[2] += 1

    benchmarks = dict(Category.objects.filter(avg_nrr_30d__isnull=False).values_list("id", "avg_nrr_30d"))
    result = {}
    for category_id in sums.keys() | benchmarks.keys():
        negative, reviews, products = sums.get(category_id, (0, 0, 0))
        benchmark = benchmarks.get(category_id)
        info = {
            "category_id": category_id,
            "negative_reviews": negative,
            "reviews": reviews,
            "products": products,
            "source": CategoryBaseline.Source.COMPUTED,
        }
        if benchmark is not None:
            baseline = Baseline.from_decimal(benchmark)
            info |= {"source": CategoryBaseline.Source.BENCHMARK, "benchmark": str(benchmark), "value": str(benchmark)}
        else:
            baseline = Baseline(negative, reviews) if reviews else None
            info["value"] = str(Decimal(negative) / Decimal(reviews)) if reviews else None
        result[category_id] = (baseline, info)
    return result


def _store_baselines(run: EvaluationRun, baselines: dict[int, tuple[Baseline | None, dict]]) -> None:
    CategoryBaseline.objects.bulk_create(
        [
            CategoryBaseline(
                run=run,
                category_id=category_id,
                source=info["source"],
                negative_reviews=info["negative_reviews"],
                reviews=info["reviews"],
                products=info["products"],
                benchmark=info.get("benchmark"),
            )
            for category_id, (_, info) in baselines.items()
        ],
        batch_size=1000,
    )


def _load_baselines(run: EvaluationRun) -> dict[int, tuple[Baseline | None, dict]]:
    result = {}
    for row in CategoryBaseline.objects.filter(run=run).values():
        info = {
            "category_id": row["category_id"],
            "negative_reviews": row["negative_reviews"],
            "reviews": row["reviews"],
            "products": row["products"],
            "source": row["source"],
        }
        if row["benchmark"] is not None:
            baseline = Baseline.from_decimal(row["benchmark"])
            info |= {"benchmark": str(row["benchmark"]), "value": str(row["benchmark"])}
        else:
            baseline = Baseline(row["negative_reviews"], row["reviews"]) if row["reviews"] else None
            info["value"] = str(Decimal(row["negative_reviews"]) / Decimal(row["reviews"])) if row["reviews"] else None
        result[row["category_id"]] = (baseline, info)
    return result


# Writing changes and their effects -------------------------------------------------------------


def _apply_changes(kind: Kind, changes: list[Change], *, run: EvaluationRun, now: dt.datetime) -> None:
    if not changes:
        return
    encoded: dict[int, JsonText] = {}

    def baseline_json(info: dict | None) -> JsonText | None:
        # Every product of a category shares one baseline: encode it once.
        if info is None:
            return None
        if id(info) not in encoded:
            encoded[id(info)] = JsonText(json.dumps(info))
        return encoded[id(info)]

    columns = {"status": "varchar(16)", "reasons": "jsonb"}
    if kind.entity == Entity.SHOP:
        columns["permanently_disqualified"] = "boolean"
        rows = [(ch.entity_id, ch.new_status, _reasons_json(ch.new_reasons), ch.permanent) for ch in changes]
    else:
        rows = [(ch.entity_id, ch.new_status, _reasons_json(ch.new_reasons)) for ch in changes]
    bulk.copy_update(
        kind.model,
        key_column="id",
        columns=columns,
        rows=rows,
        constants={"status_changed_at": now, "status_run_id": run.pk},
    )
    bulk.copy_insert(
        StatusHistory,
        (
            "entity",
            "entity_id",
            "entity_key",
            "old_status",
            "new_status",
            "old_reasons",
            "new_reasons",
            "inputs",
            "baseline",
            "ruleset_version",
            "run_id",
            "as_of",
            "created_at",
        ),
        [
            (
                kind.entity,
                ch.entity_id,
                ch.key,
                ch.old_status,
                ch.new_status,
                JsonText(ch.old_reasons_json),
                _reasons_json(ch.new_reasons),
                JsonText(json.dumps(ch.inputs, default=_json_default)),
                baseline_json(ch.baseline),
                ch.ruleset_version,
                run.pk,
                run.as_of,
                now,
            )
            for ch in changes
        ],
    )
    _notify_changes(kind, changes, run=run)
    newly_disqualified = [ch for ch in changes if ch.new_status == c.DISQUALIFIED and ch.old_status != c.DISQUALIFIED]
    if kind.entity == Entity.SHOP:
        _terminate_shop_plans(newly_disqualified, run=run, now=now)
    elif kind.entity == Entity.PRODUCT:
        _remove_products_from_plans(newly_disqualified, run=run, now=now)


def _notify_changes(kind: Kind, changes: list[Change], *, run: EvaluationRun) -> None:
    """One notification per verdict change to the people it concerns (same transaction)."""
    ids = [ch.entity_id for ch in changes]
    if kind.entity == Entity.CREATOR:
        recipients: dict[int, list[int]] = defaultdict(list)
        for creator_id, user_id in User.objects.filter(creator_id__in=ids, is_active=True).values_list(
            "creator_id", "id"
        ):
            recipients[creator_id].append(user_id)
    else:
        members = seller_member_ids({ch.seller_id for ch in changes})
        recipients = {ch.entity_id: members.get(ch.seller_id, []) for ch in changes}
    items = []
    for ch in changes:
        users = recipients.get(ch.entity_id)
        if not users:
            continue
        notice = (
            Notification.Kind.WARNING if ch.new_status in (c.WARNING, c.RESTRICTED) else Notification.Kind.STATUS_CHANGE
        )
        context = {
            "event": "verdict.changed",
            "entity": kind.entity,
            "key": ch.key,
            "old_status": ch.old_status,
            "new_status": ch.new_status,
            "reasons": list(ch.new_reasons),
            "inputs": json.loads(json.dumps(ch.inputs, default=_json_default)),
            "baseline": ch.baseline,
            "as_of": run.as_of.isoformat(),
            "ruleset_version": ch.ruleset_version,
        }
        key = f"run:{run.pk}:{kind.entity}:{ch.entity_id}"
        items.extend((user_id, notice, f"{kind.entity}:{ch.key}", context, key) for user_id in users)
    notifications_send_many(items)
    _record_webhook_events(kind, changes, run=run)


def _record_webhook_events(kind: Kind, changes: list[Change], *, run: EvaluationRun) -> None:
    """eligibility.changed into the webhook outbox, only when some client subscribed to it."""
    if not webhook_subscribed(WebhookSubscription.Event.ELIGIBILITY_CHANGED):
        return
    webhook_events_record_many(
        [
            (
                WebhookSubscription.Event.ELIGIBILITY_CHANGED,
                {
                    "entity": kind.entity,
                    "id": ch.key,
                    "old_status": ch.old_status,
                    "status": ch.new_status,
                    "reasons": list(ch.new_reasons),
                    "as_of": run.as_of.isoformat(),
                    "run": run.pk,
                    "ruleset_version": ch.ruleset_version,
                },
                [ch.seller_id] if ch.seller_id is not None else [],
                f"run:{run.pk}:{kind.entity}:{ch.entity_id}",
            )
            for ch in changes
        ]
    )


def _by_reasons(changes: list[Change]) -> dict[tuple[str, ...], list[int]]:
    groups: dict[tuple[str, ...], list[int]] = defaultdict(list)
    for ch in changes:
        groups[ch.new_reasons].append(ch.entity_id)
    return groups


def _terminate_shop_plans(changes: list[Change], *, run: EvaluationRun, now: dt.datetime) -> None:
    """S7: every running plan of the shop ends, and every product leaves it (not restored, S8)."""
    for reasons, shop_ids in _by_reasons(changes).items():
        plans = AffiliatePlan.objects.filter(shop_id__in=shop_ids, status=AffiliatePlan.Status.ACTIVE)
        PlanProduct.objects.filter(plan__in=plans, removed_at__isnull=True).update(
            removed_at=now, removal_reasons=[c.SHOP_DISQUALIFIED, *reasons], removed_by_run=run
        )
        plans.update(
            status=AffiliatePlan.Status.TERMINATED,
            terminated_at=now,
            termination_reasons=list(reasons),
            terminated_by_run=run,
        )


def _remove_products_from_plans(changes: list[Change], *, run: EvaluationRun, now: dt.datetime) -> None:
    """P5: a disqualified product leaves every plan it was in (not restored on recovery)."""
    for reasons, product_ids in _by_reasons(changes).items():
        PlanProduct.objects.filter(product_id__in=product_ids, removed_at__isnull=True).update(
            removed_at=now, removal_reasons=list(reasons), removed_by_run=run
        )


# Runs ------------------------------------------------------------------------------------------


def _plan_chunks(run: EvaluationRun, chunk_size: int) -> int:
    """Cut each entity type's ids into ranges of ``chunk_size`` rows (keyset, no full scan)."""
    chunks, total = [], 0
    for entity in PHASES:
        model = KINDS[entity].model
        ids = model.objects.order_by("id").values_list("id", flat=True)
        first_id = ids.first()
        seq = 0
        while first_id is not None:
            last_id = ids.filter(id__gte=first_id)[chunk_size - 1 : chunk_size].first()
            rows = chunk_size
            if last_id is None:
                last_id = ids.last()
                rows = model.objects.filter(id__gte=first_id).count()
            chunks.append(RunChunk(run=run, entity=entity, seq=seq, first_id=first_id, last_id=last_id, rows=rows))
            total += rows
            seq += 1
            first_id = ids.filter(id__gt=last_id).first()
    RunChunk.objects.bulk_create(chunks, batch_size=1000)
    return total


def evaluation_start(
    *,
    as_of: dt.date,
    trigger: str = EvaluationRun.Trigger.MANUAL,
    user: User | None = None,
    chunk_size: int | None = None,
) -> EvaluationRun:
    """Open a run and cut it into chunks; raises RunInProgress while another run executes."""
    chunk_size = chunk_size or settings.EVALUATION_CHUNK_SIZE
    rules = rulesets_in_force(as_of=as_of)
    try:
        with transaction.atomic():
            run = EvaluationRun.objects.create(
                as_of=as_of,
                trigger=trigger,
                chunk_size=chunk_size,
                created_by=user,
                ruleset_versions={market or "default": t.version for market, t in rules.items()},
                phase=Entity.SHOP,
            )
            run.total = _plan_chunks(run, chunk_size)
            run.save(update_fields=["total"])
            _advance_if_phase_done(run)
    except IntegrityError:
        active = EvaluationRun.objects.filter(state=EvaluationRun.State.RUNNING).first()
        if active is not None:
            raise RunInProgress(active) from None
        if trigger == EvaluationRun.Trigger.SCHEDULED:
            raise ScheduledRunExists(f"The scheduled run for {as_of} has already been started") from None
        raise
    logger.info("Evaluation run #%s as of %s started: %s entities", run.pk, as_of, run.total)
    return run


def _next_phase(run: EvaluationRun) -> str | None:
    later = PHASES[PHASES.index(run.phase) + 1 :]
    pending = set(RunChunk.objects.filter(run=run, entity__in=later, done=False).values_list("entity", flat=True))
    return next((entity for entity in later if entity in pending), None)


def _advance_if_phase_done(run: EvaluationRun) -> bool:
    """With the run row locked: move to the next phase once every chunk of this one is done."""
    if RunChunk.objects.filter(run=run, entity=run.phase, done=False).exists():
        return False
    phase = _next_phase(run)
    if phase is None:
        run.state = EvaluationRun.State.SUCCEEDED
        run.finished_at = timezone.now()
        run.save(update_fields=["state", "finished_at"])
        webhook_event_record(
            event=WebhookSubscription.Event.RUN_COMPLETED,
            payload={"run": run.pk, "as_of": run.as_of.isoformat(), "total": run.total, "changed": run.changed},
            dedupe_key=f"run:{run.pk}:completed",
        )
        # The e-mails of the run's notifications waited for it (shops.tasks.notifications_email_task).
        transaction.on_commit(_email_notifications_after_run)
        logger.info("Evaluation run #%s finished: %s changed of %s", run.pk, run.changed, run.total)
        return True
    if phase == Entity.PRODUCT and not CategoryBaseline.objects.filter(run=run).exists():
        _store_baselines(run, category_baselines(as_of=run.as_of))
    run.phase = phase
    run.save(update_fields=["phase"])
    return True


def _email_notifications_after_run() -> None:
    from shops.tasks import notifications_email_task

    notifications_email_task.delay()


def _batch_connection_settings() -> None:
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            # JIT compiles the large statements of a batch for longer than they run.
            cursor.execute("SET LOCAL jit = off")


# What the product chunks of one run share, loaded once per process: (run id, baselines, shops).
_PRODUCT_PHASE_CACHE: list = [None, None, None]


def _product_phase_facts(run: EvaluationRun) -> tuple[dict, dict]:
    """Category baselines and shop verdicts are final once a run's product phase starts."""
    key = (run.pk, run.started_at)
    if _PRODUCT_PHASE_CACHE[0] != key:
        shops = {
            pk: (status, market, seller)
            for pk, status, market, seller in Shop.objects.values_list("id", "status", "market", "seller_id")
        }
        _PRODUCT_PHASE_CACHE[:] = [key, _load_baselines(run), shops]
    return _PRODUCT_PHASE_CACHE[1], _PRODUCT_PHASE_CACHE[2]


def _evaluate_chunk(chunk: RunChunk, run: EvaluationRun) -> list[Change]:
    kind = KINDS[chunk.entity]
    ctx = Context(as_of=run.as_of, rules=rulesets_in_force(as_of=run.as_of))
    if chunk.entity == Entity.PRODUCT:
        ctx.baselines, ctx.shops = _product_phase_facts(run)
    rows = _rows_as_of(kind, first_id=chunk.first_id, last_id=chunk.last_id, as_of=run.as_of)
    changes = CHANGES[chunk.entity](rows, ctx)
    _apply_changes(kind, changes, run=run, now=timezone.now())
    return changes


def _finish_chunk(chunk: RunChunk, changes: list[Change], *, started: dt.datetime) -> EvaluationRun:
    run = EvaluationRun.objects.select_for_update().get(pk=chunk.run_id)
    chunk.done, chunk.changed, chunk.finished_at = True, len(changes), timezone.now()
    chunk.save(update_fields=["done", "changed", "finished_at"])
    run.done += chunk.rows
    run.changed += len(changes)
    stats = run.stats.setdefault(
        chunk.entity,
        {"evaluated": 0, "changed": 0, "transitions": {}, "chunk_seconds": 0.0, "started_at": started.isoformat()},
    )
    stats["evaluated"] += chunk.rows
    stats["changed"] += len(changes)
    # Wall time of the phase (first chunk taken to last chunk done) and summed chunk time.
    stats["started_at"] = min(stats["started_at"], started.isoformat())
    stats["finished_at"] = chunk.finished_at.isoformat()
    stats["chunk_seconds"] = round(stats["chunk_seconds"] + (chunk.finished_at - started).total_seconds(), 3)
    for (old, new), count in Counter((ch.old_status, ch.new_status) for ch in changes).items():
        label = f"{old or 'NEW'}->{new}"
        stats["transitions"][label] = stats["transitions"].get(label, 0) + count
    run.save(update_fields=["done", "changed", "stats"])
    _advance_if_phase_done(run)
    return run


def status_history_delete(ids: list[int]) -> int:
    """Delete history rows (retention) and take them out of their runs' transition counters.

    The ops pages sum those counters instead of counting millions of rows
    (``shops.dashboards.ops``), so a row leaves both in one transaction.
    """
    with transaction.atomic():
        rows = StatusHistory._base_manager.filter(pk__in=ids)
        groups = rows.values_list("run_id", "entity", "old_status", "new_status").annotate(n=Count("id")).order_by()
        by_run = defaultdict(list)
        for run_id, entity, old, new, n in groups:
            by_run[run_id].append((entity, f"{old or 'NEW'}->{new}", n))
        for run in EvaluationRun.objects.select_for_update().filter(pk__in=by_run):
            for entity, label, n in by_run[run.pk]:
                transitions = (run.stats.get(entity) or {}).get("transitions") or {}
                if label in transitions:
                    transitions[label] = max(transitions[label] - n, 0)
            run.save(update_fields=["stats"])
        return rows.delete()[1].get(StatusHistory._meta.label, 0)


def evaluation_process_chunk(*, chunk_id: int | None = None, run_id: int | None = None) -> RunChunk | None:
    """Evaluate one pending chunk atomically: the given one, or any of the run's current phase.

    Returns the chunk, or None when there is nothing this caller may take (done, or being
    evaluated by someone else right now).
    """
    with transaction.atomic():
        _batch_connection_settings()
        pending = RunChunk.objects.select_for_update(skip_locked=True, of=("self",)).filter(
            done=False, run__state=EvaluationRun.State.RUNNING
        )
        if chunk_id is not None:
            chunk = pending.filter(pk=chunk_id).select_related("run").first()
            if chunk is not None and chunk.entity != chunk.run.phase:
                return None
        else:
            run = EvaluationRun.objects.get(pk=run_id)
            chunk = pending.filter(run_id=run_id, entity=run.phase).order_by("seq").select_related("run").first()
        if chunk is None:
            return None
        started = timezone.now()
        try:
            changes = _evaluate_chunk(chunk, chunk.run)
            _finish_chunk(chunk, changes, started=started)
        except Exception as exc:
            exc.add_note(f"while evaluating {_chunk_label(chunk)}")
            raise
    return chunk


def _chunk_label(chunk: RunChunk) -> str:
    return f"the {chunk.entity} chunk #{chunk.seq} (ids {chunk.first_id}-{chunk.last_id}) of run #{chunk.run_id}"


def evaluation_pending_chunk_ids(*, run: EvaluationRun) -> list[int]:
    return list(RunChunk.objects.filter(run=run, entity=run.phase, done=False).values_list("id", flat=True))


def evaluation_fail(*, run: EvaluationRun, error: str) -> None:
    EvaluationRun.objects.filter(pk=run.pk, state=EvaluationRun.State.RUNNING).update(
        state=EvaluationRun.State.FAILED, error=error[:4000], finished_at=timezone.now()
    )


def evaluation_failure_reason(*, run_id: int, exc: BaseException, attempts: int = 1) -> str:
    """What ops read on a failed run: which chunk, what error, what is kept, how to go on."""
    notes = "; ".join(getattr(exc, "__notes__", ())) or "while evaluating"
    tried = f" ({attempts} attempts)" if attempts > 1 else ""
    kept = ""
    run = EvaluationRun.objects.filter(pk=run_id).values("done", "total").first()
    if run is not None:
        kept = f" {run['done']:,} of {run['total']:,} entities were evaluated and stay so;"
    return (
        f"{type(exc).__name__} {notes}{tried}: {str(exc).strip()}.{kept} no chunk is half-applied "
        f"(each commits whole). Resume with `manage.py evaluate --resume`."
    )


def _reset_connection_if_broken() -> None:
    if connection.connection is not None and not connection.is_usable():
        connection.close()


def evaluation_chunk_failed(*, chunk_id: int, exc: BaseException, attempts: int) -> None:
    """Mark a chunk's run failed with the reason; if the database is still away, leave it running
    (the stalled-run sweep queues its chunks again once workers reach the database)."""
    try:
        _reset_connection_if_broken()
        run_id = RunChunk.objects.filter(pk=chunk_id).values_list("run_id", flat=True).first()
        if run_id is not None:
            evaluation_fail(
                run=EvaluationRun(pk=run_id), error=evaluation_failure_reason(run_id=run_id, exc=exc, attempts=attempts)
            )
    except TRANSIENT_DB_ERRORS as still:
        logger.error("Chunk %s failed (%s) and its run could not be marked failed: %s", chunk_id, exc, still)


def evaluation_chunk_retry_delay(*, attempt: int) -> float | None:
    """Seconds before retrying a chunk after a transient database error, None once
    ``EVALUATION_DB_RETRY_SECONDS`` have been spent (1, 2, 4, ... 30, 30 s)."""
    delays = [min(2**n, 30) for n in range(attempt + 1)]
    if sum(delays) > settings.EVALUATION_DB_RETRY_SECONDS:
        return None
    return delays[-1]


def evaluation_stalled(*, run: EvaluationRun, now: dt.datetime) -> bool:
    """No chunk of the running ``run`` finished for ``EVALUATION_STALLED_AFTER_SECONDS``."""
    last = run.chunks.filter(done=True).order_by("-finished_at").values_list("finished_at", flat=True).first()
    return (last or run.started_at) < now - dt.timedelta(seconds=settings.EVALUATION_STALLED_AFTER_SECONDS)


def evaluation_daily_due(*, now: dt.datetime) -> dt.date | None:
    """The local day whose scheduled run should exist by ``now`` but does not, else None.

    Days are local days of ``TIME_ZONE``: on the night clocks go forward the hour may not exist
    (the run starts when the clock has passed it), and on the night they go back the hour
    may come twice (the one scheduled run of the day's constraint keeps the second out).
    """
    local = timezone.localtime(now)
    if local.time() < dt.time(settings.EVALUATION_DAILY_HOUR, settings.EVALUATION_DAILY_MINUTE):
        return None
    day = local.date()
    if EvaluationRun.objects.filter(as_of=day, trigger=EvaluationRun.Trigger.SCHEDULED).exists():
        return None
    return day


def evaluation_resume(*, run: EvaluationRun) -> EvaluationRun:
    """Reopen a failed run; its finished chunks stay done and are not evaluated again."""
    try:
        with transaction.atomic():
            updated = EvaluationRun.objects.filter(pk=run.pk, state=EvaluationRun.State.FAILED).update(
                state=EvaluationRun.State.RUNNING, error="", finished_at=None
            )
    except IntegrityError:
        raise RunInProgress(EvaluationRun.objects.get(state=EvaluationRun.State.RUNNING)) from None
    run.refresh_from_db()
    if not updated and run.state != EvaluationRun.State.RUNNING:
        raise ValueError(f"Run #{run.pk} has {run.state}; only a failed or running run can be resumed")
    return run


def evaluation_work(
    *,
    run: EvaluationRun,
    progress: Callable[[EvaluationRun], None] | None = None,
    poll_seconds: float = 0.5,
) -> EvaluationRun:
    """Take chunks of ``run`` until it has finished; wait while others hold the last chunks.

    A lost database connection is retried (the chunk was rolled back whole) for
    ``EVALUATION_DB_RETRY_SECONDS``; any other error, or one that lasts, fails the run with its
    reason. If the database is still away then, the run stays running for ``--resume``.
    """
    attempt = 0
    while True:
        try:
            chunk = evaluation_process_chunk(run_id=run.pk)
            attempt = 0
        except TRANSIENT_DB_ERRORS as exc:
            _reset_connection_if_broken()
            delay = evaluation_chunk_retry_delay(attempt=attempt)
            attempt += 1
            if delay is not None:
                logger.warning("Run #%s: database error, retry %s in %ss: %s", run.pk, attempt, delay, exc)
                time.sleep(delay)
                continue
            try:
                evaluation_fail(run=run, error=evaluation_failure_reason(run_id=run.pk, exc=exc, attempts=attempt))
            except TRANSIENT_DB_ERRORS:
                exc.add_note(f"run #{run.pk} is left running: resume it with `manage.py evaluate --resume`")
            raise
        except Exception as exc:
            evaluation_fail(run=run, error=evaluation_failure_reason(run_id=run.pk, exc=exc))
            raise
        run.refresh_from_db()
        if progress is not None:
            progress(run)
        if run.state != EvaluationRun.State.RUNNING:
            return run
        if chunk is None:
            time.sleep(poll_seconds)


def evaluation_run_inline(*, as_of: dt.date, user: User | None = None, progress=None, chunk_size=None) -> EvaluationRun:
    """Start a run and evaluate all of it in this process (commands, tests, the demo)."""
    run = evaluation_start(as_of=as_of, user=user, chunk_size=chunk_size)
    return evaluation_work(run=run, progress=progress)


# Dry run -----------------------------------------------------------------------------------------


@dataclasses.dataclass
class DryRunReport:
    evaluated: Counter
    transitions: dict[str, Counter]
    examples: dict[tuple[str, str], list[Change]]


def evaluation_dry_run(
    *,
    as_of: dt.date,
    rules: Mapping[str, Thresholds],
    examples: int = 10,
    chunk_size: int = 50_000,
    progress: Callable[[str, int], None] | None = None,
) -> DryRunReport:
    """Evaluate everything with ``rules`` and report what would change; writes nothing.

    ``progress(entity, evaluated)`` is called after each chunk (the shadow run of the rule-set page).
    """
    ctx = Context(as_of=as_of, rules=dict(rules), collect_shops=True)
    report = DryRunReport(Counter(), defaultdict(Counter), defaultdict(list))
    for entity in PHASES:
        kind = KINDS[entity]
        if entity == Entity.PRODUCT:
            ctx.baselines = category_baselines(as_of=as_of)
        ids = kind.model.objects.order_by("id").values_list("id", flat=True)
        first_id = ids.first()
        while first_id is not None:
            last_id = ids.filter(id__gte=first_id)[chunk_size - 1 : chunk_size].first() or ids.last()
            rows = _rows_as_of(kind, first_id=first_id, last_id=last_id, as_of=as_of)
            report.evaluated[entity] += len(rows)
            for change in CHANGES[entity](rows, ctx):
                transition = f"{change.old_status or 'NEW'}->{change.new_status}"
                report.transitions[entity][transition] += 1
                if len(report.examples[entity, transition]) < examples:
                    report.examples[entity, transition].append(change)
            if progress is not None:
                progress(entity, report.evaluated[entity])
            first_id = ids.filter(id__gt=last_id).first()
    return report


# Ops actions ---------------------------------------------------------------------------------------


def shop_lift_permanent_disqualification(*, shop: Shop, user: User, reason: str) -> Shop:
    """S6: only an ops user lifts a suspension's permanent disqualification, with a reason."""
    if not user.is_ops:
        raise PermissionError("Only ops staff can lift a permanent disqualification")
    if not reason.strip():
        raise ValueError("A reason is required to lift a permanent disqualification")
    with transaction.atomic():
        updated = Shop.objects.filter(pk=shop.pk, permanently_disqualified=True).update(permanently_disqualified=False)
        if not updated:
            raise ValueError(f"Shop {shop.key} is not permanently disqualified")
        AuditEntry.objects.create(
            actor=user,
            action="shop.lift_permanent_disqualification",
            object_type="shop",
            object_id=shop.key,
            reason=reason,
        )
    shop.refresh_from_db()
    return shop


def category_baselines_of_run(*, run: EvaluationRun) -> dict[int, tuple[Baseline | None, dict]]:
    """Category id -> (exact average, what was recorded about it) as ``run`` compared products with.

    For pages that show a product's NRR beside the average of the evaluation behind its status.
    """
    return _load_baselines(run)
