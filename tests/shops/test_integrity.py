"""Account integrity (seed 001): shops per licence, forced unbinding, the 90-day ban, recovery, history."""

import datetime as dt
import io
import json
from decimal import Decimal

import pytest
from django.core.exceptions import PermissionDenied, ValidationError
from django.core.files.uploadedfile import SimpleUploadedFile
from django.core.management import CommandError, call_command

from affiliate.models import AffiliatePlan, PlanProduct
from shops.models import (
    AuditEntry,
    LicenceFlag,
    Notification,
    RecoveryReview,
    SellerMembership,
    Shop,
    ShopSnapshot,
    ShopUnbinding,
    StatusHistory,
    User,
)
from shops.services.evaluation import evaluation_run_inline
from shops.services.integrity import (
    business_history_report,
    licence_flag_resolve,
    licence_rebind_allowed_on,
    licences_flag_refresh,
    recovery_decide,
    recovery_record_exam,
    recovery_review_open,
    recovery_submit_documents,
    recovery_submit_letter,
    shop_force_unbind,
    shop_rebind,
)
from tests.factories import add_to_plan, make_plan, make_product, make_seller, make_shop, make_user

pytestmark = pytest.mark.django_db

DAY = dt.date(2026, 1, 5)
UNBOUND_AT = dt.datetime(2026, 1, 5, 10, 30, tzinfo=dt.UTC)
BAN_ENDS = dt.date(2026, 4, 5)  # 2026-01-05 + 90 days
MB = 1024 * 1024

PDF = b"%PDF-1.7\n% recovery evidence\n"
PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 16
JPG = b"\xff\xd8\xff\xe0" + b"\x00" * 16


