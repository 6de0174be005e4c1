"""Retention: one policy per data class, applied by a daily task that removes exactly what has
expired, logs it, and removes nothing more when run again; ops configure it above the floor."""

import datetime as dt
import uuid
from decimal import Decimal

import pytest
from django.core.exceptions import PermissionDenied, ValidationError
from django.utils import timezone

from privacy.models import AccessLog, AnalyticsEvent, DataExport, RetentionRun, RightsRequest
from privacy.services.retention import retention_apply, retention_policies_ensure, retention_policy_update
from privacy.tasks import retention_apply_task
from shops.dashboards.ops import disqualified_count, disqualified_verdicts
from shops.models import Appeal, Entity, EvaluationRun, LoginAttempt, Notification, Shop, StatusHistory
from shops.services.evaluation import evaluation_run_inline
from tests.factories import make_seller, make_shop

pytestmark = pytest.mark.django_db
NOW = timezone.now().replace(microsecond=0)
SECOND = dt.timedelta(seconds=1)


def _ago(days: int, delta: dt.timedelta = dt.timedelta(0)) -> dt.datetime:
    return NOW - dt.timedelta(days=days) + delta


def _access(at):
    return AccessLog.objects.create(at=at, channel="api", method="GET", path="/api/v1/shops/")


def test_the_access_log_is_kept_180_days_exactly():
    expired = _access(_ago(180, -SECOND))
    at_limit = _access(_ago(180))
    fresh = _access(_ago(179))

    run = retention_apply(now=NOW)

    assert set(AccessLog.objects.values_list("pk", flat=True)) == {at_limit.pk, fresh.pk}
    assert run.removed["access_log"]["removed"] == 1
    assert not AccessLog.objects.filter(pk=expired.pk).exists()


def test_a_second_run_removes_nothing(alice):
    _access(_ago(200))
    LoginAttempt.objects.create(email="x@example.com", succeeded=False, at=_ago(181))
    AnalyticsEvent.objects.create(user=alice, name="home", at=_ago(400))

    first = retention_apply(now=NOW)
    second = retention_apply(now=NOW)

    assert {k: v["removed"] for k, v in first.removed.items() if v["removed"]} == {
        "access_log": 1,
        "sign_in_attempts": 1,
        "analytics_events": 1,
    }
    assert all(v["removed"] == 0 for v in second.removed.values())
    assert RetentionRun.objects.count() == 2


def test_notifications_and_closed_requests_are_kept_three_years(alice):
    old = Notification.objects.create(user=alice, kind="account", subject="x", context={}, dedupe_key=uuid.uuid4().hex)
    kept = Notification.objects.create(user=alice, kind="account", subject="y", context={}, dedupe_key=uuid.uuid4().hex)
    Notification.objects.filter(pk=old.pk).update(created_at=_ago(3 * 365, -SECOND))
    Notification.objects.filter(pk=kept.pk).update(created_at=_ago(3 * 365 - 1))
    closed = RightsRequest.objects.create(
        reference="PR-OLD",
        requester=alice,
        kind="access",
        state="completed",
        created_at=_ago(1200),
        closed_at=_ago(3 * 365, -SECOND),
    )
    still = RightsRequest.objects.create(
        reference="PR-KEEP",
        requester=alice,
        kind="access",
        state="completed",
        created_at=_ago(1200),
        closed_at=_ago(3 * 365 - 1),
    )
    open_old = RightsRequest.objects.create(
        reference="PR-OPEN", requester=alice, kind="deletion", state="received", created_at=_ago(2000)
    )

    retention_apply(now=NOW)

    assert list(Notification.objects.values_list("pk", flat=True)) == [kept.pk]
    assert set(RightsRequest.objects.values_list("pk", flat=True)) == {still.pk, open_old.pk}
    assert not RightsRequest.objects.filter(pk=closed.pk).exists()


def test_evaluation_history_is_removed_only_three_years_after_it_was_superseded():
    shop = make_shop(seller=make_seller())

    def row(created_at, status):
        run = EvaluationRun.objects.create(as_of=created_at.date(), chunk_size=10, state="succeeded")
        return StatusHistory.objects.create(
            entity="shop",
            entity_id=shop.pk,
            entity_key=shop.key,
            new_status=status,
            ruleset_version=1,
            run=run,
            as_of=created_at.date(),
            created_at=created_at,
        )

    oldest = row(_ago(2000), "ELIGIBLE")  # superseded 1500 days ago: expired
    superseded_recently = row(_ago(1500), "WARNING")  # superseded 1000 days ago: kept
    current = row(_ago(1000), "RESTRICTED")  # the current verdict: always kept

    retention_apply(now=NOW)

    assert set(StatusHistory.objects.values_list("pk", flat=True)) == {superseded_recently.pk, current.pk}
    assert not StatusHistory.objects.filter(pk=oldest.pk).exists()


