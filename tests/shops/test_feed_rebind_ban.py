"""The feed import and account integrity (seed 001): the 90-day ban on new shops, licence flags."""

import csv
import datetime as dt
import io
import logging

import pytest

from shops.models import LicenceFlag, Notification, Shop, ShopSnapshot, User
from shops.services import feeds
from shops.services.feeds import FeedValidationError, feed_import
from shops.services.integrity import shop_force_unbind
from tests.factories import make_seller, make_shop, make_user

pytestmark = pytest.mark.django_db

UNBOUND_AT = dt.datetime(2026, 1, 5, 10, 30, tzinfo=dt.UTC)
DAY_0 = dt.date(2026, 1, 5)
BANNED = "business licence BL-77 cannot bind a new shop until 2026-04-05 (unbound on 2026-01-05)"


def shop_row(shop_id: str, seller_id: str, as_of: dt.date, **changes: str) -> dict[str, str]:
    row = {
        "shop_id": shop_id,
        "seller_id": seller_id,
        "name": f"Shop {shop_id}",
        "market": "US",
        "tier": "gold",
        "account_status": "active",
        "orders_90d": "50",
        "sps": "4.0",
        "ip_violation": "false",
        "fair_trade_violation": "false",
        "review_violation": "false",
        "as_of": as_of.isoformat(),
    }
    return row | changes


def feed_csv(*rows: dict[str, str]) -> str:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(rows[0].keys())
    writer.writerows(row.values() for row in rows)
    return buffer.getvalue()


def import_errors(files) -> list[str]:
    with pytest.raises(FeedValidationError) as info:
        feed_import(files=files)
    return [str(error) for error in info.value.errors]


@pytest.fixture
def banned():
    """Licence BL-77, shared by sellers SEL-77 and SEL-78, had shop UNBOUND-1 force-unbound on day 0."""
    seller = make_seller(key="SEL-77", business_licence_no="BL-77")
    make_seller(key="SEL-78", business_licence_no="BL-77")
    make_seller(key="SEL-CLEAN", business_licence_no="BL-CLEAN")
    shop = make_shop(key="UNBOUND-1", seller=seller)
    shop_force_unbind(shop=shop, user=make_user(role=User.Role.OPS), reason="Licence abuse", now=UNBOUND_AT)
    return shop


@pytest.mark.parametrize("seller_id", ["SEL-77", "SEL-78"])
def test_a_new_shop_of_a_banned_licence_is_refused_on_day_89(banned, seller_id):
    day_89 = DAY_0 + dt.timedelta(days=89)

    errors = import_errors({"shops.csv": feed_csv(shop_row("NEW-1", seller_id, day_89))})

    assert errors == [f"shops.csv:2: seller_id: {BANNED}"]
    assert not Shop.objects.filter(key="NEW-1").exists()


def test_a_new_shop_of_a_banned_licence_is_accepted_on_day_90(banned):
    day_90 = DAY_0 + dt.timedelta(days=90)

    result = feed_import(files={"shops.csv": feed_csv(shop_row("NEW-1", "SEL-77", day_90))})

    assert result.counts["shops.csv"]["created"] == 1
    assert Shop.objects.get(key="NEW-1").unbound_at is None


def test_each_row_of_a_new_shop_is_checked_on_its_own_day(banned):
    rows = [
        shop_row("NEW-1", "SEL-77", DAY_0 - dt.timedelta(days=1)),  # before the unbinding: no ban yet
        shop_row("NEW-1", "SEL-77", DAY_0),
        shop_row("NEW-1", "SEL-77", DAY_0 + dt.timedelta(days=90)),
    ]

    assert import_errors({"shops.csv": feed_csv(*rows)}) == [f"shops.csv:3: seller_id: {BANNED}"]


