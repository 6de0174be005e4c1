"""The ops pages for rule sets (editor, shadow run, activation), feed imports and the audit log.

olga is an ops reviewer, ada an ops admin; alice is a seller member and carol a creator. Every
page is for ops only (others get 404, anonymous visitors the sign-in page), editing and
activating rule sets is for ops admins only, and each page costs a fixed number of queries
whatever the data size.
"""

import datetime as dt
import html
import pathlib
import re
from decimal import Decimal

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse
from django.utils import timezone

from shops.models import AuditEntry, EvaluationRun, FeedJob, Notification, RuleSet, Shop, StatusHistory, User
from shops.services.audit import audit_record
from shops.services.evaluation import evaluation_run_inline
from shops.services.rulesets import (
    SHADOW_PAGE_SIZE,
    ruleset_draft_create,
    ruleset_draft_get,
    ruleset_draft_store,
    ruleset_shadow_run,
    ruleset_shadow_start,
)
from tests.conftest import signed_in
from tests.factories import make_creator, make_shop, make_user

pytestmark = pytest.mark.django_db

FEEDS = pathlib.Path(__file__).resolve().parent.parent / "fixtures" / "feeds"
THRESHOLDS = {
    "sps_min_orders": "30",
    "sps_window_days": "90",
    "sps_eligible": "3.5",
    "sps_disqualify": "3",
    "nrr_window_days": "30",
    "nrr_warning_multiple": "2",
    "nrr_disqualify_multiple": "3",
    "pps_min": "3.5",
    "chr_min": "150",
}
# A signed-in page: the session, the user, the inbox count in the frame.
FRAME = 3


@pytest.fixture(autouse=True)
def _isolated(settings, tmp_path):
    """Drafts in this process's cache (no draft left from another test); feed files in a temporary folder."""
    settings.REDIS_URL = None
    settings.MEDIA_ROOT = tmp_path
    ruleset_draft_store().delete("ruleset-draft:index")


@pytest.fixture
def ada():
    return make_user(email="ada@example.com", role=User.Role.OPS_ADMIN, is_staff=True)


def today() -> dt.date:
    return timezone.localdate()


