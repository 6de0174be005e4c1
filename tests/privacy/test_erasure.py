"""Erasure: deletion and cancellation erase or anonymise everything about the person; what the
law requires is kept pseudonymised; every recipient is notified and the notice logged; the
requester gets a receipt. A dump of the whole database afterwards holds none of the person's
e-mail, phone or tax id, while the pseudonymised evaluation history remains."""

import subprocess
import uuid

import pytest
from django.contrib.admin.models import CHANGE, LogEntry
from django.contrib.contenttypes.models import ContentType
from django.core import mail
from django.db import connection
from django.utils import timezone

from affiliate.models import CreatorSnapshot
from privacy.models import ErasureReceipt, RecipientNotice, RightsRequest
from privacy.services.access_log import access_log_record
from privacy.services.erasure_notices import recipient_notices_send
from privacy.services.rights import rights_request_complete
from shops.models import (
    EvaluationRun,
    LoginAttempt,
    Notification,
    Seller,
    SellerMembership,
    StatusHistory,
    User,
    WebhookDelivery,
)
from shops.services.audit import audit_record
from shops.services.tokens import api_token_create
from shops.services.webhooks import webhook_deliver, webhook_event_record, webhook_outbox_dispatch
from tests.api.test_webhooks import Receiver, subscribe
from tests.factories import make_creator, make_seller, make_shop, make_user
from tests.privacy.conftest import file_verified, flushed

Kind = RightsRequest.Kind
EMAIL, PHONE, TAX_ID = "erin.erased@example.com", "+86 139 1234 5678", "91310000MA1FL8XQ30"
BANK = "DE89370400440532013000"


@pytest.fixture
def receiver():
    running = Receiver()
    yield running
    running.close()


def _history(entity: str, entity_id: int, key: str, run: EvaluationRun) -> StatusHistory:
    return StatusHistory.objects.create(
        entity=entity,
        entity_id=entity_id,
        entity_key=key,
        old_status=None,
        new_status="ELIGIBLE",
        new_reasons=[],
        inputs={"sps": "4.2", "orders_90d": 120},
        ruleset_version=1,
        run=run,
        as_of=timezone.localdate(),
        created_at=timezone.now(),
    )


def _world(receiver_url: str | None = None):
    """Erin: a creator and the only member of her own seller, with her identifiers copied into
    the places a real portal copies them (audit, sign-ins, notifications, webhooks, admin log)."""
    ContentType.objects.clear_cache()  # ids cached by an earlier test may not exist after a flush
    creator = make_creator(key="CR-ERIN", handle="erin_makes", display_name="Erin E.", email=EMAIL)
    erin = make_user(email=EMAIL, role=User.Role.SELLER, first_name="Erin", last_name="Erased")
    seller = make_seller(
        key="SEL-ERIN",
        legal_name="Erin Erased Trading",
        contact_email=EMAIL,
        contact_phone=PHONE,
        tax_id=TAX_ID,
        bank_account_name="Erin Erased",
        bank_account_number=BANK,
        bank_code="COBADEFFXXX",
    )
    SellerMembership.objects.create(user=erin, seller=seller)
    User.objects.filter(pk=erin.pk).update(creator=creator)
    erin.refresh_from_db()
    shop = make_shop(seller=seller, key="SHOP-ERIN", name="Erin's Corner")
    run = EvaluationRun.objects.create(as_of=timezone.localdate(), chunk_size=10, state="succeeded")
    _history("shop", shop.pk, shop.key, run)
    _history("creator", creator.pk, creator.key, run)
    CreatorSnapshot.objects.create(creator=creator, date=timezone.localdate(), account_status="active")
    LoginAttempt.objects.create(email=EMAIL, ip="203.0.113.9", succeeded=True, at=timezone.now())
    audit_record(
        actor=erin,
        action="profile.update",
        object_type="seller",
        object_id=seller.pk,
        details={"contact_email": EMAIL, "contact_phone": PHONE, "tax_id": TAX_ID},
    )
    Notification.objects.create(
        user=erin,
        kind="status_change",
        subject=f"shop:{shop.key}",
        context={"email": EMAIL},
        dedupe_key=uuid.uuid4().hex,
    )
    LogEntry.objects.create(
        user_id=erin.pk,
        content_type=ContentType.objects.get_for_model(User),
        object_id=str(erin.pk),
        object_repr=EMAIL,
        action_flag=CHANGE,
        change_message=f"Changed email to {EMAIL}",
    )
    # Another person, whose data must survive untouched.
    other = make_user(email="olive.other@example.com")
    other_seller = make_seller(key="SEL-OLIVE", contact_phone="+1 202 555 0147", tax_id="OLIVE-TAX")
    SellerMembership.objects.create(user=other, seller=other_seller)
    # An ops API client that read Erin's shop, and a webhook receiver that got an event about it.
    ops = make_user(email="ops-client@example.com", role=User.Role.OPS, is_staff=True)
    token, _raw = api_token_create(user=ops, scopes=["eligibility:read"], purpose="Partner analytics")
    access_log_record(
        actor=ops,
        channel="api",
        view_name="api:shop-detail",
        refs={"shop": [shop.key]},
        token_prefix=token.prefix,
        method="GET",
        path=f"/api/v1/shops/{shop.key}/",
    )
    flushed()
    if receiver_url:
        subscribe(ops, receiver_url)
        webhook_event_record(
            event="eligibility.changed",
            payload={"entity": "shop", "id": shop.key, "seller": seller.key},
            seller_ids=[seller.pk],
            dedupe_key=f"test:{shop.key}",
        )
        webhook_outbox_dispatch()
        for pk in WebhookDelivery.objects.values_list("pk", flat=True):
            webhook_deliver(delivery_id=pk)
    return erin, seller, shop, creator, other_seller


