"""Workers SIGKILLed at seeded points of a run: the run completes exactly (CI-sized version of
``manage.py reliability_kill``, which makes 10 trials on a larger data set)."""

import datetime as dt

from django.conf import settings

from shops import reliability
from tests.reliability.conftest import needs_services

pytestmark = needs_services


def test_runs_complete_exactly_once_whatever_worker_is_killed_when():
    first_day = dt.date(2026, 3, 1)
    reliability.seed(shops=150, products=1_200, creators=800, as_of=first_day)
    lines = []

    trials = reliability.kill_trials(
        trials=2,
        seed=7,
        chunk_size=60,
        worker_count=2,
        concurrency=2,
        broker=settings.TEST_REDIS_URL,
        first_day=first_day,
        out=lines.append,
    )

    print("\n".join(lines))
    assert [trial.problems for trial in trials] == [[], [], []]
    # Real SIGKILLs, not the points where a restarting worker had no process to kill.
    killed = [kill for trial in trials for kill in trial.kills if not kill.startswith("no pool process")]
    assert len(killed) >= 2
    assert all(trial.figures["changed"] for trial in trials)
