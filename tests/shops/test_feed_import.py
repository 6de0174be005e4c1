"""The daily metrics feed import (spec/feed-format.md): validation, atomicity, upserts, the command."""

import csv
import io
import pathlib
from datetime import date, timedelta
from decimal import Decimal

import pytest
from django.core.management import CommandError, call_command
from django.db import IntegrityError, connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from affiliate.models import Creator, CreatorSnapshot
from shops.models import Category, Product, ProductSnapshot, Seller, Shop, ShopSnapshot
from shops.services.feeds import FeedResult, FeedValidationError, feed_import, feed_import_directory
from tests.factories import make_category, make_product

pytestmark = pytest.mark.django_db

FEEDS = pathlib.Path(__file__).resolve().parent.parent / "fixtures" / "feeds"
VALID = FEEDS / "valid"
BAD = FEEDS / "bad"
DAY = date(2026, 1, 5)

CATEGORY = {"category_id": "LEAF-9", "parent_id": "HOME", "name": "Garden", "gated": "false"}
SELLER = {"seller_id": "SEL-9", "legal_name": "Nine Ltd", "business_licence_no": "BL-9"}
SHOP = {
    "shop_id": "SHOP-9",
    "seller_id": "SEL-A",
    "name": "Nine US",
    "market": "US",
    "tier": "gold",
    "account_status": "active",
    "orders_90d": "50",
    "sps": "4.0",
    "ip_violation": "false",
    "fair_trade_violation": "false",
    "review_violation": "false",
}
PRODUCT = {
    "product_id": "P-99",
    "shop_id": "SHOP-1",
    "category_id": "SERUMS",
    "title": "Peptide serum",
    "listing_status": "live",
    "reviews_30d": "10",
    "negative_reviews_30d": "1",
    "ip_violation": "false",
    "fair_trade_violation": "false",
    "review_violation": "false",
    "counterfeit_flag": "false",
    "appeal_failed": "false",
}
CREATOR = {
    "creator_id": "CR-9",
    "handle": "ninelives",
    "pps": "4.0",
    "chr": "200",
    "account_status": "active",
}
ALL_UNCHANGED = {"created": 0, "updated": 0, "unchanged": 1}


