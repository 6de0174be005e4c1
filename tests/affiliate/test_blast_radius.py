import datetime as dt
from decimal import Decimal

import pytest
from django.utils import timezone

from affiliate.models import AffiliatePlan, CreatorAdd, PlanInvitation, PlanProduct
from affiliate.selectors import blast_radius_actual, blast_radius_preview
from shops.models import Product, Shop
from shops.services.evaluation import evaluation_run_inline
from tests.factories import add_to_plan, make_creator, make_plan, make_product, make_shop

pytestmark = pytest.mark.django_db

DAY = dt.date(2026, 11, 20)


def run(day=DAY):
    return evaluation_run_inline(as_of=day)


def added(creator, product, accepted=True):
    return CreatorAdd.objects.create(creator=creator, product=product, placement="showcase", accepted=accepted)


@pytest.fixture
def shop_world():
    """A shop with an open and a targeted plan, an ended plan, invited and adding creators."""
    shop = make_shop()
    p1, p2, p3, idle = (make_product(shop=shop) for _ in range(4))
    open_plan = make_plan(shop=shop, name="Open")
    targeted = make_plan(shop=shop, name="VIP", kind=AffiliatePlan.Kind.TARGETED)
    ended = make_plan(shop=shop, name="Old", status=AffiliatePlan.Status.ENDED)
    add_to_plan(open_plan, p1)
    add_to_plan(open_plan, p2)
    add_to_plan(targeted, p2)
    add_to_plan(targeted, p3)
    add_to_plan(ended, idle)
    PlanProduct.objects.filter(plan=ended).update(removed_at=timezone.now())  # as plan_end leaves it
    invited, adder, refused, bystander = (make_creator() for _ in range(4))
    PlanInvitation.objects.create(plan=targeted, creator=invited)
    PlanInvitation.objects.create(plan=ended, creator=bystander)
    added(adder, p1)
    added(refused, p3, accepted=False)
    added(bystander, idle)
    other_shop_plan = make_plan()
    add_to_plan(other_shop_plan, make_product(shop=other_shop_plan.shop))
    run()
    return {
        "shop": shop,
        "plans": (open_plan, targeted, ended),
        "products": (p1, p2, p3, idle),
        "creators": (invited, adder, refused, bystander),
    }


def test_a_shop_preview_lists_its_active_plans_the_products_leaving_and_the_creators_affected(
    shop_world, django_assert_num_queries
):
    open_plan, targeted, _ = shop_world["plans"]
    p1, p2, p3, _ = shop_world["products"]
    invited, adder, _, _ = shop_world["creators"]

    with django_assert_num_queries(3):
        preview = blast_radius_preview(shop=shop_world["shop"])
        products = preview.products
        plans_of_memberships = {m.plan.name for m in preview.memberships}

    assert set(preview.plans) == {open_plan, targeted}
    assert preview.plans_end is True
    assert products == sorted([p1, p2, p3], key=lambda p: p.key)
    assert len(preview.memberships) == 4 and plans_of_memberships == {"Open", "VIP"}
    assert set(preview.creators) == {invited, adder}
    assert preview.run is None


def test_a_product_preview_lists_the_plans_it_would_leave_and_who_is_affected(shop_world, django_assert_num_queries):
    open_plan, targeted, _ = shop_world["plans"]
    p1, p2, _, _ = shop_world["products"]
    invited, adder, _, _ = shop_world["creators"]

    with django_assert_num_queries(3):
        preview = blast_radius_preview(product=p2)
        products = preview.products

    assert set(preview.plans) == {open_plan, targeted}
    assert preview.plans_end is False
    assert products == [p2]
    assert set(preview.creators) == {invited}
    assert set(blast_radius_preview(product=p1).creators) == {adder}


