"""The creator's page (/creator/, /creators/<key>/) and the ops creator search, per persona.

carol is a qualified creator, dave a creator below the PPS minimum; alice and bob are sellers,
olga ops. The page shows the verdict with its reasons and next steps, the scores against the
minimums of the rule set in force, the forecast, the 90-day charts, the gated categories,
the refused adds and the plans open to the creator, in a fixed number of queries.
"""

import datetime as dt
import json
from decimal import Decimal

import pytest
from django.urls import reverse
from django.utils import timezone

from affiliate.models import AffiliatePlan, CreatorAdd, CreatorSnapshot, PlanInvitation
from affiliate.selectors import creator_add_details, creator_thresholds
from affiliate.services import creator_add_product
from shops.eligibility import creator_forecast_today
from shops.models import RuleSet, User
from shops.reasons import reason_message, reason_next_step
from shops.rules import codes as c
from shops.services.evaluation import evaluation_run_inline
from tests.conftest import signed_in
from tests.factories import add_to_plan, make_category, make_creator, make_plan, make_product, make_shop, make_user

pytestmark = pytest.mark.django_db


def today() -> dt.date:
    return timezone.localdate()


def run():
    return evaluation_run_inline(as_of=today())


def page_of(key: str) -> str:
    return reverse("creator_detail", args=[key])


@pytest.fixture
def world(seller_a, alice, bob, carol, olga):
    """An eligible shop of alice's seller with a gated and an open product; dave below the PPS minimum."""
    gated = make_category(key="CAT-SKIN", name="Skincare", name_zh="护肤", gated=True)
    home = make_category(key="CAT-HOME", name="Home", gated=False)
    shop = make_shop(key="SHOP-A", name="Alice Beauty", seller=seller_a)
    dave_creator = make_creator(key="CR-DAVE", handle="dave.makes", pps=Decimal("3.2"), chr=Decimal("180"))
    dave = make_user(email="dave@example.com", role=User.Role.CREATOR, creator=dave_creator)
    products = {
        "gated": make_product(key="PRD-SERUM", title="Vitamin C Serum", shop=shop, category=gated),
        "open": make_product(key="PRD-BOARD", title="Bamboo Board", shop=shop, category=home),
    }
    run()
    dave_creator.refresh_from_db()
    assert (dave_creator.status, dave_creator.reasons) == (c.NOT_QUALIFIED, [c.PPS_BELOW_MIN])
    return {"shop": shop, "gated": gated, "home": home, "products": products, "dave": dave, "olga": olga}


def grow(world, creator, size: int) -> None:
    """``size`` of everything the page lists: days of scores, gated categories, refusals, plans."""
    end = today()
    CreatorSnapshot.objects.bulk_create(
        CreatorSnapshot(
            creator=creator,
            date=end - dt.timedelta(days=day),
            account_status="active",
            pps=Decimal("3.2") + Decimal(day) / 100,
            chr=Decimal("180"),
        )
        for day in range(size)
    )
    creator.metrics_as_of = end
    creator.save(update_fields=["metrics_as_of"])
    thresholds = creator_thresholds()
    for n in range(size):
        category = make_category(key=f"CAT-G{size}-{n}", gated=True)
        product = make_product(key=f"PRD-{size}-{n}", shop=world["shop"], category=category)
        plan = make_plan(shop=world["shop"], name=f"Plan {size}-{n}", kind=AffiliatePlan.Kind.OPEN)
        add_to_plan(plan, product, "12")
        add_to_plan(plan, world["products"]["open"], "8")
        CreatorAdd.objects.create(
            creator=creator,
            product=product,
            placement="showcase",
            accepted=False,
            reasons=[c.PPS_BELOW_MIN],
            details=creator_add_details(creator=creator, product=product, thresholds=thresholds),
        )


# Who may see which page ------------------------------------------------------------------------


@pytest.mark.parametrize("url", ["/creator/", "/creators/CR-CAROL/"])
def test_an_anonymous_visitor_is_sent_to_sign_in(client, carol, url):
    response = client.get(url)

    assert response.status_code == 302
    assert response["Location"] == f"{reverse('login')}?next={url}"


