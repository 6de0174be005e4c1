"""The rule-set editor's services: drafts, shadow runs (a dry run that writes nothing) and activation.

Drafts live in the draft store (Django's default cache here: no Redis URL), never in the
database; a version is only written when an ops admin activates a draft after its shadow run.
"""

import datetime as dt
from decimal import Decimal

import pytest
from django.core.exceptions import PermissionDenied, ValidationError
from django.utils import timezone

from affiliate.models import Creator
from shops.models import AuditEntry, EvaluationRun, Notification, RuleSet, Shop, StatusHistory, User
from shops.selectors import THRESHOLD_FIELDS, rulesets_in_force
from shops.services import rulesets as service
from shops.services.evaluation import evaluation_run_inline
from shops.services.rulesets import (
    SHADOW_PAGE_SIZE,
    DraftNotFound,
    ruleset_activate,
    ruleset_candidate,
    ruleset_draft_create,
    ruleset_draft_get,
    ruleset_draft_store,
    ruleset_drafts,
    ruleset_shadow_changes,
    ruleset_shadow_run,
    ruleset_shadow_start,
    ruleset_values,
)
from tests.factories import make_creator, make_shop, make_user

pytestmark = pytest.mark.django_db

DEFAULTS = {
    "sps_min_orders": "30",
    "sps_window_days": "90",
    "sps_eligible": "3.5",
    "sps_disqualify": "3.0",
    "nrr_window_days": "30",
    "nrr_warning_multiple": "2",
    "nrr_disqualify_multiple": "3",
    "pps_min": "3.5",
    "chr_min": "150",
}


@pytest.fixture(autouse=True)
def _draft_store(settings):
    """Drafts in this process's default cache, with no draft left over from another test."""
    settings.REDIS_URL = None
    ruleset_draft_store().delete("ruleset-draft:index")


@pytest.fixture
def ada():
    return make_user(email="ada@example.com", role=User.Role.OPS_ADMIN, is_staff=True)


@pytest.fixture
def olga():
    return make_user(email="olga@example.com", role=User.Role.OPS, is_staff=True)


def today() -> dt.date:
    return timezone.localdate()


def proposal(**changes) -> dict:
    return DEFAULTS | {"market": "", "effective_from": today().isoformat(), "note": "Raise the bar"} | changes


def drafted(user, **changes) -> dict:
    return ruleset_draft_create(user=user, data=proposal(**changes))


def shadowed(user, draft: dict) -> dict:
    ruleset_shadow_start(user=user, draft_id=draft["id"])
    return ruleset_draft_get(draft["id"])


