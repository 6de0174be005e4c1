"""What the reliability commands (``manage.py reliability_*``, ``status_checksum``) and their tests
share: a checksum of every verdict, a seeded data set with people to notify, real Celery
workers that can be killed, the invariants of a finished run checked in SQL, and the scenarios
themselves (workers killed, Redis down, PostgreSQL restarted, memory over repeated runs).

Every scenario prints what it measures and returns the invariants it found broken; the
commands exit non-zero when that list is not empty. PostgreSQL only.
"""

from __future__ import annotations

import contextlib
import dataclasses
import datetime as dt
import hashlib
import logging
import math
import os
import random
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

from django.conf import settings
from django.db import connection
from django.db.models import Q
from django.test.utils import override_settings

from affiliate.models import AffiliatePlan, Creator, PlanProduct
from compliance_portal.celery import app
from shops import benchmark
from shops.models import (
    Entity,
    EvaluationRun,
    Notification,
    Product,
    RunChunk,
    Seller,
    SellerMembership,
    Shop,
    StatusHistory,
    User,
    WebhookEvent,
    WebhookSubscription,
)
from shops.rules import codes as c

logger = logging.getLogger(__name__)

ROOT = Path(settings.BASE_DIR)
ENTITY_MODELS = {Entity.SHOP: Shop, Entity.PRODUCT: Product, Entity.CREATOR: Creator}
DEFAULT_BROKER = "redis://127.0.0.1:6379/14"
Out = Callable[[str], None]


def _table(model) -> str:
    return connection.ops.quote_name(model._meta.db_table)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def database_url(settings_dict: dict | None = None, *, name: str | None = None, port: int | None = None) -> str:
    """A DATABASE_URL for child processes: the current connection's, or another database of it."""
    db = settings_dict or connection.settings_dict
    auth = db["USER"] + (f":{db['PASSWORD']}" if db.get("PASSWORD") else "")
    host = db.get("HOST") or "127.0.0.1"
    return f"postgres://{auth}@{host}:{port or db.get('PORT') or 5432}/{name or db['NAME']}"


def broker_url() -> str:
    """The broker of the reliability scenarios: the configured Redis, else a database of the local one."""
    configured = os.environ.get("CELERY_BROKER_URL") or os.environ.get("REDIS_URL")
    return configured or DEFAULT_BROKER


# The checksum of every verdict --------------------------------------------------------------------


def status_checksum() -> dict:
    """Per entity type: how many, how many per status, and an MD5 over every entity's
    key, status and reasons (shops also their permanent disqualification), computed in SQL.

    Equal checksums mean equal verdicts, whatever the workers or the chunk size that produced them.
    """
    result: dict = {}
    with connection.cursor() as cursor:
        for entity, model in ENTITY_MODELS.items():
            extra = " || ':' || permanently_disqualified::text" if entity == Entity.SHOP else ""
            table = _table(model)
            cursor.execute(
                f"""SELECT count(*), md5(coalesce(string_agg(
                        key || ':' || coalesce(status, '-') || ':' || reasons::text{extra}, E'\\n'
                        ORDER BY key COLLATE "C"), ''))
                    FROM {table}"""  # nosec B608 # table names from model metadata, values are query parameters
            )
            count, digest = cursor.fetchone()
            cursor.execute(f"SELECT coalesce(status, '-'), count(*) FROM {table} GROUP BY 1 ORDER BY 1")  # nosec B608 # table names from model metadata, values are query parameters
            result[str(entity)] = {"entities": count, "md5": digest, "statuses": dict(cursor.fetchall())}
    combined = ":".join(result[str(entity)]["md5"] for entity in ENTITY_MODELS)
    result["checksum"] = hashlib.md5(combined.encode(), usedforsecurity=False).hexdigest()
    return result


# The data set ------------------------------------------------------------------------------------


def seed(*, shops: int, products: int, creators: int, as_of: dt.date) -> None:
    """The benchmark's synthetic data, plus people the run tells about changes: one member per
    seller, one user per tenth creator, and an ``eligibility.changed`` subscription whose events
    are recorded in the outbox but never sent (its user is inactive: no traffic leaves)."""
    generate(shops=shops, products=products, creators=creators, as_of=as_of)
    members = User.objects.bulk_create(
        [
            User(email=f"member-{pk}@reliability.invalid", role=User.Role.SELLER, password="!")  # noqa: S106  # nosec B106 # '!' is Django's unusable-password marker; the webhook secret is never sent
            for pk in Seller.objects.values_list("id", flat=True)
        ],
        batch_size=2000,
    )
    SellerMembership.objects.bulk_create(
        [SellerMembership(user=user, seller_id=int(user.email.split("-")[1].split("@")[0])) for user in members],
        batch_size=2000,
    )
    User.objects.bulk_create(
        [
            User(email=f"creator-{pk}@reliability.invalid", role=User.Role.CREATOR, creator_id=pk, password="!")  # noqa: S106  # nosec B106 # '!' is Django's unusable-password marker; the webhook secret is never sent
            for pk in Creator.objects.order_by("id").values_list("id", flat=True)[::10]
        ],
        batch_size=2000,
    )
    from shops.services.tokens import api_token_create

    listener = User.objects.create(
        email="webhooks@reliability.invalid",
        role=User.Role.OPS,
        password="!",  # noqa: S106  # nosec B106 # '!' is Django's unusable-password marker; the webhook secret is never sent
        is_active=False,
    )
    token, _ = api_token_create(user=listener, scopes=["eligibility:read"], purpose="Reliability outbox checks")
    WebhookSubscription.objects.create(
        token=token,
        url="http://127.0.0.1:9/reliability",
        events=[WebhookSubscription.Event.ELIGIBILITY_CHANGED, WebhookSubscription.Event.RUN_COMPLETED],
        secret="reliability-not-sent",  # noqa: S106  # nosec B106 # '!' is Django's unusable-password marker; the webhook secret is never sent
    )


