import datetime as dt
import json
from decimal import Decimal

import pytest
from django.core.management import CommandError, call_command

from affiliate.models import AffiliatePlan, PlanProduct
from shops.models import AuditEntry, CategoryBaseline, EvaluationRun, Product, RuleSet, Shop, StatusHistory, User
from shops.services.evaluation import (
    RunInProgress,
    evaluation_dry_run,
    evaluation_run_inline,
    evaluation_start,
    evaluation_work,
    shop_lift_permanent_disqualification,
)
from shops.services.rulesets import ruleset_candidate
from tests.factories import add_to_plan, make_category, make_creator, make_plan, make_product, make_shop, make_user

pytestmark = pytest.mark.django_db

DAY = dt.date(2026, 11, 20)


def run(day=DAY, **kw):
    return evaluation_run_inline(as_of=day, **kw)


def test_a_run_evaluates_shops_products_and_creators_and_records_history():
    shop = make_shop(sps=Decimal("3.2"))
    product = make_product(shop=shop)
    creator = make_creator(pps=None)

    finished = run()

    assert finished.state == EvaluationRun.State.SUCCEEDED
    assert (finished.total, finished.done, finished.changed) == (3, 3, 3)
    shop.refresh_from_db()
    product.refresh_from_db()
    creator.refresh_from_db()
    assert (shop.status, shop.reasons) == ("RESTRICTED", ["SPS_BELOW_ELIGIBLE"])
    assert (product.status, product.reasons) == ("ELIGIBLE", [])
    assert (creator.status, creator.reasons) == ("NOT_QUALIFIED", ["PPS_MISSING"])
    history = StatusHistory.objects.get(entity="shop", entity_id=shop.pk)
    assert history.old_status is None and history.new_status == "RESTRICTED"
    assert history.inputs["sps"] == "3.2" and history.inputs["has_sps"] is True
    assert history.ruleset_version == 1 and history.run == finished and history.as_of == DAY


def test_re_running_a_finished_day_changes_nothing_and_writes_no_history():
    shop = make_shop(sps=Decimal("2.5"))
    plan = make_plan(shop=shop)
    add_to_plan(plan, make_product(shop=shop))
    run()
    history_before = StatusHistory.objects.count()
    terminated_at = AffiliatePlan.objects.get().terminated_at

    again = run()

    assert again.changed == 0
    assert StatusHistory.objects.count() == history_before
    assert AffiliatePlan.objects.get().terminated_at == terminated_at


def test_product_history_records_the_category_baseline_with_its_sample_size():
    category = make_category()
    shop = make_shop()
    # Average = (1 + 3 + 2) / (100 + 100 + 100) = 0.02; product at 3 / 100 = 1.5x → ELIGIBLE,
    # product at 6/100 would be 3x. Here the third product makes the warning case.
    make_product(shop=shop, category=category, reviews_30d=100, negative_reviews_30d=1)
    make_product(shop=shop, category=category, reviews_30d=100, negative_reviews_30d=1)
    warned = make_product(shop=shop, category=category, reviews_30d=100, negative_reviews_30d=4)
    finished = run()

    warned.refresh_from_db()
    assert (warned.status, warned.reasons) == ("WARNING", ["NRR_ABOVE_WARNING"])
    row = StatusHistory.objects.get(entity="product", entity_id=warned.pk)
    assert row.baseline["products"] == 3
    assert row.baseline["negative_reviews"] == 6 and row.baseline["reviews"] == 300
    assert Decimal(row.baseline["value"]) == Decimal("0.02")
    assert row.baseline["source"] == "computed"
    stored = CategoryBaseline.objects.get(run=finished, category=category)
    assert (stored.negative_reviews, stored.reviews, stored.products) == (6, 300, 3)


def test_a_product_exactly_at_three_times_the_category_average_is_a_warning():
    # Benchmark 0.1 and NRR 3/10: in binary floats 3 * 0.1 > 0.3 would flip the verdict.
    category = make_category(avg_nrr_30d=Decimal("0.1"))
    at_three = make_product(category=category, reviews_30d=10, negative_reviews_30d=3)
    above = make_product(category=category, reviews_30d=1000, negative_reviews_30d=301)
    run()
    at_three.refresh_from_db()
    above.refresh_from_db()
    assert at_three.status == "WARNING"
    assert (above.status, above.reasons) == ("DISQUALIFIED", ["NRR_ABOVE_DISQUALIFY"])


