"""Synthetic data for the evaluation benchmark, built set-based inside PostgreSQL."""

import dataclasses
import datetime as dt

from django.db import connection

from affiliate.models import AffiliatePlan, Creator, CreatorSnapshot, PlanProduct
from shops.models import (
    Category,
    CategoryBaseline,
    EvaluationRun,
    LicenceFlag,
    Notification,
    Override,
    Product,
    ProductSnapshot,
    RunChunk,
    Seller,
    SellerMembership,
    Shop,
    ShopSnapshot,
    StatusHistory,
    User,
    WebhookDelivery,
    WebhookEvent,
)

# Tables the benchmark writes its data set into (and empties with --reset), children first.
TABLES = [
    PlanProduct,
    AffiliatePlan,
    StatusHistory,
    CategoryBaseline,
    RunChunk,
    ProductSnapshot,
    ShopSnapshot,
    CreatorSnapshot,
    Product,
    Shop,
    SellerMembership,
    Seller,
    Category,
    Creator,
]
# What runs write about the benchmark's entities without a foreign key to them (entity ids start
# again with a new data set, so these would point at the wrong rows): also emptied by reset().
ABOUT_ENTITIES = [Override, LicenceFlag, WebhookDelivery, WebhookEvent]
# Never emptied: the accounts (a user's link to a creator is cleared), and with them every table
# that belongs to people (API tokens, privacy records) and the audit log.
KEPT = [User]
# The keys generate() gives; a row with another key is not the benchmark's.
BENCHMARK_KEYS = {
    Seller: r"^BS[0-9]+$",
    Shop: r"^BSH[0-9]+$",
    Product: r"^BP[0-9]+$",
    Creator: r"^BC[0-9]+$",
    Category: r"^B[RL][0-9]+$",
}
STAT_TABLES = {
    "shops": Shop,
    "products": Product,
    "creators": Creator,
    "history": StatusHistory,
    "plans": AffiliatePlan,
    "plan products": PlanProduct,
}
LEAVES = 1000
ROOTS = 50


def table(model) -> str:
    return connection.ops.quote_name(model._meta.db_table)


@dataclasses.dataclass
class ResetPlan:
    """What reset() empties and what it keeps, worked out from the database's foreign keys."""

    truncated: list[str]  # emptied with TRUNCATE … RESTART IDENTITY: nothing kept refers to them
    deleted: list[str]  # emptied with DELETE (in this order): a kept table has a (nullable) foreign key to them
    nulled: list[str]  # "table.column" of kept rows whose reference is set to NULL

    def describe(self) -> list[str]:
        return [
            "emptied: " + ", ".join(sorted(self.truncated + self.deleted)),
            "deleted: notifications about shops, products, plans and appeals (account messages stay)",
            "set to NULL in kept rows: " + (", ".join(self.nulled) or "nothing"),
            "kept: users, their API tokens, privacy records and account messages, the audit log, every other table",
        ]


def _foreign_keys() -> list[tuple[str, str, bool, str]]:
    """(referring table, column, NOT NULL, referred table) for every foreign key of the schema."""
    with connection.cursor() as cursor:
        cursor.execute(
            """SELECT cr.relname, a.attname, a.attnotnull, cf.relname
               FROM pg_constraint c
               JOIN pg_class cr ON cr.oid = c.conrelid
               JOIN pg_class cf ON cf.oid = c.confrelid
               JOIN pg_attribute a ON a.attrelid = c.conrelid AND a.attnum = ANY (c.conkey)
               WHERE c.contype = 'f' AND cr.relnamespace = current_schema()::regnamespace"""
        )
        return cursor.fetchall()


