import datetime as dt
from decimal import Decimal

import pytest
from django.core.exceptions import PermissionDenied, ValidationError
from django.utils import timezone

from affiliate import rules
from affiliate.models import AffiliatePlan, PlanInvitation, PlanProduct
from affiliate.selectors import commission_rate_for, plans_for_shop
from affiliate.services import (
    PlanRefused,
    plan_add_product,
    plan_create,
    plan_end,
    plan_invite_creator,
    plan_remove_product,
    plans_recreate,
)
from shops.models import AuditEntry, Notification, Override, Product, SellerMembership, Shop, User
from shops.services.evaluation import evaluation_run_inline
from tests.factories import add_to_plan, make_category, make_creator, make_plan, make_product, make_shop, make_user

pytestmark = pytest.mark.django_db

DAY = dt.date(2026, 11, 20)
TIERS = [("bronze", "20"), ("silver", "25"), ("gold", "30"), ("platinum", "40")]


def run(day=DAY):
    return evaluation_run_inline(as_of=day)


def seller_of(shop: Shop) -> User:
    user = make_user(role=User.Role.SELLER)
    SellerMembership.objects.create(user=user, seller=shop.seller)
    return user


def warned_product(shop: Shop) -> Product:
    # Benchmark 1 %, product at 2 %: exactly twice the average is a warning (P1).
    return make_product(shop=shop, category=make_category(avg_nrr_30d=Decimal("0.01")), negative_reviews_30d=2)


def override(entity, obj, status, **kw) -> Override:
    ops = make_user(role=User.Role.OPS)
    return Override.objects.create(
        entity=entity, entity_id=obj.pk, entity_key=obj.key, status=status, reason="ops decision", created_by=ops, **kw
    )


def refused(call, **kw) -> PlanRefused:
    with pytest.raises(PlanRefused) as caught:
        call(**kw)
    return caught.value


@pytest.fixture
def world():
    """An eligible silver shop with two eligible products, its seller alice and an outsider bob."""
    shop = make_shop(tier="silver")
    products = [make_product(shop=shop) for _ in range(2)]
    alice = seller_of(shop)
    bob = seller_of(make_shop())
    run()
    return shop, products, alice, bob


# Pure policy ------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("rate", "tier", "code"),
    [
        ("1", "bronze", None),
        ("0.99", "bronze", rules.COMMISSION_OUT_OF_RANGE),
        ("0", "platinum", rules.COMMISSION_OUT_OF_RANGE),
        ("20", "bronze", None),
        ("20.01", "bronze", rules.COMMISSION_ABOVE_TIER_CAP),
        ("40", "platinum", None),
        ("40.01", "platinum", rules.COMMISSION_ABOVE_TIER_CAP),
        # 80 % is the absolute bound; every tier caps lower, so 80 is refused by the cap, 80.01 by the range.
        ("80", "platinum", rules.COMMISSION_ABOVE_TIER_CAP),
        ("80.01", "platinum", rules.COMMISSION_OUT_OF_RANGE),
    ],
)
def test_commission_rule_checks_the_range_then_the_tier_cap(rate, tier, code):
    assert rules.commission_code(Decimal(rate), tier) == code


@pytest.mark.parametrize(
    ("offers", "expected"),
    [
        ([], None),
        ([("open", "10")], "10"),
        ([("shop_wide", "12"), ("open", "10")], "12"),
        ([("open", "10"), ("targeted", "8", True)], "8"),
        ([("open", "10"), ("targeted", "18", False)], "10"),
        ([("targeted", "18", False)], None),
        ([("targeted", "15", True), ("targeted", "18", True), ("open", "30")], "18"),
    ],
)
def test_an_invited_targeted_rate_wins_over_open_and_shop_wide_rates(offers, expected):
    offers = [rules.RateOffer(kind, Decimal(rate), *invited) for kind, rate, *invited in offers]
    assert rules.choose_commission_rate(offers) == (Decimal(expected) if expected else None)


# Creating plans -----------------------------------------------------------------------------------------