def feed_csv(*rows: dict[str, str]) -> str:
    """A CSV file whose header is the keys of the first row."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(rows[0].keys())
    writer.writerows(row.values() for row in rows)
    return buffer.getvalue()


def valid_files() -> dict[str, bytes]:
    return {path.name: path.read_bytes() for path in sorted(VALID.glob("*.csv"))}


def import_errors(files, **kwargs) -> list[str]:
    with pytest.raises(FeedValidationError) as info:
        feed_import(files=files, **kwargs)
    return [str(error) for error in info.value.errors]


def row_counts() -> dict[str, int]:
    models = (Category, Seller, Shop, ShopSnapshot, Product, ProductSnapshot, Creator, CreatorSnapshot)
    return {model.__name__: model.objects.count() for model in models}


NOTHING = dict.fromkeys(
    ("Category", "Seller", "Shop", "ShopSnapshot", "Product", "ProductSnapshot", "Creator", "CreatorSnapshot"), 0
)


@pytest.fixture
def imported() -> FeedResult:
    """The valid fixture feed, imported as of DAY."""
    return feed_import_directory(directory=VALID, as_of=DAY)


# A valid feed ---------------------------------------------------------------------------------


def test_a_valid_feed_imports_every_file_with_exact_counts(imported):
    new = {"updated": 0, "unchanged": 0}
    no_old_snapshots = {"snapshots_updated": 0, "snapshots_unchanged": 0}
    assert imported.counts == {
        "categories.csv": {"rows": 6, "created": 6} | new,
        "sellers.csv": {"rows": 2, "created": 2} | new,
        "shops.csv": {"rows": 3, "created": 3} | new | {"snapshots_created": 3} | no_old_snapshots,
        "products.csv": {"rows": 10, "created": 10} | new | {"snapshots_created": 10} | no_old_snapshots,
        "creators.csv": {"rows": 3, "created": 3} | new | {"snapshots_created": 3} | no_old_snapshots,
    }
    assert imported.as_of_dates == [DAY]
    assert row_counts() == {
        "Category": 6,
        "Seller": 2,
        "Shop": 3,
        "ShopSnapshot": 3,
        "Product": 10,
        "ProductSnapshot": 10,
        "Creator": 3,
        "CreatorSnapshot": 3,
    }


def test_categories_get_their_parents_even_when_a_child_comes_before_its_parent(imported):
    parents = dict(Category.objects.values_list("key", "parent__key"))
    assert parents == {
        "SERUMS": "SKINCARE",
        "BEAUTY": None,
        "SKINCARE": "BEAUTY",
        "MAKEUP": "BEAUTY",
        "HOME": None,
        "KITCHEN": "HOME",
    }
    serums, makeup = Category.objects.get(key="SERUMS"), Category.objects.get(key="MAKEUP")
    assert (serums.gated, serums.name_zh, serums.avg_nrr_30d) == (True, "精华", None)
    assert (makeup.gated, makeup.avg_nrr_30d) == (False, Decimal("0.025"))


def test_values_are_normalised_and_decimals_are_exact(imported):
    shop = Shop.objects.get(key="SHOP-1")
    assert (shop.seller.key, shop.market, shop.tier, shop.sps, shop.metrics_as_of) == (
        "SEL-A",
        "US",
        "gold",
        Decimal("4.25"),
        DAY,
    )
    assert Shop.objects.get(key="SHOP-2").sps is None
    assert Shop.objects.get(key="SHOP-3").account_status == "suspended_temporary"
    product = Product.objects.get(key="P-01")
    assert (product.title, product.shop.key, product.category.key) == ("Vitamin C serum, 30 ml", "SHOP-1", "SERUMS")
    assert Product.objects.get(key="P-04").listing_status == "live"
    assert Product.objects.get(key="P-07").appeal_failed is True
    newcomer = Creator.objects.get(key="CR-3")
    assert (newcomer.pps, newcomer.chr, newcomer.account_status) == (None, None, "suspended_permanent")
    assert Creator.objects.get(key="CR-1").chr == Decimal("210.5")


def test_snapshots_hold_the_metrics_of_the_day(imported):
    snapshot = ProductSnapshot.objects.get(product__key="P-08")
    assert (snapshot.date, snapshot.reviews_30d, snapshot.negative_reviews_30d, snapshot.counterfeit_flag) == (
        DAY,
        30,
        6,
        True,
    )
    assert ShopSnapshot.objects.get(shop__key="SHOP-2").fair_trade_violation is True
    assert CreatorSnapshot.objects.get(creator__key="CR-2").pps == Decimal("3.2")


def test_importing_the_same_feed_twice_changes_nothing(imported):
    seller_updated_at = dict(Seller.objects.values_list("key", "updated_at"))
    before = row_counts()

    again = feed_import_directory(directory=VALID, as_of=DAY)

    for name, counts in again.counts.items():
        assert counts["created"] == counts["updated"] == 0, name
        assert counts["unchanged"] == counts["rows"], name
        assert counts.get("snapshots_created", 0) == counts.get("snapshots_updated", 0) == 0, name
    assert row_counts() == before
    assert dict(Seller.objects.values_list("key", "updated_at")) == seller_updated_at


def test_a_changed_row_is_updated_and_the_others_are_left_alone(imported):
    seller_updated_at = dict(Seller.objects.values_list("key", "updated_at"))
    sellers = VALID.joinpath("sellers.csv").read_text().replace("Blue Harbour Co", "Blue Harbour Company")
    products = (
        VALID.joinpath("products.csv")
        .read_text()
        .replace("P-03,SHOP-1,MAKEUP,Matte lipstick,live,80,0", "P-03,SHOP-1,MAKEUP,Matte lipstick,live,81,0")
    )

    result = feed_import(files={"sellers.csv": sellers, "products.csv": products}, as_of=DAY)

    assert result.counts["sellers.csv"] == {"rows": 2, "created": 0, "updated": 1, "unchanged": 1}
    assert result.counts["products.csv"] == {
        "rows": 10,
        "created": 0,
        "updated": 1,
        "unchanged": 9,
        "snapshots_created": 0,
        "snapshots_updated": 1,
        "snapshots_unchanged": 9,
    }
    assert Product.objects.get(key="P-03").reviews_30d == 81
    assert ProductSnapshot.objects.get(product__key="P-03", date=DAY).reviews_30d == 81
    after = dict(Seller.objects.values_list("key", "updated_at"))
    assert after["SEL-A"] == seller_updated_at["SEL-A"]
    assert after["SEL-B"] > seller_updated_at["SEL-B"]


def test_the_import_never_touches_the_verdict_of_an_entity(imported):
    Product.objects.filter(key="P-02").update(status="WARNING", reasons=["NRR_ABOVE_WARNING"])
    products = VALID.joinpath("products.csv").read_text().replace("Retinol night serum", "Retinol serum")

    feed_import(files={"products.csv": products}, as_of=DAY + timedelta(days=1))

    product = Product.objects.get(key="P-02")
    assert (product.title, product.metrics_as_of) == ("Retinol serum", DAY + timedelta(days=1))
    assert (product.status, product.reasons) == ("WARNING", ["NRR_ABOVE_WARNING"])


def test_an_optional_column_left_out_keeps_the_stored_value(imported):
    sellers = feed_csv({"seller_id": "SEL-A", "legal_name": "Acme Trading Limited", "business_licence_no": "BL-100001"})

    result = feed_import(files={"sellers.csv": sellers}, as_of=DAY)

    assert result.counts["sellers.csv"]["updated"] == 1
    seller = Seller.objects.get(key="SEL-A")
    assert (seller.legal_name, seller.contact_email, seller.tax_id) == (
        "Acme Trading Limited",
        "ops@acme.example",
        "TX-99-1234",
    )


def test_a_feed_may_reference_shops_and_categories_already_in_the_database():
    shop = Shop.objects.get(pk=make_product().shop_id)
    leaf = make_category(key="LEAF-DB")
    row = PRODUCT | {"shop_id": shop.key, "category_id": leaf.key}

    result = feed_import(files={"products.csv": feed_csv(row)}, as_of=DAY)

    assert result.counts["products.csv"]["created"] == 1
    product = Product.objects.get(key="P-99")
    assert (product.shop_id, product.category_id) == (shop.pk, leaf.pk)


def test_every_accepted_kind_of_input_gives_the_same_import(tmp_path):
    content = VALID.joinpath("categories.csv").read_bytes()
    tmp_path.joinpath("categories.csv").write_bytes(content)
    sources = [content, content.decode(), tmp_path / "categories.csv", io.BytesIO(content)]

    for source in sources:
        result = feed_import(files={"categories.csv": source}, as_of=DAY)
        assert result.counts["categories.csv"]["rows"] == 6
    assert Category.objects.count() == 6


def test_a_utf8_byte_order_mark_is_accepted():
    content = "\ufeff" + feed_csv(CATEGORY | {"parent_id": ""})

    feed_import(files={"categories.csv": content.encode()}, as_of=DAY)

    assert Category.objects.get(key="LEAF-9").name == "Garden"


def test_progress_is_reported_for_validation_and_writing():
    calls = []

    feed_import_directory(directory=VALID, as_of=DAY, progress=lambda *call: calls.append(call))

    assert ("products.csv: validated", 10, 10) in calls
    assert ("products.csv: written", 10, 10) in calls
    assert len(calls) == 10  # small files: only the end of each stage


def test_the_number_of_queries_does_not_grow_with_the_number_of_rows(imported):
    def queries_for(count: int, day: date) -> int:
        rows = [PRODUCT | {"product_id": f"Q-{day.day}-{n}"} for n in range(count)]
        with CaptureQueriesContext(connection) as captured:
            feed_import(files={"products.csv": feed_csv(*rows)}, as_of=day)
        return len(captured)

    assert queries_for(5, DAY) == queries_for(200, DAY + timedelta(days=1))


# Days: as_of precedence and older feeds ----------------------------------------------------------


def test_the_as_of_cell_wins_over_the_argument_which_wins_over_today(monkeypatch):
    monkeypatch.setattr(timezone, "localdate", lambda: date(2026, 3, 1))
    rows = [CREATOR | {"creator_id": "CR-A", "as_of": "2026-01-02"}, CREATOR | {"creator_id": "CR-B", "as_of": ""}]

    with_argument = feed_import(files={"creators.csv": feed_csv(*rows)}, as_of=DAY)
    without = feed_import(files={"creators.csv": feed_csv(CREATOR | {"creator_id": "CR-C"})})

    assert with_argument.as_of_dates == [date(2026, 1, 2), DAY]
    assert without.as_of_dates == [date(2026, 3, 1)]
    dates = dict(CreatorSnapshot.objects.values_list("creator__key", "date"))
    assert dates == {"CR-A": date(2026, 1, 2), "CR-B": DAY, "CR-C": date(2026, 3, 1)}
    assert Creator.objects.get(key="CR-A").metrics_as_of == date(2026, 1, 2)


def test_an_older_day_keeps_the_newer_current_metrics_but_stores_its_snapshot(imported):
    older = DAY - timedelta(days=1)
    products = VALID.joinpath("products.csv").read_text().replace(",live,200,2,", ",live,200,150,")

    result = feed_import(files={"products.csv": products}, as_of=older)

    assert result.counts["products.csv"] | {"rows": 0} == {
        "rows": 0,
        "created": 0,
        "updated": 0,
        "unchanged": 10,
        "snapshots_created": 10,
        "snapshots_updated": 0,
        "snapshots_unchanged": 0,
    }
    product = Product.objects.get(key="P-01")
    assert (product.negative_reviews_30d, product.metrics_as_of) == (2, DAY)
    assert ProductSnapshot.objects.get(product=product, date=older).negative_reviews_30d == 150
    assert ProductSnapshot.objects.get(product=product, date=DAY).negative_reviews_30d == 2


def test_a_newer_day_replaces_the_current_metrics(imported):
    newer = DAY + timedelta(days=1)
    shops = VALID.joinpath("shops.csv").read_text().replace("active,420,4.25", "active,430,3.1")

    result = feed_import(files={"shops.csv": shops}, as_of=newer)

    assert result.counts["shops.csv"]["updated"] == 3  # metrics_as_of moves for every shop
    assert result.counts["shops.csv"]["snapshots_created"] == 3
    shop = Shop.objects.get(key="SHOP-1")
    assert (shop.orders_90d, shop.sps, shop.metrics_as_of) == (430, Decimal("3.1"), newer)


def test_one_file_may_carry_several_days_of_the_same_entity():
    rows = [
        CREATOR | {"as_of": "2026-01-03", "pps": "3.0", "handle": "old_handle"},
        CREATOR | {"as_of": "2026-01-04", "pps": "3.9", "handle": "new_handle"},
    ]

    result = feed_import(files={"creators.csv": feed_csv(*reversed(rows))})

    assert result.counts["creators.csv"] | {"rows": 2} == {
        "rows": 2,
        "created": 1,
        "updated": 0,
        "unchanged": 0,
        "snapshots_created": 2,
        "snapshots_updated": 0,
        "snapshots_unchanged": 0,
    }
    creator = Creator.objects.get(key="CR-9")
    assert (creator.handle, creator.pps, creator.metrics_as_of) == ("new_handle", Decimal("3.9"), date(2026, 1, 4))
    assert sorted(CreatorSnapshot.objects.values_list("date", "pps")) == [
        (date(2026, 1, 3), Decimal("3.0")),
        (date(2026, 1, 4), Decimal("3.9")),
    ]


# Personal data ----------------------------------------------------------------------------------


def test_personal_data_is_stored_encrypted_and_read_back_in_clear(imported):
    with connection.cursor() as cursor:
        cursor.execute("SELECT contact_email, contact_phone, tax_id FROM shops_seller WHERE key = 'SEL-A'")
        stored_seller = cursor.fetchone()
        cursor.execute("SELECT email FROM affiliate_creator WHERE key = 'CR-1'")
        (stored_email,) = cursor.fetchone()

    for plain, stored in zip(("ops@acme.example", "+1 555 0100", "TX-99-1234"), stored_seller, strict=True):
        assert stored and plain not in stored
    assert stored_email and "mei@creators.example" not in stored_email
    seller = Seller.objects.get(key="SEL-A")
    assert (seller.contact_email, seller.contact_phone, seller.tax_id) == (
        "ops@acme.example",
        "+1 555 0100",
        "TX-99-1234",
    )
    assert Creator.objects.get(key="CR-1").email == "mei@creators.example"
    assert Seller.objects.get(key="SEL-B").contact_email == ""


# Validation: every error, file:line: column: message ---------------------------------------------------

VALUE_ERRORS = [
    ("categories.csv", CATEGORY | {"gated": "maybe"}, "gated: must be true or false, got 'maybe'"),
    ("categories.csv", CATEGORY | {"name": ""}, "name: must not be blank"),
    ("categories.csv", CATEGORY | {"avg_nrr_30d": "1.2"}, "avg_nrr_30d: must be between 0 and 1, got '1.2'"),
    (
        "categories.csv",
        CATEGORY | {"avg_nrr_30d": "0.12345678901"},
        "avg_nrr_30d: must have at most 10 decimal places, got '0.12345678901'",
    ),
    ("categories.csv", CATEGORY | {"parent_id": "NOWHERE"}, "parent_id: unknown parent category 'NOWHERE'"),
    ("sellers.csv", SELLER | {"legal_name": " "}, "legal_name: must not be blank"),
    ("sellers.csv", SELLER | {"business_licence_no": ""}, "business_licence_no: must not be blank"),
    ("shops.csv", SHOP | {"shop_id": ""}, "shop_id: must not be blank"),
    ("shops.csv", SHOP | {"shop_id": "S" * 65}, "shop_id: must be at most 64 characters"),
    ("shops.csv", SHOP | {"seller_id": "SEL-NOPE"}, "seller_id: unknown seller 'SEL-NOPE'"),
    ("shops.csv", SHOP | {"market": "U1"}, "market: must be 2 or 3 letters, got 'U1'"),
    ("shops.csv", SHOP | {"market": "USAX"}, "market: must be 2 or 3 letters, got 'USAX'"),
    ("shops.csv", SHOP | {"tier": "diamond"}, "tier: must be one of bronze, silver, gold, platinum, got 'diamond'"),
    (
        "shops.csv",
        SHOP | {"account_status": "banned"},
        "account_status: must be one of active, suspended_temporary, suspended_permanent, closed, got 'banned'",
    ),
    ("shops.csv", SHOP | {"orders_90d": "-3"}, "orders_90d: must be a whole number >= 0, got '-3'"),
    ("shops.csv", SHOP | {"orders_90d": "12.0"}, "orders_90d: must be a whole number >= 0, got '12.0'"),
    ("shops.csv", SHOP | {"orders_90d": ""}, "orders_90d: must be a whole number >= 0, got ''"),
    ("shops.csv", SHOP | {"orders_90d": "2147483648"}, "orders_90d: must be at most 2147483647, got '2147483648'"),
    ("shops.csv", SHOP | {"sps": "5.01"}, "sps: must be between 0 and 5, got '5.01'"),
    ("shops.csv", SHOP | {"sps": "-0.1"}, "sps: must be between 0 and 5, got '-0.1'"),
    ("shops.csv", SHOP | {"sps": "4.12345"}, "sps: must have at most 4 decimal places, got '4.12345'"),
    ("shops.csv", SHOP | {"sps": "NaN"}, "sps: must be a decimal number, got 'NaN'"),
    ("shops.csv", SHOP | {"sps": "Infinity"}, "sps: must be a decimal number, got 'Infinity'"),
    ("shops.csv", SHOP | {"sps": "4e0"}, "sps: must be a decimal number, got '4e0'"),
    ("shops.csv", SHOP | {"ip_violation": "yes"}, "ip_violation: must be true or false, got 'yes'"),
    ("shops.csv", SHOP | {"review_violation": ""}, "review_violation: must be true or false, got ''"),
    ("shops.csv", SHOP | {"as_of": "2026/01/05"}, "as_of: must be a date as YYYY-MM-DD, got '2026/01/05'"),
    ("shops.csv", SHOP | {"as_of": "2026-02-30"}, "as_of: must be a date as YYYY-MM-DD, got '2026-02-30'"),
    ("products.csv", PRODUCT | {"title": ""}, "title: must not be blank"),
    (
        "products.csv",
        PRODUCT | {"listing_status": "sold"},
        "listing_status: must be one of live, delisted, frozen, got 'sold'",
    ),
    (
        "products.csv",
        PRODUCT | {"reviews_30d": "3", "negative_reviews_30d": "4"},
        "negative_reviews_30d: must not exceed reviews_30d (4 > 3)",
    ),
    ("products.csv", PRODUCT | {"shop_id": "SHOP-NOPE"}, "shop_id: unknown shop 'SHOP-NOPE'"),
    ("products.csv", PRODUCT | {"category_id": "CAT-NOPE"}, "category_id: unknown category 'CAT-NOPE'"),
    (
        "products.csv",
        PRODUCT | {"category_id": "SKINCARE"},
        "category_id: category 'SKINCARE' is not a leaf (it has subcategories)",
    ),
    ("creators.csv", CREATOR | {"handle": ""}, "handle: must not be blank"),
    ("creators.csv", CREATOR | {"pps": "5.5"}, "pps: must be between 0 and 5, got '5.5'"),
    ("creators.csv", CREATOR | {"chr": "-1"}, "chr: must be >= 0, got '-1'"),
    ("creators.csv", CREATOR | {"chr": "1.23456"}, "chr: must have at most 4 decimal places, got '1.23456'"),
    ("creators.csv", CREATOR | {"chr": "1000000"}, "chr: must be less than 1000000, got '1000000'"),
    (
        "creators.csv",
        CREATOR | {"account_status": "paused"},
        "account_status: must be one of active, suspended_temporary, suspended_permanent, closed, got 'paused'",
    ),
]


@pytest.mark.parametrize(("name", "row", "expected"), VALUE_ERRORS, ids=[case[2] for case in VALUE_ERRORS])
def test_a_bad_value_is_reported_with_its_file_line_and_column(imported, name, row, expected):
    before = row_counts()

    assert import_errors({name: feed_csv(row)}, as_of=DAY) == [f"{name}:2: {expected}"]
    assert row_counts() == before


def test_boundary_values_are_accepted(imported):
    rows = [
        SHOP | {"shop_id": "SHOP-LOW", "sps": "0", "orders_90d": "0", "market": "tha", "tier": "PLATINUM"},
        SHOP | {"shop_id": "SHOP-HIGH", "sps": "5.0000", "orders_90d": "2147483647", "ip_violation": "TRUE"},
        SHOP | {"shop_id": "SHOP-FINE", "sps": "4.1234"},
    ]
    creators = [CREATOR | {"pps": "5", "chr": "999999.9999"}]

    feed_import(files={"shops.csv": feed_csv(*rows), "creators.csv": feed_csv(*creators)}, as_of=DAY)

    assert dict(Shop.objects.filter(key__startswith="SHOP-").exclude(key__regex=r"-\d$").values_list("key", "sps")) == {
        "SHOP-LOW": Decimal("0"),
        "SHOP-HIGH": Decimal("5"),
        "SHOP-FINE": Decimal("4.1234"),
    }
    assert Shop.objects.get(key="SHOP-LOW").market == "THA"
    assert Shop.objects.get(key="SHOP-HIGH").ip_violation is True
    assert Creator.objects.get(key="CR-9").chr == Decimal("999999.9999")


def test_header_errors_are_reported_on_line_one():
    content = "shop_id,Seller_ID,name,market,tier,colour,Buyer_Phone,name\n"

    assert import_errors({"shops.csv": content}) == [
        "shops.csv:1: colour: unknown column",
        "shops.csv:1: Buyer_Phone: forbidden personal data column",
        "shops.csv:1: name: duplicate column",
        "shops.csv:1: account_status: missing required column",
        "shops.csv:1: orders_90d: missing required column",
        "shops.csv:1: sps: missing required column",
        "shops.csv:1: ip_violation: missing required column",
        "shops.csv:1: fair_trade_violation: missing required column",
        "shops.csv:1: review_violation: missing required column",
    ]


@pytest.mark.parametrize("column", ["buyer_phone", "buyer_address", "order_profit_margin", "BUYER_EMAIL"])
def test_a_forbidden_column_gets_its_own_error_in_any_file(column):
    content = feed_csv(CREATOR | {column: "something personal"})

    assert import_errors({"creators.csv": content}, as_of=DAY) == [
        f"creators.csv:1: {column}: forbidden personal data column"
    ]


def test_the_forbidden_columns_come_from_the_settings(settings):
    settings.FEED_FORBIDDEN_COLUMNS = ["shoe_size"]
    content = feed_csv(CREATOR | {"shoe_size": "42"})

    assert import_errors({"creators.csv": content}) == ["creators.csv:1: shoe_size: forbidden personal data column"]


def test_a_row_with_the_wrong_number_of_fields_is_reported():
    content = feed_csv(CREATOR) + "CR-10,short,4.0,200\n" + "CR-11,too,many,4.0,200,active,extra\n"

    assert import_errors({"creators.csv": content}, as_of=DAY) == [
        "creators.csv:3: -: expected 5 fields, got 4",
        "creators.csv:4: -: expected 5 fields, got 7",
    ]


def test_a_file_that_is_not_utf8_is_reported_with_its_line():
    content = feed_csv(CATEGORY | {"parent_id": ""}).encode() + "CAFE,,Café,false\n".encode("latin-1")

    assert import_errors({"categories.csv": content}) == [
        "categories.csv:3: -: not valid UTF-8 (byte 0xe9 at position 10)"
    ]


def test_a_utf16_file_is_refused_with_one_clear_error():
    content = feed_csv(CATEGORY | {"parent_id": ""}).encode("utf-16")

    assert import_errors({"categories.csv": content}) == [
        "categories.csv:1: -: encoded as UTF-16; a feed must be UTF-8"
    ]


def test_a_nul_byte_is_reported_with_its_line():
    content = feed_csv(
        CATEGORY | {"parent_id": ""}, CATEGORY | {"category_id": "NUL", "parent_id": "", "name": "A\x00B"}
    )

    assert import_errors({"categories.csv": content}) == ["categories.csv:3: -: contains a NUL byte"]


def test_lines_are_physical_lines_with_windows_line_ends_and_quoted_newlines(imported):
    rows = [
        PRODUCT | {"product_id": "P-97", "title": "Two-line\ntitle"},
        PRODUCT | {"product_id": "P-98", "listing_status": "gone"},
    ]
    content = feed_csv(*rows).replace("\n", "\r\n")

    assert import_errors({"products.csv": content}, as_of=DAY) == [
        "products.csv:4: listing_status: must be one of live, delisted, frozen, got 'gone'"
    ]


def test_an_empty_file_is_an_error():
    assert import_errors({"sellers.csv": b""}) == ["sellers.csv:1: -: empty file (no header row)"]


def test_a_file_with_only_a_header_imports_nothing():
    result = feed_import(files={"sellers.csv": "seller_id,legal_name,business_licence_no\n"})

    assert result.counts == {"sellers.csv": {"rows": 0, "created": 0, "updated": 0, "unchanged": 0}}
    assert result.as_of_dates == []


def test_an_unknown_file_and_no_file_at_all_are_errors():
    assert import_errors({"orders.csv": "order_id\n1\n", **valid_files()}) == [
        "orders.csv:0: -: unknown feed file "
        "(expected one of categories.csv, sellers.csv, shops.csv, products.csv, creators.csv)"
    ]
    assert import_errors({}) == ["-:0: -: no feed files given"]
    assert row_counts() == NOTHING


def test_a_key_twice_for_the_same_day_names_the_first_line_but_other_days_are_fine():
    rows = [
        CREATOR | {"as_of": "2026-01-05"},
        CREATOR | {"as_of": "2026-01-06"},
        CREATOR | {"as_of": ""},
    ]

    assert import_errors({"creators.csv": feed_csv(*rows)}, as_of=DAY) == [
        "creators.csv:4: creator_id: duplicate creator_id 'CR-9' for 2026-01-05 (first on line 2)"
    ]


def test_a_product_cannot_sit_on_a_category_that_this_feed_turns_into_a_parent(imported):
    categories = feed_csv(CATEGORY | {"category_id": "GADGETS", "parent_id": "HOME"})
    product = feed_csv(PRODUCT | {"category_id": "HOME"})

    assert import_errors({"categories.csv": categories, "products.csv": product}, as_of=DAY) == [
        "products.csv:2: category_id: category 'HOME' is not a leaf (it has subcategories)"
    ]


def test_a_category_with_products_cannot_become_a_parent(imported):
    categories = feed_csv(CATEGORY | {"category_id": "KNIVES", "parent_id": "KITCHEN"})

    assert import_errors({"categories.csv": categories}, as_of=DAY) == [
        "categories.csv:2: parent_id: category 'KITCHEN' already has products and cannot become a parent"
    ]


def test_a_category_whose_products_all_move_away_may_become_a_parent():
    product = make_product(key="P-MOVING", category=make_category(key="OLD-LEAF"))
    categories = feed_csv(
        CATEGORY | {"category_id": "NEW-LEAF", "parent_id": ""},
        CATEGORY | {"category_id": "CHILD", "parent_id": "OLD-LEAF"},
    )
    products = feed_csv(PRODUCT | {"product_id": "P-MOVING", "shop_id": product.shop.key, "category_id": "NEW-LEAF"})

    feed_import(files={"categories.csv": categories, "products.csv": products}, as_of=DAY)

    assert Product.objects.get(key="P-MOVING").category.key == "NEW-LEAF"
    assert Category.objects.get(key="CHILD").parent.key == "OLD-LEAF"


def test_a_cycle_in_the_category_tree_is_reported_on_each_of_its_rows():
    categories = feed_csv(
        CATEGORY | {"category_id": "A", "parent_id": "B"},
        CATEGORY | {"category_id": "B", "parent_id": "A"},
        CATEGORY | {"category_id": "C", "parent_id": "C"},
        CATEGORY | {"category_id": "D", "parent_id": "A"},
    )

    assert import_errors({"categories.csv": categories}) == [
        "categories.csv:2: parent_id: the category tree has a cycle: A -> B -> A",
        "categories.csv:3: parent_id: the category tree has a cycle: B -> A -> B",
        "categories.csv:4: parent_id: the category tree has a cycle: C -> C",
    ]


def test_a_cycle_through_categories_of_the_database_is_found(imported):
    categories = feed_csv(CATEGORY | {"category_id": "BEAUTY", "parent_id": "SKINCARE", "name": "Beauty"})

    assert import_errors({"categories.csv": categories}) == [
        "categories.csv:2: parent_id: the category tree has a cycle: BEAUTY -> SKINCARE -> BEAUTY"
    ]


def test_every_error_of_every_file_is_reported_together_in_file_and_line_order():
    files = valid_files() | {
        "creators.csv": feed_csv(CREATOR | {"pps": "9"}, CREATOR | {"creator_id": "CR-10", "chr": "x"}),
        "shops.csv": VALID.joinpath("shops.csv").read_text()
        + "SHOP-4,SEL-C,Ghost,US,gold,active,1,,false,false,false\n",
        "products.csv": VALID.joinpath("products.csv").read_text().replace("P-10,SHOP-3,KITCHEN", "P-10,SHOP-3,HOME"),
    }

    assert import_errors(files, as_of=DAY) == [
        "shops.csv:5: seller_id: unknown seller 'SEL-C'",
        "products.csv:11: category_id: category 'HOME' is not a leaf (it has subcategories)",
        "creators.csv:2: pps: must be between 0 and 5, got '9'",
        "creators.csv:3: chr: must be a decimal number, got 'x'",
    ]


def test_a_bad_last_file_means_nothing_at_all_is_written():
    files = valid_files() | {"creators.csv": feed_csv(CREATOR | {"account_status": "paused"})}

    assert len(import_errors(files, as_of=DAY)) == 1
    assert row_counts() == NOTHING


def test_a_database_error_while_writing_rolls_back_the_whole_import(monkeypatch):
    def refuse(*args, **kwargs):
        raise IntegrityError("simulated failure on the last table")

    monkeypatch.setattr(CreatorSnapshot.objects, "bulk_create", refuse)

    with pytest.raises(IntegrityError):
        feed_import_directory(directory=VALID, as_of=DAY)
    assert row_counts() == NOTHING


# The command ----------------------------------------------------------------------------------------------


def run_command(*args: str) -> tuple[str, str]:
    out, err = io.StringIO(), io.StringIO()
    call_command("import_feed", *args, stdout=out, stderr=err)
    return out.getvalue(), err.getvalue()


def test_the_command_imports_a_folder_and_prints_the_counts():
    out, err = run_command(str(VALID), "--as-of", "2026-01-05")

    assert out.splitlines() == [
        "categories.csv: 6 rows, 6 created, 0 updated, 0 unchanged",
        "sellers.csv: 2 rows, 2 created, 0 updated, 0 unchanged",
        "shops.csv: 3 rows, 3 created, 0 updated, 0 unchanged; snapshots: 3 created, 0 updated, 0 unchanged",
        "products.csv: 10 rows, 10 created, 0 updated, 0 unchanged; snapshots: 10 created, 0 updated, 0 unchanged",
        "creators.csv: 3 rows, 3 created, 0 updated, 0 unchanged; snapshots: 3 created, 0 updated, 0 unchanged",
        "Imported as of 2026-01-05.",
    ]
    assert err == ""
    assert set(ProductSnapshot.objects.values_list("date", flat=True)) == {DAY}


def test_the_command_as_of_option_dates_the_rows_whose_as_of_cell_is_blank(tmp_path):
    rows = [CREATOR | {"creator_id": "CR-A", "as_of": "2026-01-02"}, CREATOR | {"creator_id": "CR-B", "as_of": ""}]
    tmp_path.joinpath("creators.csv").write_text(feed_csv(*rows))

    out, _err = run_command(str(tmp_path), "--as-of", "2026-01-05")

    assert out.splitlines()[-1] == "Imported as of 2026-01-02, 2026-01-05."
    dates = dict(CreatorSnapshot.objects.values_list("creator__key", "date"))
    assert dates == {"CR-A": date(2026, 1, 2), "CR-B": DAY}


def test_the_command_prints_progress_lines_when_asked_for_more_detail():
    _out, err = run_command(str(VALID), "--as-of", "2026-01-05", "--verbosity", "2")

    assert "products.csv: validated 10/10" in err.splitlines()
    assert "products.csv: written 10/10" in err.splitlines()


def test_the_command_reports_every_error_and_imports_nothing():
    out, err = io.StringIO(), io.StringIO()

    with pytest.raises(CommandError, match=r"^5 errors; nothing was imported$"):
        call_command("import_feed", str(BAD), stdout=out, stderr=err)

    assert err.getvalue().splitlines() == [
        "Note: ignoring what is not a CSV file: README.txt",
        "shops.csv:2: tier: must be one of bronze, silver, gold, platinum, got 'diamond'",
        "shops.csv:2: seller_id: unknown seller 'SEL-NOPE'",
        "products.csv:1: buyer_phone: forbidden personal data column",
        "products.csv:2: negative_reviews_30d: must not exceed reviews_30d (6 > 5)",
        "products.csv:2: category_id: unknown category 'NO-SUCH-CATEGORY'",
    ]
    assert out.getvalue() == ""
    assert row_counts() == NOTHING


def test_the_command_refuses_a_missing_folder_or_a_file(tmp_path):
    with pytest.raises(CommandError, match="does not exist"):
        run_command(str(tmp_path / "nowhere"))
    with pytest.raises(CommandError, match="is not a directory"):
        run_command(str(VALID / "shops.csv"))


def test_the_command_refuses_a_bad_as_of_date():
    with pytest.raises(CommandError, match=r"--as-of: must be a date as YYYY-MM-DD, got '2026-13-01'"):
        run_command(str(VALID), "--as-of", "2026-13-01")
    assert row_counts() == NOTHING


def test_the_command_refuses_a_folder_without_csv_files(tmp_path):
    tmp_path.joinpath("notes.md").write_text("nothing here")
    err = io.StringIO()

    with pytest.raises(CommandError, match=r"^1 error; nothing was imported$"):
        call_command("import_feed", str(tmp_path), stdout=io.StringIO(), stderr=err)
    assert err.getvalue().splitlines() == [
        "Note: ignoring what is not a CSV file: notes.md",
        "-:0: -: no feed files given",
    ]
