"""The products table (/products/), its CSV export and a product's page, per persona.

alice is a member of SEL-A (SHOP-A, eligible, US), bob of SEL-B (SHOP-B, disqualified), carol a
creator, olga ops. In CAT-PHONES every product has 100 reviews and the average is
(1 + 6 + 2) / 300 = 3 %: P-WARN at 6 % is exactly 2x (a warning, spec P1), one more review
without a negative one takes it under 2x. P-BAD at 12 % is 4x (disqualified).
"""

import csv
import datetime as dt
import io
import re
from decimal import Decimal
from html import unescape

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse
from django.utils import timezone
from django.utils.formats import date_format

from affiliate.models import PlanProduct
from shops.dashboards import products as dash
from shops.models import EvaluationRun, Product, StatusHistory
from shops.reasons import reason_message
from shops.rules import codes as c
from shops.services.appeals import appeal_checklist_for, appeal_submit
from shops.services.evaluation import evaluation_run_inline
from tests.conftest import signed_in
from tests.factories import add_to_plan, make_category, make_plan, make_product, make_shop

pytestmark = pytest.mark.django_db

DAY = dt.date(2026, 11, 20)
LIST = reverse("product_list")
EXPORT = reverse("product_export")


def detail_url(key: str) -> str:
    return reverse("product_detail", args=[key])


def html(response) -> str:
    assert response.status_code == 200, response.status_code
    return response.content.decode()


def text(response) -> str:
    """The page's words without tags or repeated spaces, to find sentences that wrap in the HTML."""
    return re.sub(r"\s+", " ", unescape(re.sub(r"<[^>]+>", " ", html(response))).replace("\xa0", " "))


def keys_shown(response) -> list[str]:
    return re.findall(r'href="/products/([^/"]+)/"', html(response))


def csv_rows(response) -> list[dict]:
    assert response.status_code == 200, response.status_code
    body = b"".join(response.streaming_content).decode("utf-8-sig")
    return list(csv.DictReader(io.StringIO(body)))


@pytest.fixture
def world(seller_a, seller_b, alice, bob, carol, olga):
    phones = make_category(key="CAT-PHONES", name="Phones", name_zh="手机")
    books = make_category(key="CAT-BOOKS", name="Books")
    shop_a = make_shop(seller=seller_a, key="SHOP-A", name="Alpha Phones", sps=Decimal("4.2"))
    shop_b = make_shop(seller=seller_b, key="SHOP-B", name="Bravo Goods", sps=Decimal("2.5"))
    products = {
        "ok": make_product(shop=shop_a, category=phones, key="P-OK", title="Alpha Case", negative_reviews_30d=1),
        "warn": make_product(shop=shop_a, category=phones, key="P-WARN", title="Alpha Cable", negative_reviews_30d=6),
        "b": make_product(shop=shop_b, category=phones, key="P-B", title="Bravo Charger", negative_reviews_30d=2),
        "book": make_product(shop=shop_a, category=books, key="P-BOOK", title="Zebra Atlas", negative_reviews_30d=0),
    }
    evaluation_run_inline(as_of=DAY)
    for product in products.values():
        product.refresh_from_db()
    assert products["warn"].status == c.WARNING
    return {"shop_a": shop_a, "shop_b": shop_b, "phones": phones, "books": books, **products}


@pytest.fixture
def as_alice(client, alice):
    return signed_in(client, alice)


# Who may see what ----------------------------------------------------------------------------------


@pytest.mark.parametrize("url", [LIST, EXPORT, "/products/P-OK/"])
def test_an_anonymous_visitor_is_sent_to_sign_in(client, world, url):
    response = client.get(url)
    assert response.status_code == 302
    assert response["Location"].startswith(reverse("login"))


def test_alice_sees_only_her_sellers_products(world, as_alice):
    assert sorted(keys_shown(as_alice.get(LIST))) == ["P-BOOK", "P-OK", "P-WARN"]


def test_another_sellers_product_is_a_404_not_a_403(world, client, bob):
    signed_in(client, bob)
    assert client.get(detail_url("P-WARN")).status_code == 404
    assert client.get(detail_url("NO-SUCH-PRODUCT")).status_code == 404
    assert client.get(detail_url("P-B")).status_code == 200