def test_a_suspension_disqualifies_for_good_until_ops_lift_it():
    shop = make_shop(account_status="suspended_temporary")
    run()
    shop.refresh_from_db()
    assert (shop.status, shop.reasons, shop.permanently_disqualified) == ("DISQUALIFIED", ["ACCOUNT_SUSPENDED"], True)

    Shop.objects.filter(pk=shop.pk).update(account_status="active")
    run(DAY + dt.timedelta(days=1))
    shop.refresh_from_db()
    assert (shop.status, shop.reasons) == ("DISQUALIFIED", ["ACCOUNT_SUSPENDED"])

    ops = make_user(role=User.Role.OPS)
    shop_lift_permanent_disqualification(shop=shop, user=ops, reason="Suspension was an error")
    assert AuditEntry.objects.filter(action="shop.lift_permanent_disqualification", object_id=shop.key).exists()
    run(DAY + dt.timedelta(days=2))
    shop.refresh_from_db()
    assert (shop.status, shop.reasons) == ("ELIGIBLE", [])


def test_only_ops_can_lift_a_permanent_disqualification():
    shop = make_shop(account_status="suspended_permanent")
    run()
    shop.refresh_from_db()
    with pytest.raises(PermissionError):
        shop_lift_permanent_disqualification(shop=shop, user=make_user(), reason="please")
    shop.refresh_from_db()
    assert shop.permanently_disqualified


def test_a_disqualified_shop_ends_its_plans_and_its_products_leave_them_and_nothing_comes_back():
    shop = make_shop()
    products = [make_product(shop=shop) for _ in range(2)]
    plan = make_plan(shop=shop)
    for product in products:
        add_to_plan(plan, product)
    run()
    assert AffiliatePlan.objects.get().status == "active"

    Shop.objects.filter(pk=shop.pk).update(sps=Decimal("2.9"))
    disqualifying = run(DAY + dt.timedelta(days=1))

    plan.refresh_from_db()
    assert plan.status == "terminated"
    assert plan.termination_reasons == ["SPS_BELOW_DISQUALIFY"]
    assert plan.terminated_by_run == disqualifying
    memberships = PlanProduct.objects.filter(plan=plan)
    assert all(m.removed_at is not None for m in memberships)
    assert all(m.removal_reasons == ["SHOP_DISQUALIFIED", "SPS_BELOW_DISQUALIFY"] for m in memberships)
    assert set(Product.objects.values_list("status", flat=True)) == {"DISQUALIFIED"}

    Shop.objects.filter(pk=shop.pk).update(sps=Decimal("4.5"))
    run(DAY + dt.timedelta(days=2))
    plan.refresh_from_db()
    shop.refresh_from_db()
    assert shop.status == "ELIGIBLE"
    assert plan.status == "terminated"
    assert not PlanProduct.objects.filter(removed_at__isnull=True).exists()


def test_a_disqualified_product_leaves_every_plan_and_is_not_restored():
    shop = make_shop()
    product = make_product(shop=shop)
    kept = make_product(shop=shop)
    plans = [make_plan(shop=shop), make_plan(shop=shop, kind=AffiliatePlan.Kind.TARGETED)]
    for plan in plans:
        add_to_plan(plan, product)
        add_to_plan(plan, kept)
    run()

    Product.objects.filter(pk=product.pk).update(counterfeit_flag=True)
    run(DAY + dt.timedelta(days=1))
    removed = PlanProduct.objects.filter(product=product)
    assert all(m.removed_at is not None and m.removal_reasons == ["COUNTERFEIT_FLAG"] for m in removed)
    assert PlanProduct.objects.filter(product=kept, removed_at__isnull=True).count() == 2
    assert set(AffiliatePlan.objects.values_list("status", flat=True)) == {"active"}

    Product.objects.filter(pk=product.pk).update(counterfeit_flag=False)
    run(DAY + dt.timedelta(days=2))
    product.refresh_from_db()
    assert product.status == "ELIGIBLE"
    assert not PlanProduct.objects.filter(product=product, removed_at__isnull=True).exists()