@pytest.fixture(autouse=True)
def media(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path
    return tmp_path


@pytest.fixture
def ops():
    return make_user(role=User.Role.OPS)


def member_of(seller, **kw) -> User:
    user = make_user(role=User.Role.SELLER, **kw)
    SellerMembership.objects.create(user=user, seller=seller)
    return user


def pdf(name="letter.pdf", content=PDF) -> SimpleUploadedFile:
    return SimpleUploadedFile(name, content, content_type="application/pdf")


def notes(event: str, user: User | None = None):
    found = Notification.objects.filter(context__event=event)
    return found.filter(user=user) if user is not None else found


def audit(action: str):
    return AuditEntry.objects.filter(action=action)


def shops_on(licence: str, count: int, **kw) -> list[Shop]:
    """``count`` shops on one licence, spread over two sellers that share it."""
    sellers = [make_seller(business_licence_no=licence), make_seller(business_licence_no=licence)]
    return [make_shop(seller=sellers[n % 2], **kw) for n in range(count)]


# Shops per licence -----------------------------------------------------------------------------------


def test_three_active_shops_on_a_licence_raise_no_flag():
    shops_on("BL-3", 3)

    assert licences_flag_refresh() == []
    assert not LicenceFlag.objects.exists()


def test_a_fourth_active_shop_raises_one_open_flag_naming_every_shop_of_the_licence():
    shops = shops_on("BL-4", 4)
    shops_on("BL-OK", 3)

    [flag] = licences_flag_refresh()

    assert flag.business_licence_no == "BL-4" and flag.resolved_at is None
    assert flag.active_shops == 4
    assert flag.shop_keys == sorted(shop.key for shop in shops)
    assert LicenceFlag.objects.count() == 1


def test_refreshing_again_updates_the_open_flag_and_never_duplicates_it():
    shops = shops_on("BL-4", 4)
    first = licences_flag_refresh(now=UNBOUND_AT)
    licences_flag_refresh()
    extra = make_shop(seller=shops[0].seller)

    [flag] = licences_flag_refresh()

    assert flag.pk == first[0].pk and LicenceFlag.objects.count() == 1
    assert flag.active_shops == 5 and extra.key in flag.shop_keys
    assert flag.flagged_at == UNBOUND_AT  # when it was first found


@pytest.mark.parametrize(
    "fourth",
    [
        {"account_status": "suspended_temporary"},
        {"account_status": "suspended_permanent"},
        {"account_status": "closed"},
    ],
)
def test_a_shop_that_is_not_active_does_not_count(fourth):
    shops = shops_on("BL-4", 3)
    make_shop(seller=shops[0].seller, **fourth)

    assert licences_flag_refresh() == []


def test_an_unbound_shop_does_not_count(ops):
    shops = shops_on("BL-4", 4)
    shop_force_unbind(shop=shops[0], user=ops, reason="Four shops on one licence")

    assert licences_flag_refresh() == []


def test_each_ops_user_is_told_once_about_each_flag(ops):
    admin = make_user(role=User.Role.OPS_ADMIN)
    retired = make_user(role=User.Role.OPS, is_active=False)
    shops = shops_on("BL-4", 4)
    seller_member = member_of(shops[0].seller)

    licences_flag_refresh()
    [flag] = licences_flag_refresh()

    assert notes("licence.flagged").count() == 2
    for user in (ops, admin):
        note = notes("licence.flagged", user).get()
        assert note.dedupe_key == f"licence_flag:{flag.pk}" and note.kind == "account"
        assert (note.context["licence"], note.context["count"], note.context["limit"]) == ("BL-4", 4, 3)
        assert note.context["shops"] == flag.shop_keys
    assert not notes("licence.flagged", retired).exists()
    assert not notes("licence.flagged", seller_member).exists()


def test_a_new_flag_is_audited_once_as_a_system_action():
    shops_on("BL-4", 4)
    licences_flag_refresh()
    [flag] = licences_flag_refresh()

    entry = audit("licence_flag.raise").get()
    assert entry.actor is None and entry.object_id == str(flag.pk)
    assert entry.details["business_licence_no"] == "BL-4"


def test_the_refresh_reads_the_shops_with_one_query_however_many_licences(django_assert_num_queries):
    for n in range(3):
        shops_on(f"BL-OK-{n}", 3)

    with django_assert_num_queries(1):
        licences_flag_refresh()


@pytest.mark.parametrize("licences", [1, 3])
def test_the_refresh_costs_the_same_for_one_or_many_flagged_licences(ops, django_assert_num_queries, licences):
    shops_on("BL-A", 4)
    licences_flag_refresh()
    for n in range(licences):
        shops_on(f"BL-MORE-{n}", 5)

    # Shops; savepoint; open flags, insert, date, read; audit; ops users; dedupe, insert notifications; release.
    with django_assert_num_queries(11):
        flags = licences_flag_refresh()
    assert len(flags) == licences + 1


def test_only_ops_resolve_a_flag_and_they_say_how(ops):
    shops = shops_on("BL-4", 4)
    [flag] = licences_flag_refresh()

    with pytest.raises(PermissionDenied):
        licence_flag_resolve(flag=flag, user=member_of(shops[0].seller), resolution="fine")
    with pytest.raises(ValidationError, match="resolution is required"):
        licence_flag_resolve(flag=flag, user=ops, resolution="  ")
    licence_flag_resolve(flag=flag, user=ops, resolution="Unbound SHOP 4")

    flag.refresh_from_db()
    assert flag.resolved_by == ops and flag.resolution == "Unbound SHOP 4" and flag.resolved_at
    entry = audit("licence_flag.resolve").get()
    assert entry.actor == ops and entry.reason == "Unbound SHOP 4"
    with pytest.raises(ValidationError, match="already resolved"):
        licence_flag_resolve(flag=flag, user=ops, resolution="again")


def test_a_licence_still_over_the_limit_after_a_resolution_gets_a_new_flag(ops):
    shops_on("BL-4", 4)
    [old] = licences_flag_refresh()
    licence_flag_resolve(flag=old, user=ops, resolution="Seller asked for a week")

    [new] = licences_flag_refresh()

    assert new.pk != old.pk
    assert notes("licence.flagged", ops).count() == 2


# Forced unbinding -------------------------------------------------------------------------------------------


@pytest.fixture
def bound_shop():
    """An evaluated shop with two running plans, an ended one, products and daily snapshots."""
    shop = make_shop(seller=make_seller(business_licence_no="BL-77"))
    products = [make_product(shop=shop) for _ in range(2)]
    plans = [make_plan(shop=shop), make_plan(shop=shop)]
    for plan in plans:
        for product in products:
            add_to_plan(plan, product)
    make_plan(shop=shop, status=AffiliatePlan.Status.ENDED)
    for offset in range(3):
        ShopSnapshot.objects.create(
            shop=shop, date=DAY - dt.timedelta(days=offset), account_status="active", orders_90d=100, sps=Decimal("4.2")
        )
    evaluation_run_inline(as_of=DAY)
    shop.refresh_from_db()
    return shop


def test_only_ops_unbind_a_shop_and_only_with_a_reason(ops, bound_shop):
    with pytest.raises(PermissionDenied, match="Only ops staff can unbind a shop"):
        shop_force_unbind(shop=bound_shop, user=member_of(bound_shop.seller), reason="mine")
    with pytest.raises(ValidationError, match="reason is required"):
        shop_force_unbind(shop=bound_shop, user=ops, reason=" ")

    bound_shop.refresh_from_db()
    assert bound_shop.unbound_at is None and not ShopUnbinding.objects.exists()
    assert AffiliatePlan.objects.filter(status="active").count() == 2


def test_unbinding_ends_plans_removes_products_resets_scores_and_keeps_the_history(ops, bound_shop):
    history = list(StatusHistory.objects.values_list("id", flat=True))

    unbinding = shop_force_unbind(shop=bound_shop, user=ops, reason="Five shops on licence BL-77", now=UNBOUND_AT)

    for plan in AffiliatePlan.objects.exclude(status="ended"):
        assert (plan.status, plan.terminated_at, plan.termination_reasons) == (
            "terminated",
            UNBOUND_AT,
            ["SHOP_UNBOUND"],
        )
    assert AffiliatePlan.objects.get(status="ended").termination_reasons == []
    memberships = PlanProduct.objects.all()
    assert memberships.count() == 4
    assert all(m.removed_at == UNBOUND_AT and m.removal_reasons == ["SHOP_UNBOUND"] for m in memberships)
    assert (bound_shop.sps, bound_shop.orders_90d, bound_shop.unbound_at) == (None, 0, UNBOUND_AT)
    assert bound_shop.status == "ELIGIBLE"  # the verdict is the engine's to change
    assert ShopSnapshot.objects.filter(shop=bound_shop, sps=Decimal("4.2")).count() == 3
    assert list(StatusHistory.objects.values_list("id", flat=True)) == history
    assert (unbinding.business_licence_no, unbinding.unbound_at) == ("BL-77", UNBOUND_AT)
    assert unbinding.rebind_allowed_on == BAN_ENDS and unbinding.created_by == ops
    entry = audit("shop.force_unbind").get()
    assert (entry.actor, entry.object_id, entry.reason) == (ops, bound_shop.key, "Five shops on licence BL-77")
    assert entry.details["memberships_removed"] == 4 and len(entry.details["plans_terminated"]) == 2
    assert entry.details["scores_before"] == {"sps": "4.2000", "orders_90d": 100}


def test_a_second_unbind_of_an_unbound_shop_is_refused(ops, bound_shop):
    shop_force_unbind(shop=bound_shop, user=ops, reason="First", now=UNBOUND_AT)

    with pytest.raises(ValidationError, match="already unbound \\(since 2026-01-05\\)"):
        shop_force_unbind(shop=bound_shop, user=ops, reason="Second")
    assert ShopUnbinding.objects.count() == 1 and audit("shop.force_unbind").count() == 1


def test_the_next_run_disqualifies_the_unbound_shop_and_its_products(ops, bound_shop):
    shop_force_unbind(shop=bound_shop, user=ops, reason="Licence abuse")

    evaluation_run_inline(as_of=DAY + dt.timedelta(days=1))

    bound_shop.refresh_from_db()
    assert (bound_shop.status, bound_shop.reasons) == ("DISQUALIFIED", ["SHOP_UNBOUND"])
    row = StatusHistory.objects.filter(entity="shop", entity_id=bound_shop.pk).first()
    assert (row.old_status, row.new_status, row.new_reasons) == ("ELIGIBLE", "DISQUALIFIED", ["SHOP_UNBOUND"])
    assert set(bound_shop.products.values_list("status", flat=True)) == {"DISQUALIFIED"}


def test_seller_members_are_told_once_of_the_unbinding_with_the_rebind_date(ops, bound_shop):
    alice, bob = member_of(bound_shop.seller), member_of(bound_shop.seller)
    outsider = member_of(make_seller())

    unbinding = shop_force_unbind(shop=bound_shop, user=ops, reason="Licence abuse", now=UNBOUND_AT)

    for user in (alice, bob):
        note = notes("shop.unbound", user).get()
        assert note.dedupe_key == f"shop_unbinding:{unbinding.pk}" and note.subject == f"shop:{bound_shop.key}"
        assert note.context["key"] == bound_shop.key
        assert note.context["rebind_from"] == "2026-04-05" and note.context["reason"] == "Licence abuse"
    assert notes("shop.unbound").count() == 2
    assert not notes("shop.unbound", outsider).exists() and not notes("shop.unbound", ops).exists()


# The 90-day ban ----------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("offset", "expected"),
    [(-1, None), (0, BAN_ENDS), (1, BAN_ENDS), (89, BAN_ENDS), (90, None), (91, None)],
    ids=["day before", "day 0", "day 1", "day 89", "day 90", "day 91"],
)
def test_the_licence_may_bind_a_new_shop_again_from_day_90(ops, offset, expected):
    shop = make_shop(seller=make_seller(business_licence_no="BL-77"))
    shop_force_unbind(shop=shop, user=ops, reason="Licence abuse", now=UNBOUND_AT)

    on = DAY + dt.timedelta(days=offset)

    assert licence_rebind_allowed_on(business_licence_no="BL-77", on=on) == expected
    assert licence_rebind_allowed_on(business_licence_no="BL-OTHER", on=on) is None


