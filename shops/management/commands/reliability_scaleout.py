import datetime as dt
import json
import subprocess
import sys
import time

import psycopg2
from django.core.management.base import BaseCommand, CommandError
from django.db import connection

from shops import benchmark, reliability
from shops.services.evaluation import evaluation_run_inline


def int_list(value: str) -> list[int]:
    return [int(part) for part in value.split(",") if part.strip()]


class Command(BaseCommand):
    help = (
        "Scale-out of the daily run on Celery workers: builds the benchmark data set once (plus a first run "
        "and a day of ~5 % changing), then for every worker count and chunk size runs that same day on a "
        "copy of the database (CREATE DATABASE ... TEMPLATE) with that many worker processes, and prints "
        "seconds, speed-up and the status checksum. Exits non-zero if the checksums differ."
    )

    def add_arguments(self, parser):
        parser.add_argument("--products", type=int, default=1_000_000)
        parser.add_argument("--shops", type=int, default=100_000)
        parser.add_argument("--creators", type=int, default=1_000_000)
        parser.add_argument("--workers", type=int_list, default=[1, 2], help="Worker process counts, e.g. 1,2")
        parser.add_argument("--chunk-sizes", type=int_list, default=[50_000, 10_000])
        parser.add_argument("--repeat", type=int, default=1, help="Runs per configuration (the median is kept)")
        parser.add_argument("--broker", default=None, help="Redis URL (default CELERY_BROKER_URL or local db 14)")
        parser.add_argument("--reuse", action="store_true", help="This database already holds the prepared day")
        parser.add_argument("--reset", action="store_true", help="Drop and recreate this database first")
        parser.add_argument("--min-speedup", type=float, default=None, help="Fail below this speed-up (2 vs 1)")

    def handle(self, *args, **opts):
        out = self.stdout.write
        day = dt.date(2026, 1, 2)
        if not opts["reuse"]:
            try:
                reliability.prepare_database(reset=opts["reset"])
            except ValueError as exc:
                raise CommandError(str(exc)) from None
            started = time.perf_counter()
            reliability.generate(shops=opts["shops"], products=opts["products"], creators=opts["creators"], as_of=day)
            evaluation_run_inline(as_of=day - dt.timedelta(days=1))
            benchmark.vacuum()
            benchmark.change_share(day=1, as_of=day)
            out(f"built the data set, its first run and the next day in {time.perf_counter() - started:.0f}s")
        base = connection.settings_dict["NAME"]
        counts = {e: m.objects.count() for e, m in reliability.ENTITY_MODELS.items()}
        out(f"{counts['shop']:,} shops, {counts['product']:,} products, {counts['creator']:,} creators; as of {day}")
        connection.close()
        broker = opts["broker"] or reliability.broker_url()
        rows, checksums = [], set()
        for chunk_size in opts["chunk_sizes"]:
            for workers in opts["workers"]:
                timings = [self.measure(base, day, workers, chunk_size, broker) for _ in range(opts["repeat"])]
                seconds, run, checksum, peak = sorted(timings, key=lambda t: t[0])[len(timings) // 2]
                checksums.add(checksum)
                rows.append((chunk_size, workers, seconds, run, checksum, peak))
                out(
                    f"  chunks of {chunk_size:>7,}, {workers} worker process(es): {seconds:7.2f}s, "
                    f"{run['changed']:,} changed, peak RSS {peak:.0f} MB, checksum {checksum}"
                )
        out("\n| chunk size | worker processes | seconds | speed-up | changed | checksum |")
        out("|---:|---:|---:|---:|---:|---|")
        failed = []
        for chunk_size, workers, seconds, run, checksum, _peak in rows:
            one = next((r[2] for r in rows if r[0] == chunk_size and r[1] == 1), None)
            speedup = one / seconds if one else float("nan")
            out(f"| {chunk_size:,} | {workers} | {seconds:.2f} | {speedup:.2f}x | {run['changed']:,} | {checksum} |")
            if opts["min_speedup"] and workers == 2 and speedup < opts["min_speedup"]:
                failed.append(f"2 workers only {speedup:.2f}x faster with chunks of {chunk_size}")
        if len(checksums) != 1:
            raise CommandError(f"the status checksums differ between configurations: {sorted(checksums)}")
        out(f"\nthe same status checksum in every configuration: {checksums.pop()}")
        if failed:
            raise CommandError("; ".join(failed))

    def measure(self, base: str, day: dt.date, workers: int, chunk_size: int, broker: str):
        clone = f"{base}_scale_{workers}_{chunk_size}"
        admin = psycopg2.connect(reliability.database_url(name="postgres"))
        admin.autocommit = True
        try:
            with admin.cursor() as cursor:
                cursor.execute(f'DROP DATABASE IF EXISTS "{clone}"')
                cursor.execute(f'CREATE DATABASE "{clone}" TEMPLATE "{base}"')
            url = reliability.database_url(name=clone)
            with reliability.workers(workers, broker=broker, database=url) as pool:
                env = reliability.worker_env(database=url, broker=broker, queue=pool[0].env["CELERY_QUEUE"])
                command = [sys.executable, "manage.py", "evaluate", "--workers", "--as-of", day.isoformat()]
                subprocess.run(  # noqa: S603 - our own manage.py  # nosec B603 # a fixed argument list of our own tools, no shell
                    [*command, "--chunk-size", str(chunk_size)], env=env, check=True, capture_output=True
                )
                peak = max(worker.peak_mb() for worker in pool)
            with psycopg2.connect(url) as db, db.cursor() as cursor:
                cursor.execute(
                    "SELECT extract(epoch FROM finished_at - started_at), state, done, changed "
                    "FROM shops_evaluationrun ORDER BY id DESC LIMIT 1"
                )
                seconds, state, done, changed = cursor.fetchone()
            db.close()
            if state != "succeeded":
                raise CommandError(f"the run with {workers} workers, chunks of {chunk_size}: {state}")
            checksum = subprocess.run(  # noqa: S603 - our own manage.py  # nosec B603 # a fixed argument list of our own tools, no shell
                [sys.executable, "manage.py", "status_checksum", "--json"],
                env=env,
                check=True,
                capture_output=True,
                text=True,
            ).stdout
            return float(seconds), {"done": done, "changed": changed}, json.loads(checksum)["checksum"], peak
        finally:
            with admin.cursor() as cursor:
                cursor.execute(f'DROP DATABASE IF EXISTS "{clone}" WITH (FORCE)')
            admin.close()