def test_removed_history_leaves_the_ops_review_queue_count_too():
    shop = make_shop(seller=make_seller(), sps=Decimal("2.5"))
    evaluation_run_inline(as_of=dt.date(2026, 11, 20))
    Shop.objects.filter(pk=shop.pk).update(sps=Decimal("4.2"))
    evaluation_run_inline(as_of=dt.date(2026, 11, 21))
    disqualified, eligible = StatusHistory.objects.filter(entity_id=shop.pk).order_by("id")
    StatusHistory._base_manager.filter(pk=disqualified.pk).update(created_at=_ago(2000))
    StatusHistory._base_manager.filter(pk=eligible.pk).update(created_at=_ago(1500))
    assert disqualified_count(Entity.SHOP) == disqualified_verdicts(entity=Entity.SHOP).count() == 1

    retention_apply(now=NOW)

    assert not StatusHistory.objects.filter(pk=disqualified.pk).exists()
    assert disqualified_count(Entity.SHOP) == disqualified_verdicts(entity=Entity.SHOP).count() == 0


def test_a_verdict_under_appeal_is_never_removed(alice, seller_a):
    shop = make_shop(seller=seller_a)
    runs = [EvaluationRun.objects.create(as_of=NOW.date(), chunk_size=10, state="succeeded") for _ in range(2)]
    old = StatusHistory.objects.create(
        entity="shop",
        entity_id=shop.pk,
        entity_key=shop.key,
        new_status="RESTRICTED",
        ruleset_version=1,
        run=runs[0],
        as_of=NOW.date(),
        created_at=_ago(2000),
    )
    StatusHistory.objects.create(
        entity="shop",
        entity_id=shop.pk,
        entity_key=shop.key,
        new_status="ELIGIBLE",
        ruleset_version=1,
        run=runs[1],
        as_of=NOW.date(),
        created_at=_ago(1900),
    )
    Appeal.objects.create(
        entity="shop",
        entity_id=shop.pk,
        entity_key=shop.key,
        seller=seller_a,
        verdict=old,
        statement="x",
        submitted_by=alice,
        due_at=_ago(1890),
    )

    retention_apply(now=NOW)

    assert StatusHistory.objects.filter(pk=old.pk).exists()


def test_export_archives_are_removed_after_seven_days(alice, settings, tmp_path):
    from pathlib import Path

    root = Path(settings.PRIVACY_EXPORT_ROOT)
    root.mkdir(parents=True, exist_ok=True)
    exports = {}
    for name, age in (("old", dt.timedelta(days=7, seconds=1)), ("new", dt.timedelta(days=6))):
        request = RightsRequest.objects.create(
            reference=f"PR-{name}", requester=alice, kind="access", state="completed", created_at=NOW
        )
        (root / f"{name}.zip.enc").write_bytes(b"x")
        exports[name] = DataExport.objects.create(
            request=request,
            state="ready",
            path=f"{name}.zip.enc",
            created_at=NOW - age,
            ready_at=NOW - age,
            expires_at=NOW - age,
        )

    run = retention_apply(now=NOW)

    assert not (root / "old.zip.enc").exists() and (root / "new.zip.enc").exists()
    exports["old"].refresh_from_db()
    assert exports["old"].state == "expired" and exports["old"].path == ""
    assert run.removed["exports"]["removed"] == 1


def test_the_daily_task_applies_the_policies_and_logs_the_run():
    _access(_ago(365))

    removed = retention_apply_task()

    assert removed["access_log"]["removed"] == 1
    assert RetentionRun.objects.get().finished_at is not None


def test_ops_configure_a_policy_but_never_below_its_legal_floor(olga, alice):
    retention_policies_ensure()

    with pytest.raises(ValidationError, match="At least 1095 days"):
        retention_policy_update(actor=olga, data_class="evaluation_history", days=365, enabled=True)
    with pytest.raises(PermissionDenied):
        retention_policy_update(actor=alice, data_class="analytics_events", days=30, enabled=True)
    policy = retention_policy_update(actor=olga, data_class="analytics_events", days=30, enabled=True)

    AnalyticsEvent.objects.create(user=alice, name="home", at=_ago(31))
    retention_apply(now=NOW)
    assert policy.days == 30 and not AnalyticsEvent.objects.exists()


def test_a_disabled_policy_removes_nothing(olga):
    retention_policies_ensure()
    retention_policy_update(actor=olga, data_class="access_log", days=180, enabled=False)
    _access(_ago(400))

    run = retention_apply(now=NOW)

    assert AccessLog.objects.count() == 1 and "access_log" not in run.removed
