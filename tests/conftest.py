"""Test personas shared by every suite.

alice is a seller member of SEL-A, bob of another seller (SEL-B), carol a creator, olga an ops
reviewer. Web tests sign them in with ``signed_in``.
"""

import importlib

import pytest
from django.apps import apps

from shops.models import SellerMembership, User
from tests.factories import make_creator, make_seller, make_user

# Rows written by data migrations, which a transactional test's flush removes.
_DATA_MIGRATIONS = [("shops.migrations.0002_default_ruleset", "create_default_ruleset")]


@pytest.fixture(autouse=True)
def _data_migration_rows(request):
    """Transactional tests start with the rows of the data migrations.

    ``serialized_rollback`` restores them only through the connection object that was current when
    the test database was built. After the demo-seed tests the browser tests (beside Playwright's
    event loop) were seen with another connection object, and so without a rule set.
    """
    marker = request.node.get_closest_marker("django_db")
    transactional = (marker is not None and marker.kwargs.get("transaction")) or bool(
        {"transactional_db", "live_server"} & set(request.fixturenames)
    )
    if transactional:
        for module, function in _DATA_MIGRATIONS:
            getattr(importlib.import_module(module), function)(apps, None)


# The session key that marks the second factor as passed (shops.views.accounts sets it).
OTP_SESSION_KEY = "otp_verified"


def signed_in(client, user: User):
    """``client`` with ``user`` signed in, second factor included, as after a real sign-in."""
    client.force_login(user)
    session = client.session
    session[OTP_SESSION_KEY] = True
    session.save()
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