def reset_plan() -> ResetPlan:
    """The benchmark's tables, every table whose rows cannot exist without theirs (a NOT NULL
    foreign key: appeals, snapshots, plan invitations, …), and the run outputs about entities.

    A kept table's nullable reference is set to NULL, and a table a kept table refers to is
    emptied with DELETE: TRUNCATE would refuse, or with CASCADE empty the kept table too (the
    users, through ``shops_user.creator_id``, and everything that refers to users).
    """
    kept = {m._meta.db_table for m in KEPT}
    emptied = {m._meta.db_table for m in [*TABLES, EvaluationRun, *ABOUT_ENTITIES]}
    fks = _foreign_keys()
    grew = True
    while grew:
        grew = False
        for referring, _column, not_null, referred in fks:
            if referred in emptied and referring not in emptied and not_null:
                if referring in kept:
                    raise RuntimeError(f"{referring} cannot outlive {referred}: reset() cannot keep it")
                emptied.add(referring)
                grew = True
    outside = [(r, column, target) for r, column, _nn, target in fks if target in emptied and r not in emptied]
    # Run ids keep counting (notification and webhook dedupe keys name them): runs are deleted.
    deleted = {target for _r, _column, target in outside} | {EvaluationRun._meta.db_table}
    grew = True
    while grew:  # TRUNCATE also refuses a table that a deleted (not truncated) table refers to
        grew = False
        for referring, _column, _not_null, referred in fks:
            if referring in deleted and referred in emptied - deleted:
                deleted.add(referred)
                grew = True
    ordered: list[str] = []  # referring tables before the tables they refer to
    while len(ordered) < len(deleted):
        left = deleted - set(ordered)
        ready = sorted(t for t in left if not any(r in left and r != t and x == t for r, _c, _n, x in fks))
        ordered += ready or sorted(left)  # a cycle (there is none today): in name order
    return ResetPlan(
        truncated=sorted(emptied - deleted),
        deleted=ordered,
        nulled=sorted(f"{r}.{column}" for r, column, _target in outside),
    )


def foreign_data() -> dict[str, int]:
    """Rows of the benchmark's tables that generate() did not make (told by their keys)."""
    found = {}
    for model, pattern in BENCHMARK_KEYS.items():
        count = model.objects.exclude(key__regex=pattern).count()
        if count:
            found[str(model._meta.verbose_name_plural)] = count
    return found


def reset() -> ResetPlan:
    """Empty the benchmark's data set and what hangs off it; users and unrelated tables stay."""
    plan = reset_plan()
    quote = connection.ops.quote_name
    with connection.cursor() as cursor:
        # Inside a transaction: check the deferred foreign keys now (TRUNCATE refuses pending checks).
        cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")
        for reference in plan.nulled:
            name, column = reference.rsplit(".", 1)
            cursor.execute(
                f"UPDATE {quote(name)} SET {quote(column)} = NULL WHERE {quote(column)} IS NOT NULL"  # noqa: S608  # nosec B608 # table names from the catalogue, no values
            )
        cursor.execute(
            f"DELETE FROM {table(Notification)} WHERE kind <> %s",  # noqa: S608  # nosec B608 # table names from model metadata, values are query parameters
            [Notification.Kind.ACCOUNT],
        )
        if plan.truncated:
            cursor.execute(f"TRUNCATE {', '.join(quote(name) for name in plan.truncated)} RESTART IDENTITY")
        for name in plan.deleted:
            cursor.execute(f"DELETE FROM {quote(name)}")  # noqa: S608  # nosec B608 # table names from the catalogue, no values
    return plan


def vacuum() -> None:
    """What autovacuum does between two days: clear the row versions a run left behind."""
    with connection.cursor() as cursor:
        for model in (Shop, Product, Creator, StatusHistory):
            cursor.execute(f"VACUUM ANALYZE {table(model)}")


def has_data() -> bool:
    return Shop.objects.exists() or Creator.objects.exists() or Product.objects.exists()


