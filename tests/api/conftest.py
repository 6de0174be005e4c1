"""API test personas: alice (seller member of SEL-A), bob (another seller), carol (a creator), olga (ops)."""

import pytest
from rest_framework.test import APIClient

from shops.models import ApiToken, SellerMembership, User
from shops.services.tokens import api_token_create
from tests.factories import make_creator, make_seller, make_user

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
def seller_a():
    return make_seller(key="SEL-A")


@pytest.fixture
def seller_b():
    return make_seller(key="SEL-B")


@pytest.fixture
def alice(seller_a):
    user = make_user(email="alice@example.com", role=User.Role.SELLER)
    SellerMembership.objects.create(user=user, seller=seller_a)
    return user


@pytest.fixture
def bob(seller_b):
    user = make_user(email="bob@example.com", role=User.Role.SELLER)
    SellerMembership.objects.create(user=user, seller=seller_b)
    return user


@pytest.fixture
def carol():
    return make_user(email="carol@example.com", role=User.Role.CREATOR, creator=make_creator(key="CR-CAROL"))


@pytest.fixture
def olga():
    return make_user(email="olga@example.com", role=User.Role.OPS, is_staff=True)


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