@pytest.mark.parametrize("url", [LIST, EXPORT, "/products/P-OK/"])
def test_a_creator_gets_404_on_every_product_page(world, client, carol, url):
    signed_in(client, carol)
    assert client.get(url).status_code == 404


def test_ops_see_every_sellers_products_in_id_order(world, client, olga):
    # The whole platform: the default order is the key index's, not a sort of every row.
    signed_in(client, olga)
    assert keys_shown(client.get(LIST)) == ["P-B", "P-BOOK", "P-OK", "P-WARN"]


# What the table shows ---------------------------------------------------------------------------------


def test_each_row_shows_the_rate_beside_the_category_average_and_the_multiple(world, as_alice):
    page = text(as_alice.get(LIST + "?status=WARNING"))
    assert "6.00 %" in page
    assert "6 of 100 reviews negative" in page
    assert "the category average of 3.00 %" in page
    assert "2.0×" in page
    assert "Warning" in page and "NRR_ABOVE_WARNING" in page


def test_a_warning_product_says_how_many_clean_reviews_bring_it_under_2x(world, as_alice):
    page = text(as_alice.get(LIST + "?status=WARNING"))
    # 6/100 is exactly 2 x 3 %; 6/101 is under it (P1: the warning starts at 2x inclusive).
    assert "1 more review without a negative one brings it under 2× the category average." in page


def test_an_eligible_product_has_no_fix_sentence(world, as_alice):
    page = text(as_alice.get(LIST + "?status=ELIGIBLE"))
    assert "more review" not in page


def test_the_fix_count_follows_the_rule_sets_warning_multiple(world, as_alice):
    # Books: (0 + 9 + 3) / 400 = 3 %, and 2.5 x 3 % = 7.5 %. P-WARN2 at 9/100 is exactly 3x (still a
    # warning) and needs 21 more reviews: 9/121 < 7.5 % <= 9/120.
    from shops.models import RuleSet

    RuleSet.objects.update(nrr_warning_multiple=Decimal("2.5"))
    make_product(shop=world["shop_a"], category=world["books"], key="P-WARN2", reviews_30d=100, negative_reviews_30d=9)
    make_product(shop=world["shop_a"], category=world["books"], key="P-BOOK2", reviews_30d=200, negative_reviews_30d=3)
    evaluation_run_inline(as_of=DAY + dt.timedelta(days=1))
    page = text(as_alice.get(LIST + "?status=WARNING&category=CAT-BOOKS"))
    assert keys_shown(as_alice.get(LIST + "?status=WARNING&category=CAT-BOOKS")) == ["P-WARN2"]
    assert "21 more reviews without a negative one bring it under 2.5× the category average." in page


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("status=WARNING", ["P-WARN"]),
        ("status=eligible", ["P-BOOK", "P-OK"]),
        ("reason=NRR_ABOVE_WARNING", ["P-WARN"]),
        ("category=CAT-BOOKS", ["P-BOOK"]),
        ("shop=SHOP-A&category=CAT-PHONES", ["P-OK", "P-WARN"]),
        ("q=cable", ["P-WARN"]),
        ("q=p-book", ["P-BOOK"]),
        ("q=Bravo", []),
    ],
)
def test_the_filters_are_the_apis_and_never_reveal_another_seller(world, as_alice, query, expected):
    assert sorted(keys_shown(as_alice.get(f"{LIST}?{query}"))) == expected


def test_a_bad_filter_value_is_explained_next_to_the_field(world, as_alice):
    response = as_alice.get(LIST + "?status=SHINY")
    page = text(response)
    assert "Unknown status SHINY" in page
    assert 'id="e-status"' in html(response)
    assert keys_shown(response) == []


@pytest.mark.parametrize(
    ("sort", "expected"),
    [
        ("key", ["P-BOOK", "P-OK", "P-WARN"]),
        ("-key", ["P-WARN", "P-OK", "P-BOOK"]),
        ("title", ["P-WARN", "P-OK", "P-BOOK"]),
        ("-nrr", ["P-WARN", "P-OK", "P-BOOK"]),
        ("nrr", ["P-BOOK", "P-OK", "P-WARN"]),
        ("-status", ["P-WARN", "P-BOOK", "P-OK"]),
        ("'; drop table shops_product; --", ["P-WARN", "P-BOOK", "P-OK"]),  # not whitelisted: the default
    ],
)
def test_the_table_sorts_by_whitelisted_columns_only(world, as_alice, sort, expected):
    assert keys_shown(as_alice.get(LIST, {"sort": sort})) == expected


