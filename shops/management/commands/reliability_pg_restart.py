import datetime as dt
import os
import subprocess
import sys
import time

import psycopg2
from django.core.management.base import BaseCommand, CommandError
from django.db import connection

from shops import benchmark, reliability
from shops.models import EvaluationRun
from shops.services.evaluation import evaluation_run_inline

DB_NAME = "cp_chaos"


class Command(BaseCommand):
    help = (
        "PostgreSQL restarted in the middle of a run, on a throwaway cluster of its own (initdb into a "
        "temporary folder, another port; the shared cluster is never touched): (A) Celery workers, the server "
        "restarted: the chunks retry and the run completes by itself; (B) the run in one process, the server "
        "down longer than the retry budget: the process stops, the run is left to resume, and "
        "`evaluate --resume` completes it. Each run's invariants are then checked in SQL."
    )

    def add_arguments(self, parser):
        parser.add_argument("--port", type=int, default=5440)
        parser.add_argument("--shops", type=int, default=1_000)
        parser.add_argument("--products", type=int, default=10_000)
        parser.add_argument("--creators", type=int, default=10_000)
        parser.add_argument("--chunk-size", type=int, default=500)
        parser.add_argument("--broker", default=None, help="Redis URL (default CELERY_BROKER_URL or local db 14)")
        parser.add_argument("--inside", help="(internal) the cluster's folder: run the scenarios against it")

    def handle(self, *args, **opts):
        if opts["inside"]:
            return self.scenarios(reliability.ThrowawayCluster(port=opts["port"], folder=opts["inside"]), opts)
        cluster = reliability.ThrowawayCluster(port=opts["port"])
        self.stdout.write(f"throwaway PostgreSQL cluster in {cluster.folder} on port {cluster.port}")
        try:
            cluster.create()
            admin = psycopg2.connect(cluster.url("postgres"))
            admin.autocommit = True
            with admin.cursor() as cursor:
                cursor.execute(f"CREATE DATABASE {DB_NAME}")
            admin.close()
            env = os.environ | {
                "DATABASE_URL": cluster.url(DB_NAME),
                "EMAIL_BACKEND": "django.core.mail.backends.dummy.EmailBackend",
            }
            manage = [sys.executable, "manage.py"]
            subprocess.run([*manage, "migrate", "--no-input", "-v", "0"], env=env, check=True)  # noqa: S603  # nosec B603 # a fixed argument list of our own tools, no shell
            argv = [a for a in sys.argv[2:] if not a.startswith("--inside")]
            result = subprocess.run(  # noqa: S603 - this command again, inside the cluster  # nosec B603 # a fixed argument list of our own tools, no shell
                [*manage, "reliability_pg_restart", *argv, "--inside", str(cluster.folder)], env=env, check=False
            )
        finally:
            cluster.destroy()
        if result.returncode:
            raise CommandError("invariants broken after a PostgreSQL restart (see above)")

    def scenarios(self, cluster, opts):
        out = self.stdout.write
        first_day = dt.date(2026, 1, 1)
        reliability.seed(shops=opts["shops"], products=opts["products"], creators=opts["creators"], as_of=first_day)
        evaluation_run_inline(as_of=first_day)
        broker = opts["broker"] or reliability.broker_url()
        problems = []

        # A: Celery workers, the server restarted mid-run.
        day = first_day + dt.timedelta(days=1)
        benchmark.change_share(day=1, as_of=day)
        expected = reliability.expect(as_of=day)
        with reliability.workers(2, broker=broker, concurrency=2, EVALUATION_DB_RETRY_SECONDS="120") as _pool:
            run = reliability.start_run(as_of=day, chunk_size=opts["chunk_size"])
            self.wait_until(lambda: self.progress(run.pk) >= 0.4)
            done_before = EvaluationRun.objects.get(pk=run.pk).done
            connection.close()
            started = time.monotonic()
            cluster.restart()
            out(
                f"A: PostgreSQL restarted (pg_ctl restart -m fast) at {done_before:,} entities, "
                f"{time.monotonic() - started:.1f}s down"
            )
            run = reliability.wait_for_run(run.pk, timeout=600, sweep_every=5)
        problems += self.report("A", run, expected)

        # B: the run in one process, the server down longer than that process's retry budget.
        day = first_day + dt.timedelta(days=2)
        benchmark.change_share(day=2, as_of=day)
        expected = reliability.expect(as_of=day)
        env = os.environ | {
            "EVALUATION_DB_RETRY_SECONDS": "3",
            "DATABASE_URL": reliability.database_url(),
            "EMAIL_BACKEND": "django.core.mail.backends.dummy.EmailBackend",
        }
        previous = EvaluationRun.objects.order_by("-id").values_list("id", flat=True).first()
        evaluate = [sys.executable, "manage.py", "evaluate", "--as-of", day.isoformat()]
        process = subprocess.Popen(  # noqa: S603 - our own manage.py  # nosec B603 # a fixed argument list of our own tools, no shell
            [*evaluate, "--chunk-size", str(opts["chunk_size"])],
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        self.wait_until(lambda: self.progress(None, after=previous) >= 0.4)
        connection.close()
        cluster.stop()
        time.sleep(10)
        cluster.start()
        output = process.communicate(timeout=120)[0]
        run = EvaluationRun.objects.filter(pk__gt=previous).get()
        last = [line for line in output.splitlines() if line.strip()][-2:]
        out(f"B: PostgreSQL stopped for 10 s at {run.done:,}/{run.total:,}; `evaluate` exited {process.returncode}:")
        for line in last:
            out(f"     {line.strip()}")
        out(f"   run #{run.pk} is {run.state} ({run.error or 'no error recorded: the database was away'})")
        if process.returncode == 0 or run.state == EvaluationRun.State.SUCCEEDED:
            problems.append("B: the run was expected to stop while the database was away")
        resumed = subprocess.run([*evaluate, "--resume"], env=env, capture_output=True, text=True, check=False)  # noqa: S603  # nosec B603 # a fixed argument list of our own tools, no shell
        out(f"   `evaluate --resume` exited {resumed.returncode}: {(resumed.stdout.strip() or resumed.stderr)[:300]}")
        problems += self.report("B", EvaluationRun.objects.get(pk=run.pk), expected)
        for problem in problems:
            out(f"BROKEN: {problem}")
        if problems:
            raise CommandError(f"{len(problems)} invariants broken")
        out("PostgreSQL restarts: no chunk half-applied, every run completed exactly once resumed")

    def progress(self, run_id, after=0):
        try:
            runs = EvaluationRun.objects.filter(pk__gt=after).order_by("-id")
            run = runs.get(pk=run_id) if run_id else runs.first()
            return run.done / run.total if run and run.total else 0.0
        except Exception:
            connection.close()
            return 0.0

    def wait_until(self, condition, timeout: float = 300):
        deadline = time.monotonic() + timeout
        while not condition():
            if time.monotonic() > deadline:
                raise CommandError("the run did not get far enough")
            time.sleep(0.02)

    def report(self, label, run, expected):
        problems, figures = reliability.check_run(run.pk, expected)
        self.stdout.write(
            f"{label}: run #{run.pk} {run.state}, {figures['entities']:,} entities in {figures['chunks']} chunks, "
            f"{figures['changed']:,} changed, {figures['notifications']:,} notifications -> "
            + ("OK" if not problems else "BROKEN")
        )
        return [f"{label}: {problem}" for problem in problems]
