"""The eligibility API: verdicts of shops, products and creators, per persona, with filters and history.

Seller A (alice) has SHOP-A.1 (eligible, US), SHOP-A-2 (restricted, UK) and their products;
seller B (bob) has SHOP-B (disqualified, US); carol is the creator CR-CAROL; olga is ops.
"""

import datetime as dt
import re
from decimal import Decimal

import pytest
from django.utils import timezone, translation
from rest_framework.test import APIClient

from affiliate.models import Creator, CreatorSnapshot
from shops.models import Product, Shop, ShopSnapshot, StatusHistory
from shops.reasons import reason_message, reason_next_step
from shops.services.appeals import override_create, override_revoke
from shops.services.evaluation import evaluation_run_inline
from tests.api.conftest import USER_AGENT, token_client
from tests.factories import make_category, make_creator, make_product, make_shop

pytestmark = pytest.mark.django_db

DAY = dt.date(2026, 11, 20)
CJK = re.compile(r"[\u4e00-\u9fff]")


@pytest.fixture
def world(seller_a, seller_b, carol):
    # Category average (1 + 6 + 2) / 300 = 0.03: P-A-2 at 0.06 is exactly 2x, a warning.
    phones = make_category(key="CAT-PHONES", name="Phones", name_zh="手机")
    shop_a = make_shop(seller=seller_a, key="SHOP-A.1", sps=Decimal("4.2"), market="US")
    shop_a2 = make_shop(seller=seller_a, key="SHOP-A-2", sps=Decimal("3.2"), market="UK")
    shop_b = make_shop(seller=seller_b, key="SHOP-B", sps=Decimal("2.5"), market="US")
    make_product(shop=shop_a, category=phones, key="P-A.1", negative_reviews_30d=1)
    make_product(shop=shop_a, category=phones, key="P-A-2", negative_reviews_30d=6)
    make_product(shop=shop_b, category=phones, key="P-B", negative_reviews_30d=2)
    make_product(shop=shop_a2, category=make_category(key="CAT-BOOKS"), key="P-A2-1", negative_reviews_30d=0)
    make_creator(key="CR-OTHER", pps=None)
    run = evaluation_run_inline(as_of=DAY)
    return {"shop_a": shop_a, "shop_a2": shop_a2, "shop_b": shop_b, "run": run}


def ids(response) -> list[str]:
    assert response.status_code == 200, response.content
    return [item["id"] for item in response.json()["results"]]


def error(response, status_code: int) -> dict:
    assert response.status_code == status_code, response.content
    return response.json()["error"]


# Visibility per persona -----------------------------------------------------------------------


def test_alice_sees_the_shops_and_products_of_her_seller_and_no_creator(world, alice_api):
    assert ids(alice_api.get("/api/v1/shops/")) == ["SHOP-A.1", "SHOP-A-2"]
    assert ids(alice_api.get("/api/v1/products/")) == ["P-A.1", "P-A-2", "P-A2-1"]
    assert ids(alice_api.get("/api/v1/creators/")) == []
    assert alice_api.get("/api/v1/shops/SHOP-A.1/").status_code == 200
    assert alice_api.get("/api/v1/products/P-A-2/history/").status_code == 200


@pytest.mark.parametrize(
    "path",
    [
        "/api/v1/shops/SHOP-B/",
        "/api/v1/shops/SHOP-B/history/",
        "/api/v1/products/P-B/",
        "/api/v1/products/P-B/history/",
        "/api/v1/creators/CR-CAROL/",
        "/api/v1/creators/CR-CAROL/history/",
        "/api/v1/shops/NO-SUCH-SHOP/",
    ],
)
def test_alice_gets_404_not_403_for_what_she_may_not_see(world, alice_api, path):
    assert error(alice_api.get(path), 404)["code"] == "not_found"


def test_bob_sees_only_seller_b(world, bob_api):
    assert ids(bob_api.get("/api/v1/shops/")) == ["SHOP-B"]
    assert ids(bob_api.get("/api/v1/products/")) == ["P-B"]
    assert bob_api.get("/api/v1/shops/SHOP-A.1/").status_code == 404
    assert bob_api.get("/api/v1/products/P-A.1/").status_code == 404
    assert bob_api.get("/api/v1/products/P-B/").json()["reasons"][0]["code"] == "SHOP_DISQUALIFIED"


