"""The seller's pages: the portfolio (/shops/), a shop (/shops/<key>/) and a plan (/plans/<pk>/), per persona.

alice is a member of SEL-A (SHOP-A1 eligible in the US, SHOP-A2 restricted in the UK), bob of
SEL-B (SHOP-B disqualified), carol a creator, olga ops. The pages show the status in words
with what to do, the changes since the last visit, the SPS trend against the rule set's
thresholds, the plans and blast radius and the verdict history, in a fixed number of queries.
"""

import datetime as dt
import json
import re
from decimal import Decimal

import pytest
from django.conf import settings
from django.urls import reverse, reverse_lazy
from django.utils import timezone, translation
from django.utils.formats import date_format

from affiliate.models import AffiliatePlan, PlanInvitation, PlanProduct
from shops.models import (
    Appeal,
    Entity,
    EvaluationRun,
    RuleSet,
    SellerMembership,
    Shop,
    ShopSnapshot,
    StatusHistory,
    User,
)
from shops.reasons import reason_message, reason_next_step
from shops.rules import codes as c
from shops.services.appeals import override_create
from shops.services.evaluation import evaluation_run_inline
from shops.views.seller import VISIT_GAP, VISIT_SESSION_KEY
from tests.conftest import signed_in
from tests.factories import (
    add_to_plan,
    make_category,
    make_creator,
    make_plan,
    make_product,
    make_seller,
    make_shop,
    make_user,
)

pytestmark = pytest.mark.django_db

DAY = dt.date(2026, 11, 20)
PORTFOLIO = reverse_lazy("portfolio")


def shop_url(key: str) -> str:
    return reverse("shop_detail", args=[key])


def plan_url(pk: int) -> str:
    return reverse("plan_detail", args=[pk])


def html(response) -> str:
    assert response.status_code == 200, response.status_code
    return response.content.decode()


def text(response) -> str:
    """The page's words without tags or repeated spaces, to find sentences that wrap in the HTML."""
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", html(response)))


@pytest.fixture
def world(seller_a, seller_b, alice, bob, carol, olga):
    phones = make_category(key="CAT-PHONES", name="Phones")
    shop_a1 = make_shop(seller=seller_a, key="SHOP-A1", name="Alpha Phones US", market="US", sps=Decimal("4.2"))
    shop_a2 = make_shop(seller=seller_a, key="SHOP-A2", name="Alpha Phones UK", market="UK", sps=Decimal("3.2"))
    shop_b = make_shop(seller=seller_b, key="SHOP-B", name="Bravo Goods", market="US", sps=Decimal("2.5"))
    products = {
        "a1": make_product(shop=shop_a1, category=phones, key="P-A1", title="Alpha Case"),
        "a2": make_product(shop=shop_a2, category=phones, key="P-A2", title="Alpha Cable"),
        "b": make_product(shop=shop_b, category=phones, key="P-B", title="Bravo Charger"),
    }
    plan_a1 = make_plan(shop=shop_a1, name="Alpha summer", kind=AffiliatePlan.Kind.OPEN)
    add_to_plan(plan_a1, products["a1"], rate="12.5")
    plan_b = make_plan(shop=shop_b, name="Bravo deals", kind=AffiliatePlan.Kind.OPEN)
    add_to_plan(plan_b, products["b"])
    evaluation_run_inline(as_of=DAY)
    for shop in (shop_a1, shop_a2, shop_b):
        shop.refresh_from_db()
    assert (shop_a1.status, shop_a2.status, shop_b.status) == (c.ELIGIBLE, c.RESTRICTED, c.DISQUALIFIED)
    return {"a1": shop_a1, "a2": shop_a2, "b": shop_b, "plan_a1": plan_a1, "plan_b": plan_b, "products": products}


# Who sees what ---------------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["portfolio", "shop", "history", "plan"])
def test_an_anonymous_visitor_is_sent_to_sign_in(world, client, name):
    url = {
        "portfolio": PORTFOLIO,
        "shop": shop_url("SHOP-A1"),
        "history": reverse("shop_history", args=["SHOP-A1"]),
        "plan": plan_url(world["plan_a1"].pk),
    }[name]
    response = client.get(url)
    assert response.status_code == 302
    assert response["Location"].startswith(reverse("login"))