def generate(*, shops: int, products: int, creators: int, as_of: dt.date) -> None:
    """The benchmark's data set (``bench_evaluate``'s)."""
    benchmark.generate(shops=shops, products=products, creators=creators, as_of=as_of)


def prepare_database(*, reset: bool) -> None:
    """Refuse a database holding data (the scenarios write and delete freely), or recreate it."""
    if connection.vendor != "postgresql":
        raise ValueError("The reliability scenarios need PostgreSQL; set DATABASE_URL")
    used = benchmark.has_data() or EvaluationRun.objects.exists() or User.objects.exists()
    if used and not reset:
        raise ValueError(
            "This database already holds data: use a dedicated one, or --reset to drop and recreate it (migrated)"
        )
    if used:
        recreate_database()


def recreate_database() -> None:
    """DROP and CREATE the configured database, then migrate it (users, audit and privacy logs
    reference each other: emptying table by table is not a job for a test script)."""
    import psycopg2

    name = connection.settings_dict["NAME"]
    url = database_url()
    connection.close()
    admin = psycopg2.connect(database_url(name="postgres"))
    admin.autocommit = True
    try:
        with admin.cursor() as cursor:
            cursor.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
            cursor.execute(f'CREATE DATABASE "{name}"')
    finally:
        admin.close()
    subprocess.run(  # noqa: S603 - our own manage.py  # nosec B603 # a fixed argument list of our own tools, no shell
        [sys.executable, str(ROOT / "manage.py"), "migrate", "--no-input", "-v", "0"],
        env=os.environ | {"DATABASE_URL": url},
        check=True,
    )


# What a run must produce, and checking that it did ------------------------------------------------


@dataclasses.dataclass
class Expected:
    """Predicted by a dry run before the run starts (nothing written)."""

    as_of: dt.date
    changes: dict[str, set[int]]
    newly_disqualified: dict[str, set[int]]
    plans_terminated: int
    plan_products_removed: int

    @property
    def changed(self) -> int:
        return sum(len(ids) for ids in self.changes.values())


def expect(*, as_of: dt.date) -> Expected:
    from shops.selectors import rulesets_in_force
    from shops.services.evaluation import evaluation_dry_run

    report = evaluation_dry_run(as_of=as_of, rules=rulesets_in_force(as_of=as_of), examples=10**9)
    changes: dict[str, set[int]] = {str(e): set() for e in ENTITY_MODELS}
    newly: dict[str, set[int]] = {str(e): set() for e in ENTITY_MODELS}
    for (entity, _transition), items in report.examples.items():
        for change in items:
            changes[entity].add(change.entity_id)
            if change.new_status == c.DISQUALIFIED and change.old_status != c.DISQUALIFIED:
                newly[entity].add(change.entity_id)
    shops, products = sorted(newly[Entity.SHOP]), sorted(newly[Entity.PRODUCT])
    active = AffiliatePlan.objects.filter(shop_id__in=shops, status=AffiliatePlan.Status.ACTIVE)
    removed = PlanProduct.objects.filter(removed_at__isnull=True).filter(
        Q(plan__in=active) | Q(product_id__in=products)
    )
    return Expected(as_of, changes, newly, active.count(), removed.count())


def _one(sql: str, params: list) -> int:
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return cursor.fetchone()[0]


def _rows(sql: str, params: list) -> list[tuple]:
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return cursor.fetchall()