def generate(*, shops: int, products: int, creators: int, as_of: dt.date, seed: float = 0.42) -> None:
    """Sellers, a category tree of 1,000 leaves, shops, products, creators and some plans.

    Distributions put a realistic share of entities on each side of every threshold.
    """
    sellers = max(1, shops // 10)
    # Sellers go through the model: their contact and bank details are encrypted and hashed as
    # the portal stores them (there are a tenth as many as shops; Fernet does ~10,000 a second).
    seller_rows(sellers)
    statements = [
        ("SELECT setseed(%s)", [seed]),
        (
            f"""INSERT INTO {table(Category)} (key, parent_id, name, name_zh, gated, avg_nrr_30d)
            SELECT 'BR' || i, NULL, 'Root ' || i, '', false, NULL FROM generate_series(1, %s) i""",  # nosec B608 # table names from model metadata, values are query parameters
            [ROOTS],
        ),
        (
            f"""INSERT INTO {table(Category)} (key, parent_id, name, name_zh, gated, avg_nrr_30d)
            SELECT 'BL' || i, (SELECT min(id) FROM {table(Category)}) + i %% %s, 'Leaf ' || i, '', i %% 7 = 0,
                   CASE WHEN i %% 10 = 0 THEN 0.02 END
            FROM generate_series(1, %s) i""",  # nosec B608 # table names from model metadata, values are query parameters
            [ROOTS, LEAVES],
        ),
        (
            f"""INSERT INTO {table(Shop)} (key, seller_id, name, market, tier, account_status, orders_90d, sps,
                ip_violation, fair_trade_violation, review_violation, permanently_disqualified, reasons,
                metrics_as_of)
            SELECT 'BSH' || i, (SELECT min(id) FROM {table(Seller)}) + i %% %s, 'Bench shop ' || i,
                   (ARRAY['US','UK','TH','MY','VN','PH','ID','SG'])[1 + i %% 8],
                   (ARRAY['bronze','silver','gold','platinum'])[1 + i %% 4],
                   CASE WHEN random() < 0.005 THEN 'suspended_temporary' ELSE 'active' END,
                   (random() * 200)::int,
                   CASE WHEN random() < 0.05 THEN NULL ELSE round((2.4 + random() * 2.6)::numeric, 2) END,
                   random() < 0.02, random() < 0.02, random() < 0.02, false, '[]', %s
            FROM generate_series(1, %s) i""",  # nosec B608 # table names from model metadata, values are query parameters
            [sellers, as_of, shops],
        ),
        (
            f"""INSERT INTO {table(Product)} (key, shop_id, category_id, title, listing_status, reviews_30d,
                negative_reviews_30d, ip_violation, fair_trade_violation, review_violation, counterfeit_flag,
                appeal_failed, reasons, metrics_as_of)
            SELECT 'BP' || i, s.first + i %% %s, l.first + (random() * (%s - 1))::int, 'Bench product ' || i,
                   CASE WHEN r < 0.01 THEN 'delisted' WHEN r < 0.015 THEN 'frozen' ELSE 'live' END,
                   reviews, floor(reviews * random() * random() * 0.09)::int,
                   random() < 0.005, random() < 0.005, random() < 0.005, random() < 0.005, random() < 0.003,
                   '[]', %s
            FROM (SELECT i, random() AS r, (random() * 200)::int AS reviews FROM generate_series(1, %s) i) g,
                 (SELECT min(id) AS first FROM {table(Shop)}) s,
                 (SELECT min(id) AS first FROM {table(Category)} WHERE parent_id IS NOT NULL) l""",  # nosec B608 # table names from model metadata, values are query parameters
            [shops, LEAVES, as_of, products],
        ),
        (
            # No e-mail: a blank address is stored blank and its keyed hash is blank (privacy.fields).
            f"""INSERT INTO {table(Creator)} (key, handle, display_name, email, email_hash, account_status, pps,
                chr, reasons, metrics_as_of)
            SELECT 'BC' || i, 'bench' || i, '', '', '', 'active',
                   CASE WHEN random() < 0.03 THEN NULL ELSE round((2.4 + random() * 2.6)::numeric, 2) END,
                   CASE WHEN random() < 0.02 THEN NULL ELSE (100 + random() * 160)::int END,
                   '[]', %s
            FROM generate_series(1, %s) i""",  # nosec B608 # table names from model metadata, values are query parameters
            [as_of, creators],
        ),
        # One plan for every tenth shop, holding that shop's products.
        (
            f"""INSERT INTO {table(AffiliatePlan)} (shop_id, name, kind, status, created_at, termination_reasons)
            SELECT id, 'Bench plan ' || id, 'open', 'active', now(), '[]' FROM {table(Shop)} WHERE id %% 10 = 0""",  # nosec B608 # table names from model metadata, values are query parameters
            [],
        ),
        (
            f"""INSERT INTO {table(PlanProduct)} (plan_id, product_id, commission_rate, added_at, removal_reasons)
            SELECT pl.id, p.id, 10, now(), '[]'
            FROM {table(AffiliatePlan)} pl JOIN {table(Product)} p ON p.shop_id = pl.shop_id""",  # nosec B608 # table names from model metadata, values are query parameters
            [],
        ),
    ]
    with connection.cursor() as cursor:
        for sql, params in statements:
            cursor.execute(sql, params)
        cursor.execute("ANALYZE")


def seller_rows(count: int) -> None:
    Seller.objects.bulk_create(
        [
            Seller(
                key=f"BS{i}",
                legal_name=f"Bench seller {i}",
                business_licence_no=f"BL{i}",
                contact_email=f"seller{i}@bench.invalid",
                contact_phone=f"+6620{i:07d}",
                tax_id=f"TX{i:09d}",
                bank_account_name=f"Bench seller {i}",
                bank_account_number=f"BENCH{i:012d}",
                bank_code="BENCHTHB",
            )
            for i in range(1, count + 1)
        ],
        batch_size=2000,
    )


def change_share(*, day: int, as_of: dt.date) -> None:
    """Move about 5 % of each entity type across a threshold (a different 5 % each day)."""
    k = day % 20
    with connection.cursor() as cursor:
        cursor.execute(
            f"""UPDATE {table(Shop)} SET metrics_as_of = %s,
                sps = CASE WHEN sps >= 3.5 THEN sps - 1.0 ELSE LEAST(sps + 1.0, 5) END
            WHERE id %% 20 = %s AND sps IS NOT NULL""",  # nosec B608 # table names from model metadata, values are query parameters
            [as_of, k],
        )
        cursor.execute(
            f"""UPDATE {table(Product)} SET metrics_as_of = %s, counterfeit_flag = NOT counterfeit_flag
            WHERE id %% 20 = %s""",  # nosec B608 # table names from model metadata, values are query parameters
            [as_of, k],
        )
        cursor.execute(
            f"""UPDATE {table(Creator)} SET metrics_as_of = %s,
                pps = CASE WHEN pps >= 3.5 THEN pps - 1.0 ELSE LEAST(pps + 1.0, 5) END
            WHERE id %% 20 = %s AND pps IS NOT NULL""",  # nosec B608 # table names from model metadata, values are query parameters
            [as_of, k],
        )


def bare_sql_classification_seconds() -> float:
    """The yardstick: classify every row in one SQL statement per entity type, writing nothing."""
    import time

    started = time.perf_counter()
    with connection.cursor() as cursor:
        cursor.execute(
            f"""SELECT count(*) FILTER (WHERE account_status <> 'active'),
                       count(*) FILTER (WHERE orders_90d >= 30 AND sps < 3.0),
                       count(*) FILTER (WHERE orders_90d >= 30 AND sps >= 3.0 AND sps < 3.5)
                FROM {table(Shop)}"""  # noqa: S608  # nosec B608 # table names from model metadata, values are query parameters
        )
        cursor.execute(
            f"""WITH avg AS (
                    SELECT category_id, sum(negative_reviews_30d)::numeric / nullif(sum(reviews_30d), 0) AS a
                    FROM {table(Product)} GROUP BY category_id)
                SELECT count(*) FILTER (WHERE p.negative_reviews_30d > 0
                                        AND p.negative_reviews_30d > 3 * avg.a * p.reviews_30d),
                       count(*) FILTER (WHERE p.negative_reviews_30d > 0
                                        AND p.negative_reviews_30d >= 2 * avg.a * p.reviews_30d)
                FROM {table(Product)} p JOIN avg USING (category_id)
                JOIN {table(Shop)} s ON s.id = p.shop_id"""  # noqa: S608  # nosec B608 # table names from model metadata, values are query parameters
        )
        cursor.execute(
            f"""SELECT count(*) FILTER (WHERE pps >= 3.5 AND chr >= 150) FROM {table(Creator)}"""  # noqa: S608  # nosec B608 # table names from model metadata, values are query parameters
        )
    return time.perf_counter() - started


def table_write_counts() -> dict[str, int]:
    """Rows inserted, updated or deleted so far per table, as PostgreSQL counts them."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_stat_force_next_flush()")
        cursor.execute("SELECT pg_stat_clear_snapshot()")
        cursor.execute(
            "SELECT relname, n_tup_ins + n_tup_upd + n_tup_del FROM pg_stat_user_tables WHERE relname = ANY(%s)",
            [[m._meta.db_table for m in STAT_TABLES.values()]],
        )
        counts = dict(cursor.fetchall())
    return {label: counts.get(model._meta.db_table, 0) for label, model in STAT_TABLES.items()}
