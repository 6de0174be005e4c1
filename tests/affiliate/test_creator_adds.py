import datetime as dt
from decimal import Decimal

import pytest
from django.core import mail
from django.core.exceptions import ValidationError

from affiliate.models import Creator, CreatorAdd, PlanProduct
from affiliate.selectors import commission_rate_for, creator_precheck
from affiliate.services import creator_add_product, plan_create
from shops.models import Notification, Override, Product, RuleSet, SellerMembership, Shop, User
from shops.services.evaluation import evaluation_run_inline
from shops.services.notification_render import notification_render
from tests.factories import make_category, make_creator, make_product, make_shop, make_user

pytestmark = pytest.mark.django_db

DAY = dt.date(2026, 11, 20)


def run(day=DAY):
    return evaluation_run_inline(as_of=day)


def creator_user(creator: Creator, **kw) -> User:
    return make_user(role=User.Role.CREATOR, creator=creator, **kw)


@pytest.fixture
def beauty():
    """An eligible shop with a product of the gated Beauty category and one of non-gated Home."""
    shop = make_shop()
    gated = make_product(shop=shop, category=make_category(name="Beauty", gated=True))
    open_ = make_product(shop=shop, category=make_category(name="Home", gated=False))
    return shop, gated, open_


@pytest.mark.parametrize(
    ("scores", "codes"),
    [
        ({"pps": Decimal("3.4")}, ["PPS_BELOW_MIN"]),
        ({"chr": Decimal("149")}, ["CHR_BELOW_MIN"]),
        ({"pps": None}, ["PPS_MISSING"]),
        ({"chr": None}, ["CHR_MISSING"]),
        ({"pps": Decimal("3.0"), "chr": None}, ["PPS_BELOW_MIN", "CHR_MISSING"]),
    ],
)
def test_a_not_qualified_creator_is_refused_a_gated_product_with_its_reasons_and_notified_once(
    beauty, scores, codes, django_capture_on_commit_callbacks
):
    _, gated, _ = beauty
    creator = make_creator(**scores)
    user = creator_user(creator, email="ann@example.com")
    run()

    with django_capture_on_commit_callbacks(execute=True):
        add = creator_add_product(creator=creator, product=gated, placement="showcase")

    assert (add.accepted, add.reasons, add.placement) == (False, codes, "showcase")
    assert CreatorAdd.objects.get() == add
    assert add.details["pps_min"] == "3.5" and add.details["chr_min"] == "150"
    assert add.details["category"] == "Beauty" and add.details["gated"] is True
    note = Notification.objects.get(user=user, kind="refusal")
    assert (note.kind, note.subject, note.dedupe_key) == ("refusal", f"product:{gated.key}", f"creator_add:{add.pk}")
    assert note.context["event"] == "creator_add.refused"
    assert note.context["reasons"] == codes and note.context["placement"] == "showcase"
    assert note.context["details"] == add.details
    # E-mailed at once, not in a digest.
    refusals = [m for m in mail.outbox if gated.key in m.subject]
    assert [m.to for m in refusals] == [["ann@example.com"]]


def test_the_refusal_records_the_figures_and_the_rule_set_in_force(beauty):
    _, gated, _ = beauty
    RuleSet.objects.create(version=2, market="", effective_from=DAY - dt.timedelta(days=1), pps_min=Decimal("3.8"))
    creator = make_creator(pps=Decimal("3.6000"), chr=Decimal("180"))
    run()

    add = creator_add_product(creator=creator, product=gated, placement="live")

    assert add.reasons == ["PPS_BELOW_MIN"]
    assert add.details == {
        "pps": "3.6",
        "chr": "180",
        "pps_min": "3.8",
        "chr_min": "150",
        "category": "Beauty",
        "gated": True,
        "ruleset_version": 2,
    }


def test_the_refusal_notice_renders_a_title_reasons_and_figures(beauty):
    _, gated, _ = beauty
    creator = make_creator(pps=Decimal("3.4"))
    user = creator_user(creator)
    run()
    creator_add_product(creator=creator, product=gated, placement="video")

    rendered = notification_render(Notification.objects.get(user=user, kind="refusal"))

    # The wording belongs to the renderer; what matters here is that the context feeds it.
    assert gated.key in rendered.title and "video" in rendered.title
    assert any("3.5" in reason for reason in rendered.reasons)
    assert any(value.startswith("3.4") for _, value in rendered.figures)