@pytest.fixture
def many(world, monkeypatch):
    """Eleven more products of SHOP-A with ties on reviews and rates; pages of 4 rows."""
    for n in range(11):
        make_product(
            shop=world["shop_a"],
            category=world["books"],
            key=f"P-MANY-{n:02d}",
            title=f"Many {n % 3}",
            reviews_30d=50 + n % 2,
            negative_reviews_30d=n % 3,
        )
    evaluation_run_inline(as_of=DAY + dt.timedelta(days=1))
    monkeypatch.setattr(dash, "PAGE_SIZE", 4)


@pytest.mark.parametrize("sort", ["-status", "key", "-key", "title", "-nrr", "nrr", "reviews", "-reviews", "shop"])
def test_keyset_pages_walk_every_row_once_and_back(many, as_alice, alice, sort):
    everything = dash.products_page(user=alice, params={"sort": sort}, page_size=100)
    expected = [product.key for product in everything.rows]
    assert len(expected) == 14
    seen, pages, url = [], [], f"{LIST}?sort={sort}"
    while url:
        response = as_alice.get(url)
        pages.append(keys_shown(response))
        seen += pages[-1]
        match = re.search(r'rel="next" href="([^"]+)"', html(response))
        url = match.group(1).replace("&amp;", "&") if match else None
    assert seen == expected
    # Back from the last page with "Previous" gives the pages again, in order.
    back = [pages[-1]]
    for _ in range(len(pages) - 1):
        previous = re.search(r'rel="prev" href="([^"]+)"', html(response)).group(1).replace("&amp;", "&")
        response = as_alice.get(previous)
        back.insert(0, keys_shown(response))
    assert back == pages
    assert 'rel="prev"' not in html(response)


def test_a_tampered_cursor_shows_the_first_page(many, as_alice):
    first = keys_shown(as_alice.get(LIST + "?sort=key"))
    assert keys_shown(as_alice.get(LIST + "?sort=key&after=not-a-cursor")) == first
    assert keys_shown(as_alice.get(LIST + "?sort=key&after=" + dash.cursor_encode({"x": 1}, 3))) == first


def test_htmx_gets_the_table_alone_with_the_sort_field_swapped_out_of_band(world, as_alice):
    response = as_alice.get(LIST + "?sort=-nrr&status=WARNING", HTTP_HX_REQUEST="true")
    body = html(response)
    assert "<!doctype" not in body and 'id="product-filters"' not in body
    assert keys_shown(response) == ["P-WARN"]
    assert 'hx-swap-oob="true"' in body and 'value="-nrr" selected' in body
    assert "HX-Request" in response["Vary"]


def test_without_javascript_every_control_is_a_plain_link_or_form(world, as_alice):
    body = html(as_alice.get(LIST + "?status=WARNING"))
    assert '<form id="product-filters"' in body and 'method="get"' in body
    assert 'href="/products/?status=WARNING&amp;sort=-nrr"' in body
    assert 'href="/products/export.csv?status=WARNING"' in body


def _add_products(shop, category, count: int) -> None:
    for n in range(count):
        make_product(shop=shop, category=category, key=f"P-X{n:03d}", negative_reviews_30d=n % 4)


# The list, the export and the product page cost the same queries whatever the data size.
# The list: session, user, count, the page's ids, its rows, overrides, shop overrides, history,
# rule sets, the run, its averages, its rule sets, and for the full page the shop and category
# choices and the unread count.
@pytest.mark.parametrize("size", [2, 25])
def test_the_list_costs_a_fixed_number_of_queries(world, as_alice, django_assert_num_queries, size):
    _add_products(world["shop_a"], world["books"], size)
    evaluation_run_inline(as_of=DAY + dt.timedelta(days=1))
    with django_assert_num_queries(15):
        assert as_alice.get(LIST).status_code == 200
    with django_assert_num_queries(12):
        assert as_alice.get(LIST, HTTP_HX_REQUEST="true").status_code == 200


# One shop's products (?shop=<key>, linked from the shop pages) --------------------------------------------