def test_carol_sees_only_her_own_creator_record(world, carol_api):
    assert ids(carol_api.get("/api/v1/creators/")) == ["CR-CAROL"]
    assert ids(carol_api.get("/api/v1/shops/")) == []
    assert ids(carol_api.get("/api/v1/products/")) == []
    assert carol_api.get("/api/v1/creators/CR-OTHER/").status_code == 404
    assert carol_api.get("/api/v1/products/P-A.1/").status_code == 404
    mine = carol_api.get("/api/v1/creators/CR-CAROL/").json()
    assert (mine["status"], mine["pps"], mine["chr"], mine["effective_status"]) == (
        "QUALIFIED",
        "4",
        "200",
        "QUALIFIED",
    )


def test_ops_see_everything(world, ops_api):
    assert ids(ops_api.get("/api/v1/shops/")) == ["SHOP-A.1", "SHOP-A-2", "SHOP-B"]
    assert ids(ops_api.get("/api/v1/products/")) == ["P-A.1", "P-A-2", "P-B", "P-A2-1"]
    assert ids(ops_api.get("/api/v1/creators/")) == ["CR-CAROL", "CR-OTHER"]
    assert ops_api.get("/api/v1/creators/CR-OTHER/history/").status_code == 200


def test_an_anonymous_request_is_refused_with_401(world):
    client = APIClient(HTTP_USER_AGENT=USER_AGENT)
    assert error(client.get("/api/v1/shops/"), 401)["code"] == "not_authenticated"
    assert client.get("/api/v1/shops/SHOP-A.1/").status_code == 401


def test_a_browser_session_reads_the_api_with_csrf_checks_on(world, alice):
    client = APIClient(HTTP_USER_AGENT=USER_AGENT, enforce_csrf_checks=True)
    client.force_login(alice)
    assert ids(client.get("/api/v1/shops/")) == ["SHOP-A.1", "SHOP-A-2"]
    assert client.get("/api/v1/shops/SHOP-B/").status_code == 404


@pytest.mark.parametrize("path", ["/api/v1/shops/", "/api/v1/products/P-A.1/", "/api/v1/creators/CR-CAROL/history/"])
def test_a_token_without_eligibility_read_gets_403_naming_the_scope(world, olga, path):
    client = token_client(olga, scopes=["feeds:write", "plans:write"])
    body = error(client.get(path), 403)
    assert body["code"] == "missing_scope"
    assert "eligibility:read" in body["message"]


def test_every_eligibility_read_counts_against_the_eligibility_rate_limit(world, alice_api, monkeypatch):
    # The Redis counter itself is tested over real servers (test_live_servers); here the scope.
    from shops.api.throttling import RedisWindowThrottle

    scopes = []

    def allow_request(throttle, request, view):
        scopes.append(view.throttle_scope)
        throttle.wait_seconds = 30
        return len(scopes) <= 3

    monkeypatch.setattr(RedisWindowThrottle, "allow_request", allow_request)
    paths = ["/api/v1/shops/", "/api/v1/products/P-A.1/", "/api/v1/shops/SHOP-A.1/history/"]
    assert [alice_api.get(path).status_code for path in paths] == [200, 200, 200]
    limited = alice_api.get("/api/v1/creators/")
    assert error(limited, 429)["code"] == "throttled"
    assert limited["Retry-After"] == "30"
    assert scopes == ["eligibility"] * 4


# Payloads ---------------------------------------------------------------------------------------


def test_a_shop_detail_shows_the_verdict_its_inputs_and_the_rule_set(world, alice_api):
    response = alice_api.get("/api/v1/shops/SHOP-A-2/")

    body = response.json()
    assert body["id"] == "SHOP-A-2" and body["name"] and body["seller"] == "SEL-A"
    assert (body["market"], body["tier"], body["sps"], body["orders_90d"]) == ("UK", "silver", "3.2", 100)
    assert body["status"] == body["effective_status"] == "RESTRICTED"
    assert body["status_label"] == "Restricted"
    assert body["reasons"] == [
        {
            "code": "SPS_BELOW_ELIGIBLE",
            "message": reason_message("SPS_BELOW_ELIGIBLE"),
            "next_step": reason_next_step("SPS_BELOW_ELIGIBLE"),
        }
    ]
    assert "3.5" in body["reasons"][0]["message"]
    assert body["can_add_to_affiliate"] is False
    assert body["override"] is None
    assert body["inputs"]["sps"] == "3.2" and body["inputs"]["has_sps"] is True
    assert body["inputs"]["orders_90d"] == 100
    assert body["ruleset_version"] == 1
    assert body["as_of"] == DAY.isoformat()
    assert body["evaluated_at"] is not None
    assert body["forecast"] is None  # no snapshots
    assert "Accept-Language" in response["Vary"]