def test_an_eligible_shop_creates_an_open_plan_with_its_products_and_an_audit_entry(world):
    shop, (p1, p2), alice, _ = world

    plan = plan_create(shop=shop, user=alice, name="Spring", kind="open", products={p1: Decimal("10"), p2: "12.5"})

    assert (plan.status, plan.kind, plan.created_by) == ("active", "open", alice)
    rates = dict(PlanProduct.objects.filter(plan=plan).values_list("product__key", "commission_rate"))
    assert rates == {p1.key: Decimal("10"), p2.key: Decimal("12.5")}
    entry = AuditEntry.objects.get(action="plan.create")
    assert (entry.actor, entry.object_type, entry.object_id) == (alice, "plan", str(plan.pk))
    assert entry.details["products"] == {p1.key: "10", p2.key: "12.5"}
    assert entry.details["kind"] == "open" and entry.details["shop"] == shop.key


@pytest.mark.parametrize(("tier", "cap"), TIERS)
def test_a_rate_exactly_at_the_tier_cap_is_accepted(tier, cap):
    shop = make_shop(tier=tier)
    product = make_product(shop=shop)
    run()
    plan = plan_create(shop=shop, user=seller_of(shop), name="At cap", kind="open", products=[(product, cap)])
    assert PlanProduct.objects.get(plan=plan).commission_rate == Decimal(cap)


@pytest.mark.parametrize(("tier", "cap"), TIERS)
def test_a_rate_above_the_tier_cap_is_refused_with_a_message_naming_the_cap_and_tier(tier, cap):
    shop = make_shop(tier=tier)
    product = make_product(shop=shop)
    run()
    over = Decimal(cap) + Decimal("0.01")

    error = refused(plan_create, shop=shop, user=seller_of(shop), name="Over", kind="open", products=[(product, over)])

    assert error.codes == ["COMMISSION_ABOVE_TIER_CAP"]
    assert f"above the {cap}% cap of a {tier.capitalize()} shop" in error.message
    assert error.details == {"products": {product.key: ["COMMISSION_ABOVE_TIER_CAP"]}}
    assert not AffiliatePlan.objects.exists()


@pytest.mark.parametrize("rate", ["0.99", "0", "-5", "80.01", "120"])
def test_a_rate_outside_1_to_80_percent_is_out_of_range(world, rate):
    shop, (p1, _), alice, _ = world
    error = refused(plan_create, shop=shop, user=alice, name="Bad", kind="open", products=[(p1, rate)])
    assert error.codes == ["COMMISSION_OUT_OF_RANGE"]
    assert "outside the allowed range of 1% to 80%" in error.message


def test_one_percent_is_the_lowest_rate_accepted(world):
    shop, (p1, _), alice, _ = world
    plan = plan_create(shop=shop, user=alice, name="Low", kind="open", products=[(p1, "1")])
    assert PlanProduct.objects.get(plan=plan).commission_rate == Decimal("1")


@pytest.mark.parametrize("rate", ["10.123", "abc", "NaN", None])
def test_a_malformed_rate_is_a_validation_error(world, rate):
    shop, (p1, _), alice, _ = world
    with pytest.raises(ValidationError) as caught:
        plan_create(shop=shop, user=alice, name="Bad", kind="open", products=[(p1, rate)])
    assert caught.value.code == "invalid_rate"


def test_an_unknown_kind_is_a_validation_error(world):
    shop, (p1, _), alice, _ = world
    with pytest.raises(ValidationError) as caught:
        plan_create(shop=shop, user=alice, name="X", kind="exclusive", products=[(p1, "10")])
    assert caught.value.code == "invalid_kind"


