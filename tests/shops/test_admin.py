import pytest
from django.urls import reverse

from shops.models import User
from tests.conftest import signed_in
from tests.factories import make_creator, make_plan, make_product, make_user

pytestmark = pytest.mark.django_db

CHANGELISTS = [
    "shops_user",
    "shops_seller",
    "shops_category",
    "shops_shop",
    "shops_product",
    "shops_ruleset",
    "shops_evaluationrun",
    "shops_statushistory",
    "shops_auditentry",
    "affiliate_creator",
    "affiliate_affiliateplan",
    "affiliate_creatoradd",
    "shops_appeal",
    "shops_override",
    "shops_licenceflag",
    "shops_shopunbinding",
    "shops_recoveryreview",
    "shops_notification",
]


@pytest.fixture
def admin_client(client):
    signed_in(client, make_user(role=User.Role.OPS_ADMIN, is_staff=True, is_superuser=True))
    return client


@pytest.mark.parametrize("name", CHANGELISTS)
def test_an_ops_admin_can_open_every_admin_list(admin_client, name):
    make_plan(shop=make_product().shop)
    make_creator()
    response = admin_client.get(reverse(f"admin:{name}_changelist"))
    assert response.status_code == 200


def test_an_ops_admin_creates_a_user_with_a_role_in_the_admin(admin_client):
    response = admin_client.post(
        reverse("admin:shops_user_add"),
        {
            "email": "new.ops@example.com",
            "role": "ops",
            "password1": "Sturdy-pass-981",
            "password2": "Sturdy-pass-981",
            "sellermembership_set-TOTAL_FORMS": "0",
            "sellermembership_set-INITIAL_FORMS": "0",
        },
    )
    assert response.status_code == 302, response.content[:2000]
    assert User.objects.get(email="new.ops@example.com").role == "ops"


def test_a_seller_member_cannot_open_the_admin(client):
    client.force_login(make_user(role=User.Role.SELLER))
    response = client.get(reverse("admin:shops_shop_changelist"))
    assert response.status_code == 302
    assert "/admin/login/" in response["Location"]


def test_nobody_can_edit_or_delete_the_audit_log_through_the_admin(admin_client):
    from shops.models import AuditEntry
    from shops.services.audit import audit_record

    entry = audit_record(actor=None, action="plan.create", object_type="plan", object_id="1", reason="test")
    change = admin_client.post(reverse("admin:shops_auditentry_change", args=[entry.pk]), {"reason": "edited"})
    delete = admin_client.post(reverse("admin:shops_auditentry_delete", args=[entry.pk]), {"post": "yes"})
    assert change.status_code == 403
    assert delete.status_code == 403
    entry.refresh_from_db()
    assert entry.reason == "test"
    assert AuditEntry.objects.count() == 1
    with pytest.raises(TypeError):
        AuditEntry.objects.filter(pk=entry.pk).delete()
