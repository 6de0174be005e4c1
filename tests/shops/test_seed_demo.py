"""The demo data: ``seed_demo`` and the generator in ``shops/demo.py``, at a small size."""

import csv
import datetime as dt
import io
from decimal import Decimal
from io import StringIO

import pytest
from django.contrib.auth import authenticate
from django.core.management import CommandError, call_command
from django.db.models import Count, Max, Min
from django.utils import timezone

from affiliate.models import AffiliatePlan, Creator, CreatorAdd, CreatorSnapshot, PlanProduct
from privacy.selectors import policy_acceptance_required
from shops.demo import DEMO_OTP_SECRET, DEMO_PASSWORD, TIER_COMMISSION_CAP, DemoConfig, build_world, render_feed
from shops.models import (
    Appeal,
    EvaluationRun,
    Notification,
    Product,
    ProductSnapshot,
    Shop,
    ShopSnapshot,
    StatusHistory,
    User,
)
from shops.services.appeals import appeal_checklist_for
from shops.services.feeds import SPECS

DAYS = 10
SMALL = ("--days", str(DAYS), "--shops", "8", "--products", "60", "--creators", "20")


def seed(*extra: str) -> str:
    out = StringIO()
    call_command("seed_demo", *SMALL, *extra, stdout=out)
    return out.getvalue()


