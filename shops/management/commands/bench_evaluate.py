import datetime as dt
import resource
import subprocess
import sys
import time

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError
from django.db import connection
from django.utils import timezone

from shops import benchmark
from shops.models import EvaluationRun
from shops.services.evaluation import evaluation_start, evaluation_work


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


class Command(BaseCommand):
    help = (
        "Build synthetic shops, products and creators on the configured PostgreSQL database, "
        "then time a daily run with about 5% of them changing status, and one with no change."
    )

    def add_arguments(self, parser):
        parser.add_argument("--products", type=int, default=1_000_000)
        parser.add_argument("--shops", type=int, default=100_000)
        parser.add_argument("--creators", type=int, default=1_000_000)
        parser.add_argument("--chunk-size", type=int, default=None)
        parser.add_argument(
            "--reset",
            action="store_true",
            help="Delete the benchmark's data first: sellers, shops, products, creators, categories, runs, history "
            "and what hangs off them (printed); users and their accounts stay",
        )
        parser.add_argument(
            "--force", action="store_true", help="With --reset: also when those tables hold rows it did not make"
        )
        parser.add_argument("--reuse", action="store_true", help="Keep the data already built by an earlier run")
        parser.add_argument(
            "--workers", type=int, default=1, help="Processes taking chunks of each run (this one included)"
        )

    def handle(self, *args, **opts):
        if connection.vendor != "postgresql":
            raise CommandError("The benchmark builds its data with PostgreSQL SQL; set DATABASE_URL to PostgreSQL")
        if EvaluationRun.objects.filter(state=EvaluationRun.State.RUNNING).exists():
            raise CommandError("An evaluation run is in progress; wait for it or resume it first")
        out = self.stdout.write
        as_of = timezone.localdate()
        if opts["reset"]:
            foreign = benchmark.foreign_data()
            if foreign and not opts["force"]:
                found = ", ".join(f"{count:,} {name}" for name, count in foreign.items())
                raise CommandError(
                    f"--reset would delete data the benchmark did not make ({found}). Use a dedicated "
                    "database, or add --force to delete it anyway."
                )
            started = time.perf_counter()
            plan = benchmark.reset()
            out(f"reset in {time.perf_counter() - started:.1f}s")
            for line in plan.describe():
                out(f"  {line}")
        elif benchmark.has_data() and not opts["reuse"]:
            raise CommandError(
                "This database already holds data. Use a dedicated database, or --reset to delete the "
                "benchmark's data (sellers, shops, products, creators, categories, runs, history; users "
                "stay), or --reuse to time it as it is."
            )
        if not opts["reuse"]:
            started = time.perf_counter()
            benchmark.generate(shops=opts["shops"], products=opts["products"], creators=opts["creators"], as_of=as_of)
            out(
                f"built {opts['shops']:,} shops, {opts['products']:,} products, {opts['creators']:,} creators "
                f"in {time.perf_counter() - started:.1f}s"
            )
            first = self.timed_run(as_of, opts, label="first run (every entity new)")
            self.print_run(first)
            started = time.perf_counter()
            benchmark.vacuum()
            out(
                f"VACUUM ANALYZE after the first run (autovacuum's job between days): "
                f"{time.perf_counter() - started:.1f}s"
            )

        day = EvaluationRun.objects.count()
        benchmark.change_share(day=day, as_of=as_of)
        bare = benchmark.bare_sql_classification_seconds()
        out(f"bare SQL classification, one statement per entity type, no writes: {bare:.2f}s")

        changed = self.timed_run(as_of, opts, label="daily run, ~5% changing")
        self.print_run(changed, bare=bare)
        unchanged = self.timed_run(as_of, opts, label="same day again, nothing changing")
        self.print_run(unchanged, bare=bare)
        out(f"peak memory (RSS) of this process: {peak_rss_mb():.0f} MB")
        for worker, peak in getattr(self, "helper_peaks", {}).items():
            out(f"peak memory (RSS) of helper process {worker}: {peak:.0f} MB")

    def timed_run(self, as_of: dt.date, opts, *, label: str):
        writes_before = benchmark.table_write_counts()
        started = time.perf_counter()
        run = evaluation_start(as_of=as_of, chunk_size=opts["chunk_size"])
        helpers = [
            subprocess.Popen(  # noqa: S603 - our own manage.py, fixed arguments  # nosec B603 # a fixed argument list of our own tools, no shell
                [sys.executable, str(settings.BASE_DIR / "manage.py"), "evaluate", "--resume", "--report-memory"],
                stdout=subprocess.PIPE,
                stderr=subprocess.DEVNULL,
                text=True,
            )
            for _ in range(opts["workers"] - 1)
        ]
        run = evaluation_work(run=run)
        self.helper_peaks = {}
        for index, helper in enumerate(helpers, start=1):
            output = helper.communicate()[0]
            for line in output.splitlines():
                if line.startswith("peak memory"):
                    self.helper_peaks[index] = float(line.split()[-2])
        seconds = time.perf_counter() - started
        writes = {k: v - writes_before[k] for k, v in benchmark.table_write_counts().items()}
        return label, run, seconds, writes

    def print_run(self, result, bare: float | None = None) -> None:
        label, run, seconds, writes = result
        out = self.stdout.write
        ratio = f" ({seconds / bare:.1f}x the bare SQL)" if bare else ""
        out(
            f"\n{label}: run #{run.pk} {run.state} in {seconds:.2f}s{ratio}, "
            f"{run.done:,} rows at {run.done / seconds:,.0f} rows/s, {run.changed:,} changed"
        )
        for entity in ("shop", "product", "creator"):
            if entity not in run.stats:
                continue
            stats = run.stats[entity]
            wall = (
                dt.datetime.fromisoformat(stats["finished_at"]) - dt.datetime.fromisoformat(stats["started_at"])
            ).total_seconds()
            out(
                f"  {entity:<8} {stats['evaluated']:>10,} rows in {wall:6.2f}s "
                f"({stats['evaluated'] / max(wall, 1e-9):>10,.0f} rows/s), {stats['changed']:>9,} changed"
            )
        written = sum(writes.values())
        detail = ", ".join(f"{k} {v:,}" for k, v in writes.items() if v)
        out(f"  rows written {written:,} ({detail or 'none'}) for {run.changed:,} verdicts changed")