def test_a_product_detail_shows_the_category_baseline_with_its_sample(world, alice_api):
    body = alice_api.get("/api/v1/products/P-A-2/").json()

    assert (body["status"], [r["code"] for r in body["reasons"]]) == ("WARNING", ["NRR_ABOVE_WARNING"])
    assert body["baseline"] == {
        "source": "computed",
        "value": "0.03",
        "benchmark": None,
        "products": 3,
        "reviews": 300,
        "negative_reviews": 9,
    }
    assert body["inputs"]["nrr"] == "0.06" and body["inputs"]["shop_status"] == "ELIGIBLE"
    assert not {"shop__status", "shop_id", "category_id"} & set(body["inputs"])
    assert (body["shop"], body["shop_status"], body["market"]) == ("SHOP-A.1", "ELIGIBLE", "US")
    assert body["category"] == {"id": "CAT-PHONES", "name": "Phones", "gated": False}
    assert (body["reviews_30d"], body["negative_reviews_30d"]) == (100, 6)
    assert body["can_add_to_affiliate"] is False
    assert body["forecast"] is None


def test_the_product_list_carries_the_same_verdict_fields_as_the_detail(world, ops_api):
    listed = {item["id"]: item for item in ops_api.get("/api/v1/products/").json()["results"]}
    detail = ops_api.get("/api/v1/products/P-A.1/").json()

    assert {key: value for key, value in detail.items() if key != "forecast"} == listed["P-A.1"]
    assert listed["P-A.1"]["can_add_to_affiliate"] is True
    assert listed["P-B"]["can_add_to_affiliate"] is False
    assert listed["P-A2-1"]["status"] == "ELIGIBLE" and listed["P-A2-1"]["can_add_to_affiliate"] is False


def test_an_entity_not_evaluated_yet_has_no_verdict(world, ops_api):
    make_shop(key="SHOP-NEW")

    body = ops_api.get("/api/v1/shops/SHOP-NEW/").json()

    assert body["status"] is body["effective_status"] is body["inputs"] is body["ruleset_version"] is None
    assert (body["reasons"], body["can_add_to_affiliate"], body["as_of"]) == ([], False, None)


def test_messages_and_labels_follow_the_accept_language_header(world, alice_api):
    english = alice_api.get("/api/v1/shops/SHOP-A-2/").json()
    chinese_response = alice_api.get("/api/v1/shops/SHOP-A-2/", HTTP_ACCEPT_LANGUAGE="zh-hans")
    chinese = chinese_response.json()

    with translation.override("zh-hans"):
        expected = reason_message("SPS_BELOW_ELIGIBLE")
    assert chinese["reasons"][0]["message"] == expected
    assert CJK.search(chinese["reasons"][0]["message"]) and CJK.search(chinese["reasons"][0]["next_step"])
    assert CJK.search(chinese["status_label"])
    assert chinese["reasons"][0]["code"] == english["reasons"][0]["code"] == "SPS_BELOW_ELIGIBLE"
    assert not CJK.search(english["reasons"][0]["message"])
    assert chinese_response["Content-Language"] == "zh-hans"
    products = alice_api.get("/api/v1/products/", HTTP_ACCEPT_LANGUAGE="zh-hans").json()["results"]
    assert products[0]["category"]["name"] == "手机"
    history = alice_api.get("/api/v1/shops/SHOP-A-2/history/", HTTP_ACCEPT_LANGUAGE="zh-hans").json()
    assert history["results"][0]["reasons"][0]["message"] == expected


# Overrides -------------------------------------------------------------------------------------------


def test_an_active_override_shows_over_the_verdict_and_decides_can_add(world, olga, alice_api):
    expires = timezone.now() + dt.timedelta(days=10)
    override_create(
        entity="shop",
        entity_id=world["shop_a2"].pk,
        status="ELIGIBLE",
        reason="Appeal upheld",
        user=olga,
        expires_at=expires,
    )

    shop = alice_api.get("/api/v1/shops/SHOP-A-2/").json()
    assert (shop["status"], shop["effective_status"], shop["can_add_to_affiliate"]) == ("RESTRICTED", "ELIGIBLE", True)
    assert shop["override"]["status"] == "ELIGIBLE" and shop["override"]["reason"] == "Appeal upheld"
    assert shop["override"]["expires_at"].startswith(expires.date().isoformat())
    assert [r["code"] for r in shop["reasons"]] == ["SPS_BELOW_ELIGIBLE"]  # the computed verdict stays
    # P0 with the shop's effective status: its eligible product may now join a plan.
    product = alice_api.get("/api/v1/products/P-A2-1/").json()
    assert (product["shop_status"], product["can_add_to_affiliate"]) == ("ELIGIBLE", True)