def test_the_longest_ban_of_a_licence_wins(ops):
    seller = make_seller(business_licence_no="BL-77")
    first, second = make_shop(seller=seller), make_shop(seller=seller)
    shop_force_unbind(shop=first, user=ops, reason="One", now=UNBOUND_AT)
    shop_force_unbind(shop=second, user=ops, reason="Two", now=UNBOUND_AT + dt.timedelta(days=30))

    on = DAY + dt.timedelta(days=95)
    assert licence_rebind_allowed_on(business_licence_no="BL-77", on=on) == BAN_ENDS + dt.timedelta(days=30)


def test_today_is_the_default_day(ops):
    shop = make_shop(seller=make_seller(business_licence_no="BL-77"))
    unbinding = shop_force_unbind(shop=shop, user=ops, reason="Licence abuse")

    assert licence_rebind_allowed_on(business_licence_no="BL-77") == unbinding.rebind_allowed_on


# Business history report -------------------------------------------------------------------------------------


def test_the_report_after_unbinding_keeps_every_verdict_day_plan_and_the_unbinding(ops, bound_shop):
    shop_force_unbind(shop=bound_shop, user=ops, reason="Licence abuse", now=UNBOUND_AT)
    evaluation_run_inline(as_of=DAY + dt.timedelta(days=1))

    report = business_history_report(shop=bound_shop)

    assert report["shop"]["key"] == bound_shop.key and report["shop"]["business_licence_no"] == "BL-77"
    assert report["shop"]["unbound_at"] == UNBOUND_AT.isoformat()
    shop_rows = [row for row in report["history"] if row["entity"] == "shop"]
    assert [(r["date"], r["old_status"], r["new_status"], r["reasons"]) for r in shop_rows] == [
        ("2026-01-05", None, "ELIGIBLE", []),
        ("2026-01-06", "ELIGIBLE", "DISQUALIFIED", ["SHOP_UNBOUND"]),
    ]
    assert shop_rows[0]["inputs"]["sps"] == "4.2" and shop_rows[0]["ruleset_version"] == 1
    product_rows = [row for row in report["history"] if row["entity"] == "product"]
    assert {row["key"] for row in product_rows} == set(bound_shop.products.values_list("key", flat=True))
    assert sorted(r["new_status"] for r in product_rows) == ["DISQUALIFIED", "DISQUALIFIED", "ELIGIBLE", "ELIGIBLE"]
    assert [(s["date"], s["sps"], s["orders_90d"]) for s in report["snapshots"]] == [
        ("2026-01-03", "4.2000", 100),
        ("2026-01-04", "4.2000", 100),
        ("2026-01-05", "4.2000", 100),
    ]
    assert [(p["status"], p["end_reasons"]) for p in report["plans"]] == [
        ("terminated", ["SHOP_UNBOUND"]),
        ("terminated", ["SHOP_UNBOUND"]),
        ("ended", []),
    ]
    [unbinding] = report["unbindings"]
    assert unbinding["rebind_allowed_on"] == "2026-04-05" and unbinding["reason"] == "Licence abuse"
    assert unbinding["by"] == ops.email and unbinding["recovery_reviews"] == []
    json.dumps(report)  # ready for the export as it is


