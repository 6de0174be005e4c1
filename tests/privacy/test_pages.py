"""The privacy centre pages: sign-in required, someone else's request or a wrong role is a
404, a fixed number of queries whatever the data size, and the content a person relies on."""

import datetime as dt

import pytest
from django.urls import reverse
from django.utils import timezone

from privacy.models import AccessLog, AccessLogSubject, RightsRequest, RightsRequestEvent
from privacy.services.retention import retention_policies_ensure
from tests.conftest import signed_in
from tests.factories import make_seller
from tests.privacy.conftest import file_verified

pytestmark = pytest.mark.django_db
Kind = RightsRequest.Kind

USER_PAGES = ["privacy_centre", "privacy_my_data", "privacy_access_log", "privacy_request_new", "privacy_policy_accept"]
OPS_PAGES = ["privacy_ops_queue", "privacy_ops_retention"]


def _requests(user, count: int, *, start: int = 0) -> list[RightsRequest]:
    now = timezone.now()
    return RightsRequest.objects.bulk_create(
        RightsRequest(
            reference=f"PR-{user.pk:02d}{n:06d}",
            requester=user,
            kind=Kind.DELETION,
            state=RightsRequest.State.RECEIVED,
            created_at=now,
            verified_at=now,
            received_at=now,
            due_at=now + dt.timedelta(days=15 - n % 15),
        )
        for n in range(start, start + count)
    )


def _accesses(user, count: int, *, actor=None, token=""):
    now = timezone.now()
    logs = AccessLog.objects.bulk_create(
        AccessLog(
            at=now - dt.timedelta(minutes=n),
            actor=actor,
            actor_role=getattr(actor, "role", ""),
            token_prefix=token,
            channel="api",
            method="GET",
            path=f"/api/v1/shops/S{n}/",
        )
        for n in range(count)
    )
    AccessLogSubject.objects.bulk_create(AccessLogSubject(log=log, kind="user", subject_id=user.pk) for log in logs)


@pytest.mark.parametrize("name", USER_PAGES + OPS_PAGES)
def test_anonymous_visitors_are_sent_to_sign_in(client, name):
    response = client.get(reverse(name))

    assert response.status_code == 302 and response["Location"].startswith(reverse("login"))


@pytest.mark.parametrize("name", OPS_PAGES)
@pytest.mark.parametrize("persona", ["alice", "carol"])
def test_ops_pages_do_not_exist_for_other_roles(client, name, persona, request):
    assert signed_in(client, request.getfixturevalue(persona)).get(reverse(name)).status_code == 404


def test_someone_elses_request_is_a_404(client, alice, bob):
    [request] = _requests(bob, 1)

    signed_in(client, alice)

    assert client.get(reverse("privacy_request_detail", args=[request.reference])).status_code == 404
    assert client.post(reverse("privacy_request_withdraw", args=[request.reference])).status_code == 404
    assert client.get(reverse("privacy_request_export", args=[request.reference])).status_code == 404
    assert client.get(reverse("privacy_ops_request", args=[request.reference])).status_code == 404


def test_an_ops_admin_page_is_a_404_for_ops_reviewers(client, olga):
    assert signed_in(client, olga).get(reverse("privacy_ops_policy_new")).status_code == 404


# Fixed query counts ------------------------------------------------------------------------------


def _count(client, url, django_assert_num_queries, queries):
    with django_assert_num_queries(queries):
        assert client.get(url).status_code == 200


def test_the_centre_costs_the_same_queries_with_2_or_12_requests(client, alice, django_assert_num_queries):
    signed_in(client, alice)
    _requests(alice, 2)
    _count(client, reverse("privacy_centre"), django_assert_num_queries, 6)
    _requests(alice, 10, start=2)
    _count(client, reverse("privacy_centre"), django_assert_num_queries, 6)


def test_the_access_log_page_costs_the_same_queries_with_2_or_30_entries(
    client, alice, olga, django_assert_num_queries
):
    signed_in(client, alice)
    _accesses(alice, 2, actor=olga)
    _count(client, reverse("privacy_access_log"), django_assert_num_queries, 5)
    _accesses(alice, 28, actor=olga)
    _count(client, reverse("privacy_access_log"), django_assert_num_queries, 5)