@pytest.fixture(autouse=True)
def media_root(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path  # the demo appeal's evidence files


@pytest.fixture
def output(db) -> str:
    return seed()


def statuses(model) -> set[str]:
    return set(model.objects.values_list("status", flat=True))


def counts() -> dict[str, int]:
    models = (Shop, Product, Creator, ShopSnapshot, ProductSnapshot, StatusHistory, EvaluationRun, User)
    return {model.__name__: model.objects.count() for model in models}


# Statuses and history ---------------------------------------------------------------------------


def test_every_status_of_every_entity_appears_at_the_end_of_the_period(output):
    assert statuses(Shop) == {"ELIGIBLE", "RESTRICTED", "DISQUALIFIED"}
    assert statuses(Product) == {"ELIGIBLE", "WARNING", "DISQUALIFIED"}
    assert statuses(Creator) == {"QUALIFIED", "NOT_QUALIFIED"}


def test_shops_restricted_by_score_and_by_violation_and_disqualified_by_score_and_suspension(output):
    reasons = {tuple(reasons) for reasons in Shop.objects.values_list("reasons", flat=True)}
    assert ("SPS_BELOW_ELIGIBLE",) in reasons
    assert ("SPS_BELOW_DISQUALIFY",) in reasons
    assert reasons & {("IP_VIOLATION",), ("FAIR_TRADE_VIOLATION",), ("REVIEW_VIOLATION",)}
    suspended = Shop.objects.get(reasons=["ACCOUNT_SUSPENDED"])
    # The suspension has ended, yet the disqualification stays (S6).
    assert (suspended.account_status, suspended.status) == ("active", "DISQUALIFIED")
    assert suspended.permanently_disqualified
    assert Shop.objects.filter(sps__isnull=True, orders_90d__lt=30, status="ELIGIBLE").exists()


def test_products_warned_and_disqualified_for_their_nrr_and_their_listing(output):
    reasons = {code for codes in Product.objects.values_list("reasons", flat=True) for code in codes}
    assert {"NRR_ABOVE_WARNING", "NRR_ABOVE_DISQUALIFY", "COUNTERFEIT_FLAG", "LISTING_DELISTED"} <= reasons
    assert {"APPEAL_FAILED", "SHOP_DISQUALIFIED"} <= reasons


def test_each_shop_product_and_creator_has_one_snapshot_for_each_day_ending_today(output):
    today = timezone.localdate()
    expected = {(DAYS, today - dt.timedelta(days=DAYS - 1), today)}
    for snapshots, entity in ((ShopSnapshot, "shop"), (ProductSnapshot, "product"), (CreatorSnapshot, "creator")):
        per_entity = snapshots.objects.values(entity).annotate(n=Count("id"), first=Min("date"), last=Max("date"))
        assert {(row["n"], row["first"], row["last"]) for row in per_entity} == expected
    assert ShopSnapshot.objects.values("shop").distinct().count() == Shop.objects.count() == 8
    assert ProductSnapshot.objects.values("product").distinct().count() == Product.objects.count() == 60
    assert CreatorSnapshot.objects.values("creator").distinct().count() == Creator.objects.count() == 20


def test_every_day_is_evaluated_and_later_status_changes_are_in_the_history(output):
    runs = EvaluationRun.objects.all()
    assert runs.count() == DAYS
    assert set(runs.values_list("state", flat=True)) == {"succeeded"}
    assert runs.values("as_of").distinct().count() == DAYS
    changes = StatusHistory.objects.exclude(old_status=None)
    assert changes.filter(entity="shop", new_status="DISQUALIFIED").exists()
    assert changes.filter(entity="shop", new_status="RESTRICTED").exists()
    assert changes.filter(entity="product", new_status="WARNING").exists()
    assert changes.filter(entity="creator").exists()


def test_disqualifications_during_the_period_terminate_plans_created_at_its_start(output):
    first_day = timezone.localdate() - dt.timedelta(days=DAYS - 1)
    plans = AffiliatePlan.objects.select_related("shop")
    assert plans.exists()
    assert {timezone.localdate(plan.created_at) for plan in plans} == {first_day}
    terminated = plans.filter(status="terminated")
    assert terminated.exists()
    assert all(plan.termination_reasons and plan.terminated_by_run_id for plan in terminated)
    assert not PlanProduct.objects.filter(plan__in=terminated, removed_at=None).exists()
    for membership in PlanProduct.objects.select_related("plan__shop"):
        assert Decimal(5) <= membership.commission_rate <= min(25, TIER_COMMISSION_CAP[membership.plan.shop.tier])


# Users, output and --if-empty ---------------------------------------------------------------------


def test_demo_users_log_in_with_the_printed_password(output):
    assert DEMO_PASSWORD in output and "demo data only" in output
    for email in ("seller@demo.test", "seller2@demo.test", "creator@demo.test", "ops@demo.test", "admin@demo.test"):
        assert authenticate(username=email, password=DEMO_PASSWORD) is not None, email
        assert email in output
    assert User.objects.get(email="seller@demo.test").sellers.count() == 2
    assert User.objects.get(email="seller2@demo.test").sellers.count() == 1
    assert User.objects.get(email="creator@demo.test").creator.status == "NOT_QUALIFIED"
    assert (User.objects.get(email="ops@demo.test").role, User.objects.get(email="ops@demo.test").is_staff) == (
        "ops",
        True,
    )
    admin = User.objects.get(email="admin@demo.test")
    assert (admin.role, admin.is_staff, admin.is_superuser) == ("ops_admin", True, True)


def test_the_demo_users_exist_before_the_runs_that_change_verdicts_and_have_their_notifications(output):
    seller = User.objects.get(email="seller@demo.test")
    verdicts = Notification.objects.filter(user=seller, context__event="verdict.changed")
    assert verdicts.exists()
    days = {notification.context["as_of"] for notification in verdicts}
    first_day = timezone.localdate() - dt.timedelta(days=DAYS - 1)
    assert first_day.isoformat() not in days  # the first verdicts are the starting point, not news
    # Dated on the day of their run; older than a week read; nothing left for the e-mail sender.
    for notification in verdicts:
        assert timezone.localdate(notification.created_at).isoformat() == notification.context["as_of"]
        old = notification.created_at < timezone.now() - dt.timedelta(days=7)
        assert (notification.read_at is not None) == old
    assert not Notification.objects.filter(emailed_at=None).exists()
    assert Notification.objects.filter(user__email="creator@demo.test").exists()


def test_a_pending_appeal_with_a_file_for_each_checklist_item(output):
    appeal = Appeal.objects.get()
    assert (appeal.state, appeal.submitted_by.email) == ("submitted", "seller@demo.test")
    items = {item.key for item in appeal_checklist_for(appeal.reason_codes)}
    assert items and set(appeal.evidence.values_list("item", flat=True)) == items
    evidence = appeal.evidence.first()
    with evidence.file.open("rb") as handle:
        assert handle.read().startswith(b"%PDF-1.4")
    assert f"/appeals/{appeal.pk}/" in output and f"/ops/appeals/{appeal.pk}/" in output


def test_the_creator_has_refused_adds_and_an_accepted_one(output):
    adds = CreatorAdd.objects.filter(creator__users__email="creator@demo.test")
    assert adds.filter(accepted=False).count() == 2 and adds.filter(accepted=True).count() == 1
    assert "2 refused and 1 accepted product adds" in output


def test_every_demo_login_accepted_the_policy_and_ops_have_the_printed_second_factor(output):
    for user in User.objects.filter(email__endswith="@demo.test"):
        assert policy_acceptance_required(user=user) is None, user.email
        assert user.otp_enabled == user.is_ops, user.email
        if user.is_ops:
            assert user.otp_secret == DEMO_OTP_SECRET
    assert DEMO_OTP_SECRET in output and "pyotp.TOTP(" in output
    assert "Privacy policy version 1 is in force and accepted by every demo login" in output


def test_the_output_reports_each_day_and_summarises_statuses_plans_and_the_admin_url(output):
    lines = output.splitlines()
    day_lines = [line for line in lines if line.startswith("day ")]
    assert len(day_lines) == DAYS
    assert day_lines[0].startswith(f"day 1/{DAYS} ") and "verdicts changed" in day_lines[0]
    assert f"day {DAYS}/{DAYS} {timezone.localdate()}: imported 88 rows" in day_lines[-1]
    assert any(line.strip().startswith("shops ") and "RESTRICTED" in line for line in lines)
    assert any("terminated" in line for line in lines)
    assert "http://127.0.0.1:8000/admin/" in output


def test_if_empty_does_nothing_when_shops_exist(output):
    before = counts()
    again = seed("--if-empty")
    assert "demo data not loaded" in again
    assert counts() == before


def test_without_if_empty_a_database_with_shops_is_refused(output):
    with pytest.raises(CommandError, match="already has shops"):
        seed()


# The generator -----------------------------------------------------------------------------------------


def small_world(seed: int) -> dict[str, str]:
    config = DemoConfig(days=DAYS, seed=seed, shops=8, products=60, creators=20, end=dt.date(2026, 11, 20))
    return render_feed(build_world(config), 0)


def test_the_same_seed_renders_the_same_first_day_feed_and_another_seed_does_not():
    assert small_world(7) == small_world(7)
    assert small_world(7)["products.csv"] != small_world(8)["products.csv"]


def test_the_first_day_feed_has_every_file_with_the_columns_of_the_feed_format():
    files = small_world(7)
    assert set(files) == {"categories.csv", "sellers.csv", "shops.csv", "products.csv", "creators.csv"}
    for name, text in files.items():
        header, *rows = list(csv.reader(io.StringIO(text)))
        known = {column.name for column in SPECS[name].all_columns}
        assert set(header) <= known, name
        assert {column.name for column in SPECS[name].all_columns if column.required} <= set(header), name
        if name in {"shops.csv", "products.csv", "creators.csv"}:
            assert {row[header.index("as_of")] for row in rows} == {"2026-11-11"}, name
    categories = list(csv.DictReader(io.StringIO(files["categories.csv"])))
    gated = {row["name"] for row in categories if row["gated"] == "true"}
    assert {"Skincare", "Makeup", "Supplements"} <= gated
    assert all(row["name_zh"] for row in categories)
    assert [row["avg_nrr_30d"] for row in categories if row["name"] == "Supplements"] == ["0.0300"]