def report_command(*args: str) -> str:
    out = io.StringIO()
    call_command("business_history_report", *args, stdout=out)
    return out.getvalue()


def test_the_command_prints_the_report_as_json_or_csv(ops, bound_shop):
    shop_force_unbind(shop=bound_shop, user=ops, reason="Licence abuse", now=UNBOUND_AT)

    assert json.loads(report_command(bound_shop.key)) == business_history_report(shop=bound_shop)
    lines = report_command(bound_shop.key, "--format", "csv").splitlines()
    assert lines[0] == "section,date,entity,key,old_status,new_status,reasons,ruleset_version,sps,orders_90d,details"
    sections = [line.split(",", 1)[0] for line in lines[1:]]
    assert sections == ["shop"] + ["history"] * 3 + ["snapshot"] * 3 + ["plan"] * 3 + ["unbinding"]
    assert lines[-1].startswith(f"unbinding,2026-01-05,shop,{bound_shop.key},,,SHOP_UNBOUND,")


def test_the_command_refuses_an_unknown_shop():
    with pytest.raises(CommandError, match="Unknown shop 'NOPE'"):
        report_command("NOPE")


# Recovery review ---------------------------------------------------------------------------------------------


@pytest.fixture
def unbound(ops):
    """(unbinding, seller member) of a shop unbound on UNBOUND_AT."""
    shop = make_shop(seller=make_seller(business_licence_no="BL-77"))
    return shop_force_unbind(shop=shop, user=ops, reason="Licence abuse", now=UNBOUND_AT), member_of(shop.seller)