def test_a_creator_sees_its_own_page_at_creator_and_under_its_key(client, world, carol):
    signed_in(client, carol)

    home = client.get(reverse("creator_home"))
    detail = client.get(page_of("CR-CAROL"))

    assert home.status_code == detail.status_code == 200
    assert home.context["creator"] == detail.context["creator"] == carol.creator
    assert "My eligibility" in home.content.decode()


def test_a_creator_gets_a_404_for_another_creators_page(client, world, carol):
    signed_in(client, carol)

    assert client.get(page_of("CR-DAVE")).status_code == 404
    assert client.get(page_of("CR-NOBODY")).status_code == 404


@pytest.mark.parametrize("url", ["/creator/", "/creators/CR-CAROL/", "/creators/CR-DAVE/"])
def test_a_seller_gets_a_404_for_every_creator_page(client, world, alice, url):
    signed_in(client, alice)

    assert client.get(url).status_code == 404


def test_ops_see_any_creators_page(client, world):
    signed_in(client, world["olga"])

    response = client.get(page_of("CR-DAVE"))

    assert response.status_code == 200
    body = response.content.decode()
    assert "@dave.makes" in body and "Not qualified" in body
    assert "Can this creator promote gated categories?" in body


def test_ops_search_creators_at_creator(client, world):
    signed_in(client, world["olga"])

    everyone = client.get(reverse("creator_home"))
    dave_only = client.get(reverse("creator_home"), {"q": "dave"})
    qualified = client.get(reverse("creator_home"), {"status": c.QUALIFIED})

    assert [cr.key for cr in everyone.context["creators"]] == ["CR-CAROL", "CR-DAVE"]
    assert [cr.key for cr in dave_only.context["creators"]] == ["CR-DAVE"]
    assert [cr.key for cr in qualified.context["creators"]] == ["CR-CAROL"]
    assert page_of("CR-DAVE") in dave_only.content.decode()


def test_the_search_answers_htmx_with_the_results_only(client, world):
    signed_in(client, world["olga"])

    response = client.get(
        reverse("creator_home"), {"q": "carol"}, HTTP_HX_REQUEST="true", HTTP_HX_TARGET="creator-results"
    )

    body = response.content.decode()
    assert body.startswith('<div id="creator-results">') and "<html" not in body
    assert page_of("CR-CAROL") in body and page_of("CR-DAVE") not in body


def test_the_pages_answer_only_get(client, world, carol):
    signed_in(client, carol)

    assert client.post(reverse("creator_home")).status_code == 405


# What the page says ----------------------------------------------------------------------------------


def test_a_not_qualified_creator_reads_its_status_why_and_what_to_do(client, world):
    signed_in(client, world["dave"])

    body = client.get(reverse("creator_home")).content.decode()

    assert "Not qualified" in body
    params = {"pps_min": "3.5", "chr_min": "150"}
    assert reason_message(c.PPS_BELOW_MIN, params) in body
    assert reason_next_step(c.PPS_BELOW_MIN, params) in body
    assert "3.2" in body and "Below the minimum" in body
    assert "Meets the minimum" in body  # CHR 180 >= 150


def test_a_qualified_creator_reads_that_it_may_promote_gated_categories(client, world, carol):
    signed_in(client, carol)

    response = client.get(reverse("creator_home"))

    body = response.content.decode()
    assert "Qualified" in body and "Not qualified" not in body
    gated = response.context["summary"].gated_categories
    assert [(access.name, access.may_promote) for access in gated] == [("Skincare", True)]


def test_the_gated_categories_name_the_missing_minimum(client, world):
    signed_in(client, world["dave"])

    response = client.get(reverse("creator_home"))

    gated = response.context["summary"].gated_categories
    assert [(access.name, access.may_promote, access.reasons) for access in gated] == [
        ("Skincare", False, ["PPS 3.2 < 3.5"])
    ]
    assert "Not yet: PPS 3.2 &lt; 3.5" in response.content.decode()
    # Home is not gated: open to every creator, counted with the other categories.
    assert response.context["summary"].open_category_count == 1


