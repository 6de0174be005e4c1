"""A real Celery worker for the tests that need one, on a queue of its own."""

import contextlib
import os
import subprocess
import sys
import uuid
from pathlib import Path

from django.conf import settings
from django.db import connection

from compliance_portal.celery import app

ROOT = Path(__file__).resolve().parents[1]


@contextlib.contextmanager
def celery_worker(concurrency: int = 2):
    """Start a worker sharing the test database and Redis; tasks sent meanwhile go to it."""
    queue = f"test-{uuid.uuid4().hex[:8]}"
    db = connection.settings_dict
    env = os.environ | {
        "DJANGO_SETTINGS_MODULE": "compliance_portal.settings",
        "DATABASE_URL": f"postgres://{db['USER']}@{db['HOST']}:{db['PORT']}/{db['NAME']}",
        "CELERY_BROKER_URL": settings.TEST_REDIS_URL,
        "CELERY_TASK_ALWAYS_EAGER": "0",
        "CELERY_QUEUE": queue,
    }
    process = subprocess.Popen(  # noqa: S603 - our own worker command
        [
            sys.executable,
            "-m",
            "celery",
            "-A",
            "compliance_portal",
            "worker",
            "-Q",
            queue,
            "-c",
            str(concurrency),
            "-l",
            "warning",
        ],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    previous = app.conf.task_always_eager, app.conf.task_default_queue
    app.conf.task_always_eager, app.conf.task_default_queue = False, queue
    try:
        yield process
    finally:
        app.conf.task_always_eager, app.conf.task_default_queue = previous
        process.terminate()
        print(process.communicate(timeout=30)[0].decode(errors="replace"))