def test_the_preview_takes_the_same_number_of_queries_for_a_bigger_shop(shop_world, django_assert_num_queries):
    shop = shop_world["shop"]
    for _ in range(5):
        plan = make_plan(shop=shop, kind=AffiliatePlan.Kind.TARGETED)
        for _ in range(3):
            product = make_product(shop=shop)
            add_to_plan(plan, product)
            added(make_creator(), product)
        PlanInvitation.objects.create(plan=plan, creator=make_creator())

    with django_assert_num_queries(3):
        preview = blast_radius_preview(shop=shop)
        assert len(preview.products) == 3 + 15

    assert len(preview.plans) == 7
    assert len(preview.creators) == 2 + 15 + 5


def test_the_actual_blast_radius_of_a_real_disqualification_matches_the_preview(shop_world, django_assert_num_queries):
    shop = shop_world["shop"]
    open_plan, targeted, ended = shop_world["plans"]
    preview = blast_radius_preview(shop=shop)
    Shop.objects.filter(pk=shop.pk).update(sps=Decimal("2.5"))
    disqualifying = run(DAY + dt.timedelta(days=1))
    run(DAY + dt.timedelta(days=2))  # a later run changes nothing and is not the disqualification

    with django_assert_num_queries(4):
        actual = blast_radius_actual(shop=shop)
        products = actual.products

    assert actual.run == disqualifying
    assert set(actual.plans) == {open_plan, targeted}
    assert all(plan.status == "terminated" and plan.terminated_by_run_id == disqualifying.pk for plan in actual.plans)
    assert {(m.plan_id, m.product_id) for m in actual.memberships} == {
        (m.plan_id, m.product_id) for m in preview.memberships
    }
    assert all(m.removal_reasons == ["SHOP_DISQUALIFIED", "SPS_BELOW_DISQUALIFY"] for m in actual.memberships)
    assert products == preview.products
    assert set(actual.creators) == set(preview.creators)
    assert ended not in actual.plans
    assert blast_radius_preview(shop=shop).plans == []

    with django_assert_num_queries(3):
        assert blast_radius_actual(shop=shop, run=disqualifying).plans == actual.plans


def test_the_actual_blast_radius_of_a_disqualified_product_lists_the_plans_it_left(shop_world):
    open_plan, targeted, _ = shop_world["plans"]
    _, p2, _, _ = shop_world["products"]
    invited, _, _, _ = shop_world["creators"]
    Product.objects.filter(pk=p2.pk).update(counterfeit_flag=True)
    disqualifying = run(DAY + dt.timedelta(days=1))

    actual = blast_radius_actual(product=p2)

    assert actual.run == disqualifying
    assert set(actual.plans) == {open_plan, targeted}
    assert all(plan.status == "active" for plan in actual.plans)
    assert [m.removal_reasons for m in actual.memberships] == [["COUNTERFEIT_FLAG"], ["COUNTERFEIT_FLAG"]]
    assert actual.products == [p2]
    assert set(actual.creators) == {invited}


def test_the_latest_disqualification_is_the_one_reported(shop_world):
    shop = shop_world["shop"]
    p1 = shop_world["products"][0]
    Shop.objects.filter(pk=shop.pk).update(sps=Decimal("2.5"))
    first = run(DAY + dt.timedelta(days=1))
    Shop.objects.filter(pk=shop.pk).update(sps=Decimal("4.5"))
    run(DAY + dt.timedelta(days=2))
    new_plan = make_plan(shop=shop, name="After recovery")
    add_to_plan(new_plan, p1)
    Shop.objects.filter(pk=shop.pk).update(sps=Decimal("2.0"))
    second = run(DAY + dt.timedelta(days=3))

    assert blast_radius_actual(shop=shop).run == second
    assert blast_radius_actual(shop=shop).plans == [new_plan]
    assert len(blast_radius_actual(shop=shop, run=first).plans) == 2


def test_nothing_ended_when_the_entity_was_never_disqualified(shop_world, django_assert_num_queries):
    with django_assert_num_queries(1):
        actual = blast_radius_actual(shop=shop_world["shop"])
    assert (actual.run, actual.plans, actual.memberships, actual.creators) == (None, [], [], [])


def test_exactly_one_target_is_required():
    with pytest.raises(TypeError):
        blast_radius_preview()
    with pytest.raises(TypeError):
        blast_radius_actual(shop=make_shop(), product=make_product())