def test_a_seller_sees_only_the_shops_of_their_own_seller(world, client, alice):
    page = html(signed_in(client, alice).get(PORTFOLIO))
    assert "Alpha Phones US" in page and "Alpha Phones UK" in page
    assert "Bravo Goods" not in page and "SHOP-B" not in page


@pytest.mark.parametrize(
    "url",
    [
        shop_url("SHOP-B"),
        reverse("shop_history", args=["SHOP-B"]),
        shop_url("NO-SUCH-SHOP"),
    ],
)
def test_another_sellers_shop_is_404_like_an_unknown_one(world, client, alice, url):
    assert signed_in(client, alice).get(url).status_code == 404


def test_another_sellers_plan_is_404(world, client, alice):
    assert signed_in(client, alice).get(plan_url(world["plan_b"].pk)).status_code == 404
    assert signed_in(client, alice).get(plan_url(999_999)).status_code == 404


def test_a_creator_has_no_portfolio_and_no_shop_page(world, client, carol):
    signed_in(client, carol)
    assert client.get(PORTFOLIO).status_code == 404
    assert client.get(shop_url("SHOP-A1")).status_code == 404
    assert client.get(reverse("shop_history", args=["SHOP-A1"])).status_code == 404


def test_ops_see_every_shop_and_plan(world, client, olga):
    signed_in(client, olga)
    page = html(client.get(PORTFOLIO))
    assert "Alpha Phones US" in page and "Bravo Goods" in page
    assert client.get(shop_url("SHOP-B")).status_code == 200
    assert client.get(plan_url(world["plan_b"].pk)).status_code == 200


# Portfolio --------------------------------------------------------------------------------------


def test_the_portfolio_counts_shops_by_status_and_says_why_and_what_to_do(world, client, alice):
    response = signed_in(client, alice).get(PORTFOLIO)
    words = text(response)
    assert re.search(r"\b2 All shops", words)
    assert re.search(r"\b1 ✓ Eligible", words) and re.search(r"\b1 ! Restricted", words)
    message = reason_message(c.SPS_BELOW_ELIGIBLE, {"sps_eligible": "3.5"})
    assert message in words
    assert reason_next_step(c.SPS_BELOW_ELIGIBLE, {"sps_eligible": "3.5"}) in words
    # Grouped by market, with the market's name.
    assert "United Kingdom" in words and "United States" in words


def test_within_a_market_the_shops_needing_attention_come_first(world, client, alice):
    make_shop(seller=world["a1"].seller, key="SHOP-A3", name="Zulu Audio US", market="US", sps=Decimal("2.4"))
    evaluation_run_inline(as_of=DAY + dt.timedelta(days=1))
    words = text(signed_in(client, alice).get(PORTFOLIO))
    us = words[words.index("United States") :]
    assert us.index("Zulu Audio US") < us.index("✕ Disqualified") < us.index("Alpha Phones US")


def test_reasons_are_worded_in_the_readers_language(world, client, alice):
    User.objects.filter(pk=alice.pk).update(language="zh-hans")
    words = text(signed_in(client, alice).get(PORTFOLIO))
    with translation.override("zh-hans"):
        chinese = reason_message(c.SPS_BELOW_ELIGIBLE)
    with translation.override("en"):
        english = reason_message(c.SPS_BELOW_ELIGIBLE)
    assert chinese in words
    assert english not in words


def test_the_portfolio_filters_by_market_and_status(world, client, alice):
    signed_in(client, alice)
    uk = html(client.get(PORTFOLIO, {"market": "UK"}))
    assert "Alpha Phones UK" in uk and "Alpha Phones US" not in uk
    eligible = html(client.get(PORTFOLIO, {"status": c.ELIGIBLE}))
    assert "Alpha Phones US" in eligible and "Alpha Phones UK" not in eligible


def test_an_ops_override_counts_as_the_shops_status_in_the_counts_and_filters(world, client, alice, olga):
    override_create(
        entity=Entity.SHOP, entity_id=world["a2"].pk, status=c.ELIGIBLE, reason="Appeal evidence accepted", user=olga
    )
    signed_in(client, alice)
    words = text(client.get(PORTFOLIO))
    assert re.search(r"\b2 ✓ Eligible", words) and re.search(r"\b0 ! Restricted", words)
    eligible = html(client.get(PORTFOLIO, {"status": c.ELIGIBLE}))
    assert "Alpha Phones UK" in eligible and "set by the operations team" in eligible
    assert "Alpha Phones UK" not in html(client.get(PORTFOLIO, {"status": c.RESTRICTED}))


