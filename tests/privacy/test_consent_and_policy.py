"""Consent ledger and policy versions: withdrawing a consent stops its processing at once (no
marketing e-mail, no webhook carrying the person's data, no analytics); a significant policy
version is accepted again at the next sign-in; old versions stay readable."""

import datetime as dt
import uuid

import pytest
from django.core import mail
from django.urls import reverse
from django.utils import timezone

from privacy.models import ConsentEvent, ConsentSource, PolicyAcceptance, Purpose
from privacy.services.consent import consent_set
from privacy.services.policies import policy_accept, policy_publish
from shops.models import WebhookDelivery, WebhookEvent
from shops.services.notification_email import marketing_email_send
from shops.services.webhooks import webhook_deliver, webhook_event_record, webhook_outbox_dispatch
from tests.api.test_webhooks import Receiver, subscribe
from tests.conftest import signed_in
from tests.privacy.conftest import flushed

pytestmark = pytest.mark.django_db
MARKETING = {"subject_en": "News", "subject_zh": "新闻", "body_en": "Hello", "body_zh": "你好"}


@pytest.fixture
def receiver():
    running = Receiver()
    yield running
    running.close()


def publish(version_text="v", *, significant=False, effective_from=None, actor=None):
    return policy_publish(
        actor=actor,
        effective_from=effective_from or timezone.localdate(),
        significant=significant,
        title_en=f"Policy {version_text}",
        title_zh=f"政策 {version_text}",
        summary_en=f"Changes {version_text}",
        summary_zh=f"变更 {version_text}",
        body_en=f"## Body {version_text}\n\nEnglish text {version_text}.",
        body_zh=f"## 正文 {version_text}\n\n中文 {version_text}。",
    )


# The ledger --------------------------------------------------------------------------------------


def test_every_change_of_consent_is_in_the_ledger_with_its_time_and_source(alice):
    consent_set(user=alice, purpose=Purpose.MARKETING_EMAIL, granted=True, source=ConsentSource.PRIVACY_CENTRE)
    consent_set(user=alice, purpose=Purpose.MARKETING_EMAIL, granted=True, source=ConsentSource.PRIVACY_CENTRE)
    consent_set(user=alice, purpose=Purpose.MARKETING_EMAIL, granted=False, source=ConsentSource.API)

    ledger = list(ConsentEvent.objects.filter(user=alice).order_by("at", "id").values_list("granted", "source"))
    assert ledger == [(True, "privacy_centre"), (False, "api")]  # the unchanged answer wrote nothing
    alice.refresh_from_db()
    assert alice.consent_marketing_email is False


def test_the_ledger_cannot_be_rewritten(alice):
    consent_set(user=alice, purpose=Purpose.PRODUCT_ANALYTICS, granted=True, source=ConsentSource.PRIVACY_CENTRE)

    with pytest.raises(TypeError):
        ConsentEvent.objects.update(granted=False)
    with pytest.raises(TypeError):
        ConsentEvent.objects.all().delete()


# Marketing e-mail ----------------------------------------------------------------------------------


def test_marketing_email_goes_only_to_those_who_consent(alice, bob):
    consent_set(user=alice, purpose=Purpose.MARKETING_EMAIL, granted=True, source=ConsentSource.PRIVACY_CENTRE)

    assert marketing_email_send(**MARKETING) == 1
    assert [m.to for m in mail.outbox] == [["alice@example.com"]]


def test_withdrawing_marketing_consent_stops_marketing_email_at_once(alice):
    consent_set(user=alice, purpose=Purpose.MARKETING_EMAIL, granted=True, source=ConsentSource.PRIVACY_CENTRE)
    consent_set(user=alice, purpose=Purpose.MARKETING_EMAIL, granted=False, source=ConsentSource.PRIVACY_CENTRE)

    assert marketing_email_send(**MARKETING) == 0
    assert mail.outbox == []


def test_marketing_email_is_in_the_readers_language(alice):
    alice.language = "zh-hans"
    alice.save()
    consent_set(user=alice, purpose=Purpose.MARKETING_EMAIL, granted=True, source=ConsentSource.PRIVACY_CENTRE)

    marketing_email_send(**MARKETING)

    assert mail.outbox[0].subject == "新闻" and mail.outbox[0].body.startswith("你好")


# Sharing with webhook receivers -----------------------------------------------------------------


def _record(seller_ids=(), **payload) -> WebhookEvent:
    key = uuid.uuid4().hex
    webhook_event_record(event="eligibility.changed", payload=payload, seller_ids=seller_ids, dedupe_key=key)
    return WebhookEvent.objects.get(dedupe_key=key)


def _deliver_all():
    webhook_outbox_dispatch()
    for pk in WebhookDelivery.objects.filter(state="pending").values_list("id", flat=True):
        webhook_deliver(delivery_id=pk)


def test_withdrawing_sharing_consent_stops_webhooks_carrying_the_persons_data(alice, seller_a, olga, receiver):
    subscribe(olga, receiver.url)
    _record([seller_a.pk], entity="shop", id="SHOP-A1", status="RESTRICTED")
    _deliver_all()
    assert len(receiver.calls) == 1

    consent_set(user=alice, purpose=Purpose.DATA_SHARING, granted=False, source=ConsentSource.PRIVACY_CENTRE)
    _record([seller_a.pk], entity="shop", id="SHOP-A1", status="ELIGIBLE")
    _deliver_all()

    assert len(receiver.calls) == 1
    assert b"SHOP-A1" in receiver.calls[0]["body"] and b"ELIGIBLE" not in receiver.calls[0]["body"]


