"""The daily run is scheduled by Celery beat at a configurable local time."""

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PRINT_SCHEDULE = (
    "import django, os; os.environ['DJANGO_SETTINGS_MODULE'] = 'compliance_portal.settings'; django.setup();"
    "from django.conf import settings; s = settings.CELERY_BEAT_SCHEDULE['daily-eligibility-run'];"
    "print(s['task'], sorted(s['schedule'].hour), sorted(s['schedule'].minute), settings.CELERY_TIMEZONE)"
)


def settings_output(**env: str) -> subprocess.CompletedProcess:
    clean = {k: v for k, v in os.environ.items() if k not in {"EVALUATION_DAILY_AT", "TIME_ZONE"}}
    return subprocess.run(
        [sys.executable, "-c", PRINT_SCHEDULE], cwd=ROOT, env=clean | env, capture_output=True, text=True, check=False
    )


def test_the_daily_run_is_scheduled_at_the_configured_local_time():
    result = settings_output(EVALUATION_DAILY_AT="05:30", TIME_ZONE="Asia/Bangkok")
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["shops.tasks.evaluation_daily_task", "[5]", "[30]", "Asia/Bangkok"]


def test_the_daily_run_defaults_to_three_in_the_morning():
    result = settings_output()
    assert result.stdout.split()[1:3] == ["[3]", "[0]"]


def test_a_malformed_schedule_time_stops_the_process_naming_the_variable():
    result = settings_output(EVALUATION_DAILY_AT="25:00")
    assert result.returncode != 0
    assert "EVALUATION_DAILY_AT must be a time as HH:MM" in result.stderr
