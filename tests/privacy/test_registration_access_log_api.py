"""Registration (under 18 refused), the access log of every API call (who, what, when, from
where; "who accessed my data"), and the privacy API."""

import datetime as dt

import pytest
from django.core.exceptions import ValidationError
from django.urls import reverse
from django.utils import timezone

from privacy.models import AccessLog, ConsentEvent, PolicyAcceptance, RightsRequest
from privacy.selectors import access_log_about
from privacy.services.policies import policy_publish
from privacy.services.registration import user_register
from shops.models import User
from tests.api.conftest import token_client
from tests.factories import make_creator, make_shop
from tests.privacy.conftest import flushed, last_code

pytestmark = pytest.mark.django_db
TODAY = dt.date(2026, 6, 15)


@pytest.fixture
def policy():
    return policy_publish(
        actor=None,
        effective_from=dt.date(2026, 1, 1),
        significant=True,
        title_en="Policy",
        title_zh="政策",
        summary_en="First",
        summary_zh="第一版",
        body_en="Text",
        body_zh="正文",
    )


def _register(**overrides):
    values = {
        "email": "new@example.com",
        "password": "A-strong-pass-2026",
        "role": User.Role.CREATOR,
        "birth_date": dt.date(2000, 1, 1),
        "accept_policy": True,
        "consents": {"marketing_email": True},
        "creator_key": "CR-NEW",
        "today": TODAY,
    }
    return user_register(**(values | overrides))


@pytest.mark.parametrize(
    ("birth_date", "allowed"),
    [
        (dt.date(2008, 6, 15), True),  # 18 today
        (dt.date(2008, 6, 16), False),  # 18 tomorrow
        (dt.date(2008, 6, 14), True),
    ],
)
def test_only_people_aged_18_or_older_can_register(policy, birth_date, allowed):
    make_creator(key="CR-NEW")
    if allowed:
        assert _register(birth_date=birth_date).role == User.Role.CREATOR
    else:
        with pytest.raises(ValidationError) as caught:
            _register(birth_date=birth_date)
        assert caught.value.message_dict["birth_date"] == ["You must be at least 18 years old to register."]
        assert not User.objects.filter(email="new@example.com").exists()


def test_registration_records_the_policy_and_every_consent_answer(policy):
    make_creator(key="CR-NEW")
    user = _register()

    assert PolicyAcceptance.objects.get(user=user).version == policy
    assert set(ConsentEvent.objects.filter(user=user).values_list("purpose", "granted")) == {
        ("marketing_email", True),
        ("product_analytics", False),
        ("data_sharing", False),
    }
    assert (user.consent_marketing_email, user.consent_data_sharing) == (True, False)


def test_registration_needs_the_policy_accepted(policy):
    make_creator(key="CR-NEW")
    with pytest.raises(ValidationError, match="accept the privacy policy"):
        _register(accept_policy=False)


def test_the_registration_page_refuses_a_minor_and_signs_an_adult_in(client, seller_a, policy):
    form = {
        "role": "seller",
        "email": "kid@example.com",
        "password": "A-strong-pass-2026",
        "seller_key": "SEL-A",
        "accept_policy": "on",
    }
    minor = (timezone.localdate() - dt.timedelta(days=17 * 365)).isoformat()
    page = client.post(reverse("register"), form | {"birth_date": minor}).content.decode()
    assert "You must be at least 18 years old to register." in page
    assert not User.objects.filter(email="kid@example.com").exists()

    response = client.post(reverse("register"), form | {"email": "grown@example.com", "birth_date": "1990-05-05"})

    assert response.status_code == 302
    assert User.objects.get(email="grown@example.com").sellers.get().key == "SEL-A"
    assert client.get(reverse("privacy_centre")).status_code == 200


def test_the_registration_page_is_for_anonymous_visitors(client):
    assert client.get(reverse("register")).status_code == 200


# The access log ------------------------------------------------------------------------------------


def test_every_api_call_is_logged_with_who_what_when_and_from_where(olga, alice, seller_a):
    shop = make_shop(seller=seller_a, key="SHOP-LOGGED")
    api = token_client(olga)

    api.get(f"/api/v1/shops/{shop.key}/", REMOTE_ADDR="198.51.100.4")
    flushed()

    log = AccessLog.objects.get(path=f"/api/v1/shops/{shop.key}/")
    assert (log.actor, log.channel, log.method, log.ip, log.status_code) == (olga, "api", "GET", "198.51.100.4", 200)
    assert log.token_prefix and log.view_name == "api:shop-detail"
    assert list(log.subjects.values_list("kind", "subject_id")) == [("seller", seller_a.pk)]
    assert list(access_log_about(user=alice)) == [log]


