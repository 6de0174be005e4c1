"""The ops pages: overview, review queue, appeals, overrides, forced unbinding and recovery reviews.

olga is ops; alice is a member of SEL-A, bob of SEL-B, carol a creator. Every page is for ops
only (others get 404, anonymous visitors the sign-in page), costs a fixed number of queries
whatever the data size, and every action changes what olga sees next.
"""

import datetime as dt
from decimal import Decimal

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from shops.models import (
    Appeal,
    EvaluationRun,
    LicenceFlag,
    Override,
    RecoveryReview,
    Shop,
    ShopUnbinding,
    User,
)
from shops.rules import codes as c
from shops.services.appeals import appeal_checklist_for, appeal_reject, appeal_submit, override_create
from shops.services.evaluation import evaluation_run_inline
from shops.services.integrity import (
    recovery_review_open,
    recovery_submit_documents,
    recovery_submit_letter,
    shop_force_unbind,
)
from tests.conftest import signed_in
from tests.factories import make_product, make_shop, make_user

pytestmark = pytest.mark.django_db

DAY = dt.date(2026, 11, 20)
STATEMENT = "Our score dropped because of a carrier strike; the records show every order shipped."
PDF = b"%PDF-1.7\nproof"


def pdf(name: str = "proof.pdf") -> SimpleUploadedFile:
    return SimpleUploadedFile(name, PDF, content_type="application/pdf")


def run(day: dt.date = DAY) -> EvaluationRun:
    return evaluation_run_inline(as_of=day)


def appeal_for(user: User, shop: Shop, now: dt.datetime | None = None) -> Appeal:
    verdict_codes = Shop.objects.get(pk=shop.pk).reasons
    evidence = [(item.key, pdf(f"{item.key}.pdf")) for item in appeal_checklist_for(verdict_codes)]
    return appeal_submit(user=user, entity="shop", entity_id=shop.pk, statement=STATEMENT, evidence=evidence, now=now)


def text(response) -> str:
    return response.content.decode()