def test_existing_shops_of_a_banned_licence_keep_importing(banned):
    other = make_shop(key="OLD-1", seller=banned.seller)
    day_10 = DAY_0 + dt.timedelta(days=10)
    rows = [shop_row(banned.key, "SEL-77", day_10), shop_row(other.key, "SEL-77", day_10)]

    result = feed_import(files={"shops.csv": feed_csv(*rows)})

    assert result.counts["shops.csv"]["updated"] == 2
    assert ShopSnapshot.objects.filter(date=day_10).count() == 2
    banned.refresh_from_db()
    assert banned.unbound_at == UNBOUND_AT  # the feed never binds a shop again


def test_a_new_seller_of_the_feed_carrying_a_banned_licence_is_refused(banned):
    day_10 = DAY_0 + dt.timedelta(days=10)
    sellers = "seller_id,legal_name,business_licence_no\nSEL-NEW,New Front Ltd,BL-77\n"

    errors = import_errors({"sellers.csv": sellers, "shops.csv": feed_csv(shop_row("NEW-1", "SEL-NEW", day_10))})

    assert errors == [f"shops.csv:2: seller_id: {BANNED}"]


def test_the_licence_the_feed_gives_a_seller_is_the_one_checked(banned):
    day_10 = DAY_0 + dt.timedelta(days=10)
    moved = "seller_id,legal_name,business_licence_no\nSEL-77,Seller 77 Ltd,BL-NEW-77\n"
    joined = "seller_id,legal_name,business_licence_no\nSEL-CLEAN,Clean Ltd,BL-77\n"

    feed_import(files={"sellers.csv": moved, "shops.csv": feed_csv(shop_row("NEW-1", "SEL-77", day_10))})
    errors = import_errors({"sellers.csv": joined, "shops.csv": feed_csv(shop_row("NEW-2", "SEL-CLEAN", day_10))})

    assert errors == [f"shops.csv:2: seller_id: {BANNED}"]


def test_other_licences_are_not_banned(banned):
    result = feed_import(files={"shops.csv": feed_csv(shop_row("NEW-1", "SEL-CLEAN", DAY_0))})

    assert result.counts["shops.csv"]["created"] == 1


# Licence flags after an import ----------------------------------------------------------------------------------


def test_a_committed_import_flags_the_licence_of_a_fourth_active_shop(django_capture_on_commit_callbacks):
    ops = make_user(role=User.Role.OPS)
    seller = make_seller(key="SEL-1", business_licence_no="BL-1")
    for n in range(3):
        make_shop(key=f"S{n}", seller=seller)

    with django_capture_on_commit_callbacks(execute=True):
        feed_import(files={"shops.csv": feed_csv(shop_row("S3", "SEL-1", DAY_0))})

    flag = LicenceFlag.objects.get()
    assert (flag.business_licence_no, flag.active_shops, flag.shop_keys) == ("BL-1", 4, ["S0", "S1", "S2", "S3"])
    assert Notification.objects.filter(user=ops, context__event="licence.flagged").count() == 1


def test_a_refused_import_flags_nothing(django_capture_on_commit_callbacks):
    seller = make_seller(key="SEL-1", business_licence_no="BL-1")
    for n in range(4):
        make_shop(key=f"S{n}", seller=seller)

    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        import_errors({"shops.csv": feed_csv(shop_row("S9", "SEL-1", DAY_0, sps="9"))})

    assert callbacks == [] and not LicenceFlag.objects.exists()


def test_a_failure_to_flag_never_fails_the_import(django_capture_on_commit_callbacks, monkeypatch, caplog):
    def broken(**kwargs):
        raise RuntimeError("flag store unavailable")

    monkeypatch.setattr(feeds, "licences_flag_refresh", broken)
    make_seller(key="SEL-1", business_licence_no="BL-1")

    with (
        caplog.at_level(logging.ERROR, logger="shops.services.feeds"),
        django_capture_on_commit_callbacks(execute=True),
    ):
        result = feed_import(files={"shops.csv": feed_csv(shop_row("S1", "SEL-1", DAY_0))})

    assert result.counts["shops.csv"]["created"] == 1 and Shop.objects.filter(key="S1").exists()
    assert "Flagging business licences after the feed import failed" in caplog.text