def test_the_portfolio_puts_first_the_shops_in_the_worst_status_shown_overrides_included(world, client, alice, olga):
    make_shop(seller=world["a1"].seller, key="SHOP-A3", name="Alpha Gadgets US", market="US", status=c.RESTRICTED)
    signed_in(client, alice)
    words = text(client.get(PORTFOLIO))
    assert words.index("Alpha Gadgets US") < words.index("Alpha Phones US")

    override_create(entity=Entity.SHOP, entity_id=world["a1"].pk, status=c.DISQUALIFIED, reason="Fraud", user=olga)

    words = text(client.get(PORTFOLIO))
    assert words.index("Alpha Phones US") < words.index("Alpha Gadgets US")


def test_a_member_of_several_sellers_sees_all_their_shops_labelled_by_seller(world, client, alice):
    other = make_seller(key="SEL-C", legal_name="Charlie Trading Ltd")
    make_shop(seller=other, key="SHOP-C1", name="Charlie Tools", market="TH")
    SellerMembership.objects.create(user=alice, seller=other)
    words = text(signed_in(client, alice).get(PORTFOLIO))
    assert "Charlie Tools" in words and "Alpha Phones US" in words
    assert "SHOP-C1 · Charlie Trading Ltd" in words
    assert f"SHOP-A1 · {world['a1'].seller.legal_name}" in words
    only_c = html(client.get(PORTFOLIO, {"seller": "SEL-C"}))
    assert "Charlie Tools" in only_c and "Alpha Phones US" not in only_c


def test_shops_whose_status_changed_since_the_last_visit_come_first_and_the_visit_is_recorded(world, client, alice):
    last_visit = timezone.now()
    User.objects.filter(pk=alice.pk).update(portfolio_seen_at=last_visit)
    Shop.objects.filter(pk=world["a1"].pk).update(sps=Decimal("3.1"))
    evaluation_run_inline(as_of=DAY + dt.timedelta(days=1))

    page = html(signed_in(client, alice).get(PORTFOLIO))
    changed = page.split('id="changed-title"')[1].split("</section>")[0]
    assert "1 shop changed status since your last visit" in page
    assert "Alpha Phones US" in changed and "Alpha Phones UK" not in changed
    assert 'data-status="ELIGIBLE"' in changed and 'data-status="RESTRICTED"' in changed
    alice.refresh_from_db()
    assert alice.portfolio_seen_at > last_visit

    # Paging or coming back within the same visit still compares with the visit before.
    assert "1 shop changed status since your last visit" in html(client.get(PORTFOLIO))
    # A new visit later compares with this one: nothing changed since.
    session = client.session
    session[VISIT_SESSION_KEY]["last"] = (timezone.now() - VISIT_GAP - dt.timedelta(seconds=1)).isoformat()
    session.save()
    later = html(client.get(PORTFOLIO))
    assert 'id="changed-title"' not in later
    assert "No shop changed status since your last visit" in later


def test_a_first_visit_has_no_changes_to_show_and_records_the_visit(world, client, alice):
    page = html(signed_in(client, alice).get(PORTFOLIO))
    assert "since your last visit" not in page
    alice.refresh_from_db()
    assert alice.portfolio_seen_at is not None


def test_a_large_portfolio_is_paginated_by_50(world, client, alice):
    Shop.objects.bulk_create(
        Shop(
            seller=world["a1"].seller,
            key=f"SHOP-X{n:02}",
            name=f"Extra {n:02}",
            market="SG",
            tier="silver",
            account_status="active",
        )
        for n in range(50)
    )
    signed_in(client, alice)
    first = text(client.get(PORTFOLIO))
    assert "Showing 1–50 of 52 shops" in first and "Page 1 of 2" in first
    second = text(client.get(PORTFOLIO, {"page": 2}))
    assert "Showing 51–52 of 52 shops" in second