def test_a_list_call_is_logged_against_every_seller_it_showed(olga, alice, bob, seller_a, seller_b):
    make_shop(seller=seller_a)
    make_shop(seller=seller_b)

    token_client(olga).get("/api/v1/shops/")
    flushed()

    [log] = AccessLog.objects.filter(path="/api/v1/shops/")
    assert set(log.subjects.values_list("subject_id", flat=True)) == {seller_a.pk, seller_b.pk}
    assert list(access_log_about(user=bob)) == [log]


def test_api_calls_add_no_query_to_the_request(olga, django_assert_max_num_queries):
    api = token_client(olga)
    api.get("/api/v1/shops/")
    with django_assert_max_num_queries(8) as captured:
        api.get("/api/v1/shops/")
    assert not any("privacy_accesslog" in q["sql"] for q in captured.captured_queries)


def test_an_admin_view_of_a_persons_record_is_logged(client, alice, admin_user):
    from tests.conftest import signed_in

    admin_user.otp_confirmed_at = timezone.now()  # staff sign in with a second factor
    admin_user.save()
    assert signed_in(client, admin_user).get(f"/admin/shops/user/{alice.pk}/change/").status_code == 200
    flushed()

    log = AccessLog.objects.get(channel="admin")
    assert list(log.subjects.values_list("kind", "subject_id")) == [("user", alice.pk)]


# The API ---------------------------------------------------------------------------------------------


def test_the_api_files_verifies_and_follows_a_request(alice):
    api = token_client(alice)

    filed = api.post("/api/v1/privacy/requests/", {"kind": "deletion", "password": "pw-123456!"}, format="json")
    assert filed.status_code == 201 and filed.json()["state"] == "unverified"
    reference = filed.json()["reference"]
    verified = api.post(f"/api/v1/privacy/requests/{reference}/verify/", {"code": last_code()}, format="json")

    body = verified.json()
    assert body["state"] == "received" and body["days_left"] == 14 or body["days_left"] == 15
    assert api.get("/api/v1/privacy/requests/").json()[0]["reference"] == reference


def test_the_api_answers_404_for_someone_elses_request(alice, bob):
    api = token_client(alice)
    reference = api.post(
        "/api/v1/privacy/requests/", {"kind": "deletion", "password": "pw-123456!"}, format="json"
    ).json()["reference"]

    assert token_client(bob).get(f"/api/v1/privacy/requests/{reference}/").status_code == 404


def test_the_api_manages_consents_and_shows_the_ledger(alice):
    api = token_client(alice)

    response = api.patch("/api/v1/privacy/consents/", {"data_sharing": False}, format="json")

    assert response.json()["consents"]["data_sharing"] is False
    ledger = api.get("/api/v1/privacy/consents/").json()["ledger"]
    assert ledger[0]["purpose"] == "data_sharing" and ledger[0]["source"] == "api"


def test_ops_work_the_queue_through_the_api(alice, olga):
    api = token_client(alice)
    reference = api.post(
        "/api/v1/privacy/requests/", {"kind": "deletion", "password": "pw-123456!"}, format="json"
    ).json()["reference"]
    api.post(f"/api/v1/privacy/requests/{reference}/verify/", {"code": last_code()}, format="json")
    ops = token_client(olga)

    queue = ops.get("/api/v1/privacy/ops/requests/").json()
    refused = ops.post(f"/api/v1/privacy/ops/requests/{reference}/refuse/", {"reason": "Open appeal"}, format="json")

    assert [r["reference"] for r in queue] == [reference]
    assert refused.json()["state"] == "refused" and refused.json()["response"] == "Open appeal"
    assert token_client(alice).get("/api/v1/privacy/ops/requests/").status_code == 403
    assert RightsRequest.objects.get(reference=reference).closed_by == olga


def test_a_token_without_the_privacy_scope_is_refused(alice):
    api = token_client(alice, scopes=["eligibility:read"])

    assert api.get("/api/v1/privacy/consents/").status_code == 403


def test_who_accessed_my_data_through_the_api(alice, olga, seller_a):
    make_shop(seller=seller_a, key="SHOP-SEEN")
    token_client(olga).get("/api/v1/shops/SHOP-SEEN/")
    flushed()

    entries = token_client(alice).get("/api/v1/privacy/access-log/").json()["results"]

    assert [(e["path"], e["actor_role"]) for e in entries if "SHOP-SEEN" in e["path"]] == [
        ("/api/v1/shops/SHOP-SEEN/", "ops")
    ]
