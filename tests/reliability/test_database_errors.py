"""A chunk whose database connection dies after its writes, before its commit: nothing of it is
applied, the run retries it or fails with a clear reason, and a resumed run completes exactly.

The connection is cut by ``pg_terminate_backend`` from a second session (the shared test
cluster is never restarted; ``manage.py reliability_pg_restart`` restarts a throwaway one)."""

import datetime as dt

import psycopg2
import pytest
from django.db import OperationalError, connection

from shops import reliability
from shops.models import EvaluationRun, StatusHistory
from shops.services import evaluation
from shops.services.evaluation import evaluation_resume, evaluation_start, evaluation_work
from shops.tasks import evaluation_chunk_task
from tests.reliability.conftest import needs_services

pytestmark = needs_services

DAY = dt.date(2026, 4, 1)


def terminate_own_backend() -> None:
    """Cut this process's database session from another one, as a server restart would."""
    pid = connection.cursor().connection.info.backend_pid
    other = psycopg2.connect(reliability.database_url())
    try:
        with other.cursor() as cursor:
            cursor.execute("SELECT pg_terminate_backend(%s)", [pid])
    finally:
        other.close()


@pytest.fixture
def data():
    reliability.seed(shops=60, products=400, creators=200, as_of=DAY)
    return reliability.expect(as_of=DAY)


@pytest.fixture
def cut_after_writes(monkeypatch):
    """The connection dies right after the writes of the chunks listed (by call number)."""
    calls, cut = [], set()
    apply_changes = evaluation._apply_changes

    def apply_then_die(kind, changes, *, run, now):
        apply_changes(kind, changes, run=run, now=now)
        calls.append(kind.entity)
        if len(calls) in cut or "always" in cut:
            terminate_own_backend()
            connection.cursor().execute("SELECT 1")  # the next statement finds the session gone

    monkeypatch.setattr(evaluation, "_apply_changes", apply_then_die)
    return cut


def test_a_chunk_cut_off_before_its_commit_is_retried_and_applied_once(data, cut_after_writes, settings):
    settings.EVALUATION_DB_RETRY_SECONDS = 10
    cut_after_writes.update({2, 5})
    run = evaluation_start(as_of=DAY, chunk_size=50)

    run = evaluation_work(run=run)

    problems, figures = reliability.check_run(run.pk, data)
    assert problems == []
    assert run.state == EvaluationRun.State.SUCCEEDED
    assert figures["changed"] == run.total  # every entity is new on the first run


def test_a_database_that_keeps_failing_fails_the_run_with_its_reason_and_resume_completes_it(
    data, cut_after_writes, settings
):
    settings.EVALUATION_DB_RETRY_SECONDS = 1
    run = evaluation_start(as_of=DAY, chunk_size=50)
    cut_after_writes.add("always")

    with pytest.raises(OperationalError):
        evaluation_work(run=run)

    run.refresh_from_db()
    assert run.state == EvaluationRun.State.FAILED
    assert run.error.startswith("OperationalError while evaluating the shop chunk #0 (ids ")
    assert "(2 attempts)" in run.error and "Resume with `manage.py evaluate --resume`" in run.error
    assert run.done == 0 and not run.chunks.filter(done=True).exists()
    cut_after_writes.clear()

    run = evaluation_work(run=evaluation_resume(run=run))

    problems, _ = reliability.check_run(run.pk, data)
    assert problems == []


def test_a_celery_chunk_whose_connection_dies_is_retried_by_the_task_and_applied_once(
    data, cut_after_writes, settings, caplog
):
    settings.EVALUATION_DB_RETRY_SECONDS = 10
    run = evaluation_start(as_of=DAY, chunk_size=1000)
    chunk = run.chunks.get(entity="shop")
    cut_after_writes.add(1)

    # In-process (eager) Celery runs the task's retry at once; a worker would after 1 s.
    assert evaluation_chunk_task.apply(args=[chunk.pk], throw=False).state == "SUCCESS"

    assert "database error, retry 1 in 1s" in caplog.text
    chunk.refresh_from_db()
    assert chunk.done and chunk.changed == chunk.rows
    assert StatusHistory.objects.filter(run=run, entity="shop").count() == chunk.rows
