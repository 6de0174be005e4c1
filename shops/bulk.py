"""Set-based writes for the daily run.

On PostgreSQL rows travel by COPY (into a temporary table for updates, straight into the
table for append-only history); other databases get the equivalent ORM bulk calls. Both
paths write exactly the same rows.
"""

import csv
import io
import json
from collections.abc import Iterable, Sequence

from django.db import connection, models

_JSON = json.JSONEncoder(separators=(",", ":"), default=str)


class JsonText(str):
    """A value that is already JSON text: written as it is, never encoded again."""


def _python_value(value):
    return json.loads(value) if isinstance(value, JsonText) else value


def _is_postgres() -> bool:
    return connection.vendor == "postgresql"


def _csv_buffer(rows: Iterable[Sequence]) -> io.StringIO:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    for row in rows:
        writer.writerow([_JSON.encode(v) if isinstance(v, list | dict) else v for v in row])
    buffer.seek(0)
    return buffer


def copy_insert(model: type[models.Model], columns: Sequence[str], rows: list[Sequence]) -> None:
    """Append rows; ``columns`` are database column names in the order of each row."""
    if not rows:
        return
    if _is_postgres():
        table = connection.ops.quote_name(model._meta.db_table)
        cols = ", ".join(connection.ops.quote_name(c) for c in columns)
        with connection.cursor() as cursor:
            cursor.copy_expert(f"COPY {table} ({cols}) FROM STDIN WITH (FORMAT csv)", _csv_buffer(rows))
        return
    attnames = {f.column: f.attname for f in model._meta.concrete_fields}
    objs = [model(**{attnames[c]: _python_value(v) for c, v in zip(columns, row, strict=True)}) for row in rows]
    model.objects.bulk_create(objs, batch_size=1000)


def copy_update(
    model: type[models.Model],
    *,
    key_column: str,
    columns: dict[str, str],
    rows: list[Sequence],
    constants: dict[str, object] | None = None,
) -> None:
    """Update rows by primary key.

    ``columns`` maps each value's column to its PostgreSQL type, in row order after the key;
    ``constants`` are the same for every row (e.g. the run and the time of change).
    """
    if not rows:
        return
    constants = constants or {}
    if _is_postgres():
        qn = connection.ops.quote_name
        table = qn(model._meta.db_table)
        tmp = qn(f"tmp_{model._meta.db_table}")
        defs = ", ".join([f"{qn(key_column)} bigint"] + [f"{qn(c)} {t}" for c, t in columns.items()])
        sets = [f"{qn(c)} = t.{qn(c)}" for c in columns] + [f"{qn(c)} = %s" for c in constants]
        with connection.cursor() as cursor:
            cursor.execute(f"CREATE TEMPORARY TABLE {tmp} ({defs}) ON COMMIT DROP")
            cursor.copy_expert(f"COPY {tmp} FROM STDIN WITH (FORMAT csv)", _csv_buffer(rows))
            key = qn(key_column)
            # Identifiers only, all quoted; values travel as parameters or through COPY.
            update = f"UPDATE {table} SET {', '.join(sets)} FROM {tmp} t WHERE {table}.{key} = t.{key}"  # noqa: S608  # nosec B608 # table names from model metadata, values are query parameters
            cursor.execute(update, list(constants.values()))
            cursor.execute(f"DROP TABLE {tmp}")
        return
    attnames = {f.column: f.attname for f in model._meta.concrete_fields}
    names = [attnames[c] for c in columns] + [attnames[c] for c in constants]
    objs = []
    for row in rows:
        obj = model(pk=row[0])
        for column, value in zip(columns, row[1:], strict=True):
            setattr(obj, attnames[column], _python_value(value))
        for column, value in constants.items():
            setattr(obj, attnames[column], value)
        objs.append(obj)
    model.objects.bulk_update(objs, names, batch_size=500)