def test_an_htmx_request_gets_the_table_alone(world, client, alice):
    response = signed_in(client, alice).get(PORTFOLIO, {"market": "US"}, HTTP_HX_REQUEST="true")
    page = html(response)
    assert "<html" not in page and "Alpha Phones US" in page and "Alpha Phones UK" not in page


def grow_portfolio(seller, size: int) -> None:
    """``size`` shops in three markets and every status, some changed since the last visit."""
    for n in range(size):
        sps = ("4.4", "3.2", "2.6")[n % 3]
        make_shop(seller=seller, key=f"SHOP-G{size}-{n}", market=("US", "UK", "TH")[n % 3], sps=Decimal(sps))


@pytest.mark.parametrize("size", [2, 30])
def test_the_portfolio_runs_a_fixed_number_of_queries(world, client, alice, olga, django_assert_num_queries, size):
    grow_portfolio(world["a1"].seller, size)
    evaluation_run_inline(as_of=DAY)
    override_create(
        entity=Entity.SHOP, entity_id=world["a2"].pk, status=c.ELIGIBLE, reason="Checked by hand", user=olga
    )
    User.objects.filter(pk=alice.pk).update(portfolio_seen_at=timezone.now())
    Shop.objects.filter(seller=world["a1"].seller).update(sps=Decimal("3.3"))
    evaluation_run_inline(as_of=DAY + dt.timedelta(days=1))
    signed_in(client, alice)
    with django_assert_num_queries(20):
        response = client.get(PORTFOLIO)
    assert "since your last visit" in html(response)
    with django_assert_num_queries(14):
        html(client.get(PORTFOLIO, {"page": 1}, HTTP_HX_REQUEST="true"))


# Shop page --------------------------------------------------------------------------------------


def add_scores(shop: Shop, start: dt.date, scores: list[str]) -> None:
    ShopSnapshot.objects.bulk_create(
        ShopSnapshot(
            shop=shop,
            date=start + dt.timedelta(days=n),
            sps=Decimal(score),
            orders_90d=200,
            account_status="active",
        )
        for n, score in enumerate(scores)
    )
    Shop.objects.filter(pk=shop.pk).update(metrics_as_of=start + dt.timedelta(days=len(scores) - 1))


def chart_of(page: str) -> dict:
    return json.loads(re.search(r'<script id="sps-chart" type="application/json">(.*?)</script>', page, re.S)[1])


def test_the_shop_page_shows_status_reasons_and_what_to_do(world, client, alice):
    words = text(signed_in(client, alice).get(shop_url("SHOP-A2")))
    assert "Alpha Phones UK" in words and "! Restricted" in words
    assert reason_message(c.SPS_BELOW_ELIGIBLE) in words
    assert reason_next_step(c.SPS_BELOW_ELIGIBLE) in words
    assert "The shop cannot add products to affiliate plans now." in words


def test_a_shop_not_evaluated_yet_says_so_and_what_happens_next(world, client, alice):
    make_shop(seller=world["a1"].seller, key="SHOP-NEW", name="Alpha New", market="US")
    signed_in(client, alice)
    words = text(client.get(shop_url("SHOP-NEW")))
    assert "– Not evaluated" in words
    assert reason_message("NOT_EVALUATED") in words and reason_next_step("NOT_EVALUATED") in words
    assert "No verdict yet: the shop is evaluated at the next daily evaluation." in words
    assert re.search(r"\b1 – Not evaluated", text(client.get(PORTFOLIO)))


def test_the_sps_trend_is_charted_against_the_thresholds_of_the_shops_market_rule_set(world, client, alice):
    RuleSet.objects.create(
        version=2,
        market="UK",
        effective_from=dt.date(2001, 1, 1),
        sps_eligible=Decimal("3.6"),
        sps_disqualify=Decimal("3.1"),
        sps_min_orders=50,
    )
    start = DAY - dt.timedelta(days=9)
    add_scores(world["a2"], start, [str(Decimal("3.80") - Decimal("0.02") * n) for n in range(10)])

    page = html(signed_in(client, alice).get(shop_url("SHOP-A2")))
    chart = chart_of(page)
    scores, eligible, disqualify = (dataset["data"] for dataset in chart["data"]["datasets"])
    assert scores[0] == 3.8 and scores[-1] == pytest.approx(3.62) and len(scores) == 10
    assert set(eligible) == {3.6} and set(disqualify) == {3.1}
    words = text(client.get(shop_url("SHOP-A2")))
    assert "50 orders needed for a score" in words
    # The text alternative of the chart.
    assert "3.8 at the start, 3.62 at the end" in words
    assert 'role="img" aria-label="Shop Performance Score from' in page


