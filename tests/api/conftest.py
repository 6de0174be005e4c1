"""API test clients: a real token per persona of ``tests/conftest.py``."""

import pytest
from rest_framework.test import APIClient

from shops.models import ApiToken, User
from shops.services.tokens import api_token_create

ALL_SCOPES = [choice for choice, _ in ApiToken.Scope.choices]
USER_AGENT = "compliance-tests/1.0"


def token_client(user: User, scopes=ALL_SCOPES, allowed_ips=()) -> APIClient:
    """An API client authenticated by a real token of ``user`` with ``scopes``."""
    _, raw = api_token_create(
        user=user, scopes=scopes, purpose="Automated tests of the API", allowed_ips=list(allowed_ips)
    )
    client = APIClient(HTTP_USER_AGENT=USER_AGENT)
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {raw}")
    return client


@pytest.fixture
def alice_api(alice):
    return token_client(alice)


@pytest.fixture
def bob_api(bob):
    return token_client(bob)


@pytest.fixture
def carol_api(carol):
    return token_client(carol)


@pytest.fixture
def ops_api(olga):
    return token_client(olga)


@pytest.fixture(autouse=True)
def _clear_rate_limits():
    """Each test starts with fresh rate-limit windows in the test Redis database."""
    from django.conf import settings

    if settings.RATE_LIMIT_REDIS_URL:
        import redis

        client = redis.Redis.from_url(settings.RATE_LIMIT_REDIS_URL)
        for key in client.scan_iter("ratelimit:*"):
            client.delete(key)
