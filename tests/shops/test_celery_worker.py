"""The daily run through a real Celery worker, against the real PostgreSQL and Redis."""

import datetime as dt
import time
from decimal import Decimal
from pathlib import Path

import pytest
from django.conf import settings
from django.db import connection

from compliance_portal.celery import app
from shops.models import EvaluationRun, Product, StatusHistory
from shops.services.evaluation import evaluation_start
from shops.tasks import evaluation_daily_task, evaluation_dispatch
from tests.factories import make_category, make_creator, make_product, make_shop
from tests.workers import celery_worker

ROOT = Path(__file__).resolve().parents[2]

pytestmark = [
    pytest.mark.services,
    pytest.mark.django_db(transaction=True, serialized_rollback=True),
    pytest.mark.skipif(
        not (settings.REDIS_AVAILABLE and connection.vendor == "postgresql"),
        reason="needs PostgreSQL and Redis (REQUIRE_SERVICES=1 turns this into a failure)",
    ),
]


@pytest.fixture
def worker():
    """A real worker process on a queue of its own, sharing the test database."""
    with celery_worker() as process:
        yield process


def wait_for(run: EvaluationRun, seconds: float = 90) -> EvaluationRun:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        run.refresh_from_db()
        if run.state != EvaluationRun.State.RUNNING:
            return run
        time.sleep(0.2)
    raise AssertionError(f"run #{run.pk} still {run.state} after {seconds}s: {run.done}/{run.total}")


def wait_until_idle(queue: str, seconds: float = 30) -> None:
    """Until the queue is empty and no worker runs a task."""
    deadline = time.monotonic() + seconds
    with app.connection_for_write() as conn:
        client = conn.channel().client
        while time.monotonic() < deadline:
            active = app.control.inspect(timeout=0.5).active() or {}
            if client.llen(queue) == 0 and not any(active.values()):
                return
            time.sleep(0.2)
    raise AssertionError(f"queue {queue} still busy after {seconds}s")


def test_a_run_fanned_out_in_chunks_completes_on_a_real_worker(worker):
    category = make_category(avg_nrr_30d=Decimal("0.01"))
    warned = [make_product(category=category, reviews_30d=100, negative_reviews_30d=2) for _ in range(6)]
    fine = [make_product(category=category, reviews_30d=100, negative_reviews_30d=0) for _ in range(6)]
    restricted = make_shop(sps=Decimal("3.1"))
    creators = [make_creator(chr=Decimal("149")) for _ in range(3)]

    run = evaluation_start(as_of=dt.date(2026, 11, 20), chunk_size=4)
    evaluation_dispatch(run)
    run = wait_for(run)

    assert run.state == EvaluationRun.State.SUCCEEDED, run.error
    assert run.done == run.total == 13 + 12 + 3
    assert run.chunks.filter(done=False).count() == 0
    assert set(Product.objects.filter(pk__in=[p.pk for p in warned]).values_list("status", flat=True)) == {"WARNING"}
    assert set(Product.objects.filter(pk__in=[p.pk for p in fine]).values_list("status", flat=True)) == {"ELIGIBLE"}
    restricted.refresh_from_db()
    assert restricted.status == "RESTRICTED"
    # Exactly one history row per entity: no chunk was evaluated twice.
    assert StatusHistory.objects.filter(run=run).count() == run.total
    assert StatusHistory.objects.filter(entity="creator", new_status="NOT_QUALIFIED").count() == len(creators)


def test_the_scheduled_task_starts_one_run_per_day_however_often_it_fires(worker):
    make_shop(sps=Decimal("2.0"))
    day = "2026-11-21"
    evaluation_daily_task.delay(day)
    deadline = time.monotonic() + 60
    while not EvaluationRun.objects.filter(as_of=day, state=EvaluationRun.State.SUCCEEDED).exists():
        assert time.monotonic() < deadline, "the scheduled run did not finish"
        time.sleep(0.2)

    evaluation_daily_task.delay(day)
    evaluation_daily_task.delay(day)
    wait_until_idle(app.conf.task_default_queue)

    assert EvaluationRun.objects.filter(as_of=day, trigger="scheduled").count() == 1
    assert evaluation_daily_task.apply(args=[day]).get() is None
    assert StatusHistory.objects.filter(entity="shop", new_status="DISQUALIFIED").count() == 1