def text(response) -> str:
    """The response's text as read: without tags, entities decoded, runs of white space collapsed."""
    return html.unescape(re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", response.content.decode())))


def proposal(**changes) -> dict:
    return THRESHOLDS | {"market": "", "effective_from": today().isoformat(), "note": "Q4 review"} | changes


def draft_with_shadow(user, **changes) -> dict:
    draft = ruleset_draft_create(user=user, data=proposal(**changes))
    ruleset_shadow_start(user=user, draft_id=draft["id"])
    return ruleset_draft_get(draft["id"])


def draft_url(draft: dict, name: str = "ops_ruleset_draft") -> str:
    return reverse(name, args=[draft["id"]])


def low_shops(count: int) -> list[Shop]:
    """Shops eligible now that a bar of 4.0 would restrict, with their verdicts stored."""
    shops = [make_shop(sps=Decimal("3.6")) for _ in range(count)]
    evaluation_run_inline(as_of=today())
    return shops


# Who may see what ----------------------------------------------------------------------------------

GET_PAGES = [
    ("ops_rulesets", []),
    ("ops_ruleset_new", []),
    ("ops_ruleset_detail", [1]),
    ("ops_ruleset_draft", ["0" * 32]),
    ("ops_feeds", []),
    ("ops_feed_detail", [1]),
    ("ops_feed_errors", [1]),
    ("ops_audit", []),
]
POST_PAGES = [
    ("ops_ruleset_new", []),
    ("ops_ruleset_shadow", ["0" * 32]),
    ("ops_ruleset_activate", ["0" * 32]),
    ("ops_feed_upload", []),
]


@pytest.mark.parametrize(("name", "args"), GET_PAGES + POST_PAGES)
def test_anonymous_visitors_are_sent_to_sign_in(client, name, args):
    url = reverse(name, args=args)
    response = client.post(url) if (name, args) in POST_PAGES else client.get(url)
    assert response.status_code == 302
    assert response["Location"].startswith(reverse("login"))


@pytest.mark.parametrize("persona", ["alice", "carol"])
def test_sellers_and_creators_get_404_on_every_page(client, request, persona, ada, olga):
    signed_in(client, request.getfixturevalue(persona))
    draft = draft_with_shadow(ada)
    job = FeedJob.objects.create(submitted_by=olga, state=FeedJob.State.FAILED, errors=[])
    for name, args in GET_PAGES:
        args = {"ops_ruleset_draft": [draft["id"]], "ops_feed_detail": [job.pk], "ops_feed_errors": [job.pk]}.get(
            name, args
        )
        assert client.get(reverse(name, args=args)).status_code == 404, name
    for name, args in POST_PAGES:
        args = [draft["id"]] if args else args
        assert client.post(reverse(name, args=args), proposal(confirm="1")).status_code == 404, name
    assert RuleSet.objects.count() == 1
    assert FeedJob.objects.count() == 1


def test_ops_reviewers_cannot_draft_or_activate_and_the_pages_say_so(client, olga, ada):
    signed_in(client, olga)
    page = client.get(reverse("ops_rulesets"))
    assert "Editing and activating rule sets is for ops admins only" in text(page)
    assert reverse("ops_ruleset_new") not in page.content.decode()
    assert client.get(reverse("ops_ruleset_new")).status_code == 404
    assert client.post(reverse("ops_ruleset_new"), proposal()).status_code == 404

    draft = draft_with_shadow(ada)
    page = client.get(draft_url(draft))
    assert "Only ops admins can activate rule sets" in text(page)
    assert draft_url(draft, "ops_ruleset_activate") not in page.content.decode()
    assert client.post(draft_url(draft, "ops_ruleset_activate"), {"confirm": "1"}).status_code == 404
    assert RuleSet.objects.count() == 1
    assert not AuditEntry.objects.filter(action="ruleset.activate").exists()


def test_ops_reviewers_may_run_a_shadow_run_again(client, olga, ada):
    draft = draft_with_shadow(ada)
    signed_in(client, olga)
    response = client.post(draft_url(draft, "ops_ruleset_shadow"))
    assert response.status_code == 302
    again = ruleset_draft_get(draft["id"])["shadow"]
    assert (again["state"], again["requested_by"]) == ("succeeded", "olga@example.com")
    assert again["token"] != draft["shadow"]["token"]


def test_an_unknown_version_or_draft_is_404(client, ada):
    signed_in(client, ada)
    assert client.get(reverse("ops_ruleset_detail", args=[999])).status_code == 404
    assert client.get(reverse("ops_ruleset_draft", args=["f" * 32])).status_code == 404
    assert client.post(reverse("ops_ruleset_activate", args=["f" * 32]), {"confirm": "1"}).status_code == 404


# Rule sets --------------------------------------------------------------------------------------------


def test_with_the_drafts_store_down_the_pages_answer_and_say_so(client, ada, settings):
    settings.REDIS_URL = "redis://127.0.0.1:1/0"  # nothing listens there
    signed_in(client, ada)

    listing = client.get(reverse("ops_rulesets"))
    assert listing.status_code == 200
    assert "Rule-set drafts are unavailable" in listing.content.decode()
    draft = client.get(reverse("ops_ruleset_draft", args=["d-1"]), follow=True)
    assert draft.status_code == 200 and "Rule-set drafts are unavailable" in draft.content.decode()
    created = client.post(reverse("ops_ruleset_new"), proposal())
    assert created.status_code == 400 and "Rule-set drafts are unavailable" in created.content.decode()


def test_the_list_shows_each_markets_version_in_force_and_what_is_scheduled(client, olga):
    RuleSet.objects.create(version=2, market="TH", effective_from=today() - dt.timedelta(days=5), sps_eligible="3.8")
    RuleSet.objects.create(version=3, market="TH", effective_from=today() + dt.timedelta(days=10), sps_eligible="4")
    signed_in(client, olga)
    response = client.get(reverse("ops_rulesets"))
    markets = {group.market: group for group in response.context["markets"]}
    assert markets[""].in_force.version == 1 and markets["TH"].in_force.version == 2
    assert [r.version for r in markets["TH"].scheduled] == [3]
    page = text(response)
    assert "Default (every other market)" in page and "Market TH" in page
    assert "◷ Scheduled v3 from" in page
    assert "v2 TH" in page and "✓ In force 3.8 / 3" in page
    assert "v3 TH" in page and "◷ Scheduled 4 / 3" in page


def test_a_version_page_compares_it_with_the_one_it_replaces_and_lists_its_audit(client, ada):
    draft = draft_with_shadow(ada, sps_eligible="4.0", pps_min="3.75", effective_from=(today()).isoformat())
    signed_in(client, ada)
    response = client.post(draft_url(draft, "ops_ruleset_activate"), {"confirm": "1"})
    ruleset = RuleSet.objects.get(version=2)
    assert response["Location"] == reverse("ops_ruleset_detail", args=[ruleset.pk])
    page = text(client.get(response["Location"]))
    assert "Rule set v2" in page and "In force" in page and "Before (v1)" in page
    assert (
        "SPS eligible from sps_eligible S2: a score at or above this is eligible, below it restricted. 4 3.5 raised"
        in page
    )
    assert "Minimum PPS pps_min C1: a creator's PPS must be at least this (default set only). 3.75 3.5 raised" in page
    assert "ruleset.activate" in page and "Q4 review" in page
    old = text(client.get(reverse("ops_ruleset_detail", args=[1])))
    assert "Superseded" in old


def test_the_editor_starts_from_the_version_in_force_or_the_one_chosen(client, ada):
    th = RuleSet.objects.create(version=2, market="TH", effective_from=today(), chr_min="175")
    signed_in(client, ada)
    page = client.get(reverse("ops_ruleset_new")).content.decode()
    assert 'name="sps_eligible" value="3.5"' in page
    assert f'name="effective_from" value="{(today() + dt.timedelta(days=1)).isoformat()}"' in page
    page = client.get(reverse("ops_ruleset_new") + f"?from={th.pk}").content.decode()
    assert 'name="chr_min" value="175"' in page and 'name="market" value="TH"' in page
    page = client.get(reverse("ops_ruleset_new") + "?market=TH").content.decode()
    assert 'name="chr_min" value="175"' in page


def test_the_editor_names_each_wrong_field_and_keeps_nothing(client, ada):
    signed_in(client, ada)
    response = client.post(
        reverse("ops_ruleset_new"),
        proposal(sps_eligible="abc", sps_window_days="2.5", nrr_warning_multiple="4", chr_min="", note=""),
    )
    assert response.status_code == 400
    page = text(response)
    assert "The draft was not saved." in page
    for message in (
        "sps_eligible: 'abc' is not a number",
        "sps_window_days: '2.5' must be a whole number",
        "chr_min: required",
        "note: say why the thresholds change",
    ):
        assert message in page
    assert 'value="abc"' in response.content.decode()  # what was typed stays to be corrected
    assert client.get(reverse("ops_rulesets")).context["drafts"] == []


def test_a_shadow_run_from_the_editor_shows_exactly_what_would_change_and_writes_nothing(client, ada):
    low = low_shops(2)
    high = make_shop(sps=Decimal("4.5"), name="Strong Shop")
    evaluation_run_inline(as_of=today())
    before = (StatusHistory.objects.count(), Notification.objects.count(), EvaluationRun.objects.count())
    statuses = dict(Shop.objects.values_list("key", "status"))
    signed_in(client, ada)

    response = client.post(reverse("ops_ruleset_new"), proposal(sps_eligible="4.0"))

    assert response.status_code == 302
    page = client.get(response["Location"])
    shown = text(page)
    assert "2 verdicts would change (2 in status)" in shown
    assert "Shops 3 ✓ Eligible → ! Restricted 2" in shown
    for shop in low:
        assert shop.key in shown
    assert high.key not in shown and "Strong Shop" not in shown
    assert "SPS_BELOW_ELIGIBLE Shop Performance Score is below 4" in shown
    assert (StatusHistory.objects.count(), Notification.objects.count(), EvaluationRun.objects.count()) == before
    assert dict(Shop.objects.values_list("key", "status")) == statuses
    assert RuleSet.objects.count() == 1
    assert "Activate as v2" in shown


def test_the_changed_entities_are_paged_and_chosen_by_transition_with_htmx(client, ada):
    shops = low_shops(SHADOW_PAGE_SIZE + 3)
    creator = make_creator(pps=Decimal("3.8"))
    evaluation_run_inline(as_of=today())
    draft = draft_with_shadow(ada, sps_eligible="4.0", pps_min="4.0")
    signed_in(client, ada)
    url = draft_url(draft)
    second = client.get(url + "?entity=shop&transition=ELIGIBLE->RESTRICTED&page=2", HTTP_HX_REQUEST="true",
                        HTTP_HX_TARGET="changed-list")  # fmt: skip
    assert second.templates[0].name == "ops/_ruleset_changes.html"
    assert [shop.key for shop in shops[SHADOW_PAGE_SIZE:]] == re.findall(r">(SHOP\d+)</a>", second.content.decode())
    assert "Page 2 of 2" in text(second)
    creators = text(client.get(url + "?entity=creator&transition=QUALIFIED->NOT_QUALIFIED"))
    assert creator.key in creators and "PPS_BELOW_MIN" in creators


def test_while_a_shadow_run_is_under_way_the_page_follows_its_progress(client, ada, monkeypatch):
    low_shops(1)
    monkeypatch.setattr("shops.tasks.ruleset_shadow_task.delay", lambda *args: None)
    draft = draft_with_shadow(ada, sps_eligible="4.0")
    signed_in(client, ada)
    page = client.get(draft_url(draft)).content.decode()
    assert 'hx-trigger="every 2s"' in page
    assert "Waiting for a worker to start the shadow run" in page
    assert "Activate as" not in page

    ruleset_shadow_run(draft_id=draft["id"], token=draft["shadow"]["token"])

    region = client.get(draft_url(draft), HTTP_HX_REQUEST="true", HTTP_HX_TARGET="shadow-region")
    assert region.templates[0].name == "ops/_ruleset_shadow.html"
    assert "hx-trigger" not in region.content.decode().split('id="changed-list"')[0]
    assert "1 verdict would change (1 in status)" in text(region)
    assert "Activate as v2" in text(region)


def test_an_admin_activates_a_draft_and_the_next_run_uses_it(client, ada):
    shop = low_shops(1)[0]
    tomorrow = today() + dt.timedelta(days=1)
    draft = draft_with_shadow(ada, sps_eligible="4.0", effective_from=tomorrow.isoformat())
    signed_in(client, ada)

    response = client.post(draft_url(draft, "ops_ruleset_activate"), {"confirm": "1"}, follow=True)

    assert "Version 2 is active" in text(response)
    ruleset = RuleSet.objects.get(version=2)
    assert (ruleset.market, ruleset.effective_from, ruleset.sps_eligible) == ("", tomorrow, Decimal("4"))
    entry = AuditEntry.objects.get(action="ruleset.activate")
    assert (entry.actor, entry.object_id, entry.reason) == (ada, "2", "Q4 review")
    evaluation_run_inline(as_of=today())
    assert Shop.objects.get(pk=shop.pk).status == "ELIGIBLE"  # not in force before its day
    evaluation_run_inline(as_of=tomorrow)
    assert Shop.objects.get(pk=shop.pk).status == "RESTRICTED"
    assert "Activated as v2" in text(client.get(draft_url(draft)))


def test_activation_needs_the_review_box_ticked(client, ada):
    draft = draft_with_shadow(ada)
    signed_in(client, ada)
    response = client.post(draft_url(draft, "ops_ruleset_activate"), {}, follow=True)
    assert "Tick the box to confirm" in text(response)
    assert RuleSet.objects.count() == 1


# Feeds -----------------------------------------------------------------------------------------------------


def uploads(folder: str) -> list[SimpleUploadedFile]:
    return [
        SimpleUploadedFile(path.name, path.read_bytes(), content_type="text/csv")
        for path in sorted((FEEDS / folder).glob("*.csv"))
    ]


def test_ops_upload_a_feed_from_the_page_and_see_what_it_imported(client, olga, django_capture_on_commit_callbacks):
    signed_in(client, olga)
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(reverse("ops_feed_upload"), {"files": uploads("valid"), "as_of": "2026-01-05"})
    job = FeedJob.objects.get()
    assert response["Location"] == reverse("ops_feed_detail", args=[job.pk])
    assert (job.state, job.submitted_by, job.as_of) == ("succeeded", olga, dt.date(2026, 1, 5))
    page = text(client.get(response["Location"]))
    assert "Succeeded" in page and "Imported." in page
    assert "shops.csv 3 3 0 0 3 0 0" in page
    listing = text(client.get(reverse("ops_feeds")))
    assert f"#{job.pk} ✓ Succeeded" in listing and "olga@example.com" in listing


def test_a_refused_feed_lists_every_error_as_file_line_column_message(client, olga, django_capture_on_commit_callbacks):
    signed_in(client, olga)
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(reverse("ops_feed_upload"), {"files": uploads("bad")})
    job = FeedJob.objects.get()
    assert job.state == "failed" and job.errors
    page = text(client.get(response["Location"]))
    assert f"Refused with {len(job.errors)} errors: nothing was imported." in page
    for error in job.errors:
        assert f"{error['file']}:{error['line']}: {error['column']}: {error['message']}" in page
    report = b"".join(client.get(reverse("ops_feed_errors", args=[job.pk])).streaming_content).decode()
    assert report.splitlines() == [f"{e['file']}:{e['line']}: {e['column']}: {e['message']}" for e in job.errors]


def test_an_upload_that_is_not_a_feed_is_refused_on_the_page_and_nothing_is_stored(client, olga):
    signed_in(client, olga)
    notes = SimpleUploadedFile("notes.txt", b"hello", content_type="text/plain")
    response = client.post(reverse("ops_feed_upload"), {"files": [notes]})
    assert response.status_code == 400
    assert "The upload was refused; nothing was stored." in text(response)
    assert "'notes.txt' is not a CSV file" in text(response)
    response = client.post(reverse("ops_feed_upload"), {"files": uploads("valid"), "as_of": "05/01/2026"})
    assert response.status_code == 400
    assert FeedJob.objects.count() == 0


STAGE = {"stage": "shops.csv: validated", "done": 1, "total": 2}


def test_a_running_import_is_followed_until_it_ends(client, olga):
    job = FeedJob.objects.create(
        submitted_by=olga,
        state=FeedJob.State.RUNNING,
        files={"shops.csv": "feeds/1/shops.csv"},
        progress={"stage": "shops.csv: validated", "done": 1, "total": 2, "stages": [STAGE]},
    )  # fmt: skip
    signed_in(client, olga)
    part = client.get(reverse("ops_feed_detail", args=[job.pk]), HTTP_HX_REQUEST="true", HTTP_HX_TARGET="feed-job")
    assert part.templates[0].name == "ops/_feed_job.html"
    assert 'hx-trigger="every 1s"' in part.content.decode()
    assert 'value="25"' in part.content.decode()  # half of the first of two stages
    FeedJob.objects.filter(pk=job.pk).update(state=FeedJob.State.SUCCEEDED, counts={"shops.csv": {"rows": 2}})
    part = client.get(reverse("ops_feed_detail", args=[job.pk]), HTTP_HX_REQUEST="true", HTTP_HX_TARGET="feed-job")
    assert "hx-trigger" not in part.content.decode()


def test_feed_jobs_are_listed_newest_first_page_by_page_and_by_state(client, olga):
    jobs = [FeedJob.objects.create(submitted_by=olga, state=FeedJob.State.SUCCEEDED) for _ in range(27)]
    failed = FeedJob.objects.create(submitted_by=olga, state=FeedJob.State.FAILED, errors=[{"file": "a"}] * 3)
    signed_in(client, olga)
    first = client.get(reverse("ops_feeds"))
    ids = [job.pk for job in first.context["page"].items]
    assert ids == [failed.pk] + [job.pk for job in reversed(jobs)][:24]
    older = client.get(reverse("ops_feeds") + f"?before={first.context['page'].older}")
    assert [job.pk for job in older.context["page"].items] == [job.pk for job in reversed(jobs)][24:]
    newer = client.get(reverse("ops_feeds") + f"?after={older.context['page'].newer}")
    assert [job.pk for job in newer.context["page"].items] == ids
    only_failed = client.get(reverse("ops_feeds") + "?state=failed")
    assert [job.pk for job in only_failed.context["page"].items] == [failed.pk]
    assert only_failed.context["page"].items[0].error_total == 3


# Audit log ----------------------------------------------------------------------------------------------


def audit_at(monkeypatch, moment: dt.datetime, **fields) -> AuditEntry:
    with monkeypatch.context() as patched:
        patched.setattr(timezone, "now", lambda: moment)
        return audit_record(
            **({"actor": None, "action": "plan.create", "object_type": "plan", "object_id": "1"} | fields)
        )


def test_the_audit_log_is_newest_first_and_filters_by_actor_action_entity_and_days(client, olga, ada, monkeypatch):
    noon = timezone.make_aware(dt.datetime.combine(today(), dt.time(12)))
    old = audit_at(
        monkeypatch,
        noon - dt.timedelta(days=10),
        actor=ada,
        action="appeal.approve",
        object_type="appeal",
        object_id="7",
    )
    mid = audit_at(
        monkeypatch,
        noon - dt.timedelta(days=3),
        actor=olga,
        action="appeal.reject",
        object_type="appeal",
        object_id="8",
        reason="Missing proof",
    )
    new = audit_at(monkeypatch, noon, actor=olga, action="override.create", object_type="override", object_id="9")
    signed_in(client, olga)

    def shown(query: str = "") -> list[int]:
        return [entry.pk for entry in client.get(reverse("ops_audit") + query).context["page"].items]

    assert shown() == [new.pk, mid.pk, old.pk]
    assert shown("?actor=ada@") == [old.pk]
    assert shown("?action=appeal.") == [mid.pk, old.pk]
    assert shown("?action=appeal.reject") == [mid.pk]
    assert shown("?object_type=appeal&object_id=7") == [old.pk]
    day = lambda delta: (today() + dt.timedelta(days=delta)).isoformat()  # noqa: E731
    assert shown(f"?date_from={day(-3)}") == [new.pk, mid.pk]
    assert shown(f"?date_to={day(-3)}") == [mid.pk, old.pk]
    assert shown(f"?date_from={day(-4)}&date_to={day(-2)}") == [mid.pk]
    assert shown(f"?date_from={day(1)}") == []
    page = text(client.get(reverse("ops_audit") + "?action=appeal.reject"))
    assert "olga@example.com" in page and "appeal.reject" in page and "Missing proof" in page
    wrong = client.get(reverse("ops_audit") + f"?date_from={day(0)}&date_to={day(-1)}")
    assert "The start date is after the end date." in text(wrong)


def test_the_audit_log_pages_by_id_both_ways(client, olga):
    entries = [audit_record(actor=olga, action="plan.end", object_type="plan", object_id=str(n)) for n in range(60)]
    signed_in(client, olga)
    first = client.get(reverse("ops_audit")).context["page"]
    assert [e.pk for e in first.items] == [e.pk for e in reversed(entries)][:50]
    older = client.get(reverse("ops_audit") + f"?before={first.older}").context["page"]
    assert [e.pk for e in older.items] == [e.pk for e in reversed(entries)][50:]
    assert older.older is None
    back = client.get(reverse("ops_audit") + f"?after={older.newer}").context["page"]
    assert [e.pk for e in back.items] == [e.pk for e in first.items]
    assert back.newer is None


# A fixed number of queries ----------------------------------------------------------------------------------


@pytest.mark.parametrize("size", [2, 25])
def test_the_rule_set_pages_cost_the_same_whatever_the_data(client, ada, size, django_assert_num_queries):
    for n in range(size):
        RuleSet.objects.create(version=10 + n, market=f"M{n:02d}"[:8].replace("0", "A"), effective_from=today())
        audit_record(actor=ada, action="ruleset.activate", object_type="ruleset", object_id="1", details={})
    low_shops(size)
    draft = draft_with_shadow(ada, sps_eligible="4.0")
    signed_in(client, ada)
    client.get(reverse("ops_rulesets"))  # warm the session
    with django_assert_num_queries(FRAME + 1):
        client.get(reverse("ops_rulesets"))
    with django_assert_num_queries(FRAME + 2):
        client.get(reverse("ops_ruleset_detail", args=[1]))
    with django_assert_num_queries(FRAME + 2):  # the rules in force, the known markets
        client.get(reverse("ops_ruleset_new"))
    with django_assert_num_queries(FRAME + 2):  # the next version, the names of a page
        response = client.get(draft_url(draft))
    assert len(response.context["changed"].rows) == min(size, SHADOW_PAGE_SIZE)


@pytest.mark.parametrize("size", [2, 25])
def test_the_feed_pages_cost_the_same_whatever_the_data(client, olga, size, django_assert_num_queries):
    errors = [{"file": "shops.csv", "line": n, "column": "sps", "message": "not a number"} for n in range(size * 20)]
    for _ in range(size):
        job = FeedJob.objects.create(
            submitted_by=olga, state=FeedJob.State.FAILED, errors=errors, files={"shops.csv": "x"}
        )
    signed_in(client, olga)
    client.get(reverse("ops_feeds"))
    with django_assert_num_queries(FRAME + 1):
        client.get(reverse("ops_feeds"))
    with django_assert_num_queries(FRAME + 1):
        response = client.get(reverse("ops_feed_detail", args=[job.pk]))
    assert response.context["detail"].error_total == size * 20


@pytest.mark.parametrize("size", [2, 60])
def test_the_audit_log_costs_the_same_whatever_the_data(client, olga, size, django_assert_num_queries):
    for n in range(size):
        audit_record(actor=olga, action="appeal.reject", object_type="appeal", object_id=str(n), details={"n": n})
    signed_in(client, olga)
    client.get(reverse("ops_audit"))
    with django_assert_num_queries(FRAME + 2):  # the page, the suggestions
        client.get(reverse("ops_audit"))
    day = today().isoformat()
    query = f"?actor=olga&action=appeal.&object_type=appeal&date_from={day}&date_to={day}&before=100000000"
    with django_assert_num_queries(FRAME + 3):  # the day bounds, the page, the suggestions
        response = client.get(reverse("ops_audit") + query)
    assert len(response.context["page"].items) == min(size, 50)


def test_a_wrong_audit_filter_is_left_out_and_the_others_still_apply(client, olga, ada):
    audit_record(actor=ada, action="appeal.approve", object_type="appeal", object_id="1")
    mine = audit_record(actor=olga, action="appeal.reject", object_type="appeal", object_id="2")
    signed_in(client, olga)
    response = client.get(reverse("ops_audit") + "?actor=olga&date_from=yesterday")
    assert [entry.pk for entry in response.context["page"].items] == [mine.pk]
    assert "Enter a valid date." in text(response)
    assert "The filters with a mistake are not applied." in text(response)