def test_a_restricted_shop_cannot_create_a_plan_or_add_products_but_keeps_and_lists_its_running_plans():
    shop = make_shop(sps=Decimal("4.0"))
    products = [make_product(shop=shop) for _ in range(2)]
    alice = seller_of(shop)
    run()
    plan = plan_create(shop=shop, user=alice, name="Before", kind="open", products=[(products[0], "10")])
    Shop.objects.filter(pk=shop.pk).update(sps=Decimal("3.2"))
    run(DAY + dt.timedelta(days=1))

    error = refused(plan_create, shop=shop, user=alice, name="After", kind="open", products=[(products[1], "10")])
    assert error.codes == ["SPS_BELOW_ELIGIBLE"]
    assert "Shop Performance Score is below 3.5" in error.message
    error = refused(plan_add_product, plan=plan, product=products[1], rate="10", user=alice)
    assert error.codes == ["SPS_BELOW_ELIGIBLE"]

    listed = list(plans_for_shop(shop=shop))
    assert listed == [plan]
    assert listed[0].status == "active" and listed[0].product_count == 1
    assert [m.product for m in listed[0].active_memberships] == [products[0]]
    assert commission_rate_for(creator=make_creator(), product=products[0]) == Decimal("10")


def test_a_disqualified_shop_is_refused_with_its_own_codes():
    shop = make_shop(sps=Decimal("2.9"))
    product = make_product(shop=shop)
    run()
    error = refused(plan_create, shop=shop, user=seller_of(shop), name="X", kind="open", products=[(product, "10")])
    assert error.codes == ["SPS_BELOW_DISQUALIFY"]


def test_a_warned_product_cannot_join_a_plan(world):
    shop, (p1, _), alice, _ = world
    warned = warned_product(shop)
    run(DAY + dt.timedelta(days=1))
    warned.refresh_from_db()
    assert warned.status == "WARNING"

    error = refused(plan_create, shop=shop, user=alice, name="X", kind="open", products=[(p1, "10"), (warned, "10")])

    assert error.codes == ["NRR_ABOVE_WARNING"]
    assert error.details == {"products": {warned.key: ["NRR_ABOVE_WARNING"]}}
    assert warned.key in error.message and "negative review rate" in error.message
    plan = plan_create(shop=shop, user=alice, name="Y", kind="open", products=[(p1, "10")])
    assert refused(plan_add_product, plan=plan, product=warned, rate="10", user=alice).codes == ["NRR_ABOVE_WARNING"]


def test_a_disqualified_product_reports_every_code_and_the_other_problems_are_reported_too(world):
    shop, (p1, _), alice, _ = world
    bad = make_product(shop=shop, counterfeit_flag=True, listing_status="frozen")
    run(DAY + dt.timedelta(days=1))

    error = refused(plan_create, shop=shop, user=alice, name="X", kind="open", products=[(bad, "10"), (p1, "26")])

    assert error.codes == ["COUNTERFEIT_FLAG", "LISTING_FROZEN", "COMMISSION_ABOVE_TIER_CAP"]
    assert error.details["products"] == {
        bad.key: ["COUNTERFEIT_FLAG", "LISTING_FROZEN"],
        p1.key: ["COMMISSION_ABOVE_TIER_CAP"],
    }


def test_an_unevaluated_shop_or_product_is_refused_as_not_evaluated(world):
    shop, (p1, _), alice, _ = world
    fresh_shop = make_shop()
    fresh_product = make_product(shop=shop)
    error = refused(
        plan_create,
        shop=fresh_shop,
        user=seller_of(fresh_shop),
        name="X",
        kind="open",
        products=[(make_product(shop=fresh_shop), "10")],
    )
    assert error.codes == ["NOT_EVALUATED"]
    assert "not evaluated yet" in error.message.lower()
    error = refused(plan_create, shop=shop, user=alice, name="X", kind="open", products=[(fresh_product, "10")])
    assert error.codes == ["NOT_EVALUATED"]