def test_the_charts_draw_90_days_with_the_minimums_of_the_rule_set_in_force(client, world):
    dave = world["dave"].creator
    grow(world, dave, 10)
    RuleSet.objects.create(version=2, market="", effective_from=today() - dt.timedelta(days=1), pps_min=Decimal("3.1"))
    signed_in(client, world["dave"])

    response = client.get(reverse("creator_home"))

    charts = {chart.canvas_id: chart for chart in response.context["summary"].charts}
    pps = charts["pps-chart"].config["data"]["datasets"]
    chr_ = charts["chr-chart"].config["data"]["datasets"]
    assert pps[0]["data"][-1] == 3.2 and pps[0]["data"][0] == 3.29
    assert set(pps[1]["data"]) == {3.1} and set(chr_[1]["data"]) == {150.0}
    assert len(pps[0]["data"]) == 10
    body = response.content.decode()
    # Chart.js reads the configuration from the json_script element; the text alternative says the same.
    config = json.loads(body.split('id="pps-chart" type="application/json">', 1)[1].split("</script>", 1)[0])
    assert config["type"] == "line" and config["data"]["datasets"][1]["data"][0] == 3.1
    assert "From 3.29 to 3.2 (lowest 3.2, highest 3.29); the dashed line is the minimum, 3.1." in body


def test_the_forecast_dates_when_the_falling_pps_crosses_the_minimum(client, world, carol):
    creator = carol.creator
    CreatorSnapshot.objects.bulk_create(
        CreatorSnapshot(
            creator=creator,
            date=today() - dt.timedelta(days=day),
            account_status="active",
            pps=Decimal("4.0") + Decimal(day) / 50,
            chr=Decimal("200"),
        )
        for day in range(14)
    )
    signed_in(client, carol)

    response = client.get(reverse("creator_home"))

    forecast = creator_forecast_today(creator, today())
    assert forecast.crosses_on is not None
    shown = response.context["summary"].forecast
    assert (shown.falling, shown.rate, shown.threshold) == (True, "0.02", "3.5")
    body = response.content.decode()
    assert "Falling by about 0.02 a day." in body
    assert f"drops below 3.5 around <strong>{forecast.crosses_on.day} {forecast.crosses_on:%b %Y}</strong>" in body


def test_without_enough_days_there_is_no_forecast(client, world):
    signed_in(client, world["dave"])

    body = client.get(reverse("creator_home")).content.decode()

    assert "Not enough data for a forecast yet" in body


def test_refused_adds_are_listed_with_their_reasons_and_figures(client, world, django_capture_on_commit_callbacks):
    dave = world["dave"]
    with django_capture_on_commit_callbacks(execute=True):
        creator_add_product(creator=dave.creator, product=world["products"]["gated"], placement="live")
        creator_add_product(creator=dave.creator, product=world["products"]["open"], placement="video")
    signed_in(client, dave)

    response = client.get(reverse("creator_home"))

    refusals = response.context["refusals"].object_list
    assert [refusal.add.product.key for refusal in refusals] == ["PRD-SERUM"]  # the open product was accepted
    body = response.content.decode()
    assert "Vitamin C Serum" in body and "Live session" in body
    assert reason_message(c.PPS_BELOW_MIN, {"pps_min": "3.5"}) in body
    assert "Skincare (gated)" in body and "3.2 (minimum 3.5)" in body


def test_plans_list_invitations_first_and_what_the_creator_can_add(client, world, carol):
    shop, products = world["shop"], world["products"]
    open_plan = make_plan(shop=shop, name="Everyone", kind=AffiliatePlan.Kind.OPEN)
    add_to_plan(open_plan, products["gated"], "12.5")
    add_to_plan(open_plan, products["open"], "8")
    invited = make_plan(shop=shop, name="VIP", kind=AffiliatePlan.Kind.TARGETED)
    add_to_plan(invited, products["open"], "15")
    PlanInvitation.objects.create(plan=invited, creator=world["dave"].creator)
    not_invited = make_plan(shop=shop, name="Secret", kind=AffiliatePlan.Kind.TARGETED)
    PlanInvitation.objects.create(plan=not_invited, creator=carol.creator)
    make_plan(shop=shop, name="Over", kind=AffiliatePlan.Kind.OPEN, status=AffiliatePlan.Status.ENDED)
    signed_in(client, world["dave"])

    response = client.get(reverse("creator_home"))

    offers = response.context["plans"].object_list
    assert [(offer.plan.name, offer.invited, offer.promotable, len(offer.offers)) for offer in offers] == [
        ("VIP", True, 1, 1),
        ("Everyone", False, 1, 2),
    ]
    blocked = offers[1].blocked
    assert [(item.product.key, item.reasons) for item in blocked] == [
        ("PRD-SERUM", ["Skincare is gated: PPS 3.2 < 3.5"])
    ]
    body = response.content.decode()
    assert "Secret" not in body and "Over" not in body
    assert "1 of 2 products" in body and "12.5%" in body


