"""Synthetic data for the evaluation benchmark, built set-based inside PostgreSQL."""

import datetime as dt

from django.db import connection

from affiliate.models import AffiliatePlan, Creator, CreatorSnapshot, PlanProduct
from shops.models import (
    AuditEntry,
    Category,
    CategoryBaseline,
    EvaluationRun,
    Product,
    ProductSnapshot,
    RunChunk,
    Seller,
    SellerMembership,
    Shop,
    ShopSnapshot,
    StatusHistory,
)

# Tables the benchmark empties with --reset, children first.
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
    AuditEntry,
]
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


def reset() -> None:
    with connection.cursor() as cursor:
        cursor.execute("UPDATE shops_user SET creator_id = NULL")
        cursor.execute(f"TRUNCATE {', '.join(table(m) for m in TABLES)} RESTART IDENTITY CASCADE")
        cursor.execute(f"DELETE FROM {table(EvaluationRun)}")  # noqa: S608


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
    statements = [
        ("SELECT setseed(%s)", [seed]),
        (
            f"""INSERT INTO {table(Seller)} (key, legal_name, business_licence_no, contact_email, contact_phone,
                tax_id, created_at, updated_at)
            SELECT 'BS' || i, 'Bench seller ' || i, 'BL' || i, '', '', '', now(), now()
            FROM generate_series(1, %s) i""",
            [sellers],
        ),
        (
            f"""INSERT INTO {table(Category)} (key, parent_id, name, name_zh, gated, avg_nrr_30d)
            SELECT 'BR' || i, NULL, 'Root ' || i, '', false, NULL FROM generate_series(1, %s) i""",
            [ROOTS],
        ),
        (
            f"""INSERT INTO {table(Category)} (key, parent_id, name, name_zh, gated, avg_nrr_30d)
            SELECT 'BL' || i, (SELECT min(id) FROM {table(Category)}) + i %% %s, 'Leaf ' || i, '', i %% 7 = 0,
                   CASE WHEN i %% 10 = 0 THEN 0.02 END
            FROM generate_series(1, %s) i""",
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
            FROM generate_series(1, %s) i""",
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
                 (SELECT min(id) AS first FROM {table(Category)} WHERE parent_id IS NOT NULL) l""",
            [shops, LEAVES, as_of, products],
        ),
        (
            f"""INSERT INTO {table(Creator)} (key, handle, display_name, email, account_status, pps, chr,
                reasons, metrics_as_of)
            SELECT 'BC' || i, 'bench' || i, '', '', 'active',
                   CASE WHEN random() < 0.03 THEN NULL ELSE round((2.4 + random() * 2.6)::numeric, 2) END,
                   CASE WHEN random() < 0.02 THEN NULL ELSE (100 + random() * 160)::int END,
                   '[]', %s
            FROM generate_series(1, %s) i""",
            [as_of, creators],
        ),
        # One plan for every tenth shop, holding that shop's products.
        (
            f"""INSERT INTO {table(AffiliatePlan)} (shop_id, name, kind, status, created_at, termination_reasons)
            SELECT id, 'Bench plan ' || id, 'open', 'active', now(), '[]' FROM {table(Shop)} WHERE id %% 10 = 0""",
            [],
        ),
        (
            f"""INSERT INTO {table(PlanProduct)} (plan_id, product_id, commission_rate, added_at, removal_reasons)
            SELECT pl.id, p.id, 10, now(), '[]'
            FROM {table(AffiliatePlan)} pl JOIN {table(Product)} p ON p.shop_id = pl.shop_id""",
            [],
        ),
    ]
    with connection.cursor() as cursor:
        for sql, params in statements:
            cursor.execute(sql, params)
        cursor.execute("ANALYZE")


def change_share(*, day: int, as_of: dt.date) -> None:
    """Move about 5 % of each entity type across a threshold (a different 5 % each day)."""
    k = day % 20
    with connection.cursor() as cursor:
        cursor.execute(
            f"""UPDATE {table(Shop)} SET metrics_as_of = %s,
                sps = CASE WHEN sps >= 3.5 THEN sps - 1.0 ELSE LEAST(sps + 1.0, 5) END
            WHERE id %% 20 = %s AND sps IS NOT NULL""",
            [as_of, k],
        )
        cursor.execute(
            f"""UPDATE {table(Product)} SET metrics_as_of = %s, counterfeit_flag = NOT counterfeit_flag
            WHERE id %% 20 = %s""",
            [as_of, k],
        )
        cursor.execute(
            f"""UPDATE {table(Creator)} SET metrics_as_of = %s,
                pps = CASE WHEN pps >= 3.5 THEN pps - 1.0 ELSE LEAST(pps + 1.0, 5) END
            WHERE id %% 20 = %s AND pps IS NOT NULL""",
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
                FROM {table(Shop)}"""  # noqa: S608
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
                JOIN {table(Shop)} s ON s.id = p.shop_id"""  # noqa: S608
        )
        cursor.execute(
            f"""SELECT count(*) FILTER (WHERE pps >= 3.5 AND chr >= 150) FROM {table(Creator)}"""  # noqa: S608
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
