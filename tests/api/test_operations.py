"""The API of plans, creator adds, appeals, notifications and tokens, per persona.

alice is a member of seller SEL-A, bob of SEL-B, carol a qualified creator, olga ops; each
calls the API with a token holding every scope unless a test says otherwise.
"""

import datetime as dt
from decimal import Decimal

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse
from django.utils import timezone

from affiliate.models import AffiliatePlan, CreatorAdd, PlanInvitation
from affiliate.services import plan_create, plan_end
from shops.models import (
    ApiToken,
    Appeal,
    AuditEntry,
    Notification,
    Override,
    Product,
    Shop,
    User,
    WebhookEvent,
)
from shops.rules import codes as c
from shops.services.appeals import appeal_checklist_for, appeal_submit
from shops.services.evaluation import evaluation_run_inline
from shops.services.notifications import notification_send
from tests.api.conftest import token_client
from tests.factories import make_category, make_creator, make_product, make_shop, make_user

pytestmark = pytest.mark.django_db

DAY = dt.date(2026, 11, 20)
STATEMENT = "Our score dropped because of a carrier strike; the records show every order shipped."
PDF = b"%PDF-1.7\nproof"


def url(name, *args):
    return reverse(f"api:{name}", args=args)


def run(day=DAY):
    return evaluation_run_inline(as_of=day)


def error(response):
    return response.json()["error"]


def pdf(name="proof.pdf"):
    return SimpleUploadedFile(name, PDF, content_type="application/pdf")


def evidence_fields(*codes):
    return {f"evidence[{item.key}]": pdf(f"{item.key}.pdf") for item in appeal_checklist_for(codes)}


def appeal_form(shop):
    """A complete multipart appeal against the shop's SPS_BELOW_ELIGIBLE verdict."""
    return {"entity": "shop", "key": shop.key, "statement": STATEMENT} | evidence_fields(c.SPS_BELOW_ELIGIBLE)


def submitted(user, shop) -> Appeal:
    """An appeal made through the service (tests of decisions need one, not the upload)."""
    evidence = [(item.key, pdf()) for item in appeal_checklist_for([c.SPS_BELOW_ELIGIBLE])]
    return appeal_submit(user=user, entity="shop", entity_id=shop.pk, statement=STATEMENT, evidence=evidence)


def events(appeal):
    return list(
        WebhookEvent.objects.filter(event="appeal.updated", payload__appeal=appeal.pk)
        .order_by("id")
        .values_list("dedupe_key", flat=True)
    )