def test_a_product_override_lifts_a_warning_and_a_revoked_or_expired_one_does_not_count(world, olga, alice_api):
    product = Product.objects.get(key="P-A-2")
    override = override_create(
        entity="product", entity_id=product.pk, status="ELIGIBLE", reason="Reviews were spam", user=olga
    )
    listed = {item["id"]: item for item in alice_api.get("/api/v1/products/").json()["results"]}
    assert (listed["P-A-2"]["effective_status"], listed["P-A-2"]["can_add_to_affiliate"]) == ("ELIGIBLE", True)

    override_revoke(override=override, user=olga, reason="Reviews were genuine after all")
    past = timezone.now() - dt.timedelta(days=2)
    override_create(
        entity="product",
        entity_id=product.pk,
        status="ELIGIBLE",
        reason="Expired",
        user=olga,
        now=past,
        expires_at=past + dt.timedelta(hours=1),
    )
    body = alice_api.get("/api/v1/products/P-A-2/").json()
    assert (body["override"], body["effective_status"], body["can_add_to_affiliate"]) == (None, "WARNING", False)


# Filters ----------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("path", "expected"),
    [
        ("/api/v1/shops/?status=RESTRICTED", ["SHOP-A-2"]),
        ("/api/v1/shops/?status=restricted,DISQUALIFIED", ["SHOP-A-2", "SHOP-B"]),
        ("/api/v1/shops/?status=ELIGIBLE&status=DISQUALIFIED", ["SHOP-A.1", "SHOP-B"]),
        ("/api/v1/shops/?status=", ["SHOP-A.1", "SHOP-A-2", "SHOP-B"]),
        ("/api/v1/shops/?reason=SPS_BELOW_DISQUALIFY", ["SHOP-B"]),
        ("/api/v1/shops/?reason=IP_VIOLATION", []),
        ("/api/v1/shops/?market=uk", ["SHOP-A-2"]),
        ("/api/v1/shops/?market=US,UK&status=ELIGIBLE", ["SHOP-A.1"]),
        ("/api/v1/products/?status=WARNING", ["P-A-2"]),
        ("/api/v1/products/?reason=SHOP_DISQUALIFIED", ["P-B"]),
        ("/api/v1/products/?reason=NRR_ABOVE_WARNING,SHOP_DISQUALIFIED", ["P-A-2", "P-B"]),
        ("/api/v1/products/?market=UK", ["P-A2-1"]),
        ("/api/v1/products/?category=CAT-PHONES", ["P-A.1", "P-A-2", "P-B"]),
        ("/api/v1/products/?category=CAT-NONE", []),
        ("/api/v1/products/?shop=SHOP-A.1", ["P-A.1", "P-A-2"]),
        ("/api/v1/products/?shop=SHOP-A.1&shop=SHOP-B", ["P-A.1", "P-A-2", "P-B"]),
        ("/api/v1/products/?shop=SHOP-B&status=ELIGIBLE", []),
        ("/api/v1/creators/?status=NOT_QUALIFIED", ["CR-OTHER"]),
        ("/api/v1/creators/?reason=PPS_MISSING", ["CR-OTHER"]),
    ],
)
def test_each_filter_narrows_the_list(world, ops_api, path, expected):
    assert ids(ops_api.get(path)) == expected


def test_filters_never_widen_what_a_user_may_see(world, alice_api):
    assert ids(alice_api.get("/api/v1/products/?shop=SHOP-B")) == []
    assert ids(alice_api.get("/api/v1/shops/?status=DISQUALIFIED")) == []


def test_changed_since_takes_a_date_or_a_date_time(world, ops_api):
    Shop.objects.filter(key="SHOP-A.1").update(status_changed_at=dt.datetime(2026, 1, 10, 12, tzinfo=dt.UTC))
    Shop.objects.filter(key="SHOP-B").update(status_changed_at=dt.datetime(2026, 3, 1, tzinfo=dt.UTC))

    assert ids(ops_api.get("/api/v1/shops/?changed_since=2026-01-01")) == ["SHOP-A.1", "SHOP-A-2", "SHOP-B"]
    assert ids(ops_api.get("/api/v1/shops/?changed_since=2026-01-11")) == ["SHOP-A-2", "SHOP-B"]
    assert ids(ops_api.get("/api/v1/shops/?changed_since=2026-01-10T12:00:00Z")) == ["SHOP-A.1", "SHOP-A-2", "SHOP-B"]
    assert ids(ops_api.get("/api/v1/shops/?changed_since=2026-01-10T12:00:01%2B00:00")) == ["SHOP-A-2", "SHOP-B"]
    assert ids(ops_api.get("/api/v1/shops/?changed_since=2026-03-01T00:00:00")) == ["SHOP-A-2", "SHOP-B"]
    assert ids(ops_api.get("/api/v1/shops/?changed_since=2999-01-01")) == []