def complete_steps(review, member, ops, score="85"):
    recovery_submit_letter(review=review, user=member, file=pdf())
    recovery_submit_documents(
        review=review, user=member, tax_proof=pdf("tax.pdf"), shipping_documents=SimpleUploadedFile("waybills.png", PNG)
    )
    return recovery_record_exam(review=review, user=ops, score=Decimal(score))


def test_a_member_of_the_seller_or_ops_open_the_review_and_nobody_else(ops, unbound):
    unbinding, member = unbound
    for outsider in (member_of(make_seller()), make_user(role=User.Role.CREATOR)):
        with pytest.raises(PermissionDenied):
            recovery_review_open(unbinding=unbinding, user=outsider)

    review = recovery_review_open(unbinding=unbinding, user=member)

    assert review.state == "open" and review.unbinding == unbinding
    with pytest.raises(ValidationError, match="already has a recovery review that is open"):
        recovery_review_open(unbinding=unbinding, user=ops)
    entry = audit("recovery.open").get()
    assert entry.actor == member and entry.object_id == str(review.pk)


def test_the_three_steps_in_order_then_a_pass(ops, unbound):
    unbinding, member = unbound
    review = recovery_review_open(unbinding=unbinding, user=member)

    recovery_submit_letter(review=review, user=member, file=pdf())
    assert review.letter_at and review.letter.name.endswith(f"{review.pk}-letter.pdf")
    assert review.documents_at is None
    recovery_submit_documents(
        review=review, user=member, tax_proof=pdf("tax.pdf"), shipping_documents=SimpleUploadedFile("waybills.jpg", JPG)
    )
    assert review.documents_at >= review.letter_at
    assert review.tax_proof.read() == PDF and review.shipping_documents.name.endswith("-shipping.jpg")
    recovery_record_exam(review=review, user=ops, score=Decimal("85"))
    assert review.exam_score == Decimal("85") and review.exam_at >= review.documents_at
    recovery_decide(review=review, user=ops)

    assert (review.state, review.decided_by) == ("passed", ops) and review.decided_at
    for step in ("open", "letter", "documents", "exam", "decide"):
        assert audit(f"recovery.{step}").count() == 1
    assert audit("recovery.letter").get().actor == member
    assert audit("recovery.exam").get().details["score"] == "85"
    assert audit("recovery.decide").get().details == {
        "shop": unbinding.shop.key,
        "state": "passed",
        "outstanding": [],
        "exam_score": "85.00",
    }


