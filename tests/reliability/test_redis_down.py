"""Redis stopped under a real server (a Redis of the test's own, never the shared one): reads
answer, actions that queue work answer within a second, and the work is delivered once Redis
is back (the same scenario as ``manage.py reliability_redis_down``)."""

import datetime as dt
import shutil

import pytest

from shops import reliability
from tests.reliability.conftest import needs_services

pytestmark = [
    *needs_services,
    pytest.mark.skipif(shutil.which("redis-server") is None, reason="needs redis-server to start a Redis of its own"),
]


def test_with_redis_down_reads_answer_actions_queue_and_nothing_is_lost(tmp_path):
    reliability.seed(shops=40, products=300, creators=100, as_of=dt.date.today())
    lines = []

    problems, figures = reliability.redis_down_scenario(out=lines.append, media_root=str(tmp_path))

    print("\n".join(lines))
    assert problems == []
    assert figures["POST /api/v1/feeds/"] < 1.0 and figures["POST /api/v1/runs/"] < 1.0
    assert figures["changed"] == figures["entities"]