def all_changes(draft: dict, entity: str, transition: str) -> list[dict]:
    listed = draft["shadow"]["listed"][entity][transition]
    pages = -(-listed // SHADOW_PAGE_SIZE)
    return [
        row
        for page in range(1, pages + 1)
        for row in ruleset_shadow_changes(draft=draft, entity=entity, transition=transition, page=page)
    ]


# Validation --------------------------------------------------------------------------------------


def test_the_parser_names_every_bad_field_at_once():
    with pytest.raises(ValidationError) as caught:
        ruleset_values({"sps_eligible": "abc", "sps_window_days": "2.5", "chr_min": "-1"}, base={})
    assert caught.value.message_dict == {
        "sps_eligible": ["sps_eligible: 'abc' is not a number"],
        "sps_window_days": ["sps_window_days: '2.5' must be a whole number"],
        "chr_min": ["chr_min: '-1' must be a finite number >= 0"],
    }


def test_the_dry_run_candidate_reports_inconsistent_thresholds_with_the_same_words():
    with pytest.raises(ValidationError) as caught:
        ruleset_candidate(as_of=today(), data={"sps_disqualify": "3.8", "sps_eligible": "3.6"})
    assert caught.value.messages == ["sps_disqualify must not be above sps_eligible"]


def test_a_draft_with_mistakes_is_refused_field_by_field_and_nothing_is_kept(ada):
    RuleSet.objects.create(version=2, market="TH", effective_from=today() + dt.timedelta(days=3))
    with pytest.raises(ValidationError) as caught:
        ruleset_draft_create(
            user=ada,
            data=proposal(
                market="TH",
                effective_from=(today() + dt.timedelta(days=3)).isoformat(),
                note=" ",
                sps_eligible="100",
                pps_min="3.12345",
                chr_min="",
                nrr_warning_multiple="4",
            ),
        )
    errors = caught.value.message_dict
    assert errors["effective_from"] == ["effective_from: this market already has a version from that day"]
    assert errors["note"] == ["note: say why the thresholds change (it goes into the audit log)"]
    assert errors["sps_eligible"] == ["sps_eligible: at most 2 digits before the decimal point"]
    assert errors["pps_min"] == ["pps_min: at most 4 decimal places"]
    assert errors["chr_min"] == ["chr_min: required"]
    assert ruleset_drafts() == []


def test_a_draft_cannot_start_in_the_past_or_name_a_market_badly(ada):
    with pytest.raises(ValidationError) as caught:
        drafted(ada, market="U$", effective_from=(today() - dt.timedelta(days=1)).isoformat())
    assert set(caught.value.message_dict) == {"market", "effective_from"}


@pytest.mark.parametrize("role", [User.Role.OPS, User.Role.SELLER, User.Role.CREATOR])
def test_only_ops_admins_draft_and_activate(role, ada):
    user = make_user(role=role)
    with pytest.raises(PermissionDenied):
        drafted(user)
    draft = shadowed(ada, drafted(ada))
    with pytest.raises(PermissionDenied):
        ruleset_activate(user=user, draft_id=draft["id"])
    assert RuleSet.objects.count() == 1


def test_a_draft_is_kept_in_the_store_not_in_the_database(ada):
    draft = drafted(ada, market="th", sps_eligible="4.00")
    assert RuleSet.objects.count() == 1
    assert draft["market"] == "TH"
    assert draft["values"]["sps_eligible"] == "4"
    assert draft["base_version"] == 1
    assert [d["id"] for d in ruleset_drafts()] == [draft["id"]]
    assert set(draft["values"]) == set(THRESHOLD_FIELDS)


# Shadow runs ---------------------------------------------------------------------------------------


def test_a_shadow_run_reports_exactly_the_entities_that_would_change_and_writes_nothing(ada):
    low = [make_shop(sps=Decimal(s)) for s in ("3.6", "3.7")]
    make_shop(sps=Decimal("4.5"))
    weak_creator = make_creator(pps=Decimal("3.8"))
    make_creator(pps=Decimal("4.6"))
    evaluation_run_inline(as_of=today())
    counts = (
        StatusHistory.objects.count(),
        Notification.objects.count(),
        AuditEntry.objects.count(),
        EvaluationRun.objects.count(),
    )
    statuses = dict(Shop.objects.values_list("key", "status"))

    draft = shadowed(ada, drafted(ada, sps_eligible="4.0", pps_min="4.0"))

    shadow = draft["shadow"]
    assert shadow["state"] == "succeeded"
    assert shadow["transitions"] == {"shop": {"ELIGIBLE->RESTRICTED": 2}, "creator": {"QUALIFIED->NOT_QUALIFIED": 1}}
    assert shadow["evaluated"] == {"shop": 3, "product": 0, "creator": 2}
    shops = all_changes(draft, "shop", "ELIGIBLE->RESTRICTED")
    assert {row["key"] for row in shops} == {shop.key for shop in low}
    assert shops[0]["old_reasons"] == [] and shops[0]["new_reasons"] == ["SPS_BELOW_ELIGIBLE"]
    assert [row["key"] for row in all_changes(draft, "creator", "QUALIFIED->NOT_QUALIFIED")] == [weak_creator.key]
    assert (
        StatusHistory.objects.count(),
        Notification.objects.count(),
        AuditEntry.objects.count(),
        EvaluationRun.objects.count(),
    ) == counts
    assert dict(Shop.objects.values_list("key", "status")) == statuses
    assert Creator.objects.get(pk=weak_creator.pk).status == "QUALIFIED"
    # Nothing changes until activation: a real run today still uses v1.
    evaluation_run_inline(as_of=today())
    assert dict(Shop.objects.values_list("key", "status")) == statuses


def test_many_changes_are_listed_page_by_page(ada):
    shops = [make_shop(sps=Decimal("3.6")) for _ in range(SHADOW_PAGE_SIZE + 7)]
    evaluation_run_inline(as_of=today())
    draft = shadowed(ada, drafted(ada, sps_eligible="4.0"))
    rows = all_changes(draft, "shop", "ELIGIBLE->RESTRICTED")
    assert [row["key"] for row in rows] == [shop.key for shop in shops]
    assert draft["shadow"]["listed"]["shop"]["ELIGIBLE->RESTRICTED"] == SHADOW_PAGE_SIZE + 7


def test_the_listed_changes_are_capped_but_the_counts_are_complete(ada, monkeypatch):
    monkeypatch.setattr(service, "SHADOW_LISTED", 3)
    for _ in range(5):
        make_shop(sps=Decimal("3.6"))
    evaluation_run_inline(as_of=today())
    draft = shadowed(ada, drafted(ada, sps_eligible="4.0"))
    assert draft["shadow"]["transitions"]["shop"] == {"ELIGIBLE->RESTRICTED": 5}
    assert len(all_changes(draft, "shop", "ELIGIBLE->RESTRICTED")) == 3


def test_any_ops_user_may_run_a_shadow_run_again(ada, olga):
    draft = shadowed(ada, drafted(ada))
    first = draft["shadow"]["token"]
    again = shadowed(olga, draft)
    assert again["shadow"]["state"] == "succeeded"
    assert again["shadow"]["token"] != first
    assert again["shadow"]["requested_by"] == "olga@example.com"


def test_a_seller_cannot_start_a_shadow_run(ada):
    draft = drafted(ada)
    with pytest.raises(PermissionDenied):
        ruleset_shadow_start(user=make_user(role=User.Role.SELLER), draft_id=draft["id"])


def test_a_shadow_run_under_way_is_not_started_twice(ada, olga, monkeypatch):
    monkeypatch.setattr("shops.tasks.ruleset_shadow_task.delay", lambda *args: None)
    draft = drafted(ada)
    ruleset_shadow_start(user=ada, draft_id=draft["id"])
    assert ruleset_draft_get(draft["id"])["shadow"]["state"] == "queued"
    with pytest.raises(ValidationError, match="already under way"):
        ruleset_shadow_start(user=olga, draft_id=draft["id"])


def test_a_task_of_a_replaced_shadow_run_changes_nothing(ada, monkeypatch):
    monkeypatch.setattr("shops.tasks.ruleset_shadow_task.delay", lambda *args: None)
    draft = drafted(ada)
    ruleset_shadow_start(user=ada, draft_id=draft["id"])
    old_token = ruleset_draft_get(draft["id"])["shadow"]["token"]
    shadow = ruleset_draft_get(draft["id"])["shadow"] | {"updated_at": "2000-01-01T00:00:00+00:00"}
    ruleset_draft_store().set(f"ruleset-draft:{draft['id']}:shadow", shadow)  # stalled: may start again
    ruleset_shadow_start(user=ada, draft_id=draft["id"])

    ruleset_shadow_run(draft_id=draft["id"], token=old_token)

    current = ruleset_draft_get(draft["id"])["shadow"]
    assert current["token"] != old_token
    assert current["state"] == "queued"


def test_a_failed_shadow_run_is_recorded_with_its_error(ada, monkeypatch):
    def broken(**kwargs):
        raise RuntimeError("database went away")

    monkeypatch.setattr("shops.services.evaluation.evaluation_dry_run", broken)
    draft = shadowed(ada, drafted(ada))
    assert draft["shadow"]["state"] == "failed"
    assert "RuntimeError: database went away" in draft["shadow"]["error"]
    with pytest.raises(ValidationError, match="shadow run to the end"):
        ruleset_activate(user=ada, draft_id=draft["id"])


def test_a_missing_draft_is_reported_as_such(ada):
    with pytest.raises(DraftNotFound):
        ruleset_shadow_start(user=ada, draft_id="0" * 32)
    with pytest.raises(DraftNotFound):
        ruleset_activate(user=ada, draft_id="0" * 32)


# Activation --------------------------------------------------------------------------------------------


def test_activation_needs_a_finished_shadow_run(ada):
    draft = drafted(ada)
    with pytest.raises(ValidationError, match="shadow run to the end"):
        ruleset_activate(user=ada, draft_id=draft["id"])
    assert RuleSet.objects.count() == 1


def test_activation_puts_the_version_in_force_from_its_date_and_is_audited(ada):
    shop = make_shop(sps=Decimal("3.6"))
    evaluation_run_inline(as_of=today())
    tomorrow = today() + dt.timedelta(days=1)
    draft = shadowed(ada, drafted(ada, sps_eligible="4.0", effective_from=tomorrow.isoformat(), note="Q4 review"))

    ruleset = ruleset_activate(user=ada, draft_id=draft["id"])

    assert (ruleset.version, ruleset.market, ruleset.effective_from) == (2, "", tomorrow)
    assert ruleset.sps_eligible == Decimal("4.0") and ruleset.created_by == ada and ruleset.note == "Q4 review"
    assert rulesets_in_force(as_of=today())[""].version == 1
    assert rulesets_in_force(as_of=tomorrow)[""].version == 2
    entry = AuditEntry.objects.get(action="ruleset.activate")
    assert (entry.actor, entry.object_type, entry.object_id, entry.reason) == (ada, "ruleset", "2", "Q4 review")
    assert entry.details["ruleset_id"] == ruleset.pk
    assert entry.details["shadow_run"]["transitions"] == {"shop": {"ELIGIBLE->RESTRICTED": 1}}
    assert entry.details["thresholds"]["sps_eligible"] == "4"
    # The run of the effective date uses it; the day before does not.
    evaluation_run_inline(as_of=today())
    assert Shop.objects.get(pk=shop.pk).status == "ELIGIBLE"
    evaluation_run_inline(as_of=tomorrow)
    assert Shop.objects.get(pk=shop.pk).status == "RESTRICTED"
    assert StatusHistory.objects.filter(entity_id=shop.pk).latest("id").ruleset_version == 2
    assert ruleset_draft_get(draft["id"])["activated"]["version"] == 2


def test_a_draft_is_activated_once(ada):
    draft = shadowed(ada, drafted(ada))
    ruleset_activate(user=ada, draft_id=draft["id"])
    with pytest.raises(ValidationError, match="already active as version 2"):
        ruleset_activate(user=ada, draft_id=draft["id"])
    assert RuleSet.objects.count() == 2


def test_a_draft_whose_day_passed_is_not_activated(ada):
    draft = shadowed(ada, drafted(ada))
    with pytest.raises(ValidationError, match="effective date has passed"):
        ruleset_activate(user=ada, draft_id=draft["id"], today=today() + dt.timedelta(days=1))


def test_two_drafts_for_the_same_market_and_day_activate_only_once(ada):
    first = shadowed(ada, drafted(ada, market="TH"))
    second = shadowed(ada, drafted(ada, market="TH"))
    ruleset_activate(user=ada, draft_id=first["id"])
    with pytest.raises(ValidationError, match="activated meanwhile"):
        ruleset_activate(user=ada, draft_id=second["id"])
    assert RuleSet.objects.filter(market="TH").count() == 1


def test_a_shadow_run_that_cannot_be_queued_says_so(ada, monkeypatch):
    def broker_down(*args):
        raise ConnectionError("broker unreachable")

    monkeypatch.setattr("shops.tasks.ruleset_shadow_task.delay", broker_down)
    draft = shadowed(ada, drafted(ada))
    assert draft["shadow"]["state"] == "failed"
    assert draft["shadow"]["error"] == "Not queued (ConnectionError: broker unreachable)"