def test_my_data_costs_the_same_queries_with_1_or_5_sellers(client, alice, django_assert_num_queries):
    signed_in(client, alice)
    _count(client, reverse("privacy_my_data"), django_assert_num_queries, 4)
    alice.sellers.add(*[make_seller() for _ in range(4)])
    _count(client, reverse("privacy_my_data"), django_assert_num_queries, 4)


def test_the_ops_queue_costs_the_same_queries_with_2_or_30_requests(
    client, alice, bob, olga, django_assert_num_queries
):
    signed_in(client, olga)
    _requests(alice, 2)
    _count(client, reverse("privacy_ops_queue"), django_assert_num_queries, 5)
    _requests(bob, 28)
    _count(client, reverse("privacy_ops_queue"), django_assert_num_queries, 5)


def test_a_request_costs_the_same_queries_with_2_or_20_events(client, alice, olga, django_assert_num_queries):
    [request] = _requests(alice, 1)
    events = lambda n: RightsRequestEvent.objects.bulk_create(  # noqa: E731
        RightsRequestEvent(request=request, at=timezone.now(), action="started", actor=olga) for _ in range(n)
    )
    events(2)
    signed_in(client, alice)
    _count(client, reverse("privacy_request_detail", args=[request.reference]), django_assert_num_queries, 6)
    signed_in(client, olga)
    _count(client, reverse("privacy_ops_request", args=[request.reference]), django_assert_num_queries, 7)
    events(18)
    _count(client, reverse("privacy_ops_request", args=[request.reference]), django_assert_num_queries, 7)
    signed_in(client, alice)
    _count(client, reverse("privacy_request_detail", args=[request.reference]), django_assert_num_queries, 6)


def test_the_retention_page_costs_the_same_queries_every_time(client, olga, django_assert_num_queries):
    retention_policies_ensure()
    signed_in(client, olga)
    _count(client, reverse("privacy_ops_retention"), django_assert_num_queries, 7)


# Content ------------------------------------------------------------------------------------------


def test_the_centre_shows_consents_the_policy_and_requests(client, alice):
    request = file_verified(alice, Kind.DELETION)

    page = signed_in(client, alice).get(reverse("privacy_centre")).content.decode()

    for text in ["Marketing e-mail", "Product analytics", "Sharing eligibility data", request.reference, "Received"]:
        assert text in page
    assert "15 days left" in page or "14 days left" in page


def test_my_data_shows_the_decrypted_personal_fields_and_logs_the_view(client, alice, seller_a):
    from tests.privacy.conftest import flushed

    seller_a.contact_phone, seller_a.tax_id = "+86 138 0000 0001", "TAX-ALICE"
    seller_a.save()

    page = signed_in(client, alice).get(reverse("privacy_my_data")).content.decode()
    flushed()

    assert "+86 138 0000 0001" in page and "TAX-ALICE" in page and "alice@example.com" in page
    log = AccessLog.objects.get(view_name="privacy_my_data")
    assert log.actor == alice and set(log.subjects.values_list("kind", flat=True)) == {"user", "seller"}


def test_the_ops_queue_shows_the_countdown_and_deadline_state(client, alice, olga):
    request = file_verified(alice, Kind.DELETION)
    RightsRequest.objects.filter(pk=request.pk).update(due_at=timezone.now() + dt.timedelta(days=2, hours=1))

    page = signed_in(client, olga).get(reverse("privacy_ops_queue")).content.decode()

    assert request.reference in page and "Due soon" in page and "alice@example.com" in page
    assert '<td data-label="Days left" class="num">2</td>' in page


def test_an_automated_review_lands_in_the_queue_with_the_verdicts_inputs(client, alice, seller_a, olga):
    from shops.models import EvaluationRun, StatusHistory
    from tests.factories import make_shop

    shop = make_shop(seller=seller_a, key="SHOP-REVIEW")
    run = EvaluationRun.objects.create(as_of=timezone.localdate(), chunk_size=10, state="succeeded")
    verdict = StatusHistory.objects.create(
        entity="shop",
        entity_id=shop.pk,
        entity_key=shop.key,
        new_status="RESTRICTED",
        new_reasons=["SPS_LOW"],
        inputs={"sps": "2.9", "orders_90d": 80},
        baseline=None,
        ruleset_version=3,
        run=run,
        as_of=timezone.localdate(),
        created_at=timezone.now(),
    )
    request = file_verified(alice, Kind.AUTOMATED_REVIEW, decision_id=verdict.pk, details="My score was wrong")

    page = signed_in(client, olga).get(reverse("privacy_ops_request", args=[request.reference])).content.decode()

    assert request in RightsRequest.objects.filter(state="received")
    for text in ["SHOP-REVIEW", "RESTRICTED", "SPS_LOW", "2.9", "orders_90d", "My score was wrong"]:
        assert text in page