@pytest.mark.parametrize(
    ("path", "parameter"),
    [
        ("/api/v1/shops/?status=BOGUS", "status"),
        ("/api/v1/shops/?status=WARNING", "status"),  # a product status
        ("/api/v1/shops/?reason=NRR_ABOVE_WARNING", "reason"),  # a product code
        ("/api/v1/creators/?reason=SHOP_DISQUALIFIED", "reason"),
        ("/api/v1/shops/?market=U", "market"),
        ("/api/v1/shops/?market=US1", "market"),
        ("/api/v1/products/?market=UNITED", "market"),
        ("/api/v1/products/?category=" + "C" * 65, "category"),
        ("/api/v1/products/?shop=" + "S" * 65, "shop"),
        ("/api/v1/shops/?changed_since=yesterday", "changed_since"),
        ("/api/v1/shops/?changed_since=2026-13-01", "changed_since"),
        ("/api/v1/shops/?changed_since=2026-01-10T12:00:00+00:00", "changed_since"),  # unencoded +
        ("/api/v1/creators/?changed_since=2026-01-01&changed_since=2026-02-01", "changed_since"),
    ],
)
def test_a_bad_filter_value_is_a_400_naming_the_parameter(world, ops_api, path, parameter):
    body = error(ops_api.get(path), 400)
    assert body["code"] == "invalid"
    assert list(body["details"]) == [parameter]
    assert body["message"].startswith(f"{parameter}: ")


def test_every_bad_filter_is_reported_at_once(world, ops_api):
    body = error(ops_api.get("/api/v1/products/?status=NOPE&market=1&changed_since=soon"), 400)
    assert set(body["details"]) == {"status", "market", "changed_since"}
    assert "NOPE" in body["details"]["status"][0]


def test_the_filter_functions_work_on_any_queryset_for_the_web_pages(world):
    from django.core.exceptions import ValidationError

    from shops.api.eligibility_filters import products_filtered, shops_filtered

    assert list(shops_filtered(Shop.objects.order_by("key"), {"market": "us"}).values_list("key", flat=True)) == [
        "SHOP-A.1",
        "SHOP-B",
    ]
    assert products_filtered(Product.objects.all(), {"status": ["WARNING"], "shop": "SHOP-A.1"}).count() == 1
    with pytest.raises(ValidationError) as raised:
        shops_filtered(Shop.objects.all(), {"reason": "NOPE"})
    assert list(raised.value.message_dict) == ["reason"]


# Cursor pages ---------------------------------------------------------------------------------------


def test_cursor_pages_walk_the_list_once_in_id_order(world, ops_api):
    first = ops_api.get("/api/v1/products/?page_size=3").json()
    assert [item["id"] for item in first["results"]] == ["P-A.1", "P-A-2", "P-B"]
    assert first["previous"] is None and first["next"]

    second = ops_api.get(first["next"]).json()
    assert [item["id"] for item in second["results"]] == ["P-A2-1"]
    assert second["next"] is None and second["previous"]
    assert [item["id"] for item in ops_api.get(second["previous"]).json()["results"]] == ["P-A.1", "P-A-2", "P-B"]


def test_cursor_pages_keep_the_filters(world, ops_api):
    first = ops_api.get("/api/v1/products/?category=CAT-PHONES&page_size=2").json()
    second = ops_api.get(first["next"]).json()
    assert [item["id"] for item in first["results"] + second["results"]] == ["P-A.1", "P-A-2", "P-B"]
    assert second["next"] is None


# ETag ------------------------------------------------------------------------------------------------