def test_a_warned_product_keeps_its_plans():
    category = make_category(avg_nrr_30d=Decimal("0.01"))
    product = make_product(category=category, reviews_30d=100, negative_reviews_30d=2)
    plan = make_plan(shop=product.shop)
    add_to_plan(plan, product)
    run()
    product.refresh_from_db()
    assert product.status == "WARNING"
    assert PlanProduct.objects.get().removed_at is None


def test_only_one_run_executes_at_a_time():
    make_shop()
    active = evaluation_start(as_of=DAY)
    with pytest.raises(RunInProgress) as refused:
        evaluation_start(as_of=DAY)
    assert refused.value.run == active
    with pytest.raises(CommandError, match="already running"):
        call_command("evaluate", "--as-of", DAY.isoformat())
    evaluation_work(run=active)
    assert evaluation_start(as_of=DAY).pk != active.pk


def test_small_chunks_give_the_same_verdicts_and_report_progress():
    category = make_category()
    for index in range(7):
        make_product(category=category, reviews_30d=10, negative_reviews_30d=index)
    seen = []
    finished = evaluation_run_inline(as_of=DAY, chunk_size=2, progress=lambda r: seen.append((r.phase, r.done)))
    by_chunks = dict(Product.objects.values_list("key", "status"))
    assert finished.chunks.count() == 4 + 4  # 7 products and 7 shops in chunks of 2
    assert seen[-1][1] == 14
    assert [done for _, done in seen] == sorted(done for _, done in seen)

    Product.objects.update(status=None, reasons=[])
    Shop.objects.update(status=None, reasons=[])
    evaluation_run_inline(as_of=DAY, chunk_size=1000)
    assert dict(Product.objects.values_list("key", "status")) == by_chunks


def test_a_market_rule_set_applies_to_that_markets_shops_only():
    RuleSet.objects.create(version=2, market="TH", effective_from=DAY, sps_eligible=Decimal("4.0"))
    th = make_shop(market="TH", sps=Decimal("3.8"))
    us = make_shop(market="US", sps=Decimal("3.8"))
    finished = run()
    th.refresh_from_db()
    us.refresh_from_db()
    assert (th.status, us.status) == ("RESTRICTED", "ELIGIBLE")
    assert finished.ruleset_versions == {"TH": 2, "default": 1}
    assert StatusHistory.objects.get(entity_id=th.pk, entity="shop").ruleset_version == 2


def test_a_rule_set_takes_effect_on_its_effective_date():
    RuleSet.objects.create(version=2, market="", effective_from=DAY, sps_eligible=Decimal("4.0"))
    shop = make_shop(sps=Decimal("3.8"))
    run(DAY - dt.timedelta(days=1))
    shop.refresh_from_db()
    assert shop.status == "ELIGIBLE"
    run(DAY)
    shop.refresh_from_db()
    assert shop.status == "RESTRICTED"


def test_a_dry_run_reports_transitions_and_writes_nothing():
    shops = [make_shop(sps=Decimal(s)) for s in ("3.6", "3.7", "4.5")]
    run()
    history = StatusHistory.objects.count()
    rules = ruleset_candidate(as_of=DAY, data={"sps_eligible": "4.0"})

    report = evaluation_dry_run(as_of=DAY, rules=rules)

    assert report.transitions["shop"] == {"ELIGIBLE->RESTRICTED": 2}
    assert {ch.key for ch in report.examples["shop", "ELIGIBLE->RESTRICTED"]} == {shops[0].key, shops[1].key}
    assert StatusHistory.objects.count() == history
    assert set(Shop.objects.values_list("status", flat=True)) == {"ELIGIBLE"}
    assert EvaluationRun.objects.count() == 1