def check_run(run_id: int, expected: Expected, *, after_dry_run: bool = True) -> tuple[list[str], dict]:
    """Every invariant of a finished run, in SQL; returns (what is broken, figures)."""
    problems: list[str] = []
    run = EvaluationRun.objects.get(pk=run_id)
    history, chunk, notification = _table(StatusHistory), _table(RunChunk), _table(Notification)
    shop, product, membership, user = _table(Shop), _table(Product), _table(SellerMembership), _table(User)
    if run.state != EvaluationRun.State.SUCCEEDED:
        problems.append(f"run #{run.pk} is {run.state}: {run.error}")
    chunks, done, chunk_rows, chunk_changed = _rows(
        f"SELECT count(*), count(*) FILTER (WHERE done), coalesce(sum(rows), 0), coalesce(sum(changed), 0) "
        f"FROM {chunk} WHERE run_id = %s",  # nosec B608 # table names from model metadata, values are query parameters
        [run_id],
    )[0]
    if done != chunks or run.done != run.total or chunk_rows != run.total:
        problems.append(f"unevaluated: {done}/{chunks} chunks done, {run.done}/{run.total} entities")
    half = _rows(
        f"""SELECT c.id, c.entity, c.seq, c.done, c.changed, x.n FROM {chunk} c, LATERAL (
                SELECT count(*) AS n FROM {history} h WHERE h.run_id = c.run_id AND h.entity = c.entity
                AND h.entity_id BETWEEN c.first_id AND c.last_id) x
            WHERE c.run_id = %s AND ((c.done AND x.n <> c.changed) OR (NOT c.done AND x.n > 0))""",  # nosec B608 # table names from model metadata, values are query parameters
        [run_id],
    )
    if half:
        problems.append(f"half-applied chunks (id, entity, seq, done, changed, history rows): {half[:5]}")
    duplicates = _one(
        f"SELECT count(*) FROM (SELECT 1 FROM {history} WHERE run_id = %s "
        f"GROUP BY entity, entity_id HAVING count(*) > 1) d",  # nosec B608 # table names from model metadata, values are query parameters
        [run_id],
    )
    if duplicates:
        problems.append(f"{duplicates} entities with more than one history row in the run")
    history_rows = 0
    for entity, model in ENTITY_MODELS.items():
        ids = {
            pk
            for (pk,) in _rows(
                f"SELECT entity_id FROM {history} WHERE run_id = %s AND entity = %s",  # nosec B608 # table names from model metadata, values are query parameters
                [run_id, entity],
            )
        }
        history_rows += len(ids)
        want = expected.changes[str(entity)]
        if ids != want:
            problems.append(
                f"{entity} history differs from the dry run: {len(want - ids)} missing, {len(ids - want)} unexpected"
            )
        marked = model.objects.filter(status_run_id=run_id).count()
        if marked != len(ids):
            problems.append(f"{entity}: {marked} rows carry the run, {len(ids)} history rows")
    if run.changed != history_rows or chunk_changed != history_rows:
        problems.append(f"counters: run.changed {run.changed}, chunks {chunk_changed}, history {history_rows}")
    want_notifications = _one(
        f"""SELECT
            (SELECT count(*) FROM {history} h JOIN {shop} s ON s.id = h.entity_id
                JOIN {membership} m ON m.seller_id = s.seller_id JOIN {user} u ON u.id = m.user_id AND u.is_active
                WHERE h.run_id = %s AND h.entity = 'shop')
          + (SELECT count(*) FROM {history} h JOIN {product} p ON p.id = h.entity_id JOIN {shop} s ON s.id = p.shop_id
                JOIN {membership} m ON m.seller_id = s.seller_id JOIN {user} u ON u.id = m.user_id AND u.is_active
                WHERE h.run_id = %s AND h.entity = 'product')
          + (SELECT count(*) FROM {history} h JOIN {user} u ON u.creator_id = h.entity_id AND u.is_active
                WHERE h.run_id = %s AND h.entity = 'creator')""",  # nosec B608 # table names from model metadata, values are query parameters
        [run_id, run_id, run_id],
    )
    prefix = f"run:{run_id}:%"
    notifications = _one(f"SELECT count(*) FROM {notification} WHERE dedupe_key LIKE %s", [prefix])  # nosec B608 # table names from model metadata, values are query parameters
    if notifications != want_notifications:
        problems.append(f"notifications: {notifications}, expected {want_notifications} (one per change and person)")
    duplicate_notes = _one(
        f"SELECT count(*) FROM (SELECT 1 FROM {notification} WHERE dedupe_key LIKE %s "
        f"GROUP BY user_id, dedupe_key HAVING count(*) > 1) d",  # nosec B608 # table names from model metadata, values are query parameters
        [prefix],
    )
    if duplicate_notes:
        problems.append(f"{duplicate_notes} notifications sent twice")
    events = WebhookEvent.objects.filter(dedupe_key__startswith=f"run:{run_id}:")
    completed = events.filter(dedupe_key=f"run:{run_id}:completed").count()
    changed_events = events.count() - completed
    if WebhookSubscription.objects.filter(active=True).exists():
        if changed_events != history_rows:
            problems.append(f"webhook outbox: {changed_events} eligibility.changed events for {history_rows} changes")
        if run.state == EvaluationRun.State.SUCCEEDED and completed != 1:
            problems.append(f"webhook outbox: {completed} run.completed events")
    terminated = AffiliatePlan.objects.filter(terminated_by_run_id=run_id).count()
    removed = PlanProduct.objects.filter(removed_by_run_id=run_id).count()
    if terminated != expected.plans_terminated:
        problems.append(f"plans terminated: {terminated}, expected {expected.plans_terminated}")
    if removed != expected.plan_products_removed:
        problems.append(f"plan products removed: {removed}, expected {expected.plan_products_removed}")
    still_active = AffiliatePlan.objects.filter(
        shop_id__in=expected.newly_disqualified[Entity.SHOP], status=AffiliatePlan.Status.ACTIVE
    ).count()
    if still_active:
        problems.append(f"{still_active} plans of newly disqualified shops still active")
    left = None
    if after_dry_run and run.state == EvaluationRun.State.SUCCEEDED:
        left = expect(as_of=run.as_of).changed
        if left:
            problems.append(f"{left} entities' stored verdicts differ from the rules as of {run.as_of}")
    figures = {
        "entities": run.total,
        "chunks": chunks,
        "changed": history_rows,
        "notifications": notifications,
        "webhook events": changed_events + completed,
        "plans terminated": terminated,
        "plan products removed": removed,
    }
    return problems, figures


# Celery workers that can be killed ------------------------------------------------------------------


