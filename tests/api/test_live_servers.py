"""The API served by real gunicorn processes over the test database.

- the 121st request in a minute gets 429 even when the requests alternate between two server
  processes (the counter lives in Redis);
- Schemathesis, once per role, finds no server error and no response that breaks the schema.
"""

import datetime as dt
import os
import socket
import subprocess
import sys
import time
from decimal import Decimal
from pathlib import Path

import pytest
import requests
from django.conf import settings
from django.db import connection

from shops.models import SellerMembership, User
from shops.services.evaluation import evaluation_run_inline
from shops.services.tokens import api_token_create
from tests.api.conftest import ALL_SCOPES, USER_AGENT
from tests.factories import make_category, make_creator, make_product, make_seller, make_shop, make_user

ROOT = Path(__file__).resolve().parents[2]

pytestmark = [
    pytest.mark.services,
    pytest.mark.django_db(transaction=True, serialized_rollback=True),
    pytest.mark.skipif(
        not (settings.REDIS_AVAILABLE and connection.vendor == "postgresql"),
        reason="needs PostgreSQL and Redis (REQUIRE_SERVICES=1 turns this into a failure)",
    ),
]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def server_env() -> dict:
    db = connection.settings_dict
    return os.environ | {
        "DJANGO_SETTINGS_MODULE": "compliance_portal.settings",
        "DATABASE_URL": f"postgres://{db['USER']}@{db['HOST']}:{db['PORT']}/{db['NAME']}",
        "RATE_LIMIT_REDIS_URL": settings.TEST_REDIS_URL,
        "CELERY_TASK_ALWAYS_EAGER": "1",
        "DEBUG": "0",
        "LOG_LEVEL": "WARNING",
    }


@pytest.fixture
def servers():
    """Two gunicorn processes, each with its own port: a client alternates between them."""
    started = []
    for _ in range(2):
        port = free_port()
        process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "gunicorn",
                "compliance_portal.wsgi:application",
                "-b",
                f"127.0.0.1:{port}",
                "-w",
                "1",
                "--access-logfile",
                "/dev/null",
            ],
            cwd=ROOT,
            env=server_env(),
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
        )
        started.append((process, f"http://127.0.0.1:{port}"))
    try:
        for process, url in started:
            deadline = time.monotonic() + 30
            while True:
                try:
                    requests.get(f"{url}/healthz", timeout=5)
                    break
                except requests.RequestException:
                    assert process.poll() is None, process.stderr.read().decode()
                    assert time.monotonic() < deadline, "gunicorn did not start"
                    time.sleep(0.2)
        yield [url for _, url in started]
    finally:
        for process, _ in started:
            process.terminate()
            process.wait(timeout=30)


def seller_with_data():
    seller = make_seller(key="SEL-LIVE")
    category = make_category(key="CAT-LIVE", avg_nrr_30d=Decimal("0.02"))
    shop = make_shop(seller=seller, key="SHOP-LIVE", sps=Decimal("3.2"))
    make_product(shop=shop, category=category, key="P-LIVE-1")
    make_product(shop=shop, category=category, key="P-LIVE-2", negative_reviews_30d=7)
    make_creator(key="CR-LIVE", pps=Decimal("3.4"))
    evaluation_run_inline(as_of=dt.date(2026, 11, 20))
    return seller


def raw_token(user, scopes=ALL_SCOPES) -> str:
    return api_token_create(user=user, scopes=scopes, purpose="Live server tests of the API")[1]


def test_the_121st_request_in_a_minute_gets_429_across_two_server_processes(servers):
    seller = seller_with_data()
    user = make_user(email="erp@example.com", role=User.Role.SELLER)
    SellerMembership.objects.create(user=user, seller=seller)
    headers = {"Authorization": f"Bearer {raw_token(user)}", "User-Agent": USER_AGENT}
    # Start at the beginning of a minute window so the 121 requests share one window.
    time.sleep(max(0.0, 60 - time.time() % 60) if time.time() % 60 > 45 else 0)
    with requests.Session() as session:
        codes = [
            session.get(f"{servers[i % 2]}/api/v1/shops/", headers=headers, timeout=10).status_code for i in range(121)
        ]
        assert codes[:120] == [200] * 120, codes
        assert codes[120] == 429
        limited = session.get(f"{servers[1]}/api/v1/shops/", headers=headers, timeout=10)
    assert limited.status_code == 429
    assert 1 <= int(limited.headers["Retry-After"]) <= 60
    assert limited.json()["error"]["code"] == "throttled"


def role_users(seller):
    member = make_user(email="seller@example.com", role=User.Role.SELLER)
    SellerMembership.objects.create(user=member, seller=seller)
    creator = make_user(email="creator@example.com", role=User.Role.CREATOR, creator=make_creator(key="CR-ROLE"))
    ops = make_user(email="ops@example.com", role=User.Role.OPS, is_staff=True)
    admin = make_user(email="admin@example.com", role=User.Role.OPS_ADMIN, is_staff=True, is_superuser=True)
    return {"seller": member, "creator": creator, "ops": ops, "ops_admin": admin}


@pytest.mark.parametrize("role", ["seller", "creator", "ops", "ops_admin"])
def test_schemathesis_finds_no_server_error_and_no_schema_violation(servers, role, tmp_path):
    user = role_users(seller_with_data())[role]
    token = raw_token(user)
    result = subprocess.run(
        [
            str(Path(sys.executable).with_name("schemathesis")),
            "run",
            f"{servers[0]}/api/schema/",
            "--checks",
            "not_a_server_error,response_schema_conformance",
            "--max-examples",
            os.environ.get("SCHEMATHESIS_MAX_EXAMPLES", "15"),
            "--phases",
            "examples,fuzzing",
            "--seed",
            "20261123",
            "--exclude-method",
            "DELETE",
            "--request-timeout",
            "20",
            "-H",
            f"Authorization: Bearer {token}",
            "-H",
            f"User-Agent: {USER_AGENT}",
            "--report",
            "junit",
            "--report-dir",
            str(tmp_path),
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=900,
        check=False,
    )
    assert result.returncode == 0, result.stdout[-6000:] + result.stderr[-2000:]