def test_the_dry_run_command_prints_counts_and_first_entities(tmp_path, capsys):
    shop = make_shop(sps=Decimal("3.6"))
    run()
    rules = tmp_path / "rules.json"
    rules.write_text(json.dumps({"sps_eligible": 3.7}))
    call_command("evaluate", "--dry-run", "--rules", str(rules), "--as-of", DAY.isoformat())
    out = capsys.readouterr().out
    assert "ELIGIBLE->RESTRICTED: 1" in out
    assert f"{shop.key}: - -> SPS_BELOW_ELIGIBLE" in out
    assert "nothing was written" in out


def test_the_dry_run_refuses_unknown_rule_keys(tmp_path):
    rules = tmp_path / "rules.json"
    rules.write_text(json.dumps({"sps_eligble": 3.7}))
    with pytest.raises(CommandError, match="Unknown rule-set keys: sps_eligble"):
        call_command("evaluate", "--dry-run", "--rules", str(rules))


def test_evaluating_an_older_day_uses_that_days_snapshot():
    from shops.models import ShopSnapshot

    shop = make_shop(sps=Decimal("4.5"), metrics_as_of=DAY)
    ShopSnapshot.objects.create(shop=shop, date=DAY, account_status="active", orders_90d=100, sps=Decimal("4.5"))
    ShopSnapshot.objects.create(
        shop=shop, date=DAY - dt.timedelta(days=3), account_status="active", orders_90d=100, sps=Decimal("2.0")
    )
    run(DAY - dt.timedelta(days=1))
    shop.refresh_from_db()
    assert shop.status == "DISQUALIFIED"
    assert StatusHistory.objects.get(entity="shop").inputs["metrics_as_of"] == (DAY - dt.timedelta(days=3)).isoformat()


def test_export_status_prints_every_verdict_as_json_and_csv(capsys):
    shop = make_shop(sps=Decimal("3.1"))
    product = make_product(shop=shop)
    creator = make_creator()
    run()
    call_command("export_status", "--format", "json")
    rows = json.loads(capsys.readouterr().out)
    assert rows == [
        {
            "entity": "shop",
            "id": shop.key,
            "status": "RESTRICTED",
            "reasons": ["SPS_BELOW_ELIGIBLE"],
            "can_add_to_affiliate": False,
        },
        {"entity": "product", "id": product.key, "status": "ELIGIBLE", "reasons": [], "can_add_to_affiliate": False},
        {"entity": "creator", "id": creator.key, "status": "QUALIFIED", "reasons": []},
    ]
    call_command("export_status", "--format", "csv")
    lines = capsys.readouterr().out.splitlines()
    assert lines[0] == "entity,id,status,reasons,can_add_to_affiliate"
    assert lines[1] == f"shop,{shop.key},RESTRICTED,SPS_BELOW_ELIGIBLE,false"
    assert lines[3] == f"creator,{creator.key},QUALIFIED,,"


def test_status_history_cannot_be_edited_or_deleted():
    make_shop()
    run()
    row = StatusHistory.objects.get()
    row.new_status = "ELIGIBLE"
    with pytest.raises(TypeError):
        row.save()
    with pytest.raises(TypeError):
        StatusHistory.objects.all().delete()
    with pytest.raises(TypeError):
        StatusHistory.objects.update(new_status="X")


def test_an_entity_whose_only_metrics_are_newer_than_the_day_is_evaluated_on_them():
    shop = make_shop(sps=Decimal("3.2"), metrics_as_of=DAY + dt.timedelta(days=30))
    product = make_product(shop=shop, metrics_as_of=DAY + dt.timedelta(days=30))
    run(DAY)
    shop.refresh_from_db()
    product.refresh_from_db()
    assert shop.status == "RESTRICTED"
    assert product.status == "ELIGIBLE"


def test_a_force_unbound_shop_is_disqualified_and_so_are_its_products():
    from django.utils import timezone

    shop = make_shop(sps=Decimal("4.8"), unbound_at=timezone.now())
    product = make_product(shop=shop)
    run()
    shop.refresh_from_db()
    product.refresh_from_db()
    assert (shop.status, shop.reasons) == ("DISQUALIFIED", ["SHOP_UNBOUND"])
    assert (product.status, product.reasons) == ("DISQUALIFIED", ["SHOP_DISQUALIFIED"])