def test_an_active_override_makes_a_restricted_shop_and_a_warned_product_eligible():
    shop = make_shop(sps=Decimal("3.2"))
    warned = warned_product(shop)
    alice = seller_of(shop)
    run()
    assert refused(plan_create, shop=shop, user=alice, name="X", kind="open", products=[(warned, "10")]).codes == [
        "SPS_BELOW_ELIGIBLE"
    ]
    override("shop", shop, "ELIGIBLE")
    assert refused(plan_create, shop=shop, user=alice, name="X", kind="open", products=[(warned, "10")]).codes == [
        "NRR_ABOVE_WARNING"
    ]
    product_override = override("product", warned, "ELIGIBLE")

    plan = plan_create(shop=shop, user=alice, name="X", kind="open", products=[(warned, "10")])

    assert plan.status == "active"
    Override.objects.filter(pk=product_override.pk).update(revoked_at=timezone.now())
    other = warned_product(shop)
    Product.objects.filter(pk=other.pk).update(status="WARNING", reasons=["NRR_ABOVE_WARNING"])
    assert refused(plan_add_product, plan=plan, product=other, rate="10", user=alice).codes == ["NRR_ABOVE_WARNING"]


def test_an_expired_override_no_longer_counts_and_an_ops_restriction_reads_ops_override(world):
    shop, (p1, _), alice, _ = world
    override("shop", shop, "ELIGIBLE", expires_at=timezone.now() - dt.timedelta(minutes=1))
    plan_create(shop=shop, user=alice, name="Ok", kind="open", products=[(p1, "10")])
    override("shop", shop, "RESTRICTED")
    error = refused(plan_create, shop=shop, user=alice, name="X", kind="open", products=[(p1, "10")])
    assert error.codes == ["OPS_OVERRIDE"]


def test_a_product_of_another_shop_cannot_join(world):
    shop, (p1, _), alice, _ = world
    stranger = make_product()
    run(DAY + dt.timedelta(days=1))
    error = refused(plan_create, shop=shop, user=alice, name="X", kind="open", products=[(stranger, "10")])
    assert error.codes == ["PRODUCT_NOT_IN_SHOP"]
    plan = plan_create(shop=shop, user=alice, name="Y", kind="open", products=[(p1, "10")])
    assert refused(plan_add_product, plan=plan, product=stranger, rate="10", user=alice).codes == [
        "PRODUCT_NOT_IN_SHOP"
    ]


def test_a_plan_needs_at_least_one_product(world):
    shop, _, alice, _ = world
    assert refused(plan_create, shop=shop, user=alice, name="X", kind="open", products={}).codes == [
        "PLAN_WITHOUT_PRODUCTS"
    ]


def test_only_members_of_the_seller_and_ops_manage_a_shops_plans(world):
    shop, (p1, p2), _, bob = world
    with pytest.raises(PermissionDenied):
        plan_create(shop=shop, user=bob, name="X", kind="open", products=[(p1, "10")])
    ops = make_user(role=User.Role.OPS)
    plan = plan_create(shop=shop, user=ops, name="By ops", kind="open", products=[(p1, "10")])
    with pytest.raises(PermissionDenied):
        plan_add_product(plan=plan, product=p2, rate="10", user=bob)
    with pytest.raises(PermissionDenied):
        plan_end(plan=plan, user=bob, reason="mine now")


# Shop-wide and targeted plans ------------------------------------------------------------------------------


def test_a_shop_wide_plan_takes_every_current_eligible_product_at_one_rate(world):
    shop, (p1, p2), alice, _ = world
    warned = warned_product(shop)
    run(DAY + dt.timedelta(days=1))

    plan = plan_create(shop=shop, user=alice, name="All", kind="shop_wide", rate="15")

    rates = dict(PlanProduct.objects.filter(plan=plan).values_list("product_id", "commission_rate"))
    assert rates == {p1.pk: Decimal("15"), p2.pk: Decimal("15")}
    assert warned.pk not in rates
    later = make_product(shop=shop)
    run(DAY + dt.timedelta(days=2))
    assert refused(plan_add_product, plan=plan, product=later, rate="12", user=alice).codes == ["SHOP_WIDE_SINGLE_RATE"]
    plan_add_product(plan=plan, product=later, rate="15", user=alice)
    assert PlanProduct.objects.filter(plan=plan, removed_at__isnull=True).count() == 3


