"""The same day gives the same verdicts whatever the chunk size or the number of workers (CI-sized
version of ``manage.py reliability_scaleout``, which measures it at 1M products on copies)."""

import datetime as dt

from django.conf import settings

from shops import benchmark, reliability
from shops.models import RuleSet
from shops.services.evaluation import evaluation_run_inline
from tests.reliability.conftest import needs_services

pytestmark = needs_services

FIRST_DAY, NEXT_DAY = dt.date(2026, 3, 1), dt.date(2026, 3, 2)
SIZE = {"shops": 120, "products": 1_200, "creators": 800}


def _day_checksums(run_next_day) -> tuple[str, str]:
    """The data set built afresh (same seed), its first run, then ~5 % changing and the next day."""
    benchmark.reset()
    RuleSet.objects.get_or_create(market="", version=1, defaults={"effective_from": dt.date(2000, 1, 1)})
    benchmark.generate(**SIZE, as_of=FIRST_DAY)
    evaluation_run_inline(as_of=FIRST_DAY, chunk_size=500)
    first = reliability.status_checksum()["checksum"]
    benchmark.change_share(day=1, as_of=NEXT_DAY)
    run_next_day()
    return first, reliability.status_checksum()["checksum"]


def test_the_status_checksum_is_the_same_whatever_the_chunk_size_or_the_number_of_workers():
    in_process = _day_checksums(lambda: evaluation_run_inline(as_of=NEXT_DAY, chunk_size=37))
    with reliability.workers(2, broker=settings.TEST_REDIS_URL) as _pool:

        def on_two_workers():
            run = reliability.start_run(as_of=NEXT_DAY, chunk_size=250)
            assert reliability.wait_for_run(run.pk, timeout=120).state == "succeeded"

        on_workers = _day_checksums(on_two_workers)

    assert in_process[0] == on_workers[0]
    assert in_process[1] == on_workers[1]
    assert in_process[1] != in_process[0]  # the day changed verdicts: the comparison means something