def test_each_step_is_told_once_to_the_seller_members_and_ops(ops, unbound):
    unbinding, member = unbound
    review = recovery_review_open(unbinding=unbinding, user=member)
    complete_steps(review, member, ops)
    recovery_decide(review=review, user=ops)

    for user in (member, ops):
        steps = list(notes("recovery.updated", user).order_by("id").values_list("context__step", flat=True))
        assert steps == ["opened", "letter", "documents", "exam", "passed"]
    note = notes("recovery.updated", member).first()
    assert note.context["key"] == unbinding.shop.key and note.subject == f"shop:{unbinding.shop.key}"
    exam = notes("recovery.updated", member).get(context__step="exam")
    assert (exam.context["exam_score"], exam.context["pass_score"]) == ("85", "85")


@pytest.mark.parametrize(
    ("done", "step", "missing"),
    [
        ([], "documents", "The explanation letter must be submitted before the tax proof and shipping documents"),
        ([], "exam", "The explanation letter must be submitted before the exam score is recorded"),
        (["letter"], "exam", "The tax proof and shipping documents must be submitted before the exam score"),
    ],
)
def test_a_step_out_of_order_is_refused_naming_the_missing_step(ops, unbound, done, step, missing):
    unbinding, member = unbound
    review = recovery_review_open(unbinding=unbinding, user=member)
    if "letter" in done:
        recovery_submit_letter(review=review, user=member, file=pdf())

    with pytest.raises(ValidationError, match=missing):
        if step == "documents":
            recovery_submit_documents(
                review=review, user=member, tax_proof=pdf("t.pdf"), shipping_documents=pdf("s.pdf")
            )
        else:
            recovery_record_exam(review=review, user=ops, score=Decimal("90"))

    review.refresh_from_db()
    assert review.documents_at is None and review.exam_at is None
    assert not audit(f"recovery.{step}").exists()


def test_a_step_is_done_once(ops, unbound):
    unbinding, member = unbound
    review = recovery_review_open(unbinding=unbinding, user=member)
    recovery_submit_letter(review=review, user=member, file=pdf())

    with pytest.raises(ValidationError, match="The explanation letter was already submitted on"):
        recovery_submit_letter(review=review, user=member, file=pdf("other.pdf"))


@pytest.mark.parametrize(
    ("score", "state"), [("85", "passed"), ("85.00", "passed"), ("100", "passed"), ("84.99", "failed")]
)
def test_the_exam_passes_from_85_percent(ops, unbound, score, state):
    unbinding, member = unbound
    review = recovery_review_open(unbinding=unbinding, user=member)
    complete_steps(review, member, ops, score=score)

    recovery_decide(review=review, user=ops)

    assert review.state == state
    assert audit("recovery.decide").get().details["outstanding"] == ([] if state == "passed" else ["exam"])
    assert notes("recovery.updated", member).filter(context__step=state).count() == 1


def test_deciding_with_steps_missing_fails_and_names_them(ops, unbound):
    unbinding, member = unbound
    review = recovery_review_open(unbinding=unbinding, user=member)
    recovery_submit_letter(review=review, user=member, file=pdf())

    recovery_decide(review=review, user=ops)

    assert review.state == "failed"
    assert audit("recovery.decide").get().details["outstanding"] == ["documents", "exam"]
    assert notes("recovery.updated", member).get(context__step="failed").context["outstanding"] == [
        "documents",
        "exam",
    ]


def test_a_decided_review_takes_no_more_steps_and_a_failed_one_may_be_started_again(ops, unbound):
    unbinding, member = unbound
    review = recovery_review_open(unbinding=unbinding, user=member)
    recovery_decide(review=review, user=ops)

    with pytest.raises(ValidationError, match="has been decided \\(failed\\)"):
        recovery_submit_letter(review=review, user=member, file=pdf())
    with pytest.raises(ValidationError, match="has been decided"):
        recovery_decide(review=review, user=ops)
    again = recovery_review_open(unbinding=unbinding, user=member)
    assert again.pk != review.pk and again.state == "open"


