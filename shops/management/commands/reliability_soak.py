import datetime as dt
import time

from django.core.management.base import BaseCommand, CommandError

from shops import benchmark, reliability


class Command(BaseCommand):
    help = (
        "Memory of Celery workers over repeated daily runs: runs day after day (~5 % changing each) on the "
        "same worker processes, prints each worker's memory (RSS of the worker and its pool) after every run, "
        "checks every run's invariants, and exits non-zero if memory keeps growing after the first runs."
    )

    def add_arguments(self, parser):
        parser.add_argument("--runs", type=int, default=10)
        parser.add_argument("--shops", type=int, default=10_000)
        parser.add_argument("--products", type=int, default=100_000)
        parser.add_argument("--creators", type=int, default=100_000)
        parser.add_argument("--chunk-size", type=int, default=10_000)
        parser.add_argument("--workers", type=int, default=2, help="Worker processes (one pool process each)")
        parser.add_argument("--warm-up", type=int, default=2, help="Runs before the memory baseline is taken")
        parser.add_argument("--max-growth-mb", type=float, default=25.0, help="Allowed growth after the warm-up")
        parser.add_argument("--no-check", action="store_true", help="Skip the invariants (a dry run per day)")
        parser.add_argument("--broker", default=None, help="Redis URL (default CELERY_BROKER_URL or local db 14)")
        parser.add_argument("--reset", action="store_true", help="Drop and recreate this database first")

    def handle(self, *args, **opts):
        out = self.stdout.write
        if opts["runs"] <= opts["warm_up"]:
            raise CommandError("--runs must be larger than --warm-up")
        try:
            reliability.prepare_database(reset=opts["reset"])
        except ValueError as exc:
            raise CommandError(str(exc)) from None
        first_day = dt.date(2026, 1, 1)
        reliability.seed(shops=opts["shops"], products=opts["products"], creators=opts["creators"], as_of=first_day)
        broker = opts["broker"] or reliability.broker_url()
        memory: list[list[float]] = []
        broken = []
        with reliability.workers(opts["workers"], broker=broker) as pool:
            out(f"{opts['workers']} workers ready: " + ", ".join(f"{w.rss_mb():.0f} MB" for w in pool))
            for day in range(opts["runs"]):
                as_of = first_day + dt.timedelta(days=day)
                if day:
                    benchmark.change_share(day=day, as_of=as_of)
                expected = None if opts["no_check"] else reliability.expect(as_of=as_of)
                started = time.monotonic()
                run = reliability.start_run(as_of=as_of, chunk_size=opts["chunk_size"])
                run = reliability.wait_for_run(run.pk, timeout=3600)
                seconds = time.monotonic() - started
                problems = reliability.check_run(run.pk, expected)[0] if expected else []
                broken += problems
                memory.append([w.rss_mb() for w in pool])
                out(
                    f"run {day + 1:>3} as of {as_of}: {run.state} in {seconds:6.1f}s, {run.changed:>9,} changed; "
                    f"workers {', '.join(f'{mb:.0f}' for mb in memory[-1])} MB"
                    + (f"; BROKEN: {problems}" if problems else "")
                )
        baseline, last = memory[opts["warm_up"] - 1], memory[-1]
        growth = [after - before for before, after in zip(baseline, last, strict=True)]
        out(
            f"growth after run {opts['warm_up']}: "
            + ", ".join(f"{g:+.1f} MB" for g in growth)
            + f" (allowed {opts['max_growth_mb']:.0f} MB)"
        )
        if broken:
            raise CommandError(f"invariants broken: {broken}")
        if max(growth) > opts["max_growth_mb"]:
            raise CommandError(f"worker memory grew by {max(growth):.1f} MB over {len(memory)} runs")
