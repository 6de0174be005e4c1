"""Every field has a privacy class; one forbidden-field guard for feeds, API and forms; keyed
hashes for exact lookups; key rotation keeps old rows readable."""

import pytest
from cryptography.fernet import Fernet
from django.apps import apps
from django.core.management import call_command
from django.core.management.base import SystemCheckError
from django.db import connection, models
from django.urls import reverse

from privacy.checks import check_field_classification
from privacy.classification import REGISTRY, SENSITIVE
from privacy.fields import EncryptedTextField, blind_index
from privacy.forms import ConsentForm
from privacy.guard import ForbiddenFieldError, check_names, forbidden_in
from shops.models import Seller
from tests.api.conftest import token_client
from tests.conftest import signed_in
from tests.factories import make_creator, make_seller

pytestmark = pytest.mark.django_db


# Classification -----------------------------------------------------------------------------------


def test_every_field_of_the_project_has_a_privacy_class():
    assert [m for m in check_field_classification() if m.level >= 40] == []


def test_a_new_field_without_a_class_fails_the_check():
    class Probe(models.Model):
        nickname = models.CharField(max_length=20)

        class Meta:
            app_label = "privacy"

    try:
        errors = [m for m in check_field_classification() if m.id == "privacy.E001"]
        assert [e.msg for e in errors] == [
            "privacy.Probe.id has no privacy classification.",
            "privacy.Probe.nickname has no privacy classification.",
        ]
        with pytest.raises(SystemCheckError, match="privacy.Probe.nickname has no privacy classification"):
            call_command("check")
    finally:
        del apps.all_models["privacy"]["probe"]
        apps.clear_cache()


def test_a_sensitive_field_stored_in_clear_fails_the_check(monkeypatch):
    monkeypatch.setitem(REGISTRY, "shops.Seller.legal_name", SENSITIVE)

    errors = [m.msg for m in check_field_classification() if m.id == "privacy.E002"]

    assert errors == ["shops.Seller.legal_name is classified sensitive but is not encrypted at rest."]


def test_contact_details_tax_ids_and_bank_details_are_classified_sensitive_and_encrypted():
    for name in ["contact_email", "contact_phone", "tax_id", "bank_account_name", "bank_account_number", "bank_code"]:
        assert REGISTRY[f"shops.Seller.{name}"] == SENSITIVE
        assert isinstance(Seller._meta.get_field(name), EncryptedTextField)


# Encryption at rest, keyed hashes and key rotation -----------------------------------------------


def _raw(table: str, column: str, pk: int) -> str:
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT {column} FROM {table} WHERE id = %s", [pk])  # noqa: S608 - test constants
        return cursor.fetchone()[0]


def test_personal_fields_are_stored_encrypted_and_found_by_their_keyed_hash():
    seller = make_seller(contact_email="Owner@Shop.test", contact_phone="+86 138-0000-1111", tax_id="91 3100 ABC")

    assert "Owner@Shop.test" not in _raw("shops_seller", "contact_email", seller.pk)
    assert "138" not in _raw("shops_seller", "contact_phone", seller.pk)
    found = Seller.objects.get(contact_phone_hash=blind_index("+8613800001111", kind="phone"))
    assert found == seller
    assert found.contact_email == "Owner@Shop.test"
    assert Seller.objects.filter(contact_email_hash=blind_index("owner@shop.TEST", kind="email")).get() == seller
    assert Seller.objects.filter(tax_id_hash=blind_index("913100abc", kind="tax_id")).get() == seller


def test_a_changed_value_changes_its_keyed_hash():
    seller = make_seller(tax_id="T-1")
    seller.tax_id = "T-2"
    seller.save()

    assert Seller.objects.filter(tax_id_hash=blind_index("T-2", kind="tax_id")).get() == seller
    assert not Seller.objects.filter(tax_id_hash=blind_index("T-1", kind="tax_id")).exists()