@pytest.fixture(autouse=True)
def media_root(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path
    return tmp_path


@pytest.fixture
def world(seller_a, seller_b, alice, bob, carol, olga):
    """alice's restricted and disqualified shops, bob's eligible UK shop with a counterfeit product."""
    low = make_shop(key="SHOP-A-LOW", seller=seller_a, sps=Decimal("3.2"))
    bad = make_shop(key="SHOP-A-BAD", seller=seller_a, sps=Decimal("2.5"))
    shop_b = make_shop(key="SHOP-B", seller=seller_b, market="UK")
    fake = make_product(key="PRD-B-FAKE", shop=shop_b, counterfeit_flag=True)
    last = run()
    low.refresh_from_db()
    bad.refresh_from_db()
    fake.refresh_from_db()
    assert (low.status, bad.status, fake.status) == (c.RESTRICTED, c.DISQUALIFIED, c.DISQUALIFIED)
    return {"low": low, "bad": bad, "shop_b": shop_b, "fake": fake, "run": last, "olga": olga}


@pytest.fixture
def ops_client(client, olga):
    return signed_in(client, olga)


@pytest.fixture
def appeal(world, alice):
    return appeal_for(alice, world["low"])


@pytest.fixture
def unbinding(world, olga):
    return shop_force_unbind(shop=world["shop_b"], user=olga, reason="A fourth active shop on the licence.")


@pytest.fixture
def review(unbinding, olga):
    return recovery_review_open(unbinding=unbinding, user=olga)


# Who may see the pages -----------------------------------------------------------------------------


def _pages(world, appeal, review) -> list[str]:
    return [
        reverse("ops_overview"),
        reverse("ops_review_queue"),
        reverse("ops_appeals"),
        reverse("ops_appeal_detail", args=[appeal.pk]),
        reverse("ops_overrides"),
        reverse("ops_override_create"),
        reverse("ops_unbind"),
        reverse("ops_unbind_confirm", args=[world["low"].pk]),
        reverse("ops_recovery"),
        reverse("ops_recovery_detail", args=[review.pk]),
    ]


def _actions(world, appeal, review) -> list[str]:
    override = override_create(
        entity="shop", entity_id=world["bad"].pk, status=c.ELIGIBLE, reason="Test.", user=world["olga"]
    )
    return [
        reverse("ops_appeal_approve", args=[appeal.pk]),
        reverse("ops_appeal_reject", args=[appeal.pk]),
        reverse("ops_override_create"),
        reverse("ops_override_revoke", args=[override.pk]),
        reverse("ops_unbind_confirm", args=[world["low"].pk]),
        reverse("ops_recovery_open", args=[review.unbinding_id]),
        reverse("ops_recovery_letter", args=[review.pk]),
        reverse("ops_recovery_documents", args=[review.pk]),
        reverse("ops_recovery_exam", args=[review.pk]),
        reverse("ops_recovery_decide", args=[review.pk]),
    ]


def test_anonymous_visitors_are_sent_to_sign_in_from_every_ops_page_and_action(client, world, appeal, review):
    for url in _pages(world, appeal, review):
        response = client.get(url)
        assert response.status_code == 302, url
        assert response["Location"].startswith(reverse("login")), url
    for url in _actions(world, appeal, review):
        response = client.post(url, {"reason": "x"})
        assert response.status_code == 302, url
        assert response["Location"].startswith(reverse("login")), url


@pytest.mark.parametrize("persona", ["alice", "bob", "carol"])
def test_sellers_and_creators_get_404_on_every_ops_page_and_action(client, world, appeal, review, persona, request):
    signed_in(client, request.getfixturevalue(persona))
    for url in _pages(world, appeal, review):
        assert client.get(url).status_code == 404, url
    for url in _actions(world, appeal, review):
        assert client.post(url, {"reason": "x"}).status_code == 404, url
    assert Appeal.objects.get(pk=appeal.pk).state == Appeal.State.SUBMITTED
    assert RecoveryReview.objects.get(pk=review.pk).state == RecoveryReview.State.OPEN


def test_ops_reviewers_and_admins_open_every_ops_page(client, world, appeal, review):
    for role in (User.Role.OPS, User.Role.OPS_ADMIN):
        signed_in(client, make_user(role=role))
        for url in _pages(world, appeal, review):
            assert client.get(url).status_code == 200, url


def test_an_unknown_appeal_review_or_shop_is_404_for_ops(ops_client, world):
    assert ops_client.get(reverse("ops_appeal_detail", args=[999_999])).status_code == 404
    assert ops_client.get(reverse("ops_recovery_detail", args=[999_999])).status_code == 404
    assert ops_client.get(reverse("ops_unbind_confirm", args=[999_999])).status_code == 404


def test_ops_forms_refuse_a_post_without_the_csrf_token(olga, appeal):
    client = signed_in(Client(enforce_csrf_checks=True), olga)
    response = client.post(reverse("ops_appeal_reject", args=[appeal.pk]), {"reject-reason": "No evidence."})
    assert response.status_code == 403
    assert Appeal.objects.get(pk=appeal.pk).state == Appeal.State.SUBMITTED


# Overview ----------------------------------------------------------------------------------------


def test_the_overview_counts_verdicts_by_market_and_status_and_sizes_the_queues(ops_client, world, appeal, review):
    overdue = appeal_for(
        User.objects.get(email="alice@example.com"), world["bad"], now=timezone.now() - dt.timedelta(days=9)
    )
    assert overdue.due_at < timezone.now()
    LicenceFlag.objects.create(business_licence_no="BL-X", active_shops=4, shop_keys=["S1", "S2", "S3", "S4"])
    response = ops_client.get(reverse("ops_overview"))
    assert response.status_code == 200
    data = response.context["data"]
    shops, products, creators = data.counts
    by_market = {row.market: dict(zip(shops.statuses, row.cells, strict=True)) for row in shops.rows}
    assert by_market["US"][c.RESTRICTED] == 1 and by_market["US"][c.DISQUALIFIED] == 1
    assert by_market["UK"] == {c.ELIGIBLE: 1, c.RESTRICTED: 0, c.DISQUALIFIED: 0}
    assert products.total == 1 and creators.total == 1
    queues = data.queues
    assert (queues.open_appeals, queues.overdue_appeals, queues.open_recovery_reviews, queues.open_licence_flags) == (
        2,
        1,
        1,
        1,
    )
    body = text(response)
    for words in ("Open appeals", "Overdue appeals", "Pending recovery reviews", "Open licence flags", "Disqualified"):
        assert words in body


def test_the_overview_counts_follow_each_change_of_verdict_and_are_not_recounted_meanwhile(ops_client, world):
    def us_shops() -> dict:
        shops = ops_client.get(reverse("ops_overview")).context["data"].counts[0]
        return {row.market: dict(zip(shops.statuses, row.cells, strict=True)) for row in shops.rows}["US"]

    assert us_shops() == {c.ELIGIBLE: 0, c.RESTRICTED: 1, c.DISQUALIFIED: 1}
    with CaptureQueriesContext(connection) as again:
        assert us_shops() == {c.ELIGIBLE: 0, c.RESTRICTED: 1, c.DISQUALIFIED: 1}
    assert not [q for q in again.captured_queries if "GROUP BY" in q["sql"] and '"shops_shop"."market"' in q["sql"]]

    Shop.objects.filter(pk=world["low"].pk).update(sps=Decimal("4.2"))
    run(DAY + dt.timedelta(days=1))

    assert us_shops() == {c.ELIGIBLE: 1, c.RESTRICTED: 0, c.DISQUALIFIED: 1}


def test_the_overview_shows_the_changes_of_the_last_run_by_new_status(ops_client, world):
    response = ops_client.get(reverse("ops_overview"))
    changes = {(row.entity, row.status): (row.last_day, row.last_run) for row in response.context["data"].changes}
    # Every shop and product got its first verdict in the fixture's run, which started just now.
    assert changes[("shop", c.DISQUALIFIED)] == (1, 1)
    assert changes[("shop", c.RESTRICTED)] == (1, 1)
    assert changes[("product", c.DISQUALIFIED)] == (1, 1)
    assert f"Last run #{world['run'].pk}" in text(response)


def test_changes_of_the_last_day_leave_out_older_runs_and_each_run_shows_its_duration(ops_client, world):
    two_days_ago = timezone.now() - dt.timedelta(days=2)
    EvaluationRun.objects.filter(pk=world["run"].pk).update(
        started_at=two_days_ago, finished_at=two_days_ago + dt.timedelta(minutes=3, seconds=5)
    )
    Shop.objects.filter(pk=world["low"].pk).update(sps=Decimal("4.2"))
    run(DAY + dt.timedelta(days=1))

    response = ops_client.get(reverse("ops_overview"))

    changes = {(row.entity, row.status): (row.last_day, row.last_run) for row in response.context["data"].changes}
    assert changes == {("shop", c.ELIGIBLE): (1, 1)}  # the older run's first verdicts are not of the last day
    assert "3 min 5 s" in text(response)


def test_a_running_run_shows_its_progress_and_polls_every_5_seconds_until_it_ends(ops_client, world):
    running = EvaluationRun.objects.create(
        as_of=DAY + dt.timedelta(days=1), state="running", phase="product", chunk_size=10, total=200, done=50
    )
    body = text(ops_client.get(reverse("ops_overview")))
    assert 'hx-trigger="every 5s"' in body
    assert '<progress class="ops-progress" max="200" value="50"' in body
    assert "50 of 200 (25 %) · evaluating: Product" in body

    partial = ops_client.get(reverse("ops_overview_runs"), HTTP_HX_REQUEST="true")
    assert partial.status_code == 200 and "<html" not in text(partial)
    assert 'hx-trigger="every 5s"' in text(partial)

    EvaluationRun.objects.filter(pk=running.pk).update(state="succeeded", done=200, finished_at=timezone.now())
    partial = ops_client.get(reverse("ops_overview_runs"), HTTP_HX_REQUEST="true")
    assert "hx-trigger" not in text(partial) and "<progress" not in text(partial)
    assert "200 of 200" in text(partial)


def test_the_runs_partial_without_htmx_sends_back_to_the_overview(ops_client, world):
    response = ops_client.get(reverse("ops_overview_runs"))
    assert response.status_code == 302 and response["Location"] == reverse("ops_overview")


# Review queue --------------------------------------------------------------------------------------


def test_the_review_queue_lists_disqualifying_verdicts_newest_first_with_reasons_and_inputs(ops_client, world):
    response = ops_client.get(reverse("ops_review_queue"))
    rows = response.context["rows"]
    assert [row.history.entity_key for row in rows] == ["PRD-B-FAKE", "SHOP-A-BAD"]
    body = text(response)
    assert "COUNTERFEIT_FLAG" in body and "SPS_BELOW_DISQUALIFY" in body
    assert "Shop Performance Score is below 3" in body  # the worded reason, with the rule set's threshold
    assert "Seller" in rows[1].seller_name and rows[1].seller_key == "SEL-A"
    assert f"rules v{rows[1].history.ruleset_version}" in body
    assert "Inputs the rules read" in body and "Counterfeit flag" in body
    assert f"{reverse('ops_override_create')}?entity=product&amp;key=PRD-B-FAKE" in body


def test_the_review_queue_filters_by_type_market_and_id(ops_client, world):
    def keys(**params):
        return [row.history.entity_key for row in ops_client.get(reverse("ops_review_queue"), params).context["rows"]]

    assert keys(entity="shop") == ["SHOP-A-BAD"]
    assert keys(market="UK") == ["PRD-B-FAKE"]
    assert keys(q="fake") == ["PRD-B-FAKE"]


def test_the_review_queue_answers_htmx_with_the_table_alone(ops_client, world):
    response = ops_client.get(reverse("ops_review_queue"), {"entity": "product"}, HTTP_HX_REQUEST="true")
    assert response.status_code == 200
    assert text(response).lstrip().startswith('<div id="review-table"') and "<html" not in text(response)


# Appeals -------------------------------------------------------------------------------------------


def test_the_appeal_queue_is_ordered_by_deadline_and_highlights_overdue_appeals(ops_client, world, alice, appeal):
    late = appeal_for(alice, world["bad"], now=timezone.now() - dt.timedelta(days=9))
    response = ops_client.get(reverse("ops_appeals"))
    rows = response.context["rows"]
    assert [row.appeal.pk for row in rows] == [late.pk, appeal.pk]
    assert rows[0].overdue and not rows[1].overdue
    body = text(response)
    assert 'class="is-overdue"' in body and "Overdue by" in body and " left" in body
    assert "2 of 2" in body  # both checklist items of SPS_BELOW_ELIGIBLE answered


def test_the_appeal_detail_sets_the_checklist_against_the_evidence_with_the_verdict_inputs(ops_client, appeal):
    response = ops_client.get(reverse("ops_appeal_detail", args=[appeal.pk]))
    body = text(response)
    for item in appeal_checklist_for([c.SPS_BELOW_ELIGIBLE]):
        assert str(item.label) in body
    for evidence in appeal.evidence.all():
        assert reverse("appeal_evidence_download", args=[evidence.pk]) in body
    assert "Complete" in body and STATEMENT in body
    assert "SPS_BELOW_ELIGIBLE" in body and "Inputs the rules read" in body and "Shop Performance Score" in body
    assert "Approve appeal" in body and "Reject appeal" in body


def test_the_appeal_detail_lists_the_earlier_attempt_on_the_same_verdict(ops_client, world, alice, olga, appeal):

    appeal_reject(appeal=appeal, user=olga, reason="The records do not cover the period.")
    second = appeal_for(alice, world["low"])
    body = text(ops_client.get(reverse("ops_appeal_detail", args=[second.pk])))
    assert f"#{appeal.pk} · attempt 1" in body and "The records do not cover the period." in body


def test_approving_an_appeal_closes_it_and_shows_the_override(ops_client, world, appeal):
    expires = (timezone.localtime() + dt.timedelta(days=10)).strftime("%Y-%m-%dT%H:%M")
    response = ops_client.post(
        reverse("ops_appeal_approve", args=[appeal.pk]),
        {"reason": "Carrier strike confirmed.", "status": c.ELIGIBLE, "expires_at": expires},
    )
    assert response.status_code == 302
    detail = ops_client.get(response["Location"])
    assert "Approved" in text(detail) and "Carrier strike confirmed." in text(detail)
    assert "Approve appeal" not in text(detail)
    assert ops_client.get(reverse("ops_appeals")).context["rows"] == []
    overrides = ops_client.get(reverse("ops_overrides")).context["page"].object_list
    assert [(o.entity_key, o.status, o.appeal_id) for o in overrides] == [("SHOP-A-LOW", c.ELIGIBLE, appeal.pk)]


def test_approving_or_rejecting_without_a_reason_shows_the_error_and_changes_nothing(ops_client, appeal):
    response = ops_client.post(reverse("ops_appeal_approve", args=[appeal.pk]), {"reason": " ", "status": c.ELIGIBLE})
    assert response.status_code == 400
    assert response.context["approve_form"].errors["reason"] == ["This field is required."]
    response = ops_client.post(reverse("ops_appeal_reject", args=[appeal.pk]), {"reject-reason": ""})
    assert response.status_code == 400 and "This field is required." in text(response)
    assert Appeal.objects.get(pk=appeal.pk).state == Appeal.State.SUBMITTED


def test_approving_with_a_status_the_shop_cannot_have_or_an_expiry_in_the_past_is_refused(ops_client, appeal):
    response = ops_client.post(
        reverse("ops_appeal_approve", args=[appeal.pk]), {"reason": "Fine.", "status": c.WARNING}
    )
    assert response.status_code == 400 and "Select a valid choice" in text(response)
    past = (timezone.localtime() - dt.timedelta(days=1)).strftime("%Y-%m-%dT%H:%M")
    response = ops_client.post(
        reverse("ops_appeal_approve", args=[appeal.pk]), {"reason": "Fine.", "status": c.ELIGIBLE, "expires_at": past}
    )
    assert response.status_code == 400 and "The override must expire in the future." in text(response)
    assert Appeal.objects.get(pk=appeal.pk).state == Appeal.State.SUBMITTED


def test_rejecting_an_appeal_shows_the_reason_and_a_decided_appeal_cannot_be_decided_again(ops_client, appeal):
    url = reverse("ops_appeal_reject", args=[appeal.pk])
    response = ops_client.post(url, {"reject-reason": "The records do not cover the period."})
    assert response.status_code == 302
    body = text(ops_client.get(reverse("ops_appeal_detail", args=[appeal.pk])))
    assert "Rejected" in body and "The records do not cover the period." in body
    again = ops_client.post(url, {"reject-reason": "Twice."})
    assert again.status_code == 400 and "This appeal is already Rejected." in text(again)


# Evidence downloads ------------------------------------------------------------------------------


def test_evidence_is_streamed_to_ops_and_the_appeals_seller_members_only(client, appeal, alice, bob, carol, olga):
    evidence = appeal.evidence.first()
    url = reverse("appeal_evidence_download", args=[evidence.pk])
    assert client.get(url).status_code == 302  # anonymous: sign in first
    for user in (olga, alice):
        response = signed_in(client, user).get(url)
        assert response.status_code == 200
        assert b"".join(response.streaming_content) == PDF
        assert response["Content-Disposition"].startswith("attachment")
        assert evidence.original_name in response["Content-Disposition"]
    for user in (bob, carol):
        assert signed_in(client, user).get(url).status_code == 404


# Overrides -----------------------------------------------------------------------------------------


def _override_form(changes: dict | None = None) -> dict:
    expires = (timezone.localtime() + dt.timedelta(days=7)).strftime("%Y-%m-%dT%H:%M")
    form = {"entity": "shop", "key": "SHOP-A-BAD", "status": c.ELIGIBLE, "expires_at": expires, "reason": "Feed error."}
    return form | (changes or {})


def test_the_override_form_shows_the_current_verdict_of_the_entity_named(ops_client, world):
    response = ops_client.get(reverse("ops_override_create"), {"entity": "shop", "key": "SHOP-A-BAD"})
    body = text(response)
    assert response.context["target"].key == "SHOP-A-BAD"
    assert "Disqualified" in body and "SPS_BELOW_DISQUALIFY" in body
    assert response.context["form"]["key"].value() == "SHOP-A-BAD"


def test_creating_an_override_lists_it_with_who_why_and_until_when(ops_client, world):
    response = ops_client.post(reverse("ops_override_create"), _override_form())
    assert response.status_code == 302 and response["Location"] == reverse("ops_overrides")
    page = ops_client.get(reverse("ops_overrides"))
    [override] = page.context["page"].object_list
    assert (override.entity_key, override.status, override.created_by.email) == (
        "SHOP-A-BAD",
        c.ELIGIBLE,
        "olga@example.com",
    )
    body = text(page)
    assert "Feed error." in body and "olga@example.com" in body and " left" in body
    assert "Override: ELIGIBLE" in text(ops_client.get(reverse("ops_review_queue")))


@pytest.mark.parametrize(
    ("changes", "error"),
    [
        ({"reason": ""}, "This field is required."),
        ({"expires_at": ""}, "This field is required."),
        ({"key": "NOPE"}, "No shop has this ID."),
        ({"status": c.WARNING}, "WARNING is not a shop status."),
    ],
)
def test_an_override_needs_a_reason_an_expiry_a_known_entity_and_a_status_it_can_have(
    ops_client, world, changes, error
):
    response = ops_client.post(reverse("ops_override_create"), _override_form(changes))
    assert response.status_code == 400 and error in text(response)
    assert not Override.objects.exists()


def test_revoking_an_override_takes_it_off_the_list(ops_client, world, olga):
    override = override_create(entity="shop", entity_id=world["bad"].pk, status=c.ELIGIBLE, reason="x", user=olga)
    url = reverse("ops_override_revoke", args=[override.pk])
    refused = ops_client.post(url, {"reason": ""}, follow=True)
    assert "Give a reason" in text(refused) and len(refused.context["page"].object_list) == 1
    response = ops_client.post(url, {"reason": "The feed was corrected."}, follow=True)
    assert "revoked" in text(response)
    assert list(response.context["page"].object_list) == []


# Force-unbind --------------------------------------------------------------------------------------


def test_the_unbind_search_finds_shops_by_key_seller_or_licence(ops_client, world):
    def keys(q):
        return [shop.key for shop in ops_client.get(reverse("ops_unbind"), {"q": q}).context["results"]]

    assert keys("SHOP-A-LOW") == ["SHOP-A-LOW"]
    assert set(keys("SEL-A")) == {"SHOP-A-LOW", "SHOP-A-BAD"}
    assert keys(world["shop_b"].seller.business_licence_no) == ["SHOP-B"]
    assert "No shop matches" in text(ops_client.get(reverse("ops_unbind"), {"q": "zzz"}))


def test_the_unbind_confirmation_names_what_will_end(ops_client, world):
    body = text(ops_client.get(reverse("ops_unbind_confirm", args=[world["low"].pk])))
    assert "0 active affiliate plans end now" in body
    assert world["low"].seller.business_licence_no in body and "90 days" in body


def test_force_unbinding_needs_a_reason_then_lists_the_unbinding(ops_client, world):
    url = reverse("ops_unbind_confirm", args=[world["low"].pk])
    refused = ops_client.post(url, {"reason": ""})
    assert refused.status_code == 400 and "This field is required." in text(refused)
    assert not ShopUnbinding.objects.exists()
    response = ops_client.post(url, {"reason": "Unauthorised scraping tool."}, follow=True)
    [row] = response.context["rows"]
    assert row.unbinding.shop.key == "SHOP-A-LOW" and row.can_open_review
    assert "Unauthorised scraping tool." in text(response)
    search = text(ops_client.get(reverse("ops_unbind"), {"q": "SHOP-A-LOW"}))
    assert "Unbound since" in search
    again = text(ops_client.get(url))
    assert "already unbound" in again


# Recovery reviews --------------------------------------------------------------------------------


def test_opening_a_recovery_review_from_an_unbinding_lists_it_with_every_step_outstanding(ops_client, unbinding):
    response = ops_client.post(reverse("ops_recovery_open", args=[unbinding.pk]), follow=True)
    assert response.status_code == 200
    [row] = ops_client.get(reverse("ops_recovery")).context["rows"]
    assert row.outstanding == ["letter", "documents", "exam"]
    again = ops_client.post(reverse("ops_recovery_open", args=[unbinding.pk]), follow=True)
    assert "already has a recovery review that is open" in text(again)
    assert RecoveryReview.objects.count() == 1


def test_the_recovery_steps_are_uploaded_scored_and_decided_from_the_detail_page(ops_client, review):
    detail = reverse("ops_recovery_detail", args=[review.pk])
    ops_client.post(reverse("ops_recovery_letter", args=[review.pk]), {"letter": pdf("letter.pdf")})
    assert "Download the letter" in text(ops_client.get(detail))
    ops_client.post(
        reverse("ops_recovery_documents", args=[review.pk]),
        {"tax_proof": pdf("tax.pdf"), "shipping_documents": pdf("ship.pdf")},
    )
    assert "Tax proof</a>" in text(ops_client.get(detail)) and "Shipping documents</a>" in text(ops_client.get(detail))
    ops_client.post(reverse("ops_recovery_exam", args=[review.pk]), {"score": "91.5"})
    body = text(ops_client.get(detail))
    assert "Score 91.50 %" in body and "Decide: pass the review" in body
    response = ops_client.post(reverse("ops_recovery_decide", args=[review.pk]), follow=True)
    assert "The recovery review passed." in text(response)
    assert [row.review.pk for row in ops_client.get(reverse("ops_recovery"), {"state": "passed"}).context["rows"]] == [
        review.pk
    ]
    assert ops_client.get(reverse("ops_recovery")).context["rows"] == []


def test_recovery_files_are_downloaded_by_ops(ops_client, review, olga):
    recovery_submit_letter(review=review, user=olga, file=pdf("letter.pdf"))
    response = ops_client.get(reverse("ops_recovery_file", args=[review.pk, "letter"]))
    assert response.status_code == 200 and b"".join(response.streaming_content) == PDF
    assert ops_client.get(reverse("ops_recovery_file", args=[review.pk, "tax_proof"])).status_code == 404
    assert ops_client.get(reverse("ops_recovery_file", args=[review.pk, "statement"])).status_code == 404


def test_a_wrong_file_or_step_out_of_order_shows_the_services_reason(ops_client, review):
    bad = SimpleUploadedFile("letter.txt", b"hello")
    response = ops_client.post(reverse("ops_recovery_letter", args=[review.pk]), {"letter": bad})
    assert response.status_code == 400 and "must be a PDF, PNG or JPG file" in text(response)
    response = ops_client.post(reverse("ops_recovery_exam", args=[review.pk]), {"score": "90"})
    assert response.status_code == 400 and "must be submitted before the exam score is recorded" in text(response)
    response = ops_client.post(reverse("ops_recovery_exam", args=[review.pk]), {"score": "101"})
    assert response.status_code == 400
    assert RecoveryReview.objects.get(pk=review.pk).letter_at is None


def test_deciding_with_steps_outstanding_fails_the_review_and_says_why(ops_client, review):
    body = text(ops_client.get(reverse("ops_recovery_detail", args=[review.pk])))
    assert "Deciding now fails the review" in body and "Decide: fail the review" in body
    response = ops_client.post(reverse("ops_recovery_decide", args=[review.pk]), follow=True)
    assert "The recovery review failed" in text(response) and "Failed" in text(response)
    assert RecoveryReview.objects.get(pk=review.pk).state == RecoveryReview.State.FAILED


# Fixed query counts -------------------------------------------------------------------------------


def _shops_of(seller, n: int, sps: str) -> list[Shop]:
    return [make_shop(seller=seller, sps=Decimal(sps)) for _ in range(n)]


@pytest.mark.parametrize("size", [2, 30])
def test_the_overview_costs_the_same_queries_whatever_the_data_size(
    ops_client, seller_a, olga, size, django_assert_num_queries
):
    shops = _shops_of(seller_a, size, "2.5")
    for shop in shops:
        make_product(shop=shop)
    run()
    EvaluationRun.objects.create(as_of=DAY + dt.timedelta(days=1), state="running", chunk_size=10, total=9)
    for shop in shops[:3]:
        override_create(entity="shop", entity_id=shop.pk, status=c.ELIGIBLE, reason="x", user=olga)
    with django_assert_num_queries(13):
        assert ops_client.get(reverse("ops_overview")).status_code == 200
    # The counts by status are kept until a verdict changes: three GROUP BYs fewer.
    with django_assert_num_queries(10):
        assert ops_client.get(reverse("ops_overview")).status_code == 200
    with django_assert_num_queries(3):
        assert ops_client.get(reverse("ops_overview_runs"), HTTP_HX_REQUEST="true").status_code == 200


@pytest.mark.parametrize("size", [2, 30])
def test_the_review_queue_costs_the_same_queries_whatever_the_data_size(
    ops_client, seller_a, olga, alice, size, django_assert_num_queries
):
    # Counterfeit products first, then two shops disqualified a day later: every page mixes both.
    shop = make_shop(seller=seller_a)
    products = [make_product(shop=shop, counterfeit_flag=True) for _ in range(size)]
    shops = _shops_of(seller_a, 2, "4.2")
    run()
    Shop.objects.filter(pk__in=[s.pk for s in shops]).update(sps=Decimal("2.5"))
    run(DAY + dt.timedelta(days=1))
    override_create(entity="shop", entity_id=shops[0].pk, status=c.ELIGIBLE, reason="x", user=olga)
    override_create(entity="product", entity_id=products[-1].pk, status=c.ELIGIBLE, reason="x", user=olga)
    appeal_for(alice, shops[0])
    with django_assert_num_queries(12):
        response = ops_client.get(reverse("ops_review_queue"))
    assert len(response.context["rows"]) == min(2 + size, 25)


@pytest.mark.parametrize("size", [2, 30])
def test_the_appeal_queue_and_detail_cost_the_same_queries_whatever_the_data_size(
    ops_client, seller_a, alice, size, django_assert_num_queries
):
    shops = _shops_of(seller_a, size, "3.2")
    run()
    appeals = [appeal_for(alice, shop) for shop in shops]
    with django_assert_num_queries(5):
        response = ops_client.get(reverse("ops_appeals"))
    assert len(response.context["rows"]) == min(size, 25)
    with django_assert_num_queries(8):
        assert ops_client.get(reverse("ops_appeal_detail", args=[appeals[-1].pk])).status_code == 200


@pytest.mark.parametrize("size", [2, 30])
def test_the_overrides_page_costs_the_same_queries_whatever_the_data_size(
    ops_client, seller_a, olga, size, django_assert_num_queries
):
    shops = _shops_of(seller_a, size, "3.2")
    run()
    for shop in shops:
        override_create(entity="shop", entity_id=shop.pk, status=c.ELIGIBLE, reason="x", user=olga)
    with django_assert_num_queries(5):
        response = ops_client.get(reverse("ops_overrides"))
    assert len(response.context["page"].object_list) == min(size, 25)
    with django_assert_num_queries(8):
        response = ops_client.get(reverse("ops_override_create"), {"entity": "shop", "key": shops[-1].key})
    assert response.context["target"].eligibility.override is not None


@pytest.mark.parametrize("size", [2, 30])
def test_the_unbind_and_recovery_pages_cost_the_same_queries_whatever_the_data_size(
    ops_client, seller_a, olga, size, django_assert_num_queries
):
    shops = _shops_of(seller_a, size, "4.2")
    run()
    reviews = []
    for shop in shops:
        unbinding = shop_force_unbind(shop=shop, user=olga, reason="x")
        reviews.append(recovery_review_open(unbinding=unbinding, user=olga))
    recovery_submit_letter(review=reviews[0], user=olga, file=pdf())
    recovery_submit_documents(review=reviews[0], user=olga, tax_proof=pdf(), shipping_documents=pdf())
    with django_assert_num_queries(7):
        response = ops_client.get(reverse("ops_unbind"), {"q": "SHOP"})
    assert len(response.context["rows"]) == min(size, 25)
    with django_assert_num_queries(5):
        response = ops_client.get(reverse("ops_recovery"))
    assert len(response.context["rows"]) == min(size, 25)
    with django_assert_num_queries(4):
        assert ops_client.get(reverse("ops_recovery_detail", args=[reviews[0].pk])).status_code == 200
    with django_assert_num_queries(5):
        assert ops_client.get(reverse("ops_unbind_confirm", args=[shops[0].pk])).status_code == 200