def test_the_forecast_names_the_day_the_score_crosses_the_threshold(world, client, alice):
    start = DAY - dt.timedelta(days=9)
    # 3.80, 3.78 ... 3.62: the trend line is below 3.5 from day 16 (as in the API's forecast).
    add_scores(world["a1"], start, [str(Decimal("3.80") - Decimal("0.02") * n) for n in range(10)])
    words = text(signed_in(client, alice).get(shop_url("SHOP-A1")))
    crossing = date_format(start + dt.timedelta(days=16), "DATE_FORMAT")
    assert f"At this trend (-0.02 a day) the score falls below 3.5 on {crossing}." in words


def test_with_fewer_than_7_days_of_scores_there_is_no_forecast(world, client, alice):
    add_scores(world["a1"], DAY - dt.timedelta(days=5), ["4.0", "3.9", "3.8", "3.7", "3.6", "3.5"])
    words = text(signed_in(client, alice).get(shop_url("SHOP-A1")))
    assert "No forecast yet: a forecast needs scores on at least 7 days of the last 90; this shop has 6." in words


def test_orders_are_shown_against_the_orders_needed_for_a_score(world, client, alice):
    Shop.objects.filter(pk=world["a1"].pk).update(orders_90d=12)
    words = text(signed_in(client, alice).get(shop_url("SHOP-A1")))
    assert "Orders in the last 90 days 12" in words
    assert "30 orders needed for a score" in words
    assert "Does not count: a score needs 30 orders in 90 days." in words


def test_the_shop_page_lists_its_plans_with_products_and_the_blast_radius(world, client, alice):
    words = text(signed_in(client, alice).get(shop_url("SHOP-A1")))
    assert "Alpha summer" in words and "Alpha Case 12.5%" in words
    assert "If the shop were disqualified today" in words
    assert re.search(r"1 running plan would end 1 product would leave them", words)


def test_a_disqualified_shop_shows_what_its_disqualification_ended(world, client, bob):
    words = text(signed_in(client, bob).get(shop_url("SHOP-B")))
    assert f"The disqualification of {date_format(DAY, 'DATE_FORMAT')} ended" in words
    assert "1 plan 1 product removed from plans" in words
    assert "If the shop were disqualified today" not in words


def test_the_verdict_history_shows_inputs_rule_set_and_an_appeal_button_on_the_current_verdict(world, client, alice):
    Shop.objects.filter(pk=world["a2"].pk).update(sps=Decimal("4.0"))
    evaluation_run_inline(as_of=DAY + dt.timedelta(days=1))
    Shop.objects.filter(pk=world["a2"].pk).update(sps=Decimal("3.3"))
    evaluation_run_inline(as_of=DAY + dt.timedelta(days=2))
    rows = list(StatusHistory.objects.filter(entity=Entity.SHOP, entity_id=world["a2"].pk).order_by("-id"))
    assert [row.new_status for row in rows] == [c.RESTRICTED, c.ELIGIBLE, c.RESTRICTED]

    page = html(signed_in(client, alice).get(shop_url("SHOP-A2")))
    history = page.split('id="history"')[1]
    assert history.index(date_format(DAY + dt.timedelta(days=2), "DATE_FORMAT")) < history.index(
        date_format(DAY, "DATE_FORMAT")
    )
    assert "<dt>Shop Performance Score</dt><dd>3.3</dd>" in history
    assert "<dt>Orders in the window</dt><dd>100</dd>" in history
    assert history.count(">v1<") == 3
    # Only the current verdict can be appealed.
    assert reverse("appeal_create", args=[rows[0].pk]) in history
    assert reverse("appeal_create", args=[rows[2].pk]) not in history