def test_only_ops_record_the_exam_and_decide(ops, unbound):
    unbinding, member = unbound
    review = recovery_review_open(unbinding=unbinding, user=member)
    recovery_submit_letter(review=review, user=member, file=pdf())
    recovery_submit_documents(review=review, user=member, tax_proof=pdf("t.pdf"), shipping_documents=pdf("s.pdf"))

    with pytest.raises(PermissionDenied, match="Only ops staff can record a certification exam score"):
        recovery_record_exam(review=review, user=member, score=Decimal("99"))
    with pytest.raises(PermissionDenied, match="Only ops staff can decide"):
        recovery_decide(review=review, user=member)
    review.refresh_from_db()
    assert (review.exam_score, review.state) == (None, "open")


def test_another_sellers_member_submits_nothing(ops, unbound):
    unbinding, member = unbound
    review = recovery_review_open(unbinding=unbinding, user=member)

    with pytest.raises(PermissionDenied):
        recovery_submit_letter(review=review, user=member_of(make_seller()), file=pdf())


@pytest.mark.parametrize(
    ("score", "message"),
    [
        (Decimal("-0.01"), "between 0 and 100"),
        (Decimal("100.01"), "between 0 and 100"),
        (Decimal("NaN"), "between 0 and 100"),
        (Decimal("85.001"), "at most 2 decimal places"),
        (85.0, "must be a decimal number"),
        (True, "must be a decimal number"),
    ],
)
def test_the_exam_score_is_an_exact_percentage(ops, unbound, score, message):
    unbinding, member = unbound
    review = recovery_review_open(unbinding=unbinding, user=member)
    recovery_submit_letter(review=review, user=member, file=pdf())
    recovery_submit_documents(review=review, user=member, tax_proof=pdf("t.pdf"), shipping_documents=pdf("s.pdf"))

    with pytest.raises(ValidationError, match=message):
        recovery_record_exam(review=review, user=ops, score=score)


@pytest.mark.parametrize(
    ("upload", "message"),
    [
        (SimpleUploadedFile("letter.docx", PDF), "must be a PDF, PNG or JPG file"),
        (SimpleUploadedFile("letter", PDF), "must be a PDF, PNG or JPG file"),
        (SimpleUploadedFile("letter.pdf", b""), "is empty"),
        (SimpleUploadedFile("letter.pdf", PNG), "is not a real PDF file"),
        (SimpleUploadedFile("letter.png", PDF), "is not a real PNG file"),
        (SimpleUploadedFile("letter.pdf", PDF + b"0" * (10 * MB - len(PDF) + 1)), "at most 10 MB"),
    ],
    ids=["docx", "no extension", "empty", "png named pdf", "pdf named png", "10 MB + 1 byte"],
)
def test_files_are_pdf_png_or_jpg_of_at_most_10_mb(unbound, upload, message):
    unbinding, member = unbound
    review = recovery_review_open(unbinding=unbinding, user=member)

    with pytest.raises(ValidationError, match=message):
        recovery_submit_letter(review=review, user=member, file=upload)
    review.refresh_from_db()
    assert review.letter_at is None and not review.letter


def test_a_file_of_exactly_10_mb_in_capitals_is_accepted(unbound):
    unbinding, member = unbound
    review = recovery_review_open(unbinding=unbinding, user=member)

    recovery_submit_letter(review=review, user=member, file=pdf("LETTER.PDF", PDF + b"0" * (10 * MB - len(PDF))))

    assert review.letter.size == 10 * MB


# Binding again ------------------------------------------------------------------------------------------------


def passed_review(unbinding, member, ops) -> RecoveryReview:
    review = recovery_review_open(unbinding=unbinding, user=member)
    complete_steps(review, member, ops)
    return recovery_decide(review=review, user=ops)


