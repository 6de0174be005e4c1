"""One scheduled run per local day: two beats, a manual run at the hour, and daylight saving."""

import datetime as dt
import threading
from zoneinfo import ZoneInfo

import pytest
from celery.schedules import crontab
from django.db import connection

from compliance_portal.celery import app
from shops.models import EvaluationRun
from shops.services.evaluation import RunInProgress, evaluation_daily_due, evaluation_start, evaluation_work
from shops.tasks import evaluation_daily_catch_up_task, evaluation_daily_task
from tests.factories import make_creator, make_shop

pytestmark = [
    pytest.mark.django_db(transaction=True, serialized_rollback=True),
    pytest.mark.skipif(connection.vendor != "postgresql", reason="row locks and separate connections"),
]

BERLIN = ZoneInfo("Europe/Berlin")


def scheduled_runs(day) -> int:
    return EvaluationRun.objects.filter(as_of=day, trigger=EvaluationRun.Trigger.SCHEDULED).count()


def test_the_daily_task_fired_by_two_beats_at_once_starts_one_run():
    make_shop()
    make_creator()
    barrier, results, errors = threading.Barrier(6), [], []

    def beat():
        try:
            barrier.wait()
            results.append(evaluation_daily_task("2026-03-10"))
        except Exception as exc:  # pragma: no cover - reported below
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=beat) for _ in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert errors == []
    assert len([pk for pk in results if pk is not None]) == 1
    assert scheduled_runs(dt.date(2026, 3, 10)) == 1
    assert EvaluationRun.objects.get().state == EvaluationRun.State.SUCCEEDED


def test_a_manual_run_at_the_hour_defers_the_scheduled_run_to_the_catch_up(monkeypatch, settings):
    settings.TIME_ZONE = "Europe/Berlin"
    make_shop()
    manual = evaluation_start(as_of=dt.date(2026, 3, 11))

    assert evaluation_daily_task("2026-03-11") is None
    assert scheduled_runs(dt.date(2026, 3, 11)) == 0
    evaluation_work(run=manual)

    four_am = dt.datetime(2026, 3, 11, 4, 0, tzinfo=BERLIN)
    monkeypatch.setattr("shops.tasks.timezone.now", lambda: four_am)
    assert evaluation_daily_catch_up_task() is not None
    assert evaluation_daily_catch_up_task() is None
    assert scheduled_runs(dt.date(2026, 3, 11)) == 1


def test_a_manual_run_cannot_start_while_the_scheduled_one_runs():
    make_shop()
    scheduled = evaluation_start(as_of=dt.date(2026, 3, 12), trigger=EvaluationRun.Trigger.SCHEDULED)

    with pytest.raises(RunInProgress):
        evaluation_start(as_of=dt.date(2026, 3, 12))
    evaluation_work(run=scheduled)
    assert EvaluationRun.objects.filter(as_of=dt.date(2026, 3, 12)).count() == 1


def test_the_catch_up_waits_for_the_hour_and_for_no_scheduled_run(settings):
    settings.TIME_ZONE = "Europe/Berlin"
    make_shop()
    day = dt.date(2026, 3, 13)

    assert evaluation_daily_due(now=dt.datetime(2026, 3, 13, 2, 59, tzinfo=BERLIN)) is None
    assert evaluation_daily_due(now=dt.datetime(2026, 3, 13, 3, 0, tzinfo=BERLIN)) == day
    evaluation_daily_task(day.isoformat())
    assert evaluation_daily_due(now=dt.datetime(2026, 3, 13, 3, 5, tzinfo=BERLIN)) is None


class LocalCrontab(crontab):
    """The beat's crontab in ``zone``, with a clock the test moves."""

    def __init__(self, *args, zone, clock, **kwargs):
        super().__init__(*args, nowfun=lambda: clock[0].astimezone(zone), app=app, **kwargs)
        self.zone = zone

    @property
    def tz(self):
        return self.zone


@pytest.mark.parametrize(
    "daily_at, days",
    [
        # Clocks go forward at 02:00 on 2026-03-29 and back at 03:00 on 2026-10-25 in Berlin.
        ("03:00", [dt.date(2026, 3, 28), dt.date(2026, 3, 29), dt.date(2026, 3, 30)]),
        ("02:30", [dt.date(2026, 3, 28), dt.date(2026, 3, 29), dt.date(2026, 3, 30)]),
        ("03:00", [dt.date(2026, 10, 24), dt.date(2026, 10, 25), dt.date(2026, 10, 26)]),
        ("02:30", [dt.date(2026, 10, 24), dt.date(2026, 10, 25), dt.date(2026, 10, 26)]),
    ],
)
def test_daylight_saving_changes_give_one_scheduled_run_per_local_day(daily_at, days, settings, monkeypatch, capsys):
    """The beat and the catch-up sweep, minute by minute in UTC across the change of clocks."""
    hour, minute = map(int, daily_at.split(":"))
    settings.TIME_ZONE = "Europe/Berlin"
    settings.EVALUATION_DAILY_HOUR, settings.EVALUATION_DAILY_MINUTE = hour, minute
    make_shop()
    clock = [dt.datetime.combine(days[0], dt.time(0, 1), BERLIN).astimezone(dt.UTC)]
    monkeypatch.setattr("shops.tasks.timezone.now", lambda: clock[0])
    schedule = LocalCrontab(hour=hour, minute=minute, zone=BERLIN, clock=clock)
    last_run_at = clock[0].astimezone(BERLIN)
    end = dt.datetime.combine(days[-1], dt.time(23, 59), BERLIN).astimezone(dt.UTC)
    fired = []
    while clock[0] <= end:
        due, _next = schedule.is_due(last_run_at)
        if due:
            last_run_at = clock[0].astimezone(BERLIN)
            fired.append(last_run_at)
            evaluation_daily_task(last_run_at.date().isoformat())
        if clock[0].minute % 5 == 0:
            evaluation_daily_catch_up_task()
        clock[0] += dt.timedelta(minutes=1)

    with capsys.disabled():
        print(f"\n{daily_at} Europe/Berlin, beat fired at: {[f.isoformat() for f in fired]}")
    assert [scheduled_runs(day) for day in days] == [1, 1, 1]
    assert EvaluationRun.objects.filter(trigger=EvaluationRun.Trigger.SCHEDULED).count() == 3