def _erase(erin, ops_user, captured, kind=Kind.DELETION):
    with captured(execute=True):
        request = file_verified(erin, kind, details=f"Please delete {EMAIL} and {PHONE}")
        rights_request_complete(request=request, actor=ops_user)
    request.refresh_from_db()
    return request


@pytest.mark.django_db
@pytest.mark.parametrize("kind", [Kind.DELETION, Kind.CANCELLATION])
def test_erasure_removes_the_person_and_keeps_the_evaluation_history_pseudonymised(
    olga, receiver, django_capture_on_commit_callbacks, kind
):
    erin, seller, shop, creator, other_seller = _world(receiver.url)
    calls_before = len(receiver.calls)
    mail.outbox.clear()

    request = _erase(erin, olga, django_capture_on_commit_callbacks, kind)

    erin.refresh_from_db()
    assert erin.erased_at is not None and not erin.is_active and not erin.has_usable_password()
    assert EMAIL not in erin.email and erin.first_name == ""
    seller.refresh_from_db()
    assert (seller.contact_email, seller.contact_phone, seller.tax_id, seller.bank_account_number) == ("", "", "", "")
    assert (seller.contact_phone_hash, seller.tax_id_hash) == ("", "")
    assert seller.key.startswith("P-") and "Erin" not in seller.legal_name
    creator.refresh_from_db()
    assert (creator.email, creator.display_name) == ("", "") and creator.handle.startswith("p-")
    assert not CreatorSnapshot.objects.filter(creator=creator).exists()
    assert not LoginAttempt.objects.filter(email__iexact=EMAIL).exists()
    assert not Notification.objects.filter(user=erin).exists()
    history = StatusHistory.objects.filter(entity_id__in=[shop.pk, creator.pk]).order_by("entity")
    assert [h.entity_key.startswith("P-") for h in history] == [True, True]
    assert history[0].inputs == {"sps": "4.2", "orders_90d": 120}
    other_seller.refresh_from_db()
    assert other_seller.tax_id == "OLIVE-TAX"
    assert request.state == RightsRequest.State.COMPLETED

    receipt = ErasureReceipt.objects.get(request=request)
    assert receipt.erased["account"] == 1 and receipt.erased["sign_in_attempts"] == 1
    kept = {item["data"]: item for item in receipt.kept}
    assert kept["evaluation_history"]["count"] == 2 and "3 years" in kept["evaluation_history"]["basis"]
    receipt_mail = next(m for m in mail.outbox if "Erasure receipt" in m.subject)
    assert receipt_mail.to == [EMAIL]
    assert "Evaluation history" in receipt_mail.body and receipt.pseudonym in receipt_mail.body

    # The API client that read the shop (no webhook: by e-mail) and the webhook receiver.
    notices = list(RecipientNotice.objects.filter(receipt=receipt).order_by("channel"))
    assert [(n.channel, n.state) for n in notices] == [("email", "sent"), ("webhook", "sent")]
    assert len(receiver.calls) == calls_before + 1
    notice_call = receiver.calls[-1]
    assert notice_call["headers"]["X-CP-Event"] == "privacy.erasure" and b"SHOP-ERIN" in notice_call["body"]
    assert [n.subjects for n in notices] == ["", ""]  # the old keys are cleared once the notices are out