def test_an_open_appeal_replaces_the_appeal_button(world, client, alice):
    verdict = StatusHistory.objects.filter(entity=Entity.SHOP, entity_id=world["a2"].pk).latest("id")
    appeal = Appeal.objects.create(
        entity=Entity.SHOP,
        entity_id=world["a2"].pk,
        entity_key="SHOP-A2",
        seller=world["a2"].seller,
        verdict=verdict,
        reason_codes=verdict.new_reasons,
        statement="Our score was computed from a partial feed.",
        submitted_by=alice,
        due_at=timezone.now() + dt.timedelta(days=7),
    )
    page = html(signed_in(client, alice).get(shop_url("SHOP-A2")))
    assert reverse("appeal_detail", args=[appeal.pk]) in page and "Appeal under review" in page
    assert reverse("appeal_create", args=[verdict.pk]) not in page


def test_an_eligible_verdict_and_an_ops_visitor_get_no_appeal_button(world, client, alice, olga):
    assert "/appeals/new/" not in html(signed_in(client, alice).get(shop_url("SHOP-A1")))
    assert "/appeals/new/" not in html(signed_in(client, olga).get(shop_url("SHOP-A2")))


def test_an_active_override_is_shown_over_the_computed_status(world, client, alice, olga):
    override_create(
        entity=Entity.SHOP,
        entity_id=world["a2"].pk,
        status=c.ELIGIBLE,
        reason="Score feed was incomplete for October",
        user=olga,
        expires_at=timezone.now() + dt.timedelta(days=10),
    )
    words = text(signed_in(client, alice).get(shop_url("SHOP-A2")))
    assert "Status set by the operations team: Eligible" in words
    assert "Score feed was incomplete for October" in words
    assert "The daily evaluation finds: Restricted." in words


def test_the_history_pages_in_place_with_htmx_and_by_plain_links_without(world, client, alice):
    signed_in(client, alice)
    part = reverse("shop_history", args=["SHOP-A2"])
    fragment = html(client.get(part, {"history_page": 1}, HTTP_HX_REQUEST="true"))
    assert "<html" not in fragment and "first verdict" in fragment
    plain = client.get(part, {"history_page": 2})
    assert plain.status_code == 302 and plain["Location"] == f"{shop_url('SHOP-A2')}?history_page=2#history"


def grow_shop(shop: Shop, size: int) -> None:
    """``size`` verdicts (one disqualification among them), days of scores and plans with products."""
    runs = EvaluationRun.objects.bulk_create(
        EvaluationRun(as_of=DAY - dt.timedelta(days=size - n), state=EvaluationRun.State.SUCCEEDED, chunk_size=1)
        for n in range(size)
    )
    statuses = [c.ELIGIBLE, c.DISQUALIFIED] + [c.ELIGIBLE, c.RESTRICTED] * size
    now = timezone.now()
    StatusHistory.objects.bulk_create(
        StatusHistory(
            entity=Entity.SHOP,
            entity_id=shop.pk,
            entity_key=shop.key,
            old_status=statuses[n - 1] if n else None,
            new_status=statuses[n],
            new_reasons=[c.SPS_BELOW_ELIGIBLE] if statuses[n] == c.RESTRICTED else [],
            inputs={"sps": "3.2", "orders_90d": 100, "account_status": "active", "ip_violation": False},
            ruleset_version=1,
            run=run,
            as_of=run.as_of,
            created_at=now - dt.timedelta(days=size - n),
        )
        for n, run in enumerate(runs)
    )
    add_scores(
        shop, DAY - dt.timedelta(days=size - 1), [str(Decimal("3.0") + Decimal(n % 10) / 10) for n in range(size)]
    )
    category = make_category()
    for n in range(size):
        plan = make_plan(shop=shop, name=f"Plan {n}", kind=AffiliatePlan.Kind.TARGETED)
        add_to_plan(plan, make_product(shop=shop, category=category))
        PlanInvitation.objects.create(plan=plan, creator=make_creator())


@pytest.mark.parametrize("size", [3, 40])
def test_the_shop_page_runs_a_fixed_number_of_queries(world, client, alice, django_assert_num_queries, size):
    shop = world["a2"]
    grow_shop(shop, size)
    signed_in(client, alice)
    with django_assert_num_queries(29):
        response = client.get(shop_url(shop.key))
    words = text(response)
    assert "If the shop were disqualified today" in words and "The disqualification of" in words
    assert re.search(rf"Affiliate plans \({size}\)", words)