def test_a_shop_wide_plan_checks_its_one_rate_against_the_tier_cap(world):
    shop, _, alice, _ = world
    error = refused(plan_create, shop=shop, user=alice, name="All", kind="shop_wide", rate="26")
    assert error.codes == ["COMMISSION_ABOVE_TIER_CAP"]
    with pytest.raises(ValidationError):
        plan_create(shop=shop, user=alice, name="All", kind="shop_wide", products={world[1][0]: "10"}, rate="10")


def test_a_targeted_plan_invites_creators_and_only_a_targeted_plan_does(world):
    shop, (p1, p2), alice, _ = world
    ann, ben = make_creator(), make_creator()
    plan = plan_create(shop=shop, user=alice, name="VIP", kind="targeted", products=[(p1, "20")], creators=[ann])
    assert list(plan.invited_creators.all()) == [ann]

    invitation = plan_invite_creator(plan=plan, creator=ben, user=alice)
    again = plan_invite_creator(plan=plan, creator=ben, user=alice)

    assert again == invitation
    assert PlanInvitation.objects.filter(plan=plan).count() == 2
    assert AuditEntry.objects.filter(action="plan.invite_creator").count() == 1
    assert AuditEntry.objects.get(action="plan.create").details["creators"] == [ann.key]
    open_plan = plan_create(shop=shop, user=alice, name="Open", kind="open", products=[(p2, "10")])
    assert refused(plan_invite_creator, plan=open_plan, creator=ann, user=alice).codes == ["PLAN_NOT_TARGETED"]
    error = refused(plan_create, shop=shop, user=alice, name="X", kind="open", products=[(p2, "9")], creators=[ann])
    assert error.codes == ["PLAN_NOT_TARGETED"]


def test_the_targeted_rate_applies_to_an_invited_creator_and_the_open_rate_to_others(world):
    shop, (p1, p2), alice, _ = world
    invited, other = make_creator(), make_creator()
    open_plan = plan_create(shop=shop, user=alice, name="Open", kind="open", products=[(p1, "10")])
    plan_create(
        shop=shop, user=alice, name="VIP", kind="targeted", products=[(p1, "22"), (p2, "18")], creators=[invited]
    )

    assert commission_rate_for(creator=invited, product=p1) == Decimal("22")
    assert commission_rate_for(creator=other, product=p1) == Decimal("10")
    assert commission_rate_for(creator=invited, product=p2) == Decimal("18")
    assert commission_rate_for(creator=other, product=p2) is None

    plan_remove_product(plan=open_plan, product=p1, user=alice)
    assert commission_rate_for(creator=other, product=p1) is None


def test_a_terminated_or_ended_plans_rate_no_longer_applies(world):
    shop, (p1, _), alice, _ = world
    creator = make_creator()
    plan = plan_create(shop=shop, user=alice, name="Open", kind="open", products=[(p1, "10")])
    plan_end(plan=plan, user=alice, reason="season over")
    assert commission_rate_for(creator=creator, product=p1) is None


# Changing and ending plans ------------------------------------------------------------------------------------


def test_adding_and_removing_a_product_is_audited_and_the_membership_row_stays(world):
    shop, (p1, p2), alice, _ = world
    plan = plan_create(shop=shop, user=alice, name="Open", kind="open", products=[(p1, "10")])

    membership = plan_add_product(plan=plan, product=p2, rate="11", user=alice)
    assert refused(plan_add_product, plan=plan, product=p2, rate="11", user=alice).codes == ["PRODUCT_ALREADY_IN_PLAN"]
    removed = plan_remove_product(plan=plan, product=p2, user=alice, reason="out of stock")

    assert removed.pk == membership.pk and removed.removed_at is not None
    assert refused(plan_remove_product, plan=plan, product=p2, user=alice).codes == ["PRODUCT_NOT_IN_PLAN"]
    plan_add_product(plan=plan, product=p2, rate="12", user=alice)
    assert PlanProduct.objects.filter(plan=plan, product=p2).count() == 2
    add = AuditEntry.objects.filter(action="plan.add_product").order_by("id").first()
    assert add.details == {"product": p2.key, "rate": "11"}
    remove = AuditEntry.objects.get(action="plan.remove_product")
    assert (remove.reason, remove.details["product"], remove.actor) == ("out of stock", p2.key, alice)