def test_a_qualified_creator_can_add_every_product_of_an_eligible_plan(client, world, carol):
    plan = make_plan(shop=world["shop"], name="Everyone", kind=AffiliatePlan.Kind.OPEN)
    add_to_plan(plan, world["products"]["gated"], "12")
    add_to_plan(plan, world["products"]["open"], "8")
    signed_in(client, carol)

    offers = client.get(reverse("creator_home")).context["plans"].object_list

    assert [(offer.promotable, offer.top_rate) for offer in offers] == [(2, "12")]


def test_ops_see_the_plans_open_to_the_creator_not_every_plan(client, world, carol):
    shop = world["shop"]
    targeted = make_plan(shop=shop, name="Only Carol", kind=AffiliatePlan.Kind.TARGETED)
    add_to_plan(targeted, world["products"]["open"], "10")
    PlanInvitation.objects.create(plan=targeted, creator=carol.creator)
    signed_in(client, world["olga"])

    as_dave = client.get(page_of("CR-DAVE")).context["plans"].object_list
    as_carol = client.get(page_of("CR-CAROL")).context["plans"].object_list

    assert [offer.plan.name for offer in as_dave] == []
    assert [(offer.plan.name, offer.invited) for offer in as_carol] == [("Only Carol", True)]


def test_a_table_page_link_answers_htmx_with_that_table_only(client, world):
    grow(world, world["dave"].creator, 12)
    signed_in(client, world["dave"])

    plans = client.get(reverse("creator_home"), {"plans": 2}, HTTP_HX_REQUEST="true", HTTP_HX_TARGET="creator-plans")
    refusals = client.get(
        reverse("creator_home"), {"refusals": 2}, HTTP_HX_REQUEST="true", HTTP_HX_TARGET="creator-refusals"
    )
    whole = client.get(reverse("creator_home"), {"plans": 2})

    assert plans.content.decode().startswith('<section class="card" id="creator-plans"')
    assert "<html" not in plans.content.decode() and "summary" not in plans.context
    assert plans.context["plans"].number == 2 and len(plans.context["plans"].object_list) == 2
    assert refusals.context["refusals"].number == 2 and len(refusals.context["refusals"].object_list) == 2
    assert "<html" in whole.content.decode() and whole.context["plans"].number == 2


# Query counts --------------------------------------------------------------------------------------


@pytest.mark.parametrize("size", [2, 25])
def test_the_creators_own_page_costs_the_same_queries_whatever_the_data(client, world, size, django_assert_num_queries):
    grow(world, world["dave"].creator, size)
    signed_in(client, world["dave"])

    with django_assert_num_queries(23):
        response = client.get(reverse("creator_home"))

    assert response.status_code == 200
    assert len(response.context["plans"].object_list) == min(size, 10)
    assert len(response.context["refusals"].object_list) == min(size, 10)


@pytest.mark.parametrize("size", [2, 25])
def test_a_creator_page_seen_by_ops_costs_the_same_queries_whatever_the_data(
    client, world, size, django_assert_num_queries
):
    grow(world, world["dave"].creator, size)
    signed_in(client, world["olga"])

    with django_assert_num_queries(23):
        response = client.get(page_of("CR-DAVE"))

    assert response.status_code == 200


@pytest.mark.parametrize("size", [2, 25])
def test_the_ops_creator_search_costs_the_same_queries_whatever_the_data(
    client, world, size, django_assert_num_queries
):
    for n in range(size):
        make_creator(key=f"CR-X{size}-{n}", pps=Decimal("3.0"))
    run()
    signed_in(client, world["olga"])

    with django_assert_num_queries(8):
        response = client.get(reverse("creator_home"))

    assert len(response.context["creators"].object_list) == min(size + 2, 25)