def test_each_refused_attempt_is_recorded_and_notified_once(beauty):
    _, gated, _ = beauty
    creator = make_creator(pps=Decimal("3.4"))
    users = [creator_user(creator), creator_user(creator)]
    run()

    first = creator_add_product(creator=creator, product=gated, placement="showcase")
    second = creator_add_product(creator=creator, product=gated, placement="showcase")

    assert CreatorAdd.objects.filter(accepted=False).count() == 2
    for user in users:
        keys = sorted(Notification.objects.filter(user=user, kind="refusal").values_list("dedupe_key", flat=True))
        assert keys == sorted([f"creator_add:{first.pk}", f"creator_add:{second.pk}"])


def test_an_unevaluated_creator_is_refused_a_gated_product_as_not_evaluated(beauty):
    _, gated, open_ = beauty
    run()
    creator = make_creator()  # created after the run: no verdict yet
    add = creator_add_product(creator=creator, product=gated, placement="showcase")
    assert (add.accepted, add.reasons) == (False, ["NOT_EVALUATED"])
    assert creator_add_product(creator=creator, product=open_, placement="showcase").accepted


def test_a_non_gated_product_needs_no_creator_threshold(beauty):
    _, _, open_ = beauty
    creator = make_creator(pps=None, chr=Decimal("10"))
    user = creator_user(creator)
    run()

    add = creator_add_product(creator=creator, product=open_, placement="live")

    assert (add.accepted, add.reasons) == (True, [])
    assert add.details["gated"] is False and add.details["pps"] is None
    assert not Notification.objects.filter(user=user, kind="refusal").exists()


def test_a_qualified_creator_adds_a_gated_product(beauty):
    _, gated, _ = beauty
    creator = make_creator(pps=Decimal("3.5"), chr=Decimal("150"))
    run()
    assert creator_add_product(creator=creator, product=gated, placement="video").accepted


def test_an_ops_override_qualifies_a_creator(beauty):
    _, gated, _ = beauty
    creator = make_creator(pps=Decimal("3.0"))
    run()
    Override.objects.create(
        entity="creator",
        entity_id=creator.pk,
        entity_key=creator.key,
        status="QUALIFIED",
        reason="Score feed was late",
        created_by=make_user(role=User.Role.OPS),
    )
    assert creator_add_product(creator=creator, product=gated, placement="video").accepted


def test_a_product_that_cannot_join_affiliate_is_refused_to_everyone_with_the_product_codes(beauty):
    shop, _, open_ = beauty
    warned = make_product(shop=shop, category=make_category(avg_nrr_30d=Decimal("0.01")), negative_reviews_30d=2)
    qualified = make_creator()
    user = creator_user(qualified)
    run()

    add = creator_add_product(creator=qualified, product=warned, placement="showcase")

    assert (add.accepted, add.reasons) == (False, ["NRR_ABOVE_WARNING"])
    assert Notification.objects.filter(user=user, dedupe_key=f"creator_add:{add.pk}").count() == 1


def test_a_restricted_shops_products_are_refused_with_the_shop_codes():
    shop = make_shop(sps=Decimal("3.2"))
    product = make_product(shop=shop)
    run()
    add = creator_add_product(creator=make_creator(), product=product, placement="showcase")
    assert (add.accepted, add.reasons) == (False, ["SPS_BELOW_ELIGIBLE"])


def test_a_disqualified_shops_products_report_the_product_then_the_shop_codes():
    shop = make_shop(sps=Decimal("2.5"))
    product = make_product(shop=shop, category=make_category(gated=True))
    creator = make_creator(chr=Decimal("100"))
    run()
    add = creator_add_product(creator=creator, product=product, placement="showcase")
    assert add.reasons == ["SHOP_DISQUALIFIED", "SPS_BELOW_DISQUALIFY", "CHR_BELOW_MIN"]


def test_an_unevaluated_product_is_refused_to_everyone_as_not_evaluated(beauty):
    shop, _, _ = beauty
    run()
    fresh = make_product(shop=shop)
    add = creator_add_product(creator=make_creator(), product=fresh, placement="showcase")
    assert (add.accepted, add.reasons) == (False, ["NOT_EVALUATED"])


