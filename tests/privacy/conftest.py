"""Helpers of the privacy tests: rights requests filed and verified as a person would."""

import re

import pytest
from django.core import mail

from privacy.services.access_log import access_log_buffer_clear, access_log_flush
from privacy.services.rights import rights_request_file, rights_request_verify
from tests.factories import make_user

PASSWORD = "pw-123456!"  # the factories' password


@pytest.fixture(autouse=True)
def _privacy_isolation(settings, tmp_path):
    """Archives in a folder of the test's own; the access-log buffer starts empty."""
    settings.PRIVACY_EXPORT_ROOT = str(tmp_path / "exports")
    access_log_buffer_clear()
    yield
    access_log_buffer_clear()


def last_code() -> str:
    """The code of the newest verification e-mail."""
    for message in reversed(mail.outbox):
        found = re.search(r"code is (\d{6})", message.body)
        if found:
            return found.group(1)
    raise AssertionError("no verification code was e-mailed")


def file_verified(user, kind, **fields):
    """File a request with the right password and confirm it with the e-mailed code."""
    request = rights_request_file(user=user, kind=kind, password=PASSWORD, **fields)
    return rights_request_verify(request=request, user=user, code=last_code())


def flushed():
    """Write the buffered access-log and analytics entries now (the beat does it every minute)."""
    return access_log_flush()


@pytest.fixture
def admin_user():
    from shops.models import User

    return make_user(email="ada@example.com", role=User.Role.OPS_ADMIN, is_staff=True, is_superuser=True)
