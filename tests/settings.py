"""Settings for the test suite: the real PostgreSQL and Redis of this machine when they answer.

With ``REQUIRE_SERVICES=1`` (CI) a missing service stops the suite instead of falling back to
SQLite and in-process tasks.
"""

import os
import socket
from urllib.parse import urlparse

DEFAULT_DATABASE_URL = "postgres://postgres@127.0.0.1:5432/compliance_portal"
DEFAULT_REDIS_URL = "redis://127.0.0.1:6379/15"


def _answers(url: str, default_port: int) -> bool:
    parsed = urlparse(url)
    try:
        with socket.create_connection((parsed.hostname or "127.0.0.1", parsed.port or default_port), timeout=2):
            return True
    except OSError:
        return False


REQUIRE_SERVICES = os.environ.get("REQUIRE_SERVICES", "") in {"1", "true", "yes"}
database_url = os.environ.get("DATABASE_URL", DEFAULT_DATABASE_URL)
redis_url = os.environ.get("REDIS_URL", DEFAULT_REDIS_URL)

if _answers(database_url, 5432):
    os.environ["DATABASE_URL"] = database_url
elif REQUIRE_SERVICES:
    raise RuntimeError(f"REQUIRE_SERVICES=1 but PostgreSQL does not answer at {database_url}")
else:
    os.environ["DATABASE_URL"] = "sqlite:///:memory:"

REDIS_AVAILABLE = _answers(redis_url, 6379)
if not REDIS_AVAILABLE and REQUIRE_SERVICES:
    raise RuntimeError(f"REQUIRE_SERVICES=1 but Redis does not answer at {redis_url}")
TEST_REDIS_URL = redis_url

# Tasks run in-process unless a test starts a real worker (tests/shops/test_celery_worker.py).
os.environ["CELERY_TASK_ALWAYS_EAGER"] = "1"
os.environ.setdefault("COMPLIANCE_ENV", "local")

from compliance_portal.settings import *  # noqa: E402,F403

CELERY_BROKER_URL = redis_url if REDIS_AVAILABLE else "memory://"
PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
LOGGING = {"version": 1, "disable_existing_loggers": False}
RATE_LIMIT_REDIS_URL = redis_url if REDIS_AVAILABLE else None