def test_a_delivery_queued_before_the_withdrawal_is_not_sent_after_it(carol, olga, receiver):
    subscribe(olga, receiver.url)
    _record(entity="creator", id=carol.creator.key, status="RESTRICTED")
    webhook_outbox_dispatch()
    delivery = WebhookDelivery.objects.get()

    consent_set(user=carol, purpose=Purpose.DATA_SHARING, granted=False, source=ConsentSource.PRIVACY_CENTRE)
    webhook_deliver(delivery_id=delivery.pk)

    delivery.refresh_from_db()
    assert receiver.calls == []
    assert delivery.state == "failed" and "withdrew consent" in delivery.last_error


def test_other_peoples_webhooks_still_flow_after_one_withdrawal(alice, bob, seller_b, olga, receiver):
    subscribe(olga, receiver.url)
    consent_set(user=alice, purpose=Purpose.DATA_SHARING, granted=False, source=ConsentSource.PRIVACY_CENTRE)

    _record([seller_b.pk], entity="shop", id="SHOP-B1", status="RESTRICTED")
    _deliver_all()

    assert len(receiver.calls) == 1 and b"SHOP-B1" in receiver.calls[0]["body"]


# Product analytics -------------------------------------------------------------------------------


def test_page_views_are_recorded_only_while_the_user_consents_to_analytics(client, alice):
    from privacy.models import AnalyticsEvent

    signed_in(client, alice)
    client.get(reverse("privacy_centre"))
    flushed()
    assert not AnalyticsEvent.objects.exists()

    consent_set(user=alice, purpose=Purpose.PRODUCT_ANALYTICS, granted=True, source=ConsentSource.PRIVACY_CENTRE)
    client.get(reverse("privacy_centre"))
    flushed()
    assert list(AnalyticsEvent.objects.values_list("user_id", "name")) == [(alice.pk, "privacy_centre")]

    consent_set(user=alice, purpose=Purpose.PRODUCT_ANALYTICS, granted=False, source=ConsentSource.PRIVACY_CENTRE)
    client.get(reverse("privacy_centre"))
    flushed()
    assert AnalyticsEvent.objects.count() == 1


def test_a_withdrawal_before_the_buffer_is_written_drops_the_buffered_page_views(client, alice):
    from privacy.models import AnalyticsEvent

    consent_set(user=alice, purpose=Purpose.PRODUCT_ANALYTICS, granted=True, source=ConsentSource.PRIVACY_CENTRE)
    signed_in(client, alice).get(reverse("privacy_centre"))
    consent_set(user=alice, purpose=Purpose.PRODUCT_ANALYTICS, granted=False, source=ConsentSource.PRIVACY_CENTRE)

    flushed()

    assert not AnalyticsEvent.objects.exists()


# Policy versions and re-acceptance ----------------------------------------------------------------


def test_a_significant_version_is_asked_for_at_the_next_sign_in(client, alice):
    first = publish("1", significant=True, effective_from=timezone.localdate() - dt.timedelta(days=30))
    policy_accept(user=alice, version=first, source="registration")
    signed_in(client, alice)
    assert client.get(reverse("privacy_centre")).status_code == 200

    publish("2", significant=True)
    signed_in(client, alice)  # the next sign-in
    response = client.get(reverse("privacy_centre"))

    assert response.status_code == 302
    assert response["Location"].startswith(reverse("privacy_policy_accept"))
    assert client.get(response["Location"]).status_code == 200
    assert client.post("/i18n/setlang/", {"language": "en"}).status_code == 302
    assert client.get("/api/v1/privacy/policy/", HTTP_USER_AGENT="t").status_code == 200


def test_accepting_the_version_lets_the_user_in(client, alice):
    publish("1", significant=True)
    signed_in(client, alice)

    response = client.post(reverse("privacy_policy_accept"), {"accept": "on", "next": "/privacy/"})

    assert response.status_code == 302 and response["Location"] == "/privacy/"
    assert client.get(reverse("privacy_centre")).status_code == 200
    assert PolicyAcceptance.objects.get(user=alice).source == "sign_in"


def test_a_minor_version_does_not_interrupt_the_user(client, alice):
    first = publish("1", significant=True, effective_from=timezone.localdate() - dt.timedelta(days=30))
    policy_accept(user=alice, version=first, source="registration")
    publish("2", significant=False)

    signed_in(client, alice)

    assert client.get(reverse("privacy_centre")).status_code == 200


def test_old_versions_stay_readable_in_both_languages(client, alice):
    publish("1", effective_from=timezone.localdate() - dt.timedelta(days=30))
    publish("2")

    old = client.get(reverse("privacy_policy_detail", args=[1]))
    current = client.get(reverse("privacy_policy_list"))
    chinese = client.get(reverse("privacy_policy_detail", args=[1]), HTTP_ACCEPT_LANGUAGE="zh-hans")

    assert "English text 1." in old.content.decode() and "Earlier version" in old.content.decode()
    assert "English text 2." in current.content.decode() and "Current version" in current.content.decode()
    assert "中文 1。" in chinese.content.decode()


def test_only_an_ops_admin_publishes_a_version(olga, admin_user):
    from django.core.exceptions import PermissionDenied

    with pytest.raises(PermissionDenied):
        publish("x", actor=olga)
    assert publish("y", actor=admin_user).version == 1


def test_a_user_with_no_policy_to_accept_is_never_redirected(client, alice):
    signed_in(client, alice)

    assert client.get(reverse("privacy_centre")).status_code == 200
