import datetime as dt
import time

from django.core.management.base import BaseCommand, CommandError

from shops import reliability


class Command(BaseCommand):
    help = (
        "Kill Celery workers with SIGKILL at seeded random points of daily runs (the whole worker, or one "
        "of its pool processes), restart them, and check in SQL that every run completes with every entity "
        "evaluated and every history row, plan effect, notification and webhook event there exactly once. "
        "Builds its own data: use a dedicated database. Exits non-zero when an invariant breaks."
    )

    def add_arguments(self, parser):
        parser.add_argument("--trials", type=int, default=10)
        parser.add_argument("--seed", type=int, default=20261124)
        parser.add_argument("--shops", type=int, default=2_000)
        parser.add_argument("--products", type=int, default=20_000)
        parser.add_argument("--creators", type=int, default=20_000)
        parser.add_argument("--chunk-size", type=int, default=500, help="Small chunks: many points to be killed at")
        parser.add_argument("--workers", type=int, default=2, help="Worker processes (each with its pool)")
        parser.add_argument("--concurrency", type=int, default=2, help="Pool processes per worker")
        parser.add_argument("--broker", default=None, help="Redis URL (default CELERY_BROKER_URL or local db 14)")
        parser.add_argument("--reset", action="store_true", help="Delete the data of this database first")

    def handle(self, *args, **opts):
        try:
            reliability.prepare_database(reset=opts["reset"])
        except ValueError as exc:
            raise CommandError(str(exc)) from None
        first_day = dt.date(2026, 1, 1)
        started = time.perf_counter()
        reliability.seed(shops=opts["shops"], products=opts["products"], creators=opts["creators"], as_of=first_day)
        self.stdout.write(
            f"built {opts['shops']:,} shops, {opts['products']:,} products, {opts['creators']:,} creators with "
            f"seller members and creator users in {time.perf_counter() - started:.1f}s; chunks of "
            f"{opts['chunk_size']}, {opts['workers']} workers x {opts['concurrency']} pool processes"
        )
        results = reliability.kill_trials(
            trials=opts["trials"],
            seed=opts["seed"],
            chunk_size=opts["chunk_size"],
            worker_count=opts["workers"],
            concurrency=opts["concurrency"],
            broker=opts["broker"] or reliability.broker_url(),
            first_day=first_day,
            out=self.stdout.write,
        )
        broken = [trial for trial in results if trial.problems]
        kills = sum(len(trial.kills) for trial in results)
        self.stdout.write(
            f"{len(results) - 1} trials, {kills} kills: {len(results) - len(broken)} runs complete and exact, "
            f"{len(broken)} broken"
        )
        if broken:
            raise CommandError(f"invariants broken in trials {[trial.number for trial in broken]}")