@contextlib.contextmanager
def celery_client(*, broker: str, queue: str) -> Iterator[None]:
    """This process sends tasks to ``queue`` on ``broker`` (instead of running them in-process)."""
    conf = app.conf
    previous = conf.task_always_eager, conf.task_default_queue, conf.broker_url
    if conf.broker_url != broker:
        _drop_broker_connections()
    conf.task_always_eager, conf.task_default_queue, conf.broker_url = False, queue, broker
    try:
        yield
    finally:
        _drop_broker_connections()
        conf.task_always_eager, conf.task_default_queue, conf.broker_url = previous


def _drop_broker_connections() -> None:
    # Forget the app's pools (they are built for one broker URL) without closing them: kombu
    # keeps producer pools per URL for the whole process and hands the same one out again.
    app._pool = None
    app.amqp._producer_pool = None


def worker_env(*, database: str, broker: str, queue: str, **extra: str) -> dict[str, str]:
    return os.environ | {
        "DJANGO_SETTINGS_MODULE": "compliance_portal.settings",
        "COMPLIANCE_ENV": "local",
        "DATABASE_URL": database,
        "CELERY_BROKER_URL": broker,
        "CELERY_TASK_ALWAYS_EAGER": "0",
        "CELERY_QUEUE": queue,
        "EMAIL_BACKEND": "django.core.mail.backends.dummy.EmailBackend",
        "LOG_LEVEL": "WARNING",
        "PGAPPNAME": "cp-reliability-worker",
        **extra,
    }


class Worker:
    """``celery worker`` in a process group of its own, so that the whole of it can be killed."""

    def __init__(self, *, name: str, env: dict[str, str], concurrency: int = 1, log_dir: Path):
        self.name, self.env, self.concurrency = name, env, concurrency
        self.log = log_dir / f"{name}.log"
        self.process: subprocess.Popen | None = None
        self.starts = 0

    def start(self) -> Worker:
        self.starts += 1
        log = self.log.open("a")
        self.ready_mark = f"{self.name}@"
        self._log_offset = self.log.stat().st_size
        self.process = subprocess.Popen(  # noqa: S603 - our own worker command  # nosec B603 # a fixed argument list of our own tools, no shell
            [
                sys.executable,
                "-m",
                "celery",
                "-A",
                "compliance_portal",
                "worker",
                "-Q",
                self.env["CELERY_QUEUE"],
                "-c",
                str(self.concurrency),
                "-n",
                f"{self.name}@%h",
                "-l",
                "info",
                "--without-gossip",
                "--without-mingle",
                "--without-heartbeat",
            ],
            cwd=ROOT,
            env=self.env,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        log.close()
        return self

    def wait_ready(self, timeout: float = 90) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with self.log.open() as log:
                log.seek(self._log_offset)
                if " ready." in log.read():
                    return
            if self.process.poll() is not None:
                raise RuntimeError(f"worker {self.name} exited ({self.process.returncode}); see {self.log}")
            time.sleep(0.1)
        raise RuntimeError(f"worker {self.name} not ready after {timeout}s; see {self.log}")

    def pids(self) -> list[int]:
        if self.process is None or self.process.poll() is not None:
            return []
        return [self.process.pid, *_children(self.process.pid)]

    def kill(self) -> None:
        """SIGKILL to the worker and its pool processes at once, as when a machine dies."""
        if self.process is not None and self.process.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait()

    def kill_child(self, rng: random.Random) -> int | None:
        """SIGKILL to one pool process; the worker replaces it and re-queues its task."""
        children = _children(self.process.pid) if self.process else []
        if not children:
            return None
        victim = rng.choice(sorted(children))
        with contextlib.suppress(ProcessLookupError):
            os.kill(victim, signal.SIGKILL)
        return victim

    def stop(self, timeout: float = 30) -> None:
        if self.process is None or self.process.poll() is not None:
            return
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.process.pid, signal.SIGTERM)
        try:
            self.process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.kill()

    def rss_mb(self) -> float:
        return sum(rss_mb(pid) for pid in self.pids())

    def peak_mb(self) -> float:
        """The largest peak RSS among the worker's processes (the pool process doing the work)."""
        return max((rss_mb(pid, "VmHWM") for pid in self.pids()), default=0.0)


def _children(pid: int) -> list[int]:
    try:
        return [int(p) for p in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()]
    except OSError:
        return []


