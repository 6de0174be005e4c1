from django.db import migrations

TABLES = ["shops_shop", "shops_product", "affiliate_creator"]


def set_fillfactor(fillfactor):
    def apply(apps, schema_editor):
        # Free room in each page lets PostgreSQL rewrite a changed verdict in place (HOT update)
        # without touching the indexes: the daily run changes a few percent of rows.
        if schema_editor.connection.vendor != "postgresql":
            return
        for table in TABLES:
            schema_editor.execute(f"ALTER TABLE {schema_editor.quote_name(table)} SET (fillfactor = {fillfactor})")

    return apply


class Migration(migrations.Migration):
    dependencies = [("shops", "0003_verdict_columns_unindexed"), ("affiliate", "0003_verdict_columns_unindexed")]
    operations = [migrations.RunPython(set_fillfactor(85), set_fillfactor(100))]