def test_a_person_cannot_ask_to_review_someone_elses_verdict(bob, alice, seller_a):
    from django.core.exceptions import ValidationError

    from shops.models import EvaluationRun, StatusHistory
    from tests.factories import make_shop

    shop = make_shop(seller=seller_a)
    run = EvaluationRun.objects.create(as_of=timezone.localdate(), chunk_size=10, state="succeeded")
    verdict = StatusHistory.objects.create(
        entity="shop",
        entity_id=shop.pk,
        entity_key=shop.key,
        new_status="RESTRICTED",
        ruleset_version=1,
        run=run,
        as_of=timezone.localdate(),
        created_at=timezone.now(),
    )

    with pytest.raises(ValidationError, match="your own"):
        file_verified(bob, Kind.AUTOMATED_REVIEW, decision_id=verdict.pk)


def test_filing_a_request_from_the_page_then_entering_the_code(client, alice):
    from tests.privacy.conftest import last_code

    signed_in(client, alice)
    response = client.post(
        reverse("privacy_request_new"), {"kind": "deletion", "details": "All of it", "password": "pw-123456!"}
    )
    request = RightsRequest.objects.get(requester=alice)
    assert response["Location"] == reverse("privacy_request_detail", args=[request.reference])
    assert "Confirm it is you" in client.get(response["Location"]).content.decode()

    client.post(reverse("privacy_request_verify", args=[request.reference]), {"code": last_code()})

    request.refresh_from_db()
    assert request.state == "received"
    page = client.get(reverse("privacy_request_detail", args=[request.reference])).content.decode()
    assert "Answer due by" in page and request.due_at.strftime("%Y") in page


def test_an_empty_code_is_answered_with_an_error_naming_the_field(client, alice):
    signed_in(client, alice)
    client.post(reverse("privacy_request_new"), {"kind": "deletion", "password": "pw-123456!"})
    request = RightsRequest.objects.get(requester=alice)

    response = client.post(reverse("privacy_request_verify", args=[request.reference]), {"code": ""}, follow=True)

    request.refresh_from_db()
    assert request.state != "received"
    assert "Code from the e-mail: This field is required." in response.content.decode()


def test_a_wrong_password_on_the_form_is_shown_at_the_field(client, alice):
    page = (
        signed_in(client, alice)
        .post(reverse("privacy_request_new"), {"kind": "deletion", "password": "nope"})
        .content.decode()
    )

    assert "The password is not correct." in page
    assert not RightsRequest.objects.exists()


def test_ops_extend_and_the_requester_sees_why(client, alice, olga):
    request = file_verified(alice, Kind.DELETION)
    signed_in(client, olga)

    client.post(
        reverse("privacy_ops_request_action", args=[request.reference, "extend"]),
        {"reason": "Large archive", "days": 5},
    )

    signed_in(client, alice)
    page = client.get(reverse("privacy_request_detail", args=[request.reference])).content.decode()
    assert "Large archive" in page


def test_who_accessed_my_data_names_api_clients_staff_and_me(client, alice, olga):
    _accesses(alice, 1, actor=olga, token="abcd1234")
    _accesses(alice, 1, actor=olga)
    _accesses(alice, 1, actor=alice)

    page = signed_in(client, alice).get(reverse("privacy_access_log")).content.decode()

    assert "API client abcd1234" in page and "Portal staff (ops)" in page and "You" in page
    assert "olga@example.com" not in page


def test_ops_change_a_retention_policy_from_the_page(client, olga):
    retention_policies_ensure()
    signed_in(client, olga)

    client.post(reverse("privacy_ops_retention"), {"data_class": "analytics_events", "days": "90", "enabled": "on"})
    client.post(reverse("privacy_ops_retention"), {"data_class": "evaluation_history", "days": "10", "enabled": "on"})

    from privacy.models import RetentionPolicy

    assert RetentionPolicy.objects.get(data_class="analytics_events").days == 90
    assert RetentionPolicy.objects.get(data_class="evaluation_history").days == 1095
