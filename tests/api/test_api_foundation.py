"""Tokens, scopes, the IP allow-list, the User-Agent rule, rate limits and the error format."""

import pytest
from django.core.management import call_command
from django.urls import path
from rest_framework.response import Response
from rest_framework.test import APIClient
from rest_framework.views import APIView

from shops.api.auth import token_hash
from shops.models import ApiToken, AuditEntry
from shops.services.tokens import api_token_revoke
from tests.api.conftest import USER_AGENT, token_client
from tests.factories import make_user

pytestmark = pytest.mark.django_db


class EchoView(APIView):
    required_scopes = {"GET": "eligibility:read", "POST": "feeds:write"}
    throttle_scope = "eligibility"

    def get(self, request):
        return Response({"user": request.user.email})

    def post(self, request):
        return Response({"ok": True})


urlpatterns = [path("api/v1/echo/", EchoView.as_view())]


@pytest.fixture(autouse=True)
def _echo_urls(settings):
    settings.ROOT_URLCONF = __name__


def test_the_command_prints_the_token_once_and_stores_only_its_hash(capsys):
    user = make_user(email="erp@example.com")
    call_command(
        "create_api_token",
        "--user",
        "erp@example.com",
        "--scopes",
        "eligibility:read,feeds:write",
        "--purpose",
        "Nightly stock sync for our ERP",
    )
    raw = capsys.readouterr().out.strip()
    token = ApiToken.objects.get(user=user)
    assert raw.startswith("cp_") and raw not in str(ApiToken.objects.values_list())
    assert token.key_hash == token_hash(raw)
    assert token.scopes == ["eligibility:read", "feeds:write"]
    assert token.purpose == "Nightly stock sync for our ERP"
    assert AuditEntry.objects.filter(action="api_token.create", object_id=token.prefix).exists()

    client = APIClient(HTTP_USER_AGENT=USER_AGENT, HTTP_AUTHORIZATION=f"Bearer {raw}")
    assert client.get("/api/v1/echo/").json() == {"user": "erp@example.com"}


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--scopes", "eligibility:write"], "Unknown scopes: eligibility:write"),
        (["--scopes", "eligibility:read", "--purpose", "x"], "Declare what the client uses the data for"),
        (["--scopes", "eligibility:read", "--allow-ip", "10.0.0.300"], "is not an IP address"),
    ],
)
def test_the_command_refuses_bad_scopes_purposes_and_addresses(args, message):
    make_user(email="erp@example.com")
    base = ["--user", "erp@example.com", "--purpose", "Nightly stock sync"]
    with pytest.raises(Exception, match=message):
        call_command("create_api_token", *base, *args)


def test_a_request_without_a_user_agent_is_refused_with_400(alice):
    client = token_client(alice)
    client.defaults.pop("HTTP_USER_AGENT")
    response = client.get("/api/v1/echo/")
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "user_agent_required"


def test_an_unknown_or_revoked_token_is_refused(alice):
    client = APIClient(HTTP_USER_AGENT=USER_AGENT, HTTP_AUTHORIZATION="Bearer cp_nope_nope")
    response = client.get("/api/v1/echo/")
    assert response.status_code == 401
    assert response.json()["error"]["message"] == "The API token is unknown or revoked."

    client = token_client(alice)
    api_token_revoke(token=ApiToken.objects.get(user=alice), user=alice, reason="rotated")
    assert client.get("/api/v1/echo/").status_code == 401


def test_a_call_outside_the_tokens_scopes_gets_403_naming_the_missing_scope(alice):
    client = token_client(alice, scopes=["eligibility:read"])
    assert client.get("/api/v1/echo/").status_code == 200
    response = client.post("/api/v1/echo/")
    assert response.status_code == 403
    assert response.json()["error"] == {
        "code": "missing_scope",
        "message": "This token lacks the scope feeds:write.",
        "details": None,
    }


def test_the_ip_allow_list_is_enforced(alice):
    assert token_client(alice, allowed_ips=["127.0.0.1"]).get("/api/v1/echo/").status_code == 200
    assert token_client(alice, allowed_ips=["127.0.0.0/8"]).get("/api/v1/echo/").status_code == 200
    refused = token_client(alice, allowed_ips=["10.0.0.0/8"]).get("/api/v1/echo/")
    assert refused.status_code == 403
    assert "127.0.0.1" in refused.json()["error"]["message"]


def test_a_browser_session_works_and_needs_csrf_for_writes(alice):
    client = APIClient(HTTP_USER_AGENT=USER_AGENT, enforce_csrf_checks=True)
    client.force_login(alice)
    assert client.get("/api/v1/echo/").status_code == 200
    refused = client.post("/api/v1/echo/")
    assert refused.status_code == 403
    assert "CSRF" in refused.json()["error"]["message"]


def test_anonymous_requests_get_401_in_the_error_format():
    response = APIClient(HTTP_USER_AGENT=USER_AGENT).get("/api/v1/echo/")
    assert response.status_code in (401, 403)
    assert set(response.json()["error"]) == {"code", "message", "details"}


@pytest.mark.skipif("not __import__('django.conf').conf.settings.RATE_LIMIT_REDIS_URL", reason="needs Redis")
def test_the_121st_request_in_a_minute_gets_429_with_retry_after(alice, bob):
    client = token_client(alice)
    codes = [client.get("/api/v1/echo/").status_code for _ in range(121)]
    assert codes[:120] == [200] * 120
    assert codes[120] == 429
    limited = client.get("/api/v1/echo/")
    assert 1 <= int(limited["Retry-After"]) <= 60
    assert limited.json()["error"]["code"] == "throttled"
    # Another client has its own budget.
    assert token_client(bob).get("/api/v1/echo/").status_code == 200