@pytest.fixture
def two_shops(world, seller_a):
    """alice's second shop, so that choosing one shop leaves the other's product out."""
    shop = make_shop(seller=seller_a, key="SHOP-A2", name="Alpha Two", sps=Decimal("4.2"))
    make_product(shop=shop, category=world["books"], key="P-A2", title="Alpha Two Atlas", negative_reviews_30d=0)
    evaluation_run_inline(as_of=DAY + dt.timedelta(days=1))
    return shop


def test_a_shop_key_shows_only_that_shops_products_and_names_the_shop(two_shops, as_alice):
    assert sorted(keys_shown(as_alice.get(LIST))) == ["P-A2", "P-BOOK", "P-OK", "P-WARN"]
    response = as_alice.get(LIST, {"shop": "SHOP-A2"})
    assert keys_shown(response) == ["P-A2"]
    body = html(response)
    assert '<option value="SHOP-A2" selected>' in body  # the filter bar shows the shop chosen
    assert "Products of Alpha Two" in text(response)
    chosen = re.search(r'class="small shops-chosen">(.*?)</p>', body, re.S).group(1)
    assert 'href="/shops/SHOP-A2/"' in chosen and 'href="/products/"' in chosen  # "All shops" drops the shop
    filtered = html(as_alice.get(LIST, {"shop": "SHOP-A2", "status": "ELIGIBLE"}))
    assert 'href="/products/?status=ELIGIBLE"' in filtered  # ... and keeps the other filters


def test_ops_choose_any_sellers_shop(world, client, olga):
    signed_in(client, olga)
    assert keys_shown(client.get(LIST, {"shop": "SHOP-B"})) == ["P-B"]


@pytest.mark.parametrize("key", ["SHOP-B", "NO-SUCH-SHOP", "x" * 200])
def test_another_sellers_shop_or_an_unknown_one_is_a_404_on_the_list_and_the_export(world, as_alice, key):
    assert as_alice.get(LIST, {"shop": key}).status_code == 404
    assert as_alice.get(LIST, {"shop": key}, HTTP_HX_REQUEST="true").status_code == 404
    assert as_alice.get(EXPORT, {"shop": key}).status_code == 404
    assert as_alice.get(LIST, {"shop": ["SHOP-A", key]}).status_code == 404  # one hidden shop among several


def test_a_blank_shop_is_no_filter(world, as_alice):
    assert sorted(keys_shown(as_alice.get(LIST, {"shop": ""}))) == ["P-BOOK", "P-OK", "P-WARN"]


def test_sorting_the_pages_and_the_export_keep_the_shop(many, two_shops, as_alice):
    body = html(as_alice.get(LIST, {"shop": "SHOP-A", "sort": "key"}))
    assert 'href="/products/?shop=SHOP-A&amp;sort=-key"' in body  # the header of the sorted column
    assert 'href="/products/export.csv?shop=SHOP-A&amp;sort=key"' in body
    seen, url = [], f"{LIST}?shop=SHOP-A&sort=key"
    while url:
        response = as_alice.get(url)
        seen += keys_shown(response)
        match = re.search(r'rel="next" href="([^"]+)"', html(response))
        url = match.group(1).replace("&amp;", "&") if match else None
        assert url is None or "shop=SHOP-A" in url
    assert "P-A2" not in seen and len(seen) == 14
    exported = [row["product_id"] for row in csv_rows(as_alice.get(EXPORT, {"shop": "SHOP-A2"}))]
    assert exported == ["P-A2"]


def test_the_shop_page_and_the_portfolio_link_to_the_shops_products(two_shops, as_alice):
    link = "/products/?shop=SHOP-A2"
    assert f'href="{link}"' in html(as_alice.get(reverse("shop_detail", args=["SHOP-A2"])))
    assert f'href="{link}"' in html(as_alice.get(reverse("portfolio")))
    assert keys_shown(as_alice.get(link)) == ["P-A2"]


# The shop filter adds one query (the shops chosen) to the counts above, whatever the data size.
@pytest.mark.parametrize("size", [2, 25])
def test_one_shops_list_and_export_cost_a_fixed_number_of_queries(world, as_alice, django_assert_num_queries, size):
    _add_products(world["shop_a"], world["books"], size)
    evaluation_run_inline(as_of=DAY + dt.timedelta(days=1))
    with django_assert_num_queries(16):
        assert len(keys_shown(as_alice.get(LIST, {"shop": "SHOP-A"}))) == size + 3
    with django_assert_num_queries(13):
        assert as_alice.get(LIST, {"shop": "SHOP-A"}, HTTP_HX_REQUEST="true").status_code == 200
    with django_assert_num_queries(8):
        assert len(csv_rows(as_alice.get(EXPORT, {"shop": "SHOP-A"}))) == size + 3


