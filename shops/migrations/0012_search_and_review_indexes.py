"""Indexes for two pages that read the whole of a large table at 1M products (docs/performance.md).

- The review queue counts and pages the disqualifying verdicts of the history (2.2M rows after
  a first run at 1M products, 340k of them disqualifying): a partial index on those rows, in id
  order, with the entity for an index-only count. The history is append-only, so the visibility
  map stays set and the count reads the index alone.
- The product table's search (``q``: ``key`` or ``title`` contains, as ``icontains`` writes it,
  ``UPPER(col::text) LIKE UPPER('%…%')``): trigram GIN indexes on both expressions (pg_trgm).

PostgreSQL only, built CONCURRENTLY (the tables stay writable); the model state does not list
them, as ``0004_entity_fillfactor`` does not list its storage setting. Without the privilege to
create the pg_trgm extension (a trusted extension: the database owner may), the search indexes
are skipped with a message and search works as before, by a scan.
"""

from django.db import migrations

HISTORY_INDEX = (
    "CREATE INDEX CONCURRENTLY IF NOT EXISTS history_disqualified ON shops_statushistory (id) INCLUDE (entity) "
    "WHERE new_status = 'DISQUALIFIED'"
)
SEARCH_INDEXES = [
    "CREATE INDEX CONCURRENTLY IF NOT EXISTS product_key_trgm ON shops_product "
    "USING gin ((UPPER(key::text)) gin_trgm_ops)",
    "CREATE INDEX CONCURRENTLY IF NOT EXISTS product_title_trgm ON shops_product "
    "USING gin ((UPPER(title::text)) gin_trgm_ops)",
]
NAMES = ["history_disqualified", "product_key_trgm", "product_title_trgm"]


def create(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    schema_editor.execute(HISTORY_INDEX)
    from django.db import DatabaseError

    try:
        schema_editor.execute("CREATE EXTENSION IF NOT EXISTS pg_trgm")
    except DatabaseError as exc:
        print(f"\n  pg_trgm not available ({exc}); the product search indexes are not created")  # noqa: T201
        return
    for sql in SEARCH_INDEXES:
        schema_editor.execute(sql)


def drop(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    for name in NAMES:
        schema_editor.execute(f"DROP INDEX CONCURRENTLY IF EXISTS {name}")


class Migration(migrations.Migration):
    atomic = False  # CREATE INDEX CONCURRENTLY cannot run in a transaction

    dependencies = [("shops", "0011_privacy_bank_details_hashes_consents")]

    operations = [migrations.RunPython(create, drop)]