def test_key_rotation_keeps_old_rows_readable_and_the_command_re_encrypts_them(settings):
    old_key, new_key = Fernet.generate_key().decode(), Fernet.generate_key().decode()
    settings.FIELD_ENCRYPTION_KEYS = [old_key]
    seller = make_seller(contact_phone="+1 555 0100", tax_id="TAX-OLD")
    creator = make_creator(email="creator@old.test")
    token_before = _raw("shops_seller", "tax_id", seller.pk)

    settings.FIELD_ENCRYPTION_KEYS = [new_key, old_key]
    assert Seller.objects.get(pk=seller.pk).tax_id == "TAX-OLD"  # old key still decrypts

    call_command("rotate_field_keys")

    token_after = _raw("shops_seller", "tax_id", seller.pk)
    assert token_after != token_before
    assert Fernet(new_key.encode()).decrypt(token_after.encode()) == b"TAX-OLD"
    settings.FIELD_ENCRYPTION_KEYS = [new_key]  # the old key can now be removed
    assert Seller.objects.get(pk=seller.pk).contact_phone == "+1 555 0100"
    assert creator.__class__.objects.get(pk=creator.pk).email == "creator@old.test"


def test_a_second_rotation_writes_nothing(settings):
    settings.FIELD_ENCRYPTION_KEYS = [Fernet.generate_key().decode()]
    seller = make_seller(tax_id="T-9")
    before = _raw("shops_seller", "tax_id", seller.pk)

    call_command("rotate_field_keys")

    assert _raw("shops_seller", "tax_id", seller.pk) == before


# The forbidden-field guard -----------------------------------------------------------------------


def test_the_default_list_forbids_buyer_phone_address_and_profit_margin():
    assert forbidden_in(["shop_id", "buyer_phone", "Buyer_Address", " order_profit_margin "]) == [
        "buyer_phone",
        "Buyer_Address",
        " order_profit_margin ",
    ]


def test_the_guard_error_names_the_field():
    with pytest.raises(ForbiddenFieldError) as caught:
        check_names(["title", "buyer_address"])

    assert caught.value.message_dict == {
        "buyer_address": ["buyer_address is forbidden personal data and must not be sent."]
    }


def test_the_list_is_configurable_and_the_api_and_web_forms_refuse_a_configured_field(settings, client, alice):
    settings.FEED_FORBIDDEN_COLUMNS = ["shoe_size"]

    assert forbidden_in(["buyer_phone", "shoe_size"]) == ["shoe_size"]
    api = token_client(alice).patch(
        "/api/v1/privacy/consents/", {"marketing_email": True, "shoe_size": "9"}, format="json"
    )
    assert api.status_code == 400 and "shoe_size" in api.json()["error"]["message"]
    page = signed_in(client, alice).post(reverse("privacy_consents"), {"marketing_email": "on", "shoe_size": "9"})
    assert page.status_code == 400 and "<code>shoe_size</code>" in page.content.decode()
    alice.refresh_from_db()
    assert alice.consent_marketing_email is False


def test_an_api_body_with_a_forbidden_field_is_refused_naming_it(alice):
    api = token_client(alice)

    response = api.patch("/api/v1/privacy/consents/", {"marketing_email": True, "buyer_phone": "1"}, format="json")

    assert response.status_code == 400
    assert response.json()["error"]["code"] == "forbidden_field"
    assert "buyer_phone" in response.json()["error"]["message"]
    alice.refresh_from_db()
    assert alice.consent_marketing_email is False


def test_a_nested_forbidden_field_in_an_api_body_is_refused(alice):
    api = token_client(alice)

    response = api.post("/api/v1/plans/", {"name": "x", "meta": [{"order_profit_margin": 3}]}, format="json")

    assert response.status_code == 400
    assert "order_profit_margin" in response.json()["error"]["message"]


def test_an_api_query_with_a_forbidden_parameter_is_refused(alice):
    response = token_client(alice).get("/api/v1/shops/?buyer_address=Main+Street")

    assert response.status_code == 400
    assert response.json()["error"]["details"] == {
        "buyer_address": ["buyer_address is forbidden personal data and must not be sent."]
    }


def test_a_web_form_posting_a_forbidden_field_is_refused_and_nothing_is_saved(client, alice):
    signed_in(client, alice)

    response = client.post("/privacy/consents/", {"consent_marketing_email": "on", "buyer_phone": "123"})

    assert response.status_code == 400
    assert "buyer_phone" in response.content.decode()
    alice.refresh_from_db()
    assert alice.consent_marketing_email is False


def test_a_form_of_the_portal_reports_the_forbidden_field_as_its_error():
    form = ConsentForm({"consent_data_sharing": "on", "buyer_address": "x"})

    assert not form.is_valid()
    assert form.non_field_errors() == ["buyer_address is forbidden personal data and must not be sent."]
