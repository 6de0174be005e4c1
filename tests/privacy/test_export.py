"""Exports: an archive of every personal field of the requester and none of another user's,
with a readable summary and a manifest of hashes, built by a Celery task (a real worker too),
offered through a link that expires, every download logged."""

import hashlib
import io
import json
import time
import zipfile
from decimal import Decimal

import pytest
from django.conf import settings
from django.core import mail
from django.db import connection
from django.urls import reverse
from django.utils import timezone

from privacy.classification import MODELS, PERSONAL, SECRET, SENSITIVE
from privacy.models import DataExport, ExportDownload, RightsRequest
from privacy.services.exports import export_build, export_collect
from shops.models import LoginAttempt, Seller
from tests.conftest import signed_in
from tests.factories import make_creator, make_shop, make_user
from tests.privacy.conftest import file_verified
from tests.workers import celery_worker

pytestmark = pytest.mark.django_db
Kind = RightsRequest.Kind


@pytest.fixture
def people(alice, bob, seller_a, seller_b):
    """alice and bob with every kind of personal data filled in, distinct from each other."""
    for seller, n in ((seller_a, "1"), (seller_b, "2")):
        seller.legal_name = f"Legal {n} Ltd"
        seller.contact_email = f"contact{n}@seller{n}.test"
        seller.contact_phone = f"+86 138 000{n} 000{n}"
        seller.tax_id = f"TAX-{n}{n}{n}"
        seller.bank_account_name = f"Holder {n}"
        seller.bank_account_number = f"IBAN-{n}{n}{n}{n}"
        seller.bank_code = f"BIC{n}"
        seller.save()
        make_shop(seller=seller, key=f"SHOP-{n}", name=f"Shop {n}")
    alice.first_name, alice.last_name = "Alice", "Archer"
    alice.save()
    bob.first_name, bob.last_name = "Bob", "Baker"
    bob.save()
    LoginAttempt.objects.create(email="alice@example.com", ip="10.0.0.1", succeeded=True, at=timezone.now())
    LoginAttempt.objects.create(email="bob@example.com", ip="10.0.0.2", succeeded=True, at=timezone.now())
    return alice, bob


def _archive(export: DataExport) -> zipfile.ZipFile:
    from privacy.fields import decrypt_bytes

    content = decrypt_bytes((settings_root() / export.path).read_bytes())
    return zipfile.ZipFile(io.BytesIO(content))


def settings_root():
    from pathlib import Path

    return Path(settings.PRIVACY_EXPORT_ROOT)


def _value(value):
    if hasattr(value, "isoformat"):
        return value.isoformat()
    if isinstance(value, Decimal):
        return str(value)
    return value


def test_an_export_holds_every_personal_field_of_the_requester(people, seller_a):
    alice, _bob = people
    data = export_collect(alice)

    [account] = data["account"]
    for field in [name for name, c in MODELS["shops.User"].items() if c in (PERSONAL, SENSITIVE)]:
        assert account[field] == _value(getattr(alice, field)), field
    [seller] = data["sellers"]
    seller_a.refresh_from_db()
    for field in [name for name, c in MODELS["shops.Seller"].items() if c in (PERSONAL, SENSITIVE)]:
        assert seller[field] == getattr(seller_a, field), field
    assert seller["tax_id"] == "TAX-111" and seller["bank_account_number"] == "IBAN-1111"
    assert [row["email"] for row in data["sign_in_attempts"]] == ["alice@example.com"]


def test_an_export_holds_nothing_about_anyone_else(people):
    alice, bob = people
    text = json.dumps(export_collect(alice))

    for other in [
        "bob@example.com",
        "Baker",
        "contact2@seller2.test",
        "+86 138 0002 0002",
        "TAX-222",
        "IBAN-2222",
        "SHOP-2",
    ]:
        assert other not in text, other
    assert "SHOP-1" in text and "TAX-111" in text


def test_an_export_never_holds_secrets(people):
    alice, _bob = people
    data = export_collect(alice)

    assert "password" not in data["account"][0]
    assert "otp_secret" not in data["account"][0]
    secrets = {
        label: [name for name, privacy in fields.items() if privacy == SECRET] for label, fields in MODELS.items()
    }
    assert not set(secrets["shops.User"]) & set(data["account"][0])
    assert not set(secrets["shops.Seller"]) & set(data["sellers"][0])


def test_a_creator_gets_their_creator_profile_and_nobody_elses(carol):
    creator = carol.creator
    creator.email, creator.display_name = "carol@creators.test", "Carol C."
    creator.save()
    make_creator(key="CR-OTHER", email="other@creators.test", handle="other")

    data = export_collect(carol)

    assert data["creator"][0]["email"] == "carol@creators.test"
    assert data["creator"][0]["display_name"] == "Carol C."
    assert "other@creators.test" not in json.dumps(data)