def test_a_shop_is_bound_again_only_after_a_passed_review(ops, unbound):
    unbinding, member = unbound
    shop = unbinding.shop
    after_ban = UNBOUND_AT + dt.timedelta(days=120)
    with pytest.raises(ValidationError, match="only after a passed recovery review"):
        shop_rebind(shop=shop, user=ops, reason="Review passed", now=after_ban)
    review = recovery_review_open(unbinding=unbinding, user=member)
    complete_steps(review, member, ops, score="84.99")
    recovery_decide(review=review, user=ops)
    with pytest.raises(ValidationError, match="only after a passed recovery review"):
        shop_rebind(shop=shop, user=ops, reason="Review passed", now=after_ban)

    shop.refresh_from_db()
    assert shop.unbound_at == UNBOUND_AT


@pytest.mark.parametrize(("days", "allowed"), [(89, False), (90, True)])
def test_a_shop_is_bound_again_only_from_day_90(ops, unbound, days, allowed):
    unbinding, member = unbound
    shop = unbinding.shop
    passed_review(unbinding, member, ops)
    on = UNBOUND_AT + dt.timedelta(days=days)

    if not allowed:
        with pytest.raises(ValidationError, match="cannot be bound again until 2026-04-05 \\(unbound on 2026-01-05\\)"):
            shop_rebind(shop=shop, user=ops, reason="Review passed", now=on)
        assert Shop.objects.get(pk=shop.pk).unbound_at == UNBOUND_AT
        return
    shop_rebind(shop=shop, user=ops, reason="Review passed", now=on)
    assert shop.unbound_at is None
    entry = audit("shop.rebind").get()
    assert (entry.actor, entry.object_id, entry.reason) == (ops, shop.key, "Review passed")
    assert notes("recovery.updated", member).filter(context__step="rebound").count() == 1


def test_only_ops_bind_a_shop_again(ops, unbound):
    unbinding, member = unbound
    passed_review(unbinding, member, ops)

    with pytest.raises(PermissionDenied, match="Only ops staff can bind a shop again"):
        shop_rebind(shop=unbinding.shop, user=member, reason="please", now=UNBOUND_AT + dt.timedelta(days=90))
    with pytest.raises(ValidationError, match="not unbound"):
        shop_rebind(shop=make_shop(), user=ops, reason="nothing to do")


def test_a_bound_again_shop_is_evaluated_normally_by_the_next_run(ops, unbound):
    unbinding, member = unbound
    shop = unbinding.shop
    evaluation_run_inline(as_of=DAY)
    passed_review(unbinding, member, ops)
    shop_rebind(shop=shop, user=ops, reason="Review passed", now=UNBOUND_AT + dt.timedelta(days=90))
    Shop.objects.filter(pk=shop.pk).update(sps=Decimal("3.2"), orders_90d=120)  # the next day's feed

    evaluation_run_inline(as_of=BAN_ENDS)

    shop.refresh_from_db()
    assert (shop.status, shop.reasons) == ("RESTRICTED", ["SPS_BELOW_ELIGIBLE"])
    statuses = StatusHistory.objects.filter(entity="shop", entity_id=shop.pk).order_by("id")
    assert [(row.new_status, row.new_reasons) for row in statuses] == [
        ("DISQUALIFIED", ["SHOP_UNBOUND"]),
        ("RESTRICTED", ["SPS_BELOW_ELIGIBLE"]),
    ]


def test_a_review_cannot_be_opened_once_the_shop_is_bound_again(ops, unbound):
    unbinding, member = unbound
    passed_review(unbinding, member, ops)
    with pytest.raises(ValidationError, match="already has a recovery review that is passed"):
        recovery_review_open(unbinding=unbinding, user=member)
    shop_rebind(shop=unbinding.shop, user=ops, reason="Review passed", now=UNBOUND_AT + dt.timedelta(days=90))

    with pytest.raises(ValidationError, match="no longer unbound"):
        recovery_review_open(unbinding=unbinding, user=member)


def test_the_report_lists_the_recovery_reviews_of_an_unbinding(ops, unbound):
    unbinding, member = unbound
    passed_review(unbinding, member, ops)

    [review] = business_history_report(shop=unbinding.shop)["unbindings"][0]["recovery_reviews"]

    assert review["state"] == "passed" and review["exam_score"] == "85.00"
    assert review["letter_at"] and review["documents_at"] and review["exam_at"] and review["decided_at"]