def test_a_detail_answers_304_while_its_etag_still_matches(world, olga, alice_api):
    first = alice_api.get("/api/v1/shops/SHOP-A-2/")
    etag = first["ETag"]
    assert etag.startswith('"') and etag.endswith('"')
    assert "Accept-Language" in first["Vary"]

    again = alice_api.get("/api/v1/shops/SHOP-A-2/", HTTP_IF_NONE_MATCH=etag)
    assert again.status_code == 304 and again.content == b""
    assert again["ETag"] == etag
    assert alice_api.get("/api/v1/shops/SHOP-A-2/", HTTP_IF_NONE_MATCH=f'"other", W/{etag}').status_code == 304
    assert alice_api.get("/api/v1/shops/SHOP-A-2/", HTTP_IF_NONE_MATCH='"other"').status_code == 200

    # Another language is another representation.
    chinese = alice_api.get("/api/v1/shops/SHOP-A-2/", HTTP_ACCEPT_LANGUAGE="zh-hans", HTTP_IF_NONE_MATCH=etag)
    assert chinese.status_code == 200 and chinese["ETag"] != etag

    # An override changes the payload, so the old ETag no longer matches.
    override_create(entity="shop", entity_id=world["shop_a2"].pk, status="ELIGIBLE", reason="Appeal upheld", user=olga)
    changed = alice_api.get("/api/v1/shops/SHOP-A-2/", HTTP_IF_NONE_MATCH=etag)
    assert changed.status_code == 200 and changed["ETag"] != etag


def test_a_new_verdict_changes_the_etag(world, ops_api):
    etag = ops_api.get("/api/v1/creators/CR-OTHER/")["ETag"]
    Creator.objects.filter(key="CR-OTHER").update(pps=Decimal("3.9"))
    evaluation_run_inline(as_of=DAY + dt.timedelta(days=1))

    response = ops_api.get("/api/v1/creators/CR-OTHER/", HTTP_IF_NONE_MATCH=etag)
    assert response.status_code == 200 and response.json()["status"] == "QUALIFIED"


# History ---------------------------------------------------------------------------------------------


def test_history_lists_every_verdict_change_newest_first(world, alice_api):
    Shop.objects.filter(key="SHOP-A.1").update(sps=Decimal("3.3"))
    second_run = evaluation_run_inline(as_of=DAY + dt.timedelta(days=1))
    Shop.objects.filter(key="SHOP-A.1").update(sps=Decimal("2.9"))
    third_run = evaluation_run_inline(as_of=DAY + dt.timedelta(days=2))

    rows = alice_api.get("/api/v1/shops/SHOP-A.1/history/").json()["results"]

    assert [(row["old_status"], row["new_status"]) for row in rows] == [
        ("RESTRICTED", "DISQUALIFIED"),
        ("ELIGIBLE", "RESTRICTED"),
        (None, "ELIGIBLE"),
    ]
    assert [row["run"] for row in rows] == [third_run.pk, second_run.pk, world["run"].pk]
    assert [row["as_of"] for row in rows] == [(DAY + dt.timedelta(days=n)).isoformat() for n in (2, 1, 0)]
    newest = rows[0]
    assert newest["old_reasons"] == ["SPS_BELOW_ELIGIBLE"]
    assert newest["reasons"] == [
        {
            "code": "SPS_BELOW_DISQUALIFY",
            "message": reason_message("SPS_BELOW_DISQUALIFY"),
            "next_step": reason_next_step("SPS_BELOW_DISQUALIFY"),
        }
    ]
    assert newest["inputs"]["sps"] == "2.9" and newest["baseline"] is None
    assert newest["ruleset_version"] == 1 and newest["created_at"]
    assert newest["id"] == StatusHistory.objects.filter(entity="shop", entity_id=world["shop_a"].pk).first().pk
    # The current verdict is the newest history row.
    detail = alice_api.get("/api/v1/shops/SHOP-A.1/").json()
    assert (detail["status"], detail["inputs"], detail["as_of"]) == ("DISQUALIFIED", newest["inputs"], newest["as_of"])


def test_history_is_cursor_paginated_and_stable_while_rows_are_appended(world, ops_api):
    for day, sps in enumerate(["3.3", "2.9", "4.0"], start=1):
        Shop.objects.filter(key="SHOP-A.1").update(sps=Decimal(sps))
        evaluation_run_inline(as_of=DAY + dt.timedelta(days=day))

    first = ops_api.get("/api/v1/shops/SHOP-A.1/history/?page_size=2").json()
    assert [row["new_status"] for row in first["results"]] == ["ELIGIBLE", "DISQUALIFIED"]
    # A row appended meanwhile does not shift the pages already handed out.
    Shop.objects.filter(key="SHOP-A.1").update(sps=Decimal("3.1"))
    evaluation_run_inline(as_of=DAY + dt.timedelta(days=9))
    second = ops_api.get(first["next"]).json()
    assert [row["new_status"] for row in second["results"]] == ["RESTRICTED", "ELIGIBLE"]
    assert second["next"] is None


def test_product_history_rows_carry_the_baseline(world, ops_api):
    rows = ops_api.get("/api/v1/products/P-A-2/history/").json()["results"]
    assert len(rows) == 1
    assert rows[0]["baseline"]["products"] == 3 and rows[0]["baseline"]["value"] == "0.03"
    assert rows[0]["inputs"]["shop_status"] == "ELIGIBLE"