def test_ending_a_plan_needs_a_reason_ends_its_memberships_and_is_audited(world):
    shop, (p1, p2), alice, _ = world
    plan = plan_create(shop=shop, user=alice, name="Open", kind="open", products=[(p1, "10"), (p2, "10")])
    with pytest.raises(ValidationError):
        plan_end(plan=plan, user=alice, reason="  ")

    ended = plan_end(plan=plan, user=alice, reason="season over")

    assert ended.status == "ended" and ended.terminated_at is not None
    assert not PlanProduct.objects.filter(plan=plan, removed_at__isnull=True).exists()
    entry = AuditEntry.objects.get(action="plan.end")
    assert (entry.reason, entry.details, entry.object_id) == ("season over", {"products_removed": 2}, str(plan.pk))


@pytest.mark.parametrize("status", ["terminated", "ended"])
def test_a_plan_that_is_no_longer_active_cannot_be_changed(world, status):
    shop, (p1, p2), alice, _ = world
    plan = make_plan(shop=shop, kind="targeted", status=status)
    add_to_plan(plan, p1)
    calls = [
        (plan_add_product, {"product": p2, "rate": "10"}),
        (plan_remove_product, {"product": p1}),
        (plan_end, {"reason": "again"}),
        (plan_invite_creator, {"creator": make_creator()}),
    ]
    for call, kw in calls:
        error = refused(call, plan=plan, user=alice, **kw)
        assert error.codes == ["PLAN_NOT_ACTIVE"]
        assert "can no longer be changed" in error.message
    assert not AuditEntry.objects.exists()


def test_a_refused_change_writes_nothing(world):
    shop, (p1, p2), alice, _ = world
    error = refused(plan_create, shop=shop, user=alice, name="X", kind="open", products=[(p1, "10"), (p2, "90")])
    assert error.codes == ["COMMISSION_OUT_OF_RANGE"]
    assert not AffiliatePlan.objects.exists()
    assert not PlanProduct.objects.exists()
    assert not AuditEntry.objects.exists()


def test_every_plan_change_leaves_one_audit_entry(world):
    shop, (p1, p2), alice, _ = world
    creator = make_creator()
    plan = plan_create(shop=shop, user=alice, name="VIP", kind="targeted", products=[(p1, "10")])
    plan_add_product(plan=plan, product=p2, rate="10", user=alice)
    plan_invite_creator(plan=plan, creator=creator, user=alice)
    plan_remove_product(plan=plan, product=p2, user=alice)
    plan_end(plan=plan, user=alice, reason="done")

    entries = AuditEntry.objects.filter(object_type="plan", object_id=str(plan.pk)).order_by("id")
    assert [e.action for e in entries] == [
        "plan.create",
        "plan.add_product",
        "plan.invite_creator",
        "plan.remove_product",
        "plan.end",
    ]
    assert {e.actor for e in entries} == {alice}


# Recreating plans after recovery (S8) ---------------------------------------------------------------------