def test_losing_qualification_never_removes_an_accepted_add(beauty):
    shop, gated, _ = beauty
    creator = make_creator()
    seller = make_user()
    SellerMembership.objects.create(user=seller, seller=shop.seller)
    run()
    add = creator_add_product(creator=creator, product=gated, placement="showcase")
    plan_create(shop=shop, user=seller, name="Open", kind="open", products=[(gated, "15")])
    Creator.objects.filter(pk=creator.pk).update(pps=Decimal("2.0"))
    run(DAY + dt.timedelta(days=1))
    creator.refresh_from_db()
    assert creator.status == "NOT_QUALIFIED"

    add.refresh_from_db()
    assert add.accepted
    assert CreatorAdd.objects.filter(creator=creator, accepted=True).count() == 1
    assert commission_rate_for(creator=creator, product=gated) == Decimal("15")
    assert not creator_add_product(creator=creator, product=gated, placement="live").accepted


def test_an_unknown_placement_is_a_validation_error(beauty):
    _, gated, _ = beauty
    with pytest.raises(ValidationError):
        creator_add_product(creator=make_creator(), product=gated, placement="billboard")
    assert not CreatorAdd.objects.exists()


# Pre-check ----------------------------------------------------------------------------------------------


def test_the_precheck_says_per_product_whether_the_creator_could_promote_it(beauty, django_assert_num_queries):
    shop, gated, open_ = beauty
    both = make_product(shop=shop, category=make_category(name="Jewellery", gated=True))
    warned = make_product(shop=shop, category=make_category(name="Toys", avg_nrr_30d=Decimal("0.01")))
    seller = make_user()
    SellerMembership.objects.create(user=seller, seller=shop.seller)
    creator = make_creator(pps=Decimal("3.4"), chr=Decimal("120"))
    run()
    plan = plan_create(
        shop=shop, user=seller, name="VIP", kind="targeted", products=[(gated, "10"), (open_, "10"), (both, "10")]
    )
    Product.objects.filter(pk=warned.pk).update(status="WARNING", reasons=["NRR_ABOVE_WARNING"])
    PlanProduct.objects.create(plan=plan, product=warned, commission_rate=Decimal("10"))
    adds_before = CreatorAdd.objects.count()

    with django_assert_num_queries(7):
        results = {r.product.key: r for r in creator_precheck(creator=creator, plan=plan)}

    assert results[gated.key].may_promote is False
    assert results[gated.key].codes == ["PPS_BELOW_MIN", "CHR_BELOW_MIN"]
    assert results[gated.key].message == "This creator cannot promote Beauty: PPS 3.4 < 3.5, CHR 120 < 150"
    assert results[open_.key].may_promote is True
    assert results[open_.key].message == "Home is not gated: any creator can promote it."
    assert results[warned.key].codes == ["NRR_ABOVE_WARNING"]
    assert results[warned.key].message.startswith(f"No creator can promote {warned.title} now: ")
    assert results[both.key].details["category"] == "Jewellery"
    assert CreatorAdd.objects.count() == adds_before


def test_the_precheck_of_a_qualified_and_an_unscored_creator(beauty):
    shop, gated, _ = beauty
    seller = make_user()
    SellerMembership.objects.create(user=seller, seller=shop.seller)
    qualified, unscored = make_creator(), make_creator(pps=None, chr=None)
    run()
    plan = plan_create(shop=shop, user=seller, name="VIP", kind="targeted", products=[(gated, "10")])

    [ok] = creator_precheck(creator=qualified, plan=plan)
    [missing] = creator_precheck(creator=unscored, plan=plan)
    [fresh] = creator_precheck(creator=make_creator(), plan=plan)

    assert (ok.may_promote, ok.message) == (True, "This creator can promote Beauty.")
    assert missing.message == "This creator cannot promote Beauty: no PPS yet (3.5 needed), no CHR yet (150 needed)"
    assert fresh.message == "This creator cannot promote Beauty: not evaluated yet"
    assert Shop.objects.get(pk=shop.pk).status == "ELIGIBLE"