# Plan page --------------------------------------------------------------------------------------


def test_the_plan_page_shows_products_rates_eligibility_and_status(world, client, alice):
    words = text(signed_in(client, alice).get(plan_url(world["plan_a1"].pk)))
    assert "Alpha summer" in words and "Active" in words and "Open plan" in words
    assert "Alpha Case P-A1 12.5%" in words
    assert "✓ Eligible Can be added to plans" in words


def test_a_terminated_plan_says_why_and_what_left_it(world, client, bob):
    words = text(signed_in(client, bob).get(plan_url(world["plan_b"].pk)))
    assert "Terminated" in words and "This plan was terminated on" in words
    assert reason_message(c.SPS_BELOW_DISQUALIFY) in words
    assert "1 product left on" in words and "Bravo Charger" in words
    assert "The disqualification of" in words


def test_a_targeted_plan_lists_its_invited_creators(world, client, alice):
    plan = make_plan(shop=world["a1"], name="VIP creators", kind=AffiliatePlan.Kind.TARGETED)
    PlanInvitation.objects.create(plan=plan, creator=make_creator(handle="glow.daily"))
    words = text(signed_in(client, alice).get(plan_url(plan.pk)))
    assert "Invited creators (1)" in words and "@glow.daily" in words


def test_a_creator_sees_an_open_plan_with_what_it_may_promote_but_not_a_targeted_plan_it_is_not_in(
    world, client, carol
):
    signed_in(client, carol)
    words = text(client.get(plan_url(world["plan_a1"].pk)))
    assert "Can you promote it?" in words and "Alpha Case" in words and "12.5%" in words
    assert "Blast radius" not in words and reverse("shop_detail", args=["SHOP-A1"]) not in html(
        client.get(plan_url(world["plan_a1"].pk))
    )
    hidden = make_plan(shop=world["a1"], name="Private", kind=AffiliatePlan.Kind.TARGETED)
    assert client.get(plan_url(hidden.pk)).status_code == 404


@pytest.mark.parametrize("size", [3, 40])
def test_the_plan_page_runs_a_fixed_number_of_queries(world, client, alice, django_assert_num_queries, size):
    shop = world["a2"]  # restricted: the page also shows what a disqualification would end
    plan = make_plan(shop=shop, name="Big plan", kind=AffiliatePlan.Kind.TARGETED)
    category = make_category()
    for n in range(size):
        add_to_plan(plan, make_product(shop=shop, category=category), rate=str(5 + n % 20))
        PlanInvitation.objects.create(plan=plan, creator=make_creator())
        left = add_to_plan(plan, make_product(shop=shop, category=category))
        PlanProduct.objects.filter(pk=left.pk).update(
            removed_at=timezone.now() - dt.timedelta(days=n % 3), removal_reasons=[c.NRR_ABOVE_DISQUALIFY]
        )
    evaluation_run_inline(as_of=DAY + dt.timedelta(days=1))
    signed_in(client, alice)
    with django_assert_num_queries(18):
        response = client.get(plan_url(plan.pk))
    words = text(response)
    assert f"Products and commission rates ({size})" in words and f"Invited creators ({size})" in words
    assert "If the shop were disqualified today" in words


def test_a_seller_without_a_membership_sees_no_shop_and_no_plan(world, client):
    stranger = make_user(email="stranger@example.com", role=User.Role.SELLER)
    signed_in(client, stranger)
    assert client.get(plan_url(world["plan_a1"].pk)).status_code == 404
    assert client.get(shop_url("SHOP-A1")).status_code == 404
    assert "You have no shops yet" in html(client.get(PORTFOLIO))


def test_the_shop_page_in_chinese_writes_its_dates_the_chinese_way(world, client, alice):
    alice.language = "zh-hans"
    alice.save(update_fields=["language"])
    signed_in(client, alice)

    chinese = html(client.get(shop_url("SHOP-A2")))
    client.cookies[settings.LANGUAGE_COOKIE_NAME] = "en"  # the switch in the top bar
    english = html(client.get(shop_url("SHOP-A2")))

    assert '<html lang="zh-hans">' in chinese and "2026年11月20日" in chinese and "店铺体验分" in chinese
    assert "20 Nov 2026" in english and "2026年11月20日" not in english