def test_after_recovery_one_step_recreates_the_terminated_plans_and_the_old_ones_stay_terminated():
    shop = make_shop(tier="gold")
    kept = make_product(shop=shop)
    lost = make_product(shop=shop)
    alice, carol = seller_of(shop), seller_of(shop)
    creator = make_creator()
    run()
    open_plan = plan_create(shop=shop, user=alice, name="Open", kind="open", products=[(kept, "28"), (lost, "10")])
    targeted = plan_create(
        shop=shop, user=alice, name="VIP", kind="targeted", products=[(kept, "30")], creators=[creator]
    )
    Shop.objects.filter(pk=shop.pk).update(sps=Decimal("2.5"))
    run(DAY + dt.timedelta(days=1))
    assert set(AffiliatePlan.objects.values_list("status", flat=True)) == {"terminated"}
    with pytest.raises(PlanRefused) as while_disqualified:
        plans_recreate(shop=shop, user=alice)
    assert while_disqualified.value.codes == ["SPS_BELOW_DISQUALIFY"]

    # Recovery; one product is still counterfeit, and the shop has dropped to silver (cap 25).
    Shop.objects.filter(pk=shop.pk).update(sps=Decimal("4.5"), tier="silver")
    Product.objects.filter(pk=lost.pk).update(counterfeit_flag=True)
    run(DAY + dt.timedelta(days=2))

    results = plans_recreate(shop=shop, user=alice)

    assert [r.old for r in results] == [open_plan, targeted]
    new_open, new_targeted = (r.new for r in results)
    assert (new_open.name, new_open.kind, new_open.recreated_from, new_open.status) == (
        "Open",
        "open",
        open_plan,
        "active",
    )
    assert results[0].skipped == {lost.key: ["COUNTERFEIT_FLAG"]}
    assert results[0].capped == {kept.key: (Decimal("28"), Decimal("25"))}
    assert dict(PlanProduct.objects.filter(plan=new_open).values_list("product", "commission_rate")) == {
        kept.pk: Decimal("25")
    }
    assert list(new_targeted.invited_creators.all()) == [creator]
    assert commission_rate_for(creator=creator, product=kept) == Decimal("25")
    open_plan.refresh_from_db()
    assert open_plan.status == "terminated"
    assert PlanProduct.objects.filter(plan=open_plan, removed_at__isnull=True).count() == 0

    audit = AuditEntry.objects.get(action="plan.recreate", object_id=str(new_open.pk))
    assert audit.details["recreated_from"] == open_plan.pk
    assert audit.details["skipped"] == {lost.key: ["COUNTERFEIT_FLAG"]}
    assert audit.details["capped"] == {kept.key: ["28", "25"]}
    for user in (alice, carol):
        notes = Notification.objects.filter(user=user, context__event="plan.recreated")
        assert sorted(n.context["plan_id"] for n in notes) == [new_open.pk, new_targeted.pk]
        assert {n.kind for n in notes} == {"plan"}

    assert plans_recreate(shop=shop, user=alice) == []
    assert AffiliatePlan.objects.filter(recreated_from__isnull=False).count() == 2


def test_a_terminated_plan_with_no_product_eligible_now_is_reported_and_not_recreated():
    shop = make_shop()
    product = make_product(shop=shop)
    alice = seller_of(shop)
    run()
    plan = plan_create(shop=shop, user=alice, name="Open", kind="open", products=[(product, "10")])
    Shop.objects.filter(pk=shop.pk).update(sps=Decimal("2.5"))
    run(DAY + dt.timedelta(days=1))
    Shop.objects.filter(pk=shop.pk).update(sps=Decimal("4.5"))
    Product.objects.filter(pk=product.pk).update(listing_status="delisted")
    run(DAY + dt.timedelta(days=2))

    [result] = plans_recreate(shop=shop, user=alice, plans=[plan])

    assert result.new is None and result.skipped == {product.key: ["LISTING_DELISTED"]}
    assert AffiliatePlan.objects.count() == 1
    assert not Notification.objects.filter(context__event="plan.recreated").exists()


def test_only_terminated_plans_of_the_shop_not_yet_recreated_can_be_recreated(world):
    shop, (p1, _), alice, _ = world
    running = plan_create(shop=shop, user=alice, name="Open", kind="open", products=[(p1, "10")])
    ended = plan_create(shop=shop, user=alice, name="Ended", kind="open", products=[(p1, "10")])
    plan_end(plan=ended, user=alice, reason="done")
    error = refused(plans_recreate, shop=shop, user=alice, plans=[running, ended])
    assert error.codes == ["PLAN_NOT_TERMINATED"]
    assert error.details == {"plans": {running.pk: "PLAN_NOT_TERMINATED", ended.pk: "PLAN_NOT_TERMINATED"}}
    assert plans_recreate(shop=shop, user=alice) == []
