"""Settings in each mode, the deployment checks and the health probe.

Settings are read once per process, so each mode is started in a fresh interpreter with an
environment built from nothing: the variables of the test run itself must not leak in.
"""

import json
import os
import secrets
import subprocess
import sys
from pathlib import Path

import pytest
from cryptography.fernet import Fernet
from django.db import OperationalError

from compliance_portal import health

REPO_ROOT = Path(__file__).resolve().parent.parent

PRODUCTION_ENV = {
    "COMPLIANCE_ENV": "production",
    "SECRET_KEY": secrets.token_urlsafe(64),
    "DATABASE_URL": "postgres://postgres@127.0.0.1:5432/compliance_portal",
    "REDIS_URL": "redis://127.0.0.1:6379/0",
    "FIELD_ENCRYPTION_KEYS": Fernet.generate_key().decode(),
    "FIELD_HASH_KEY": secrets.token_urlsafe(32),
    "ALLOWED_HOSTS": "example.com",
}

PRINT_SETTINGS = """
import json
import django
django.setup()
from django.conf import settings
from compliance_portal.celery import app
print(json.dumps({
    "debug": settings.DEBUG,
    "engine": settings.DATABASES["default"]["ENGINE"],
    "database": str(settings.DATABASES["default"]["NAME"]),
    "eager": settings.CELERY_TASK_ALWAYS_EAGER,
    "celery_app_eager": app.conf.task_always_eager,
    "broker": settings.CELERY_BROKER_URL,
    "allowed_hosts": settings.ALLOWED_HOSTS,
}))
"""


def run_python(args: list[str], env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    base = {name: os.environ[name] for name in ("PATH", "HOME", "LANG", "TMPDIR") if name in os.environ}
    base["DJANGO_SETTINGS_MODULE"] = "compliance_portal.settings"
    return subprocess.run(
        [sys.executable, *args],
        cwd=REPO_ROOT,
        env={**base, **env},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


@pytest.mark.parametrize(
    ("removed", "named"),
    [
        (["SECRET_KEY"], "SECRET_KEY"),
        (["DATABASE_URL"], "DATABASE_URL"),
        (["FIELD_ENCRYPTION_KEYS"], "FIELD_ENCRYPTION_KEYS"),
        (["FIELD_HASH_KEY"], "FIELD_HASH_KEY"),
        (["ALLOWED_HOSTS"], "ALLOWED_HOSTS"),
        (["REDIS_URL"], "CELERY_BROKER_URL or REDIS_URL"),
    ],
)
def test_production_refuses_to_start_without_a_required_variable(removed, named):
    env = {name: value for name, value in PRODUCTION_ENV.items() if name not in removed}

    result = run_python(["-c", "import django; django.setup()"], env)

    assert result.returncode != 0
    complaint = result.stderr.strip().splitlines()[-1]
    assert "ImproperlyConfigured" in complaint
    assert complaint.endswith(f"needs these environment variables: {named}")


def test_production_counts_an_empty_variable_as_missing():
    result = run_python(["-c", "import django; django.setup()"], {**PRODUCTION_ENV, "SECRET_KEY": ""})

    assert result.returncode != 0
    assert "SECRET_KEY" in result.stderr.strip().splitlines()[-1]


def test_production_accepts_celery_broker_url_instead_of_redis_url():
    env = {name: value for name, value in PRODUCTION_ENV.items() if name != "REDIS_URL"}
    env["CELERY_BROKER_URL"] = "redis://127.0.0.1:6379/1"

    result = run_python(["-c", PRINT_SETTINGS], env)

    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["broker"] == "redis://127.0.0.1:6379/1"


def test_production_uses_the_given_database_and_a_real_broker_without_debug():
    result = run_python(["-c", PRINT_SETTINGS], PRODUCTION_ENV)

    assert result.returncode == 0, result.stderr
    values = json.loads(result.stdout)
    assert values["debug"] is False
    assert values["engine"] == "django.db.backends.postgresql"
    assert values["database"] == "compliance_portal"
    assert values["eager"] is False
    assert values["celery_app_eager"] is False
    assert values["broker"] == "redis://127.0.0.1:6379/0"
    assert values["allowed_hosts"] == ["example.com"]


def test_an_unknown_environment_name_is_refused():
    result = run_python(["-c", "import django; django.setup()"], {"COMPLIANCE_ENV": "staging"})

    assert result.returncode != 0
    assert "COMPLIANCE_ENV must be local or production" in result.stderr


def test_deployment_checks_pass_under_production_settings():
    result = run_python(["manage.py", "check", "--deploy", "--fail-level", "WARNING"], PRODUCTION_ENV)

    assert result.returncode == 0, result.stdout + result.stderr
    assert "System check identified no issues" in result.stdout


def test_local_mode_with_no_variables_uses_sqlite_and_in_process_tasks():
    result = run_python(["-c", PRINT_SETTINGS], {})

    assert result.returncode == 0, result.stderr
    values = json.loads(result.stdout)
    assert values["debug"] is True
    assert values["engine"] == "django.db.backends.sqlite3"
    assert values["database"] == str(REPO_ROOT / "db.sqlite3")
    assert values["eager"] is True
    assert values["celery_app_eager"] is True
    assert values["broker"] == "memory://"


def test_every_requirement_is_pinned_exactly():
    lines = (REPO_ROOT / "requirements.txt").read_text().splitlines()
    requirements = [line.strip() for line in lines if line.strip() and not line.lstrip().startswith("#")]

    assert requirements
    assert [line for line in requirements if "==" not in line] == []


@pytest.mark.django_db
def test_healthz_answers_ok_when_the_database_answers(client):
    response = client.get("/healthz")

    assert response.status_code == 200
    assert response["Content-Type"] == "application/json"
    assert response.json() == {"status": "ok", "database": "ok"}
    assert "no-cache" in response["Cache-Control"]


@pytest.mark.django_db
def test_healthz_answers_head_and_refuses_post(client):
    assert client.head("/healthz").status_code == 200
    assert client.post("/healthz").status_code == 405


class _BrokenConnection:
    def cursor(self):
        raise OperationalError("connection refused")


def test_healthz_answers_503_when_the_database_does_not_answer(client, monkeypatch):
    monkeypatch.setattr(health, "connection", _BrokenConnection())

    response = client.get("/healthz")

    assert response.status_code == 503
    assert response.json() == {"status": "unavailable", "database": "unavailable"}


def test_the_liveness_probe_answers_without_the_database(client):
    response = client.get("/livez")
    assert response.status_code == 200
    assert response.json() == {"status": "ok"}