def test_records_naming_the_requester_as_a_contact_are_found_by_the_keyed_hash(alice):
    from tests.factories import make_seller

    make_seller(key="SEL-X", contact_email="ALICE@example.com", tax_id="NOT-ALICES")

    data = export_collect(alice)

    assert data["contact_records_sellers"] == [{"key": "SEL-X", "contact_email": "ALICE@example.com"}]
    assert "NOT-ALICES" not in json.dumps(data)


def test_the_archive_has_json_csv_a_summary_and_a_manifest_of_hashes(people, django_capture_on_commit_callbacks):
    alice, _bob = people
    with django_capture_on_commit_callbacks(execute=True):
        request = file_verified(alice, Kind.ACCESS)

    export = DataExport.objects.get(request=request)
    assert export.state == DataExport.State.READY
    archive = _archive(export)
    names = set(archive.namelist())
    assert {"data.json", "summary.txt", "manifest.json", "json/sellers.json", "csv/sellers.csv"} <= names
    manifest = json.loads(archive.read("manifest.json"))
    for entry in manifest["files"]:
        assert hashlib.sha256(archive.read(entry["name"])).hexdigest() == entry["sha256"]
    assert {e["name"] for e in manifest["files"]} == names - {"manifest.json"}
    summary = archive.read("summary.txt").decode()
    for heading in [
        "Why we use your data",
        "Who receives it",
        "How long we keep it",
        "How automated eligibility decisions are made",
    ]:
        assert heading in summary
    assert "TAX-111" in archive.read("csv/sellers.csv").decode("utf-8-sig")
    request.refresh_from_db()
    assert request.state == RightsRequest.State.COMPLETED
    assert "ready" in mail.outbox[-1].subject


def test_the_link_works_for_the_requester_only_and_every_download_is_logged(
    client, people, django_capture_on_commit_callbacks
):
    alice, bob = people
    with django_capture_on_commit_callbacks(execute=True):
        request = file_verified(alice, Kind.ACCESS)
    link = next(line for line in mail.outbox[-1].body.splitlines() if "/privacy/exports/" in line).strip()
    path = link.split("localhost:8000", 1)[1]

    assert signed_in(client, bob).get(path).status_code == 404
    response = signed_in(client, alice).get(path, REMOTE_ADDR="192.0.2.7")

    assert response.status_code == 200 and response["Content-Type"] == "application/zip"
    assert zipfile.ZipFile(io.BytesIO(response.content)).read("manifest.json")
    [download] = ExportDownload.objects.all()
    assert (download.user, download.ip) == (alice, "192.0.2.7")
    assert client.get(reverse("privacy_request_export", args=[request.reference])).status_code == 200
    assert ExportDownload.objects.count() == 2


def test_the_link_expires(client, people, django_capture_on_commit_callbacks):
    alice, _bob = people
    with django_capture_on_commit_callbacks(execute=True):
        request = file_verified(alice, Kind.ACCESS)
    DataExport.objects.filter(request=request).update(expires_at=timezone.now())

    response = signed_in(client, alice).get(reverse("privacy_request_export", args=[request.reference]))

    assert response.status_code == 302
    assert not ExportDownload.objects.exists()


def test_building_twice_changes_nothing(people, django_capture_on_commit_callbacks):
    alice, _bob = people
    with django_capture_on_commit_callbacks(execute=True):
        request = file_verified(alice, Kind.ACCESS)
    export = DataExport.objects.get(request=request)

    again = export_build(export_id=export.pk)

    assert again.path == export.path and again.sha256 == export.sha256


@pytest.mark.django_db(transaction=True, serialized_rollback=True)
@pytest.mark.skipif(
    not (settings.REDIS_AVAILABLE and connection.vendor == "postgresql"), reason="needs PostgreSQL and Redis"
)
def test_a_real_celery_worker_builds_the_export(monkeypatch, tmp_path, settings):
    # The worker is another process: it reads the export folder from its environment.
    monkeypatch.setenv("PRIVACY_EXPORT_ROOT", str(tmp_path / "worker-exports"))
    settings.PRIVACY_EXPORT_ROOT = str(tmp_path / "worker-exports")
    seller = Seller.objects.create(key="SEL-W", legal_name="Worker Ltd", business_licence_no="BLW", tax_id="TAX-W")
    user = make_user(email="worker@example.com")
    user.sellers.add(seller)
    with celery_worker():
        request = file_verified(user, Kind.ACCESS)
        deadline = time.monotonic() + 60
        export = DataExport.objects.get(request=request)
        while export.state == DataExport.State.QUEUED and time.monotonic() < deadline:
            time.sleep(0.3)
            export.refresh_from_db()

    assert export.state == DataExport.State.READY, export.error
    data = json.loads(_archive(export).read("data.json"))
    assert data["sellers"][0]["tax_id"] == "TAX-W"