# Export -------------------------------------------------------------------------------------------------


def test_the_export_has_every_visible_product_with_its_figures(world, as_alice):
    rows = csv_rows(as_alice.get(EXPORT + "?sort=key"))
    assert [row["product_id"] for row in rows] == ["P-BOOK", "P-OK", "P-WARN"]
    warn = rows[-1]
    assert (warn["status"], warn["reasons"], warn["effective_status"]) == ("WARNING", "NRR_ABOVE_WARNING", "WARNING")
    assert (warn["nrr"], warn["category_average_nrr"], warn["nrr_multiple"]) == ("0.06", "0.03", "2")
    assert warn["reviews_to_clear_warning"] == "1"
    assert warn["shop_id"] == "SHOP-A" and warn["category_id"] == "CAT-PHONES"


def test_the_export_follows_the_filter_and_is_not_limited_to_a_page(many, as_alice):
    warnings = Product.objects.filter(shop__seller__key="SEL-A", status=c.WARNING).count()
    rows = csv_rows(as_alice.get(EXPORT + "?status=WARNING"))
    assert len(rows) == warnings > 1 and {row["status"] for row in rows} == {c.WARNING}
    assert [row["product_id"] for row in csv_rows(as_alice.get(EXPORT + "?status=WARNING&q=cable"))] == ["P-WARN"]
    assert len(csv_rows(as_alice.get(EXPORT))) == 14  # pages hold 4 rows


@pytest.mark.parametrize("chunk", [4, 7, 100])
def test_the_export_reads_in_chunks_and_writes_each_row_once(many, as_alice, monkeypatch, chunk):
    monkeypatch.setattr(dash, "EXPORT_CHUNK", chunk)
    keys = [row["product_id"] for row in csv_rows(as_alice.get(EXPORT))]
    assert keys == sorted(Product.objects.filter(shop__seller__key="SEL-A").values_list("key", flat=True))
    assert len(keys) == 14


def test_the_export_never_contains_another_sellers_product(world, client, bob):
    signed_in(client, bob)
    assert [row["product_id"] for row in csv_rows(client.get(EXPORT))] == ["P-B"]
    assert client.get(EXPORT + "?shop=SHOP-A").status_code == 404


def test_the_export_is_an_attachment_and_defuses_spreadsheet_formulas(world, as_alice):
    Product.objects.filter(key="P-OK").update(title='=HYPERLINK("http://evil")')
    response = as_alice.get(EXPORT)
    assert response["Content-Type"].startswith("text/csv")
    assert response["Content-Disposition"].startswith('attachment; filename="products-')
    title = next(row["title"] for row in csv_rows(response) if row["product_id"] == "P-OK")
    assert title == '\'=HYPERLINK("http://evil")'


def test_a_bad_export_filter_is_a_400(world, as_alice):
    response = as_alice.get(EXPORT + "?status=SHINY")
    assert response.status_code == 400
    assert "Unknown status SHINY" in response.content.decode()


@pytest.mark.parametrize("size", [2, 25])
def test_the_export_costs_a_fixed_number_of_queries(world, as_alice, django_assert_num_queries, size):
    _add_products(world["shop_a"], world["books"], size)
    evaluation_run_inline(as_of=DAY + dt.timedelta(days=1))
    with django_assert_num_queries(7):
        assert len(csv_rows(as_alice.get(EXPORT))) == size + 3


# The product page ------------------------------------------------------------------------------------------


def test_the_product_page_explains_the_verdict_and_what_to_do(world, as_alice):
    page = text(as_alice.get(detail_url("P-WARN")))
    assert "Warning" in page and "Cannot be added to affiliate plans now." in page
    assert reason_message(c.NRR_ABOVE_WARNING, {"nrr_warning_multiple": "2"}) in page
    assert "What to do:" in page
    assert "6 negative of 100 reviews" in page and "3.00 %" in page and "2.0×" in page
    assert "1 more review without a negative one brings it under 2× the category average." in page