# Forecast ----------------------------------------------------------------------------------------------


def add_shop_scores(shop, start: dt.date, scores: list[str]) -> None:
    ShopSnapshot.objects.bulk_create(
        ShopSnapshot(shop=shop, date=start + dt.timedelta(days=n), sps=Decimal(score), account_status="active")
        for n, score in enumerate(scores)
    )
    Shop.objects.filter(pk=shop.pk).update(metrics_as_of=start + dt.timedelta(days=len(scores) - 1))


def test_a_shop_whose_sps_falls_002_a_day_crosses_35_on_the_computed_day(world, alice_api):
    start = DAY - dt.timedelta(days=9)
    # 3.80, 3.78 ... 3.62: the line is exactly 3.50 on day 15 (still eligible) and below on day 16.
    add_shop_scores(world["shop_a"], start, [str(Decimal("3.80") - Decimal("0.02") * n) for n in range(10)])

    forecast = alice_api.get("/api/v1/shops/SHOP-A.1/").json()["forecast"]

    assert forecast == {
        "metric": "sps",
        "points": 10,
        "first_date": start.isoformat(),
        "last_date": DAY.isoformat(),
        "slope_per_day": "-0.0200",
        "trend_score": "3.62",
        "direction": "down",
        "threshold": "3.5",
        "crosses_on": (start + dt.timedelta(days=16)).isoformat(),
    }


def test_a_restricted_shop_falling_further_is_forecast_to_cross_30(world, alice_api):
    add_shop_scores(
        world["shop_a2"], DAY - dt.timedelta(days=6), ["3.3", "3.28", "3.26", "3.24", "3.22", "3.2", "3.18"]
    )
    forecast = alice_api.get("/api/v1/shops/SHOP-A-2/").json()["forecast"]
    # 3.30 - 0.02 x < 3.0 from x = 16.
    assert (forecast["threshold"], forecast["crosses_on"]) == ("3", (DAY + dt.timedelta(days=10)).isoformat())


def test_no_forecast_with_fewer_than_7_days_or_a_flat_score(world, alice_api):
    add_shop_scores(world["shop_a"], DAY - dt.timedelta(days=5), ["4.0", "3.9", "3.8", "3.7", "3.6", "3.5"])
    add_shop_scores(world["shop_a2"], DAY - dt.timedelta(days=9), ["3.2"] * 10)
    assert alice_api.get("/api/v1/shops/SHOP-A.1/").json()["forecast"] is None
    assert alice_api.get("/api/v1/shops/SHOP-A-2/").json()["forecast"] is None


def test_a_creator_forecast_follows_the_pps_up_to_its_minimum(world, carol, carol_api):
    start = DAY - dt.timedelta(days=7)
    CreatorSnapshot.objects.bulk_create(
        CreatorSnapshot(
            creator=carol.creator, date=start + dt.timedelta(days=n), pps=Decimal("3.0") + Decimal("0.05") * n
        )
        for n in range(8)
    )
    Creator.objects.filter(pk=carol.creator_id).update(metrics_as_of=DAY)

    forecast = carol_api.get("/api/v1/creators/CR-CAROL/").json()["forecast"]

    # 3.00 + 0.05 x >= 3.5 from x = 10.
    assert (forecast["metric"], forecast["direction"], forecast["threshold"]) == ("pps", "up", "3.5")
    assert forecast["crosses_on"] == (start + dt.timedelta(days=10)).isoformat()


def days(scores: list[str], start: dt.date = DAY) -> list[tuple[dt.date, Decimal]]:
    return [(start + dt.timedelta(days=n), Decimal(score)) for n, score in enumerate(scores)]


SHOP_LINES = {"metric": "sps", "falling": (Decimal("3.5"), Decimal("3.0")), "rising": Decimal("3.5")}