def rss_mb(pid: int, field: str = "VmRSS") -> float:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith(f"{field}:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return 0.0


@contextlib.contextmanager
def workers(
    count: int,
    *,
    broker: str,
    concurrency: int = 1,
    queue: str | None = None,
    database: str | None = None,
    **extra_env: str,
) -> Iterator[list[Worker]]:
    """``count`` worker processes on a queue of their own; this process sends its tasks there."""
    queue = queue or new_queue()
    log_dir = Path(tempfile.mkdtemp(prefix="cp-reliability-"))
    env = worker_env(database=database or database_url(), broker=broker, queue=queue, **extra_env)
    pool = [Worker(name=f"w{i}-{queue}", env=env, concurrency=concurrency, log_dir=log_dir) for i in range(count)]
    try:
        with celery_client(broker=broker, queue=queue):
            for worker in pool:
                worker.start()
            for worker in pool:
                worker.wait_ready()
            yield pool
            with contextlib.suppress(Exception), app.connection_for_write() as conn:
                conn.default_channel.queue_delete(queue)  # what is left in it: duplicates of done work
    finally:
        for worker in pool:
            worker.stop()
        shutil.rmtree(log_dir, ignore_errors=True)


def new_queue() -> str:
    return f"reliability-{uuid.uuid4().hex[:8]}"


def play_beat() -> None:
    """What the beat's sweeps do every minute (here: every call), with this process's settings."""
    from shops.feed_tasks import feed_jobs_requeue_task
    from shops.tasks import evaluation_resume_task

    evaluation_resume_task()
    feed_jobs_requeue_task()


def wait_for_run(
    run_id: int, *, timeout: float, sweep_every: float = 1.0, on_progress: Callable[[EvaluationRun], None] | None = None
) -> EvaluationRun:
    """Follow a run until it has finished, sweeping like the beat; raises TimeoutError."""
    deadline = time.monotonic() + timeout
    next_sweep = time.monotonic() + sweep_every
    while True:
        run = EvaluationRun.objects.get(pk=run_id)
        if on_progress is not None:
            on_progress(run)
        if run.state != EvaluationRun.State.RUNNING:
            return run
        if time.monotonic() > deadline:
            raise TimeoutError(f"run #{run_id} still running after {timeout:.0f}s ({run.done}/{run.total})")
        if time.monotonic() >= next_sweep:
            play_beat()
            next_sweep = time.monotonic() + sweep_every
        time.sleep(0.05)


def start_run(*, as_of: dt.date, chunk_size: int) -> EvaluationRun:
    from shops.services.evaluation import evaluation_start
    from shops.tasks import evaluation_dispatch

    run = evaluation_start(as_of=as_of, chunk_size=chunk_size)
    evaluation_dispatch(run)
    return run


# Point 2: workers killed at random points ----------------------------------------------------------


@dataclasses.dataclass
class Trial:
    number: int
    as_of: dt.date
    kills: list[str]
    seconds: float
    problems: list[str]
    figures: dict


def kill_trials(
    *,
    trials: int,
    seed: int,
    chunk_size: int,
    worker_count: int = 2,
    concurrency: int = 2,
    broker: str,
    first_day: dt.date,
    out: Out,
    stalled_after: int = 2,
) -> list[Trial]:
    """Each trial is a new day (~5 % changing); workers are SIGKILLed at seeded points of the
    run (the whole worker with its pool, or one pool process), restarted, and the run's
    invariants checked in SQL. The first run (every entity new) is made without kills."""
    results = []
    with (
        override_settings(EVALUATION_STALLED_AFTER_SECONDS=stalled_after),
        workers(worker_count, broker=broker, concurrency=concurrency) as pool,
    ):
        expected = expect(as_of=first_day)
        started = time.monotonic()
        run = wait_for_run(start_run(as_of=first_day, chunk_size=chunk_size).pk, timeout=600)
        calibration = time.monotonic() - started
        problems, figures = check_run(run.pk, expected)
        out(
            f"first run (every entity new, no kill): run #{run.pk} {run.state} in {calibration:.1f}s, "
            f"{figures['entities']:,} entities in {figures['chunks']} chunks, {figures['changed']:,} changed"
            + (f"; BROKEN: {problems}" if problems else "")
        )
        results.append(Trial(0, first_day, [], calibration, problems, figures))
        for number in range(1, trials + 1):
            rng = random.Random(f"{seed}:{number}")  # noqa: S311 - reproducible kill points, not security
            as_of = first_day + dt.timedelta(days=number)
            benchmark.change_share(day=number, as_of=as_of)
            expected = expect(as_of=as_of)
            points = sorted(rng.uniform(0.02, 0.98) for _ in range(rng.choice((1, 2, 3))))
            plan = [(point, rng.choice(("worker", "pool process")), rng.randrange(len(pool))) for point in points]
            kills: list[str] = []
            started = time.monotonic()
            run = start_run(as_of=as_of, chunk_size=chunk_size)

            def progress(current: EvaluationRun, plan=plan, kills=kills, rng=rng) -> None:
                while plan and current.total and current.done >= plan[0][0] * current.total:
                    point, what, index = plan.pop(0)
                    time.sleep(rng.uniform(0, 0.05))
                    worker = pool[index]
                    if what == "worker":
                        worker.kill()
                        time.sleep(rng.uniform(0.1, 1.0))
                        worker.start()
                        kills.append(f"{worker.name.split('-')[0]} at {point:.0%} ({current.phase})")
                    else:
                        victim = worker.kill_child(rng)
                        name = worker.name.split("-")[0]
                        if victim is None:
                            kills.append(f"no pool process of {name} at {point:.0%} (still restarting)")
                        else:
                            kills.append(f"pool process {victim} of {name} at {point:.0%}")

            try:
                run = wait_for_run(run.pk, timeout=max(120, 20 * calibration), on_progress=progress)
                problems, figures = check_run(run.pk, expected)
            except TimeoutError as exc:
                problems, figures = [str(exc)], {"changed": 0, "chunks": 0, "notifications": 0}
            seconds = time.monotonic() - started
            for worker in pool:
                if worker.process.poll() is not None:
                    worker.start()
            out(
                f"trial {number:>2} (seed {seed}, as of {as_of}): killed {', '.join(kills) or 'nothing (too quick)'}"
                f"; run #{run.pk} {run.state} in {seconds:.1f}s, {figures['changed']:,} changed, "
                f"{figures['notifications']:,} notifications -> "
                + ("OK" if not problems else "BROKEN: " + "; ".join(problems))
            )
            results.append(Trial(number, as_of, kills, seconds, problems, figures))
            for worker in pool:
                with contextlib.suppress(RuntimeError):
                    worker.wait_ready(timeout=60)
    return results


# Point 5: PostgreSQL restarted mid-run --------------------------------------------------------------


class ThrowawayCluster:
    """A PostgreSQL cluster of its own in a temporary folder (never the shared one), trust auth."""

    def __init__(self, *, port: int, folder: str | None = None, bin_dir: str | None = None):
        self.port = port
        self.bin_dir = Path(bin_dir or _postgres_bin())
        self.folder = Path(folder or tempfile.mkdtemp(prefix="cp-chaos-pg-"))
        self.data = self.folder / "data"
        self.logfile = self.folder / "server.log"

    def _as_postgres(self, *args: str) -> list[str]:
        # initdb and the server refuse to run as root.
        if os.geteuid() == 0:
            shutil.chown(self.folder, user="postgres")
            return ["runuser", "-u", "postgres", "--", *args]
        return list(args)

    def _run(self, *args: str) -> None:
        subprocess.run(self._as_postgres(*args), check=True, capture_output=True, cwd=self.folder)  # noqa: S603  # nosec B603 # a fixed argument list of our own tools, no shell

    def create(self) -> ThrowawayCluster:
        self._run(str(self.bin_dir / "initdb"), "-D", str(self.data), "-A", "trust", "-U", "postgres", "--no-sync")
        with (self.data / "postgresql.conf").open("a") as conf:
            conf.write(
                f"\nport = {self.port}\nlisten_addresses = '127.0.0.1'\nunix_socket_directories = '{self.folder}'\n"
            )
            conf.write("fsync = off\nshared_buffers = 128MB\n")
        self.start()
        return self

    def pg_ctl(self, action: str, *extra: str) -> None:
        self._run(str(self.bin_dir / "pg_ctl"), "-D", str(self.data), "-l", str(self.logfile), "-w", action, *extra)

    def start(self) -> None:
        self.pg_ctl("start")

    def stop(self) -> None:
        self.pg_ctl("stop", "-m", "fast")

    def restart(self) -> None:
        self.pg_ctl("restart", "-m", "fast")

    def destroy(self) -> None:
        with contextlib.suppress(subprocess.CalledProcessError):
            self.pg_ctl("stop", "-m", "immediate")
        shutil.rmtree(self.folder, ignore_errors=True)

    def url(self, name: str) -> str:
        return f"postgres://postgres@127.0.0.1:{self.port}/{name}"


def _postgres_bin() -> str:
    versions = sorted(Path("/usr/lib/postgresql").glob("*/bin"), key=lambda p: int(p.parent.name))
    if versions:
        return str(versions[-1])
    return str(Path(shutil.which("pg_ctl") or "/usr/bin/pg_ctl").parent)


def terminate_backends(application_name: str) -> int:
    """pg_terminate_backend for every session of ``application_name`` (only ours)."""
    return _one(
        "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity WHERE application_name = %s AND pid <> "
        "pg_backend_pid()",
        [application_name],
    )


# Point 6: the open-loop load generator --------------------------------------------------------------


@dataclasses.dataclass
class LoadResult:
    path: str
    rate: float
    seconds: float
    sent: int
    ok: int
    errors: dict[str, int]
    latencies_ms: list[float]
    # From the first request due to the last answer: what the answered requests/s are counted over.
    elapsed: float = 0.0
    # How late the generator itself sent requests (a busy client shows here, not as server time).
    send_lag_ms: list[float] = dataclasses.field(default_factory=list)

    @staticmethod
    def _rank(values: list[float], share: float) -> float:
        """Nearest rank: the smallest value with at least ``share`` of them at or below it."""
        if not values:
            return float("nan")
        ordered = sorted(values)
        return ordered[max(0, min(len(ordered), math.ceil(share * len(ordered))) - 1)]

    def percentile(self, share: float) -> float:
        return self._rank(self.latencies_ms, share)

    @property
    def throughput(self) -> float:
        return self.ok / self.elapsed if self.elapsed else 0.0

    @property
    def send_lag_p99(self) -> float:
        return self._rank(self.send_lag_ms, 0.99)


def open_loop(
    *, host: str, port: int, path: str, rate: float, seconds: float, headers: dict[str, str], timeout: float = 10.0
) -> LoadResult:
    """Requests sent at a fixed arrival rate whatever the answers (open loop, as wrk2 does); each
    latency runs from the moment the request was due, so a slow server cannot hide its queue
    (no coordinated omission). Only a 2xx answer counts as answered: a redirect (to the sign-in
    page, say) or a timeout is an error, and its latency is not among the percentiles."""
    import asyncio

    lines = [f"GET {path} HTTP/1.1", f"Host: {host}:{port}", "Connection: close"]
    lines += [f"{name}: {value}" for name, value in headers.items()]
    request = ("\r\n".join(lines) + "\r\n\r\n").encode()
    result = LoadResult(path, rate, seconds, 0, 0, {}, [])

    def error(kind: str) -> None:
        result.errors[kind] = result.errors.get(kind, 0) + 1

    async def one(due: float) -> None:
        try:
            async with asyncio.timeout(timeout):
                reader, writer = await asyncio.open_connection(host, port)
                writer.write(request)
                await writer.drain()
                status_line = await reader.readline()
                await reader.read()  # the server closes the connection after the body
                writer.close()
        except TimeoutError:
            error("timeout")
            return
        except OSError as exc:
            error(type(exc).__name__)
            return
        latency = (time.monotonic() - due) * 1000
        parts = status_line.split()
        status = int(parts[1]) if len(parts) > 1 and parts[1].isdigit() else 0
        if 200 <= status < 300:
            result.ok += 1
            result.latencies_ms.append(latency)
        else:
            error(f"HTTP {status}")

    async def main() -> None:
        tasks = set()
        start = time.monotonic()
        total = int(rate * seconds)
        for i in range(total):
            due = start + i / rate
            delay = due - time.monotonic()
            if delay > 0:
                await asyncio.sleep(delay)
            result.send_lag_ms.append(max(0.0, time.monotonic() - due) * 1000)
            task = asyncio.create_task(one(due))
            tasks.add(task)
            task.add_done_callback(tasks.discard)
            result.sent += 1
        if tasks:
            await asyncio.wait(tasks)
        result.elapsed = time.monotonic() - start

    asyncio.run(main())
    return result


def session_cookie(user: User) -> str:
    """A signed-in session (second factor passed) for ``user``, as the sign-in view leaves it."""
    from django.contrib.auth import BACKEND_SESSION_KEY, HASH_SESSION_KEY, SESSION_KEY
    from django.contrib.sessions.backends.db import SessionStore

    from shops.services.auth import OTP_SESSION_KEY

    session = SessionStore()
    session[SESSION_KEY] = str(user.pk)
    session[BACKEND_SESSION_KEY] = "django.contrib.auth.backends.ModelBackend"
    session[HASH_SESSION_KEY] = user.get_session_auth_hash()
    session[OTP_SESSION_KEY] = True
    session.create()
    return f"{settings.SESSION_COOKIE_NAME}={session.session_key}"


@contextlib.contextmanager
def gunicorn(
    *, workers: int = 2, threads: int = 1, env: dict[str, str] | None = None, log: Path | None = None
) -> Iterator[int]:
    """Serve this database with gunicorn on a free port; yields the port once it answers."""
    import urllib.request

    port = free_port()
    errors = log.open("a") if log else subprocess.DEVNULL
    server_env = os.environ | {
        "DJANGO_SETTINGS_MODULE": "compliance_portal.settings",
        "DATABASE_URL": database_url(),
        "DEBUG": "0",
        "LOG_LEVEL": "WARNING",
        **(env or {}),
    }
    server = subprocess.Popen(  # noqa: S603 - fixed arguments  # nosec B603 # a fixed argument list of our own tools, no shell
        [
            sys.executable,
            "-m",
            "gunicorn",
            "compliance_portal.wsgi:application",
            "-b",
            f"127.0.0.1:{port}",
            "-w",
            str(workers),
            "--threads",
            str(threads),
            "--access-logfile",
            "/dev/null",
        ],
        cwd=ROOT,
        env=server_env,
        stdout=subprocess.DEVNULL,
        stderr=errors,
        start_new_session=True,
    )
    if log:
        errors.close()
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                urllib.request.urlopen(f"http://127.0.0.1:{port}/livez", timeout=2)  # noqa: S310 - our own server  # nosec B310 # urlopen of our own server on 127.0.0.1
                break
            except OSError:
                if time.monotonic() > deadline or server.poll() is not None:
                    raise RuntimeError("gunicorn did not start") from None
                time.sleep(0.3)
        yield port
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(server.pid, signal.SIGTERM)
        server.wait(timeout=30)


class RedisServer:
    """A Redis of its own on a free port (the shared one is never stopped), nothing on disk."""

    def __init__(self, port: int | None = None):
        self.port = port or free_port()
        self.process: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> RedisServer:
        # redis-server from PATH: a tool of the machine, with a fixed argument list and no shell.
        command = ["redis-server", "--port", str(self.port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"]
        self.process = subprocess.Popen(  # noqa: S603  # nosec B603 B607 # see above
            command,  # noqa: S607
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + 10
        while True:
            with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", self.port), timeout=0.2):
                return self
            if time.monotonic() > deadline:
                raise RuntimeError(f"redis-server did not start on port {self.port}")
            time.sleep(0.05)

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
            self.process.wait()


# Point 4: Redis down ---------------------------------------------------------------------------------

# A feed that changes no verdict (a new empty category), so that the run's checks stay exact.
OUTBOX_FEED = b"category_id,parent_id,name,name_zh,gated,avg_nrr_30d\nREL-OUTBOX,,Outbox check,,false,\n"
# Pages, read as a signed-in ops user: the session lives in PostgreSQL.
PAGE_PATHS = ("/ops/", "/shops/{shop}/", "/products/", "/notifications/")
READ_PATHS = (
    "/healthz",
    "/admin/login/",
    "/api/v1/shops/{shop}/",
    "/api/v1/products/?page_size=50",
    *PAGE_PATHS,
)


def _timed(call: Callable[[], object]) -> tuple[object, float]:
    started = time.monotonic()
    response = call()
    return response, time.monotonic() - started


def redis_down_scenario(*, out: Out, media_root: str, limit_seconds: float = 1.0) -> tuple[list[str], dict]:
    """A server whose broker and rate-limit Redis is stopped: reads answer, actions that queue
    work (a feed push, a run start) answer within ``limit_seconds``, and once Redis is back the
    sweeps deliver that work: the feed is imported, the run completes exactly."""
    import requests

    from shops.models import FeedJob
    from shops.services.tokens import api_token_create

    problems: list[str] = []
    figures: dict = {}
    redis_server = RedisServer().start()
    queue = new_queue()
    ops = User.objects.create(
        email=f"ops-{queue}@reliability.invalid",
        role=User.Role.OPS,
        is_staff=True,
        password="!",  # noqa: S106  # nosec B106 # '!' is Django's unusable-password marker; the webhook secret is never sent
    )
    _, token = api_token_create(user=ops, scopes=["eligibility:read", "feeds:write"], purpose="Redis-down checks")
    shop = Shop.objects.order_by("id").values_list("key", flat=True).first()
    headers = {"Authorization": f"Bearer {token}", "User-Agent": "reliability-redis-down/1.0"}
    page_headers = {"Cookie": session_cookie(ops), "User-Agent": "reliability-redis-down/1.0"}
    env = {
        "CELERY_BROKER_URL": redis_server.url,
        "RATE_LIMIT_REDIS_URL": redis_server.url,
        "CELERY_TASK_ALWAYS_EAGER": "0",
        "CELERY_QUEUE": queue,
        "MEDIA_ROOT": media_root,
    }
    try:
        with gunicorn(workers=1, threads=4, env=env, log=Path(media_root) / "gunicorn.log") as port:
            base = f"http://127.0.0.1:{port}"

            def get(path: str):
                if path in PAGE_PATHS:  # a redirect would be to the sign-in page: not served
                    return requests.get(
                        base + path.format(shop=shop), headers=page_headers, timeout=10, allow_redirects=False
                    )
                return requests.get(base + path.format(shop=shop), headers=headers, timeout=10)

            for path in READ_PATHS:
                if get(path).status_code != 200:
                    problems.append(f"{path} fails even with Redis up")
            redis_server.stop()
            out(f"Redis on port {redis_server.port} stopped (broker and rate limits of the server)")
            for path in READ_PATHS:
                timings = []
                for _ in range(3):
                    response, seconds = _timed(lambda path=path: get(path))
                    timings.append(seconds)
                    if response.status_code != 200:
                        problems.append(f"GET {path} answered {response.status_code} with Redis down")
                figures[f"GET {path}"] = max(timings)
                out(f"  GET {path:<34} 200 in {1000 * max(timings):6.0f} ms (slowest of 3)")
            response, seconds = _timed(
                lambda: requests.post(
                    base + "/api/v1/feeds/",
                    files={"categories.csv": ("categories.csv", OUTBOX_FEED, "text/csv")},
                    headers=headers,
                    timeout=10,
                )
            )
            figures["POST /api/v1/feeds/"] = seconds
            out(f"  POST /api/v1/feeds/ (queues the import)      {response.status_code} in {1000 * seconds:6.0f} ms")
            if response.status_code != 202 or seconds > limit_seconds:
                problems.append(f"feed push answered {response.status_code} in {seconds:.2f}s with Redis down")
            job_id = response.json().get("id") if response.status_code == 202 else None
            response, seconds = _timed(lambda: requests.post(base + "/api/v1/runs/", headers=headers, timeout=10))
            figures["POST /api/v1/runs/"] = seconds
            out(f"  POST /api/v1/runs/ (queues the chunks)       {response.status_code} in {1000 * seconds:6.0f} ms")
            if response.status_code != 202 or seconds > limit_seconds:
                problems.append(f"run start answered {response.status_code} in {seconds:.2f}s with Redis down")
            run_id = response.json().get("id") if response.status_code == 202 else None
        job = FeedJob.objects.filter(pk=job_id).first() if job_id else None
        run = EvaluationRun.objects.filter(pk=run_id).first() if run_id else None
        if job is None or run is None:
            return problems + ["the feed job or the run was not recorded"], figures
        if job.state != FeedJob.State.QUEUED or run.state != EvaluationRun.State.RUNNING or run.done:
            problems.append(f"while Redis was down: feed job {job.state}, run {run.state} {run.done}/{run.total}")
        expected = expect(as_of=run.as_of)
        redis_server.start()
        out("Redis started again; a worker starts and the beat's sweeps run")
        started = time.monotonic()
        with (
            override_settings(FEED_JOB_REQUEUE_AFTER_SECONDS=0, EVALUATION_STALLED_AFTER_SECONDS=0),
            workers(1, broker=redis_server.url, concurrency=2, queue=queue, MEDIA_ROOT=media_root),
        ):
            run = wait_for_run(run.pk, timeout=120)
            deadline = time.monotonic() + 60
            while (job := FeedJob.objects.get(pk=job.pk)).state in (FeedJob.State.QUEUED, FeedJob.State.RUNNING):
                if time.monotonic() > deadline:
                    break
                play_beat()
                time.sleep(0.2)
        figures["delivered after Redis returned"] = time.monotonic() - started
        out(
            f"  feed job #{job.pk} {job.state} ({job.counts}), run #{run.pk} {run.state} "
            f"{run.done:,}/{run.total:,} within {figures['delivered after Redis returned']:.1f}s"
        )
        if job.state != FeedJob.State.SUCCEEDED:
            problems.append(f"feed job #{job.pk} {job.state} after Redis returned: {job.errors}")
        run_problems, run_figures = check_run(run.pk, expected)
        problems += run_problems
        figures |= run_figures
    finally:
        redis_server.stop()
        if problems and (Path(media_root) / "gunicorn.log").exists():
            out("server log:\n" + (Path(media_root) / "gunicorn.log").read_text()[-4000:])
    return problems, figures