@pytest.fixture(autouse=True)
def media_root(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path
    return tmp_path


@pytest.fixture
def world(seller_a, seller_b, alice, bob, carol, olga):
    """Evaluated data: alice's eligible silver shop and restricted shop, bob's shop, two creators."""
    gated = make_category(key="CAT-GATED", gated=True)
    shop_a = make_shop(key="SHOP-A", seller=seller_a, tier="silver")
    low_a = make_shop(key="SHOP-A-LOW", seller=seller_a, sps=Decimal("3.2"))
    shop_b = make_shop(key="SHOP-B", seller=seller_b)
    products = {
        "a1": make_product(key="PRD-A1", shop=shop_a),
        "a2": make_product(key="PRD-A2", shop=shop_a),
        "gated": make_product(key="PRD-A-GATED", shop=shop_a, category=gated),
        "low": make_product(key="PRD-A-LOW", shop=low_a),
        "b1": make_product(key="PRD-B1", shop=shop_b),
    }
    low_creator = make_creator(key="CR-LOW", pps=Decimal("3.0"))
    dave = make_user(email="dave@example.com", role=User.Role.CREATOR, creator=low_creator)
    run()
    shop_a.refresh_from_db()
    low_a.refresh_from_db()
    assert (shop_a.status, low_a.status, low_a.reasons) == (c.ELIGIBLE, c.RESTRICTED, [c.SPS_BELOW_ELIGIBLE])
    return {
        "shop_a": shop_a,
        "low_a": low_a,
        "shop_b": shop_b,
        "products": products,
        "carol": carol.creator,
        "low_creator": low_creator,
        "dave": dave,
        "alice": alice,
        "bob": bob,
        "olga": olga,
    }


@pytest.fixture
def plans(world):
    """An open and a targeted plan (carol invited) of alice's shop, and an open plan of bob's."""
    p = world["products"]
    alice, bob = world["alice"], world["bob"]
    open_a = plan_create(
        shop=world["shop_a"], user=alice, name="Open A", kind="open", products=[(p["a1"], "10"), (p["gated"], "12")]
    )
    targeted_a = plan_create(
        shop=world["shop_a"],
        user=alice,
        name="VIP A",
        kind="targeted",
        products=[(p["a2"], "15")],
        creators=[world["carol"]],
    )
    open_b = plan_create(shop=world["shop_b"], user=bob, name="Open B", kind="open", products=[(p["b1"], "10")])
    return {"open_a": open_a, "targeted_a": targeted_a, "open_b": open_b}


@pytest.fixture
def dave_api(world):
    return token_client(world["dave"])


# Plans ----------------------------------------------------------------------------------------------


def test_a_seller_member_creates_a_plan_of_its_shop(world, alice_api):
    response = alice_api.post(
        url("plans"),
        {
            "shop": "SHOP-A",
            "name": "Autumn",
            "kind": "open",
            "products": [{"product": "PRD-A1", "rate": "12.5"}, {"product": "PRD-A2", "rate": 20}],
        },
        format="json",
    )
    assert response.status_code == 201, response.content
    body = response.json()
    assert (body["shop"], body["name"], body["kind"], body["status"]) == ("SHOP-A", "Autumn", "open", "active")
    assert [(m["product"], m["rate"]) for m in body["products"]] == [("PRD-A1", "12.50"), ("PRD-A2", "20.00")]
    assert AuditEntry.objects.filter(action="plan.create", object_id=str(body["id"])).exists()


def test_a_restricted_shop_is_refused_a_plan_with_the_verdicts_codes_and_worded_reasons(world, alice_api):
    response = alice_api.post(
        url("plans"),
        {"shop": "SHOP-A-LOW", "name": "Nope", "kind": "open", "products": [{"product": "PRD-A-LOW", "rate": "10"}]},
        format="json",
    )
    assert response.status_code == 422
    body = error(response)
    assert body["code"] == "plan_refused"
    assert body["details"]["codes"] == [c.SPS_BELOW_ELIGIBLE]
    [reason] = body["details"]["reasons"]
    assert reason["code"] == c.SPS_BELOW_ELIGIBLE and "below 3.5" in reason["message"]
    assert "SHOP-A-LOW cannot create affiliate plans" in body["message"]
    assert not AffiliatePlan.objects.filter(name="Nope").exists()


def test_a_rate_above_the_tier_cap_is_refused_per_product(world, alice_api):
    response = alice_api.post(
        url("plans"),
        {"shop": "SHOP-A", "name": "Greedy", "kind": "open", "products": [{"product": "PRD-A1", "rate": "25.01"}]},
        format="json",
    )
    assert response.status_code == 422
    details = error(response)["details"]
    assert details["codes"] == ["COMMISSION_ABOVE_TIER_CAP"]
    assert details["products"] == {"PRD-A1": ["COMMISSION_ABOVE_TIER_CAP"]}
    assert details["reasons"][0]["message"] == "The commission rate is above the maximum of the shop's tier."


@pytest.mark.parametrize(
    ("body", "code"),
    [
        ({"products": [{"product": "PRD-A1", "rate": "12.345"}]}, "invalid_rate"),
        ({"name": "  ", "products": [{"product": "PRD-A1", "rate": "10"}]}, "name_required"),
        ({"kind": "shop_wide", "products": [{"product": "PRD-A1", "rate": "10"}]}, "shop_wide_rate"),
    ],
)
def test_invalid_plans_answer_400_with_the_services_code(world, alice_api, body, code):
    data = {"shop": "SHOP-A", "name": "Plan", "kind": "open"} | body
    response = alice_api.post(url("plans"), data, format="json")
    assert response.status_code == 400
    assert error(response)["code"] == code


def test_a_shop_wide_plan_takes_one_rate_for_every_eligible_product(world, alice_api):
    response = alice_api.post(
        url("plans"), {"shop": "SHOP-A", "name": "All", "kind": "shop_wide", "rate": "8"}, format="json"
    )
    assert response.status_code == 201
    assert [m["product"] for m in response.json()["products"]] == ["PRD-A-GATED", "PRD-A1", "PRD-A2"]


def test_another_sellers_shop_or_product_in_the_body_answers_404_like_an_unknown_one(world, alice_api):
    other_shop = alice_api.post(url("plans"), {"shop": "SHOP-B", "name": "X", "kind": "open"}, format="json")
    unknown_shop = alice_api.post(url("plans"), {"shop": "SHOP-ZZ", "name": "X", "kind": "open"}, format="json")
    other_product = alice_api.post(
        url("plans"),
        {"shop": "SHOP-A", "name": "X", "kind": "open", "products": [{"product": "PRD-B1", "rate": "10"}]},
        format="json",
    )
    assert [r.status_code for r in (other_shop, unknown_shop, other_product)] == [404, 404, 404]
    assert error(other_shop)["code"] == error(unknown_shop)["code"] == "not_found"


def test_a_product_of_the_sellers_other_shop_is_refused_as_not_in_shop(world, alice_api):
    response = alice_api.post(
        url("plans"),
        {"shop": "SHOP-A", "name": "X", "kind": "open", "products": [{"product": "PRD-A-LOW", "rate": "10"}]},
        format="json",
    )
    assert response.status_code == 422
    assert error(response)["details"]["products"] == {"PRD-A-LOW": ["PRODUCT_NOT_IN_SHOP"]}


def test_each_persona_lists_the_plans_it_may_see(world, plans, alice_api, bob_api, carol_api, ops_api):
    ended = plan_create(
        shop=world["shop_a"], user=world["alice"], name="Ended A", kind="open", products=[(world["products"]["a1"], 5)]
    )
    plan_end(plan=ended, user=world["alice"], reason="Season over")

    def names(client):
        response = client.get(url("plans"))
        assert response.status_code == 200
        return sorted(plan["name"] for plan in response.json()["results"])

    assert names(alice_api) == ["Ended A", "Open A", "VIP A"]
    assert names(bob_api) == ["Open B"]
    assert names(ops_api) == ["Ended A", "Open A", "Open B", "VIP A"]
    # A creator: the plans it is invited to, and running plans open to every creator.
    assert names(carol_api) == ["Open A", "Open B", "VIP A"]


def test_a_creator_not_invited_does_not_see_a_targeted_plan_nor_who_else_is_invited(world, plans, carol_api, dave_api):
    targeted = plans["targeted_a"]
    PlanInvitation.objects.create(plan=targeted, creator=world["low_creator"])
    as_carol = carol_api.get(url("plan", targeted.pk))
    assert as_carol.status_code == 200
    assert as_carol.json()["invited_creators"] == ["CR-CAROL"]
    assert dave_api.get(url("plan", plans["open_a"].pk)).status_code == 200
    PlanInvitation.objects.filter(creator=world["low_creator"]).delete()
    assert dave_api.get(url("plan", targeted.pk)).status_code == 404


def test_the_shops_members_see_every_invited_creator(world, plans, alice_api):
    body = alice_api.get(url("plan", plans["targeted_a"].pk)).json()
    assert body["invited_creators"] == ["CR-CAROL"]
    assert [(m["product"], m["rate"]) for m in body["products"]] == [("PRD-A2", "15.00")]


def test_adding_and_removing_a_product_follow_the_plan_rules(world, plans, alice_api):
    plan = plans["targeted_a"]
    added = alice_api.post(url("plan-products", plan.pk), {"product": "PRD-A1", "rate": "9.5"}, format="json")
    assert added.status_code == 201
    assert (added.json()["product"], added.json()["rate"]) == ("PRD-A1", "9.50")

    again = alice_api.post(url("plan-products", plan.pk), {"product": "PRD-A1", "rate": "9.5"}, format="json")
    assert again.status_code == 422
    assert error(again)["details"]["codes"] == ["PRODUCT_ALREADY_IN_PLAN"]

    removed = alice_api.delete(url("plan-product", plan.pk, "PRD-A1") + "?reason=Out+of+stock")
    assert removed.status_code == 204
    assert AuditEntry.objects.get(action="plan.remove_product").reason == "Out of stock"
    twice = alice_api.delete(url("plan-product", plan.pk, "PRD-A1"))
    assert twice.status_code == 422
    assert error(twice)["details"]["codes"] == ["PRODUCT_NOT_IN_PLAN"]


def test_a_creator_who_sees_an_open_plan_may_not_change_it(world, plans, carol_api):
    response = carol_api.post(url("plan-products", plans["open_a"].pk), {"product": "PRD-A2", "rate": "5"})
    assert response.status_code == 403
    assert error(response)["code"] == "permission_denied"


def test_an_ended_plan_can_no_longer_change(world, plans, alice_api):
    plan = plans["open_a"]
    no_reason = alice_api.post(url("plan-end", plan.pk), {"reason": " "}, format="json")
    assert no_reason.status_code == 400 and error(no_reason)["code"] == "reason_required"

    ended = alice_api.post(url("plan-end", plan.pk), {"reason": "Season over"}, format="json")
    assert ended.status_code == 200
    assert (ended.json()["status"], ended.json()["products"]) == ("ended", [])

    late = alice_api.post(url("plan-products", plan.pk), {"product": "PRD-A2", "rate": "5"}, format="json")
    assert late.status_code == 422
    assert error(late)["details"]["codes"] == ["PLAN_NOT_ACTIVE"]


def test_invitations_go_to_targeted_plans_only(world, plans, alice_api):
    invited = alice_api.post(url("plan-invitations", plans["targeted_a"].pk), {"creator": "CR-LOW"}, format="json")
    assert invited.status_code == 200
    assert invited.json()["creator"] == "CR-LOW"
    again = alice_api.post(url("plan-invitations", plans["targeted_a"].pk), {"creator": "CR-LOW"}, format="json")
    assert again.json()["invited_at"] == invited.json()["invited_at"]

    open_plan = alice_api.post(url("plan-invitations", plans["open_a"].pk), {"creator": "CR-LOW"}, format="json")
    assert open_plan.status_code == 422
    assert error(open_plan)["details"]["codes"] == ["PLAN_NOT_TARGETED"]
    unknown = alice_api.post(url("plan-invitations", plans["targeted_a"].pk), {"creator": "CR-NONE"}, format="json")
    assert unknown.status_code == 404


def test_a_creator_prechecks_itself_on_a_visible_plan(world, plans, carol_api, dave_api):
    carol = carol_api.get(url("plan-precheck", plans["open_a"].pk))
    assert carol.status_code == 200
    assert carol.json()["creator"] == "CR-CAROL"
    assert {r["product"]: r["may_promote"] for r in carol.json()["results"]} == {"PRD-A1": True, "PRD-A-GATED": True}

    dave = {r["product"]: r for r in dave_api.get(url("plan-precheck", plans["open_a"].pk)).json()["results"]}
    assert dave["PRD-A1"]["may_promote"] is True
    assert (dave["PRD-A-GATED"]["may_promote"], dave["PRD-A-GATED"]["codes"]) == (False, [c.PPS_BELOW_MIN])
    assert dave["PRD-A-GATED"]["details"]["pps"] == "3"

    other = carol_api.get(url("plan-precheck", plans["open_a"].pk) + "?creator=CR-LOW")
    assert other.status_code == 404


def test_a_seller_prechecks_the_creators_invited_to_its_plan_and_ops_any_creator(world, plans, alice_api, ops_api):
    targeted = plans["targeted_a"].pk
    assert alice_api.get(url("plan-precheck", targeted) + "?creator=CR-CAROL").status_code == 200
    assert alice_api.get(url("plan-precheck", targeted) + "?creator=CR-LOW").status_code == 404
    missing = alice_api.get(url("plan-precheck", targeted))
    assert missing.status_code == 400
    assert ops_api.get(url("plan-precheck", targeted) + "?creator=CR-LOW").status_code == 200


def test_the_blast_radius_shows_what_a_disqualification_would_end_and_what_it_ended(world, plans, alice_api, ops_api):
    before = alice_api.get(url("shop-blast-radius", "SHOP-A"))
    assert before.status_code == 200
    body = before.json()
    assert (body["entity"], body["key"], body["preview"]["plans_end"]) == ("shop", "SHOP-A", True)
    assert sorted(p["name"] for p in body["preview"]["plans"]) == ["Open A", "VIP A"]
    assert body["preview"]["products"] == ["PRD-A-GATED", "PRD-A1", "PRD-A2"]
    assert [cr["key"] for cr in body["preview"]["creators"]] == ["CR-CAROL"]
    assert body["actual"] == {
        "plans_end": True,
        "run": None,
        "plans": [],
        "memberships": [],
        "products": [],
        "creators": [],
    }

    product = ops_api.get(url("product-blast-radius", "PRD-A2")).json()
    assert (product["preview"]["plans_end"], [p["name"] for p in product["preview"]["plans"]]) == (False, ["VIP A"])

    Shop.objects.filter(pk=world["shop_a"].pk).update(sps=Decimal("2.5"))
    disqualifying = run(DAY + dt.timedelta(days=1))
    after = alice_api.get(url("shop-blast-radius", "SHOP-A")).json()
    assert after["preview"]["plans"] == []
    assert after["actual"]["run"] == disqualifying.pk
    assert sorted(p["status"] for p in after["actual"]["plans"]) == ["terminated", "terminated"]


def test_plans_are_recreated_after_recovery_once(world, plans, alice_api):
    shop = world["shop_a"]
    Shop.objects.filter(pk=shop.pk).update(sps=Decimal("2.5"))
    run(DAY + dt.timedelta(days=1))
    refused = alice_api.post(url("shop-recreate-plans", "SHOP-A"), {}, format="json")
    assert refused.status_code == 422
    assert error(refused)["details"]["codes"] == [c.SPS_BELOW_DISQUALIFY]

    Shop.objects.filter(pk=shop.pk).update(sps=Decimal("4.5"))
    Product.objects.filter(pk=world["products"]["gated"].pk).update(counterfeit_flag=True)
    run(DAY + dt.timedelta(days=2))
    response = alice_api.post(url("shop-recreate-plans", "SHOP-A"), {}, format="json")
    assert response.status_code == 200
    results = {r["old_plan"]: r for r in response.json()["recreated"]}
    open_copy = results[plans["open_a"].pk]
    assert open_copy["new_plan"]["name"] == "Open A"
    assert open_copy["new_plan"]["recreated_from"] == plans["open_a"].pk
    assert open_copy["rates"] == {"PRD-A1": "10.00"}
    assert open_copy["skipped"] == {"PRD-A-GATED": [c.COUNTERFEIT_FLAG]}
    assert results[plans["targeted_a"].pk]["new_plan"]["invited_creators"] == ["CR-CAROL"]

    again = alice_api.post(url("shop-recreate-plans", "SHOP-A"), {"plans": [plans["open_a"].pk]}, format="json")
    assert again.status_code == 422
    assert error(again)["details"]["codes"] == ["PLAN_ALREADY_RECREATED"]
    bobs = alice_api.post(url("shop-recreate-plans", "SHOP-A"), {"plans": [plans["open_b"].pk]}, format="json")
    assert bobs.status_code == 404


# Creator adds --------------------------------------------------------------------------------------


def test_a_qualified_creator_adds_a_gated_product(world, carol_api, alice_api, ops_api):
    response = carol_api.post(url("creator-adds"), {"product": "PRD-A-GATED", "placement": "live"}, format="json")
    assert response.status_code == 201, response.content
    body = response.json()
    assert (body["creator"], body["product"], body["accepted"], body["codes"]) == (
        "CR-CAROL",
        "PRD-A-GATED",
        True,
        [],
    )
    assert [a["id"] for a in carol_api.get(url("creator-adds")).json()["results"]] == [body["id"]]
    assert alice_api.get(url("creator-adds")).json()["results"] == []
    assert [a["id"] for a in ops_api.get(url("creator-adds")).json()["results"]] == [body["id"]]


def test_a_refused_add_answers_422_with_codes_and_stays_recorded_and_notified(world, dave_api):
    response = dave_api.post(url("creator-adds"), {"product": "PRD-A-GATED", "placement": "video"}, format="json")
    assert response.status_code == 422
    body = error(response)
    assert body["code"] == "creator_add_refused"
    assert body["details"]["codes"] == [c.PPS_BELOW_MIN]
    assert "below 3.5" in body["details"]["reasons"][0]["message"]
    assert "PRD-A-GATED" in body["message"]
    add = CreatorAdd.objects.get(pk=body["details"]["add"]["id"])
    assert (add.accepted, add.reasons, add.creator.key) == (False, [c.PPS_BELOW_MIN], "CR-LOW")
    assert Notification.objects.filter(user=world["dave"], dedupe_key=f"creator_add:{add.pk}").exists()
    listed = dave_api.get(url("creator-adds")).json()["results"]
    assert [(a["accepted"], a["codes"]) for a in listed] == [(False, [c.PPS_BELOW_MIN])]


def test_only_creators_add_products_and_an_unknown_product_is_404(world, alice_api, carol_api):
    seller = alice_api.post(url("creator-adds"), {"product": "PRD-A1", "placement": "live"}, format="json")
    assert seller.status_code == 403
    unknown = carol_api.post(url("creator-adds"), {"product": "PRD-NONE", "placement": "live"}, format="json")
    assert unknown.status_code == 404
    bad = carol_api.post(url("creator-adds"), {"product": "PRD-A1", "placement": "story"}, format="json")
    assert bad.status_code == 400


# Appeals ------------------------------------------------------------------------------------------


def test_a_seller_member_appeals_with_one_file_per_checklist_item(world, alice_api):
    response = alice_api.post(url("appeals"), appeal_form(world["low_a"]), format="multipart")
    assert response.status_code == 201, response.content
    body = response.json()
    assert (body["entity"], body["key"], body["state"], body["attempt"]) == ("shop", "SHOP-A-LOW", "submitted", 1)
    assert body["reason_codes"] == [c.SPS_BELOW_ELIGIBLE]
    assert body["verdict"]["status"] == c.RESTRICTED
    assert [(item["key"], [f["name"] for f in item["files"]]) for item in body["checklist"]] == [
        ("order_fulfilment_records", ["order_fulfilment_records.pdf"]),
        ("customer_service_logs", ["customer_service_logs.pdf"]),
    ]
    appeal = Appeal.objects.get(pk=body["id"])
    assert events(appeal) == [f"appeal:{appeal.pk}:submitted"]
    payload = WebhookEvent.objects.get(dedupe_key=f"appeal:{appeal.pk}:submitted")
    assert payload.seller_ids == [world["low_a"].seller_id]
    assert payload.payload == {
        "appeal": appeal.pk,
        "entity": "shop",
        "id": "SHOP-A-LOW",
        "key": "SHOP-A-LOW",
        "state": "submitted",
        "attempt": 1,
        "decision_reason": "",
    }


@pytest.mark.parametrize(
    ("change", "code"),
    [
        ({"evidence[customer_service_logs]": None}, "evidence_missing"),
        ({"statement": "Too short."}, "statement_too_short"),
        ({"evidence[tax_returns]": "file"}, "evidence_unknown_item"),
        ({"evidence[order_fulfilment_records]": "exe"}, "file_type"),
    ],
)
def test_an_incomplete_appeal_answers_400_with_the_services_code(world, alice_api, change, code):
    form = appeal_form(world["low_a"])
    for field, value in change.items():
        if value is None:
            form.pop(field)
        elif value == "file":
            form[field] = pdf()
        elif value == "exe":
            form[field] = SimpleUploadedFile("tool.exe", b"MZ\x90\x00")
        else:
            form[field] = value
    response = alice_api.post(url("appeals"), form, format="multipart")
    assert response.status_code == 400
    assert error(response)["code"] == code
    assert not Appeal.objects.exists()
    assert not WebhookEvent.objects.filter(event="appeal.updated").exists()


def test_a_file_field_not_named_evidence_item_is_refused(world, alice_api):
    form = appeal_form(world["low_a"]) | {"attachment": pdf()}
    assert alice_api.post(url("appeals"), form, format="multipart").status_code == 400


def test_a_second_open_appeal_and_an_eligible_verdict_cannot_be_appealed(world, alice_api):
    assert alice_api.post(url("appeals"), appeal_form(world["low_a"]), format="multipart").status_code == 201
    second = alice_api.post(url("appeals"), appeal_form(world["low_a"]), format="multipart")
    assert (second.status_code, error(second)["code"]) == (400, "appeal_open")
    eligible = alice_api.post(url("appeals"), appeal_form(world["shop_a"]), format="multipart")
    assert (eligible.status_code, error(eligible)["code"]) == (400, "not_appealable")


def test_only_the_sellers_members_appeal(world, bob_api, ops_api):
    assert bob_api.post(url("appeals"), appeal_form(world["low_a"]), format="multipart").status_code == 404
    assert ops_api.post(url("appeals"), appeal_form(world["low_a"]), format="multipart").status_code == 403


def test_ops_approve_an_appeal_once_with_an_override_and_one_event_per_state(world, alice_api, ops_api):
    appeal = submitted(world["alice"], world["low_a"])
    expires = (timezone.now() + dt.timedelta(days=30)).isoformat()
    response = ops_api.post(
        url("appeal-approve", appeal.pk), {"reason": "Carrier strike confirmed", "expires_at": expires}, format="json"
    )
    assert response.status_code == 200, response.content
    body = response.json()
    assert (body["state"], body["decision_reason"]) == ("approved", "Carrier strike confirmed")
    assert body["override"]["status"] == c.ELIGIBLE and body["override"]["expires_at"] is not None
    assert Override.objects.get(appeal=appeal).status == c.ELIGIBLE

    again = ops_api.post(url("appeal-approve", appeal.pk), {"reason": "Again"}, format="json")
    assert (again.status_code, error(again)["code"]) == (400, "appeal_closed")
    assert events(appeal) == [f"appeal:{appeal.pk}:submitted", f"appeal:{appeal.pk}:approved"]
    assert WebhookEvent.objects.get(dedupe_key=f"appeal:{appeal.pk}:approved").payload["decision_reason"] == (
        "Carrier strike confirmed"
    )
    assert alice_api.get(url("appeal", appeal.pk)).json()["state"] == "approved"


def test_approving_needs_a_reason_and_a_status_of_the_entity(world, ops_api):
    appeal = submitted(world["alice"], world["low_a"])
    no_reason = ops_api.post(url("appeal-approve", appeal.pk), {"reason": ""}, format="json")
    assert (no_reason.status_code, error(no_reason)["code"]) == (400, "reason_required")
    bad_status = ops_api.post(url("appeal-approve", appeal.pk), {"reason": "ok", "status": "WARNING"}, format="json")
    assert (bad_status.status_code, error(bad_status)["code"]) == (400, "invalid_status")
    assert error(bad_status)["details"] == {"status": "WARNING", "entity": "shop"}
    appeal.refresh_from_db()
    assert appeal.state == "submitted" and events(appeal) == [f"appeal:{appeal.pk}:submitted"]


def test_ops_reject_and_the_seller_sees_the_reason(world, alice_api, ops_api):
    appeal = submitted(world["alice"], world["low_a"])
    response = ops_api.post(url("appeal-reject", appeal.pk), {"reason": "Records incomplete"}, format="json")
    assert response.status_code == 200
    assert (response.json()["state"], response.json()["override"]) == ("rejected", None)
    assert alice_api.get(url("appeal", appeal.pk)).json()["decision_reason"] == "Records incomplete"
    assert events(appeal) == [f"appeal:{appeal.pk}:submitted", f"appeal:{appeal.pk}:rejected"]


def test_sellers_cannot_decide_their_appeals_and_ops_cannot_withdraw_them(world, alice_api, ops_api):
    appeal = submitted(world["alice"], world["low_a"])
    assert alice_api.post(url("appeal-approve", appeal.pk), {"reason": "Mine"}, format="json").status_code == 403
    assert alice_api.post(url("appeal-reject", appeal.pk), {"reason": "Mine"}, format="json").status_code == 403
    assert ops_api.post(url("appeal-withdraw", appeal.pk)).status_code == 403
    assert events(appeal) == [f"appeal:{appeal.pk}:submitted"]


def test_a_seller_member_withdraws_an_open_appeal(world, alice_api):
    appeal = submitted(world["alice"], world["low_a"])
    response = alice_api.post(url("appeal-withdraw", appeal.pk))
    assert response.status_code == 200
    assert response.json()["state"] == "withdrawn"
    assert events(appeal) == [f"appeal:{appeal.pk}:submitted", f"appeal:{appeal.pk}:withdrawn"]
    again = alice_api.post(url("appeal-withdraw", appeal.pk))
    assert (again.status_code, error(again)["code"]) == (400, "appeal_closed")


def test_the_queue_is_for_ops_nearest_deadline_first(world, alice_api, ops_api):
    late = submitted(world["alice"], world["low_a"])
    product = Product.objects.get(key="PRD-A-LOW")
    Product.objects.filter(pk=product.pk).update(counterfeit_flag=True)
    run(DAY + dt.timedelta(days=1))
    evidence = [(item.key, pdf()) for item in appeal_checklist_for([c.COUNTERFEIT_FLAG])]
    early = appeal_submit(
        user=world["alice"], entity="product", entity_id=product.pk, statement=STATEMENT, evidence=evidence
    )
    Appeal.objects.filter(pk=early.pk).update(due_at=late.due_at - dt.timedelta(days=1))

    response = ops_api.get(url("appeals-queue"))
    assert response.status_code == 200
    assert [a["id"] for a in response.json()["results"]] == [early.pk, late.pk]
    assert [i["key"] for i in response.json()["results"][0]["checklist"]] == [
        "brand_purchase_invoices",
        "authenticity_certificate",
    ]
    assert alice_api.get(url("appeals-queue")).status_code == 403


def test_the_checklist_of_reason_codes(world, alice_api):
    response = alice_api.get(url("appeals-checklist") + f"?codes={c.SPS_BELOW_ELIGIBLE},{c.SPS_BELOW_DISQUALIFY}")
    assert response.status_code == 200
    assert [i["key"] for i in response.json()["items"]] == ["order_fulfilment_records", "customer_service_logs"]
    blocked = alice_api.get(url("appeals-checklist") + f"?codes={c.SHOP_DISQUALIFIED}").json()
    assert (blocked["items"], blocked["not_appealable"][0]["code"]) == ([], c.SHOP_DISQUALIFIED)
    unknown = alice_api.get(url("appeals-checklist") + "?codes=PPS_BELOW_MIN,NOPE")
    assert (unknown.status_code, error(unknown)["code"]) == (400, "unknown_code")
    assert error(unknown)["details"] == {"codes": ["PPS_BELOW_MIN", "NOPE"]}


def test_each_persona_lists_the_appeals_it_may_see(world, alice_api, bob_api, carol_api, ops_api):
    appeal = submitted(world["alice"], world["low_a"])

    def ids(client):
        return [a["id"] for a in client.get(url("appeals")).json()["results"]]

    assert (ids(alice_api), ids(bob_api), ids(carol_api), ids(ops_api)) == ([appeal.pk], [], [], [appeal.pk])
    rejected = alice_api.get(url("appeals") + "?state=rejected").json()["results"]
    assert rejected == []


# Objects of another seller answer 404 on every endpoint -------------------------------------------------


OBJECT_ENDPOINTS = [
    ("get", "plan", "open_a", None),
    ("post", "plan-products", "open_a", {"product": "PRD-A2", "rate": "5"}),
    ("delete", "plan-product", "open_a", None),
    ("post", "plan-end", "open_a", {"reason": "Not mine"}),
    ("post", "plan-invitations", "targeted_a", {"creator": "CR-CAROL"}),
    ("get", "plan-precheck", "targeted_a", None),
    ("get", "shop-blast-radius", "SHOP-A", None),
    ("get", "product-blast-radius", "PRD-A1", None),
    ("post", "shop-recreate-plans", "SHOP-A", {}),
    ("get", "appeal", "appeal", None),
    ("post", "appeal-approve", "appeal", {"reason": "x"}),
    ("post", "appeal-reject", "appeal", {"reason": "x"}),
    ("post", "appeal-withdraw", "appeal", None),
]


@pytest.mark.parametrize(("method", "name", "target", "body"), OBJECT_ENDPOINTS)
def test_bob_gets_404_for_alices_objects_and_alice_does_not(world, plans, alice, bob, method, name, target, body):
    appeal = submitted(alice, world["low_a"])
    args = {"appeal": [appeal.pk], "SHOP-A": ["SHOP-A"], "PRD-A1": ["PRD-A1"]}.get(target) or [plans[target].pk]
    if name == "plan-product":
        args = [*args, "PRD-A1"]
    path = url(name, *args)
    if name == "plan-precheck":
        path += "?creator=CR-CAROL"
    as_bob = getattr(token_client(bob), method)(path, body, format="json")
    assert as_bob.status_code == 404, (name, as_bob.content)
    assert error(as_bob)["code"] == "not_found"
    as_alice = getattr(token_client(alice), method)(path, body, format="json")
    assert as_alice.status_code != 404, (name, as_alice.content)


# Scopes, anonymous clients and rate limits ---------------------------------------------------------------


@pytest.mark.parametrize(
    ("method", "name", "scope"),
    [
        ("get", "plans", "eligibility:read"),
        ("post", "plans", "plans:write"),
        ("post", "creator-adds", "plans:write"),
        ("get", "appeals", "eligibility:read"),
        ("post", "appeals", "appeals:write"),
    ],
)
def test_a_token_without_the_scope_is_refused_403(world, alice, method, name, scope):
    others = [choice for choice in ApiToken.Scope.values if choice != scope]
    response = getattr(token_client(alice, scopes=others), method)(url(name), {}, format="json")
    assert response.status_code == 403
    assert error(response)["code"] == "missing_scope"


def test_notifications_and_own_tokens_need_no_scope(world, alice):
    client = token_client(alice, scopes=["feeds:write"])
    assert client.get(url("notifications")).status_code == 200
    assert client.get(url("tokens")).status_code == 200


def test_anonymous_clients_are_asked_to_authenticate(world):
    from rest_framework.test import APIClient

    response = APIClient(HTTP_USER_AGENT="tests").get(url("plans"))
    assert response.status_code == 401


def test_writes_count_against_the_hourly_bulk_limit(world, settings, alice_api):
    if not settings.RATE_LIMIT_REDIS_URL:
        pytest.skip("needs Redis")
    settings.API_RATE_LIMITS = {"bulk": (1, 3600), "eligibility": (100, 60)}
    body = {"shop": "SHOP-A", "name": "Plan", "kind": "open", "products": [{"product": "PRD-A1", "rate": "5"}]}
    assert alice_api.post(url("plans"), body, format="json").status_code == 201
    assert alice_api.post(url("plans"), body, format="json").status_code == 429
    assert alice_api.get(url("plans")).status_code == 200


# Constant query counts ---------------------------------------------------------------------------------


@pytest.mark.parametrize("persona", ["alice", "carol", "olga"])
def test_a_plans_page_costs_the_same_queries_whatever_its_size(world, plans, persona, django_assert_num_queries):
    for n in range(25):
        plan_create(
            shop=world["shop_a"],
            user=world["alice"],
            name=f"P{n}",
            kind="targeted" if n % 2 else "open",
            products=[(world["products"]["a1"], "5"), (world["products"]["a2"], "6")],
            creators=[world["carol"]] if n % 2 else [],
        )
    client = token_client(User.objects.get(email=f"{persona}@example.com"))
    client.get(url("plans"))  # the token's first use records last_used_at
    # token, page, products, invitations
    for size in (2, 20):
        with django_assert_num_queries(4):
            response = client.get(url("plans") + f"?page_size={size}")
        assert len(response.json()["results"]) == size


def test_an_appeals_page_costs_the_same_queries_whatever_its_size(world, ops_api, django_assert_num_queries):
    for n in range(25):
        make_shop(key=f"SHOP-APPEAL-{n}", seller=world["low_a"].seller, sps=Decimal("3.2"))
    run(DAY + dt.timedelta(days=1))
    for shop in Shop.objects.filter(key__startswith="SHOP-APPEAL-"):
        appeal = submitted(world["alice"], shop)
    ops_api.post(url("appeal-approve", appeal.pk), {"reason": "Fine"}, format="json")
    ops_api.get(url("appeals"))
    # token, page (with seller, verdict, override), evidence
    for size in (2, 20):
        with django_assert_num_queries(3):
            response = ops_api.get(url("appeals") + f"?page_size={size}")
        assert len(response.json()["results"]) == size


# Notifications ------------------------------------------------------------------------------------------


@pytest.fixture
def inbox(world):
    """Two notifications for alice (one read) and one for bob; the evaluation's are cleared."""
    Notification.objects.all().delete()
    context = {"event": "verdict.changed", "entity": "shop", "key": "SHOP-A-LOW", "new_status": c.RESTRICTED}
    context |= {"old_status": c.ELIGIBLE, "reasons": [c.SPS_BELOW_ELIGIBLE]}
    for user, key in ((world["alice"], "one"), (world["alice"], "two"), (world["bob"], "bobs")):
        notification_send(
            users=[user], kind="status_change", subject="shop:SHOP-A-LOW", context=context, dedupe_key=key
        )
    Notification.objects.filter(dedupe_key="one").update(read_at=timezone.now())
    return {n.dedupe_key: n for n in Notification.objects.all()}


def test_the_inbox_lists_the_users_notifications_newest_first_with_the_unread_count(inbox, alice_api):
    response = alice_api.get(url("notifications"))
    assert response.status_code == 200
    body = response.json()
    assert [n["id"] for n in body["results"]] == [inbox["two"].pk, inbox["one"].pk]
    assert body["unread_count"] == 1
    first = body["results"][0]
    assert first["read_at"] is None and "SHOP-A-LOW" in first["title"]
    assert first["reasons"] and first["next_steps"]
    unread = alice_api.get(url("notifications") + "?unread=1").json()
    assert [n["id"] for n in unread["results"]] == [inbox["two"].pk]


def test_the_inbox_speaks_the_accept_language_or_else_the_users_language(inbox, world, alice_api):
    english = alice_api.get(url("notifications")).json()["results"][0]["reasons"][0]
    chinese = alice_api.get(url("notifications"), HTTP_ACCEPT_LANGUAGE="zh-hans").json()["results"][0]["reasons"][0]
    assert "Shop Performance Score" in english and "店铺体验分" in chinese
    User.objects.filter(pk=world["alice"].pk).update(language="zh-hans")
    assert "店铺体验分" in alice_api.get(url("notifications")).json()["results"][0]["reasons"][0]


def test_marking_read_touches_only_the_users_own_notifications(inbox, alice_api):
    response = alice_api.post(url("notifications-read"), {"ids": [inbox["two"].pk, inbox["bobs"].pk]}, format="json")
    assert response.json() == {"changed": 1, "unread_count": 0}
    assert Notification.objects.get(pk=inbox["bobs"].pk).read_at is None
    unread = alice_api.post(url("notifications-read"), {"ids": [inbox["one"].pk], "read": False}, format="json")
    assert unread.json() == {"changed": 1, "unread_count": 1}
    assert alice_api.post(url("notifications-read-all")).json() == {"changed": 1, "unread_count": 0}


def test_preferences_are_read_and_replaced(world, alice_api):
    assert alice_api.get(url("notification-preferences")).json() == {
        "email_notifications": True,
        "email_digest": False,
        "language": "en",
    }
    new = {"email_notifications": True, "email_digest": True, "language": "zh-hans"}
    assert alice_api.put(url("notification-preferences"), new, format="json").json() == new
    bad = alice_api.put(url("notification-preferences"), new | {"language": "fr"}, format="json")
    assert (bad.status_code, error(bad)["code"]) == (400, "invalid_choice")
    assert list(error(bad)["details"]) == ["language"]
    assert User.objects.get(pk=world["alice"].pk).language == "zh-hans"


# API tokens ------------------------------------------------------------------------------------------------


def test_ops_create_a_token_shown_once_and_it_works(world, ops_api):
    response = ops_api.post(
        url("tokens"),
        {"user": "ALICE@example.com", "scopes": ["eligibility:read"], "purpose": "Nightly plan report export"},
        format="json",
    )
    assert response.status_code == 201, response.content
    body = response.json()
    assert (body["user"], body["scopes"], body["created_by"]) == (
        "alice@example.com",
        ["eligibility:read"],
        "olga@example.com",
    )
    assert body["token"].startswith(f"cp_{body['prefix']}_")
    from rest_framework.test import APIClient

    client = APIClient(HTTP_USER_AGENT="tests", HTTP_AUTHORIZATION=f"Bearer {body['token']}")
    assert client.get(url("plans")).status_code == 200
    assert client.post(url("plans"), {}, format="json").status_code == 403
    listed = ops_api.get(url("tokens") + "?user=alice@example.com").json()["results"]
    assert "token" not in listed[0] and body["prefix"] in [t["prefix"] for t in listed]


def test_only_ops_create_tokens_and_never_beyond_their_own_tokens_scopes(world, olga, alice_api):
    body = {"user": "alice@example.com", "scopes": ["plans:write"], "purpose": "Self-service token please"}
    assert alice_api.post(url("tokens"), body, format="json").status_code == 403
    narrow = token_client(olga, scopes=["eligibility:read"])
    escalation = narrow.post(url("tokens"), body, format="json")
    assert (escalation.status_code, error(escalation)["code"]) == (403, "scope_escalation")
    unknown = token_client(olga).post(url("tokens"), body | {"user": "nobody@example.com"}, format="json")
    assert unknown.status_code == 404
    short = token_client(olga).post(url("tokens"), body | {"purpose": "short"}, format="json")
    assert (short.status_code, list(error(short)["details"])) == (400, ["purpose"])


def test_users_list_and_revoke_their_own_tokens_and_ops_all(world, alice, bob, alice_api, bob_api, ops_api):
    alices = ApiToken.objects.filter(user=alice).values_list("prefix", flat=True)
    assert sorted(t["prefix"] for t in alice_api.get(url("tokens")).json()["results"]) == sorted(alices)
    assert len(ops_api.get(url("tokens")).json()["results"]) == ApiToken.objects.count()

    spare = token_client(alice)
    prefix = ApiToken.objects.filter(user=alice).latest("id").prefix
    assert bob_api.delete(url("token", prefix)).status_code == 404
    assert alice_api.delete(url("token", prefix) + "?reason=Rotated").status_code == 204
    assert spare.get(url("plans")).status_code == 401
    assert AuditEntry.objects.get(action="api_token.revoke", object_id=prefix).reason == "Rotated"
    bobs = ApiToken.objects.filter(user=bob).latest("id").prefix
    assert ops_api.delete(url("token", bobs)).status_code == 204
    assert bob_api.get(url("plans")).status_code == 401


def test_a_null_character_in_the_url_is_refused_before_any_lookup(world, plans, carol_api, alice_api):
    precheck = carol_api.get(url("plan-precheck", plans["open_a"].pk) + "?creator=CR%00X")
    assert precheck.status_code == 400
    assert alice_api.get(url("shop-blast-radius", "SHOP-A") + "?x=%00").status_code == 400


@pytest.mark.parametrize("name", ["plans", "appeals", "creator-adds", "tokens", "notification-preferences"])
def test_options_answers_without_describing_bodies(world, alice_api, name):
    response = alice_api.options(url(name))
    assert response.status_code == 200
    assert "actions" not in response.json()