def test_the_product_page_shows_its_shop_plans_and_recent_history(world, as_alice):
    plan = make_plan(shop=world["shop_a"], name="Summer collaboration")
    add_to_plan(plan, world["ok"])
    page = text(as_alice.get(detail_url("P-OK")))
    assert "Alpha Phones" in page and "Eligible" in page
    assert "Summer collaboration" in page and "10 % commission" in page
    row = StatusHistory.objects.get(entity="product", entity_id=world["ok"].pk)
    assert f"v{row.ruleset_version}" in page
    assert "1 of 100 reviews negative" in page


def test_a_products_shop_status_comes_first(world, client, bob):
    signed_in(client, bob)
    page = text(client.get(detail_url("P-B")))
    assert "SHOP_DISQUALIFIED" in page and "Disqualified" in page


def test_the_appeal_button_links_the_current_verdict(world, as_alice):
    verdict = StatusHistory.objects.get(entity="product", entity_id=world["warn"].pk)
    assert reverse("appeal_create", args=[verdict.pk]) in html(as_alice.get(detail_url("P-WARN")))


def test_the_product_page_says_until_when_the_verdict_can_be_appealed(world, as_alice):
    verdict = StatusHistory.objects.get(entity="product", entity_id=world["warn"].pk)
    until = date_format(timezone.localtime(verdict.created_at + dt.timedelta(days=30)), "SHORT_DATETIME_FORMAT")
    assert f"You can appeal until {until}" in text(as_alice.get(detail_url("P-WARN")))


def test_a_product_not_yet_evaluated_says_so(world, as_alice):
    make_product(shop=world["shop_a"], category=world["books"], key="P-NEW", reviews_30d=0, negative_reviews_30d=0)
    page = text(as_alice.get(detail_url("P-NEW")))
    assert "Not evaluated" in page
    assert "No reviews in the last 30 days: the negative review rule passes." in page
    assert "/appeals/new/" not in page


def test_an_eligible_product_has_no_appeal_button(world, as_alice):
    assert "/appeals/new/" not in html(as_alice.get(detail_url("P-OK")))


def test_a_product_with_an_open_appeal_says_why_it_cannot_be_appealed_again(world, as_alice, alice, settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path
    evidence = [
        (item.key, SimpleUploadedFile(f"{item.key}.pdf", b"%PDF-1.7 proof"))
        for item in appeal_checklist_for([c.NRR_ABOVE_WARNING])
    ]
    appeal_submit(
        user=alice,
        entity="product",
        entity_id=world["warn"].pk,
        statement="A faulty batch caused these reviews; it was recalled.",
        evidence=evidence,
    )
    response = as_alice.get(detail_url("P-WARN"))
    assert "/appeals/new/" not in html(response)
    assert "This verdict already has an open appeal." in text(response)


def test_ops_see_the_page_without_an_appeal_button(world, client, olga):
    signed_in(client, olga)
    body = html(client.get(detail_url("P-WARN")))
    assert "/appeals/new/" not in body


def _history(product: Product, rows: int) -> None:
    """Extra verdict rows of older runs, as if the product had changed status ``rows`` times."""
    for n in range(rows):
        run = EvaluationRun.objects.create(
            as_of=DAY - dt.timedelta(days=n + 1), chunk_size=1, state=EvaluationRun.State.SUCCEEDED
        )
        StatusHistory.objects.create(
            entity="product",
            entity_id=product.pk,
            entity_key=product.key,
            old_status=None,
            new_status=c.ELIGIBLE,
            inputs={"reviews_30d": 100, "negative_reviews_30d": 1},
            ruleset_version=1,
            run=run,
            as_of=run.as_of,
            created_at=run.started_at - dt.timedelta(days=n + 1),
        )


@pytest.mark.parametrize("size", [2, 25])
def test_the_product_page_costs_a_fixed_number_of_queries(world, as_alice, django_assert_num_queries, size):
    _history(world["warn"], size)
    for _n in range(size):
        add_to_plan(make_plan(shop=world["shop_a"]), world["warn"])
    assert PlanProduct.objects.filter(product=world["warn"]).count() == size
    with django_assert_num_queries(15):
        assert as_alice.get(detail_url("P-WARN")).status_code == 200