@pytest.mark.django_db
def test_an_api_client_without_a_webhook_is_told_by_e_mail(olga, django_capture_on_commit_callbacks):
    erin, *_ = _world()

    request = _erase(erin, olga, django_capture_on_commit_callbacks)

    [notice] = RecipientNotice.objects.filter(receipt__request=request)
    assert (notice.channel, notice.target, notice.state) == ("email", "ops-client@example.com", "sent")
    assert any(m.to == ["ops-client@example.com"] and "erased" in m.subject for m in mail.outbox)


@pytest.mark.django_db
def test_a_failed_notice_is_retried_and_logged(olga, django_capture_on_commit_callbacks, monkeypatch):
    from privacy.services import erasure_notices

    erin, *_ = _world()
    monkeypatch.setattr(erasure_notices, "send_mail", lambda *a, **k: (_ for _ in ()).throw(OSError("smtp down")))
    request = _erase(erin, olga, django_capture_on_commit_callbacks)
    [notice] = RecipientNotice.objects.filter(receipt__request=request)
    assert (notice.state, notice.attempts) == ("pending", 1) and "smtp down" in notice.last_error

    monkeypatch.undo()
    assert recipient_notices_send() == 1
    notice.refresh_from_db()
    assert notice.state == "sent" and notice.attempts == 2


@pytest.mark.django_db
def test_a_shared_seller_keeps_its_data_when_one_member_is_erased(olga, django_capture_on_commit_callbacks):
    erin, seller, *_ = _world()
    partner = make_user(email="partner@example.com")
    SellerMembership.objects.create(user=partner, seller=seller)

    _erase(erin, olga, django_capture_on_commit_callbacks)

    seller.refresh_from_db()
    assert seller.tax_id == TAX_ID and seller.key == "SEL-ERIN"
    assert not SellerMembership.objects.filter(user=erin).exists()


@pytest.mark.django_db(transaction=True, serialized_rollback=True)
@pytest.mark.skipif(connection.vendor != "postgresql", reason="pg_dump needs PostgreSQL")
def test_after_erasure_a_dump_of_the_whole_database_holds_none_of_the_persons_identifiers(olga_committed):
    from django.db import transaction

    erin, seller, shop, creator, _ = _world()
    with transaction.atomic():
        request = file_verified(erin, Kind.DELETION, details=f"Delete {EMAIL}, {PHONE}, {TAX_ID}")
    rights_request_complete(request=request, actor=olga_committed)

    db = connection.settings_dict
    dump = subprocess.run(  # noqa: S603 - the test database, by its name
        [
            "/usr/bin/pg_dump",
            "-h",
            db["HOST"] or "127.0.0.1",
            "-p",
            str(db["PORT"] or 5432),
            "-U",
            db["USER"],
            "--data-only",
            "--no-owner",
            db["NAME"],
        ],
        capture_output=True,
        text=True,
        check=True,
        timeout=120,
    ).stdout

    assert "SHOP-ERIN" not in dump and "CR-ERIN" not in dump
    for identifier in [EMAIL, PHONE, "13912345678", TAX_ID, BANK, "erin_makes"]:
        assert identifier.lower() not in dump.lower(), identifier
    # The evaluation history is still there, under pseudonymous keys.
    pseudonym = ErasureReceipt.objects.get(request=request).pseudonym
    assert f"{pseudonym}-SHOP-{shop.pk}" in dump and f"{pseudonym}-CREATOR" in dump
    assert StatusHistory.objects.filter(entity="shop", entity_id=shop.pk).count() == 1
    # Another person's data is untouched (encrypted at rest, readable through the model).
    assert Seller.objects.get(key="SEL-OLIVE").tax_id == "OLIVE-TAX"
    assert "olive.other@example.com" in dump


@pytest.fixture
def olga_committed(django_db_serialized_rollback, transactional_db):
    return make_user(email="olga@example.com", role=User.Role.OPS, is_staff=True)


@pytest.mark.django_db
@pytest.mark.parametrize("kind", [Kind.DELETION, Kind.CANCELLATION])
def test_the_erased_person_cannot_sign_in_any_more(client, olga, django_capture_on_commit_callbacks, kind):
    erin, *_ = _world()

    _erase(erin, olga, django_capture_on_commit_callbacks, kind)

    assert not client.login(username=EMAIL, password="pw-123456!")
