"""The reliability suites run real Celery workers, gunicorn and Redis against the test PostgreSQL."""

import pytest
from django.conf import settings
from django.db import connection

needs_services = [
    pytest.mark.services,
    pytest.mark.django_db(transaction=True, serialized_rollback=True),
    pytest.mark.skipif(
        not (settings.REDIS_AVAILABLE and connection.vendor == "postgresql"),
        reason="needs PostgreSQL and Redis (REQUIRE_SERVICES=1 turns this into a failure)",
    ),
]