@pytest.mark.parametrize(
    ("scores", "expected"),
    [
        # (direction, threshold, days from the first point to the crossing)
        (["3.56", "3.55", "3.54", "3.53", "3.52", "3.51", "3.50"], ("down", Decimal("3.5"), 7)),  # 3.50 is not below
        (["3.57", "3.56", "3.55", "3.54", "3.53", "3.52", "3.51"], ("down", Decimal("3.5"), 8)),
        (["3.2", "3.1", "3.2", "3.1", "3.2", "3.1", "3.0"], ("down", Decimal("3.0"), 10)),  # exactly 3.0 on day 9
        (["2.9", "2.8", "2.7", "2.6", "2.5", "2.4", "2.3"], ("down", None, None)),  # below every threshold
        (["3.44", "3.45", "3.46", "3.47", "3.48", "3.49", "3.49"], ("up", Decimal("3.5"), 7)),  # reaching 3.5 counts
        (["4.0", "4.1", "4.2", "4.3", "4.4", "4.5", "4.6"], ("up", None, None)),  # already above
        (["3.6001", "3.6", "3.6001", "3.6", "3.6001", "3.6", "3.6"], ("down", Decimal("3.5"), None)),  # > a year
    ],
)
def test_the_score_forecast_crosses_on_the_documented_side_of_each_threshold(scores, expected):
    from shops.forecast import score_forecast

    forecast = score_forecast(days(scores), **SHOP_LINES)

    direction, threshold, offset = expected
    assert (forecast.direction, forecast.threshold) == (direction, threshold)
    assert forecast.crosses_on == (DAY + dt.timedelta(days=offset) if offset is not None else None)
    assert forecast.points == 7


def test_the_score_forecast_needs_7_days_and_a_slope():
    from shops.forecast import score_forecast

    assert score_forecast(days(["4.0", "3.9", "3.8", "3.7", "3.6", "3.5"]), **SHOP_LINES) is None
    assert score_forecast(days(["3.4"] * 30), **SHOP_LINES) is None
    assert score_forecast(days(["4.000", "4.001", "4.000", "4.001", "4.000", "4.001", "4.000"]), **SHOP_LINES) is None
    # Missing days are fine: the line is fitted on the days there are.
    sparse = [(DAY + dt.timedelta(days=2 * n), Decimal("3.80") - Decimal("0.04") * n) for n in range(7)]
    assert score_forecast(sparse, **SHOP_LINES).crosses_on == DAY + dt.timedelta(days=16)


# Query counts ---------------------------------------------------------------------------------------------


@pytest.fixture
def many(world, olga):
    """60 more shops, products and creators, some with overrides, all evaluated."""
    for n in range(60):
        make_creator(key=f"CR-M{n:02d}", pps=Decimal("3.0") if n % 2 else Decimal("4.0"))
        shop = make_shop(key=f"SHOP-M{n:02d}", sps=Decimal("3.2") if n % 2 else Decimal("4.0"))
        product = make_product(shop=shop, key=f"P-M{n:02d}")
        if n % 10 == 0:
            override_create(entity="shop", entity_id=shop.pk, status="ELIGIBLE", reason="Ops decision", user=olga)
            override_create(entity="product", entity_id=product.pk, status="ELIGIBLE", reason="Ops decision", user=olga)
    evaluation_run_inline(as_of=DAY + dt.timedelta(days=1))


# Token (1), page (1), overrides (1, and the shops' for products), history rows (1), rule sets (1).
@pytest.mark.parametrize(
    ("path", "queries"), [("/api/v1/shops/", 5), ("/api/v1/products/", 6), ("/api/v1/creators/", 5)]
)
def test_a_list_page_costs_the_same_queries_whatever_its_size(many, ops_api, django_assert_num_queries, path, queries):
    ops_api.get(path)  # the token's first use records last_used_at
    for size in (2, 50):
        with django_assert_num_queries(queries):
            response = ops_api.get(f"{path}?page_size={size}")
        assert len(response.json()["results"]) == size


# Detail: the list's queries plus the rule set in force and the snapshots for the forecast.
@pytest.mark.parametrize(
    ("path", "queries"),
    [("/api/v1/shops/SHOP-M10/", 7), ("/api/v1/products/P-M10/", 6), ("/api/v1/creators/CR-CAROL/", 7)],
)
def test_a_detail_costs_a_fixed_number_of_queries(many, ops_api, django_assert_num_queries, path, queries):
    ops_api.get(path)
    with django_assert_num_queries(queries):
        assert ops_api.get(path).status_code == 200


def test_history_pages_cost_a_fixed_number_of_queries(many, ops_api, django_assert_num_queries):
    for day in range(2, 8):
        Shop.objects.filter(key="SHOP-M01").update(sps=Decimal("4.0") if day % 2 else Decimal("3.2"))
        evaluation_run_inline(as_of=DAY + dt.timedelta(days=day))
    ops_api.get("/api/v1/shops/SHOP-M01/history/")
    for size in (1, 50):
        # Token, the shop, the rows, their rule sets.
        with django_assert_num_queries(4):
            response = ops_api.get(f"/api/v1/shops/SHOP-M01/history/?page_size={size}")
        assert len(response.json()["results"]) == min(size, 6)
