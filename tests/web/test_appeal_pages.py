"""The seller's appeal pages: the list, a new appeal against a verdict, one appeal, withdrawing it.

alice (SEL-A) has P-WARN (a warning: 5 % against a 2.2 % average) and P-OK (eligible); bob
(SEL-B) has P-BWARN, also a warning. carol is a creator, olga ops. Every refusal comes from
``shops.services.appeals`` and is shown next to the field it concerns.
"""

import datetime as dt
import re
from decimal import Decimal
from html import unescape
from urllib.parse import quote, unquote

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse
from django.utils import timezone

from shops.models import Appeal, AppealEvidence, EvaluationRun, Product, StatusHistory
from shops.reasons import reason_message
from shops.rules import codes as c
from shops.services.appeals import appeal_approve, appeal_checklist_for, appeal_reject, appeal_submit
from shops.services.evaluation import evaluation_run_inline
from tests.conftest import signed_in
from tests.factories import make_category, make_product, make_shop

pytestmark = pytest.mark.django_db

DAY = dt.date(2026, 11, 20)
LIST = reverse("appeal_list")
STATEMENT = "One faulty batch caused these reviews; it was recalled and replaced at our cost."
NRR_ITEMS = [item.key for item in appeal_checklist_for([c.NRR_ABOVE_WARNING])]


@pytest.fixture(autouse=True)
def media_root(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path


def create_url(verdict: StatusHistory) -> str:
    return reverse("appeal_create", args=[verdict.pk])


def detail_url(appeal: Appeal) -> str:
    return reverse("appeal_detail", args=[appeal.pk])


def withdraw_url(appeal: Appeal) -> str:
    return reverse("appeal_withdraw", args=[appeal.pk])


def html(response, status: int = 200) -> str:
    assert response.status_code == status, response.status_code
    return response.content.decode()


def text(response, status: int = 200) -> str:
    return re.sub(r"\s+", " ", unescape(re.sub(r"<[^>]+>", " ", html(response, status))).replace("\xa0", " "))


def pdf(name: str = "proof.pdf") -> SimpleUploadedFile:
    return SimpleUploadedFile(name, b"%PDF-1.7 proof of what happened")


def verdict_of(product: Product) -> StatusHistory:
    return StatusHistory.objects.filter(entity="product", entity_id=product.pk).order_by("-id").first()


def post_data(statement: str = STATEMENT, skip=(), files=None) -> dict:
    data = {"statement": statement}
    for key in NRR_ITEMS:
        if key not in skip:
            data[f"evidence_{key}"] = (files or {}).get(key) or pdf(f"{key}.pdf")
    return data


def submit(user, product: Product) -> Appeal:
    evidence = [(key, pdf(f"{key}.pdf")) for key in NRR_ITEMS]
    return appeal_submit(user=user, entity="product", entity_id=product.pk, statement=STATEMENT, evidence=evidence)


@pytest.fixture
def world(seller_a, seller_b, alice, bob, carol, olga):
    phones = make_category(key="CAT-PHONES", name="Phones")
    shop_a = make_shop(seller=seller_a, key="SHOP-A", name="Alpha Phones", sps=Decimal("4.2"))
    shop_b = make_shop(seller=seller_b, key="SHOP-B", name="Bravo Goods", sps=Decimal("4.2"))
    # (0 + 0 + 1 + 5 + 5) / 500 = 2.2 %: 5 % is above 2x (4.4 %) and under 3x (6.6 %), a warning.
    make_product(shop=shop_a, category=phones, key="P-OK0", negative_reviews_30d=0)
    make_product(shop=shop_b, category=phones, key="P-OK1", negative_reviews_30d=0)
    ok = make_product(shop=shop_a, category=phones, key="P-OK", title="Alpha Case", negative_reviews_30d=1)
    warn = make_product(shop=shop_a, category=phones, key="P-WARN", title="Alpha Cable", negative_reviews_30d=5)
    bwarn = make_product(shop=shop_b, category=phones, key="P-BWARN", title="Bravo Cable", negative_reviews_30d=5)
    evaluation_run_inline(as_of=DAY)
    for product in (ok, warn, bwarn):
        product.refresh_from_db()
    assert (warn.status, bwarn.status, ok.status) == (c.WARNING, c.WARNING, c.ELIGIBLE)
    return {"shop_a": shop_a, "shop_b": shop_b, "phones": phones, "ok": ok, "warn": warn, "bwarn": bwarn}


@pytest.fixture
def as_alice(client, alice):
    return signed_in(client, alice)


# Who may see what --------------------------------------------------------------------------------------


def test_an_anonymous_visitor_is_sent_to_sign_in(client, world, alice):
    appeal = submit(alice, world["warn"])
    for url in (LIST, create_url(verdict_of(world["warn"])), detail_url(appeal)):
        response = client.get(url)
        assert response.status_code == 302 and response["Location"].startswith(reverse("login"))
    assert client.post(withdraw_url(appeal)).status_code == 302
    assert Appeal.objects.get(pk=appeal.pk).state == Appeal.State.SUBMITTED


def test_another_sellers_verdict_cannot_be_appealed_or_even_seen(world, as_alice):
    assert as_alice.get(create_url(verdict_of(world["bwarn"]))).status_code == 404
    assert as_alice.post(create_url(verdict_of(world["bwarn"])), post_data()).status_code == 404
    assert not Appeal.objects.exists()


def test_a_creator_verdict_or_an_unknown_one_is_a_404(world, as_alice):
    creator_verdict = StatusHistory.objects.filter(entity="creator").first()
    assert creator_verdict is not None
    assert as_alice.get(create_url(creator_verdict)).status_code == 404
    assert as_alice.get(reverse("appeal_create", args=[10**9])).status_code == 404


def test_another_sellers_appeal_is_a_404(world, as_alice, bob):
    theirs = submit(bob, world["bwarn"])
    assert as_alice.get(detail_url(theirs)).status_code == 404
    assert as_alice.post(withdraw_url(theirs)).status_code == 404
    assert Appeal.objects.get(pk=theirs.pk).state == Appeal.State.SUBMITTED
    assert as_alice.get(reverse("appeal_detail", args=[10**9])).status_code == 404


def test_a_creator_gets_404_on_every_appeal_page(world, client, carol, alice):
    appeal = submit(alice, world["warn"])
    signed_in(client, carol)
    for url in (LIST, create_url(verdict_of(world["warn"])), detail_url(appeal)):
        assert client.get(url).status_code == 404
    assert client.post(withdraw_url(appeal)).status_code == 404


def test_ops_cannot_appeal_on_a_sellers_behalf(world, client, olga):
    signed_in(client, olga)
    assert client.get(create_url(verdict_of(world["warn"]))).status_code == 404


def test_the_list_shows_only_the_users_sellers_appeals_with_state_and_deadline(world, as_alice, alice, bob):
    mine = submit(alice, world["warn"])
    submit(bob, world["bwarn"])
    page = text(as_alice.get(LIST))
    assert f"Appeal #{mine.pk}" in page and "P-WARN" in page and "P-BWARN" not in page
    assert "Submitted" in page and "Answer due by" in page
    assert "NRR_ABOVE_WARNING" in page


def test_the_list_filters_by_state(world, as_alice, alice):
    appeal = submit(alice, world["warn"])
    assert f"Appeal #{appeal.pk}" in text(as_alice.get(LIST + "?state=submitted"))
    assert f"Appeal #{appeal.pk}" not in text(as_alice.get(LIST + "?state=rejected"))
    assert f"Appeal #{appeal.pk}" in text(as_alice.get(LIST + "?state=nonsense"))  # unknown: no filter


# A new appeal -------------------------------------------------------------------------------------------


def test_the_form_asks_for_the_checklist_of_the_verdicts_reasons(world, as_alice):
    page = text(as_alice.get(create_url(verdict_of(world["warn"]))))
    assert "Export of the product's reviews" in page
    assert "Product quality report" in page and "Supplier certificate" in page
    assert reason_message(c.NRR_ABOVE_WARNING) in page
    assert "Warning" in page


def test_a_valid_appeal_is_sent_and_shown(world, as_alice, alice):
    response = as_alice.post(create_url(verdict_of(world["warn"])), post_data())
    appeal = Appeal.objects.get()
    assert response.status_code == 302 and response["Location"] == detail_url(appeal)
    assert (appeal.state, appeal.submitted_by, appeal.verdict) == (
        Appeal.State.SUBMITTED,
        alice,
        verdict_of(world["warn"]),
    )
    assert sorted(appeal.evidence.values_list("item", flat=True)) == sorted(NRR_ITEMS)
    page = text(as_alice.get(detail_url(appeal)))
    assert "Your appeal was sent." in page
    assert "Submitted" in page and "supplier_certificate.pdf" in page and STATEMENT in page
    assert timezone.localtime(appeal.due_at).strftime("%Y") in page


def test_a_short_statement_is_refused_next_to_the_statement(world, as_alice):
    response = as_alice.post(create_url(verdict_of(world["warn"])), post_data(statement="too short"))
    body = html(response, 400)
    errors = re.search(r'id="id_statement-errors">(.*?)</ul>', body, re.S).group(1)
    assert "Explain the appeal in at least 20 characters." in errors
    assert not Appeal.objects.exists()


def test_a_missing_file_is_marked_on_its_item(world, as_alice):
    response = as_alice.post(create_url(verdict_of(world["warn"])), post_data(skip=["supplier_certificate"]))
    body = html(response, 400)
    errors = re.search(r'id="id_evidence_supplier_certificate-errors">(.*?)</ul>', body, re.S).group(1)
    assert "Add at least one file for this item." in errors
    assert 'id="id_evidence_review_export-errors"' not in body
    assert "Evidence is missing for: Supplier certificate (supplier_certificate)." in unescape(body)
    assert not Appeal.objects.exists()


def test_a_file_of_the_wrong_kind_is_refused_on_its_item(world, as_alice):
    fake = SimpleUploadedFile("report.pdf", b"not really a pdf")
    response = as_alice.post(create_url(verdict_of(world["warn"])), post_data(files={"product_quality_report": fake}))
    body = unescape(html(response, 400))
    errors = re.search(r'id="id_evidence_product_quality_report-errors">(.*?)</ul>', body, re.S).group(1)
    assert "report.pdf is not a real PDF file." in errors
    assert not Appeal.objects.exists()


def test_several_files_for_one_item_are_all_kept(world, as_alice):
    data = post_data()
    data["evidence_review_export"] = [pdf("reviews-1.pdf"), pdf("reviews-2.pdf")]
    assert as_alice.post(create_url(verdict_of(world["warn"])), data).status_code == 302
    names = AppealEvidence.objects.filter(item="review_export").values_list("original_name", flat=True)
    assert sorted(names) == ["reviews-1.pdf", "reviews-2.pdf"]


def test_an_open_appeal_blocks_a_second_one_with_the_reason(world, as_alice, alice):
    submit(alice, world["warn"])
    response = as_alice.get(create_url(verdict_of(world["warn"])))
    page = text(response)
    assert "This verdict cannot be appealed now." in page and "This verdict already has an open appeal." in page
    assert "<textarea" not in html(response)
    assert as_alice.post(create_url(verdict_of(world["warn"])), post_data()).status_code == 200
    assert Appeal.objects.count() == 1


def test_an_eligible_verdict_cannot_be_appealed(world, as_alice):
    page = text(as_alice.get(create_url(verdict_of(world["ok"]))))
    assert "An eligible verdict cannot be appealed." in page


def test_a_replaced_verdict_points_to_the_current_one(world, as_alice):
    old = verdict_of(world["warn"])
    Product.objects.filter(pk=world["warn"].pk).update(negative_reviews_30d=12)  # 12 % > 3 x 3.6 %
    evaluation_run_inline(as_of=DAY + dt.timedelta(days=1))
    new = verdict_of(world["warn"])
    assert new.pk != old.pk and new.new_status == c.DISQUALIFIED
    response = as_alice.get(create_url(old))
    assert "A newer verdict replaced this one" in text(response)
    assert create_url(new) in html(response)


# One appeal, withdrawing, decisions ---------------------------------------------------------------------


def test_a_member_withdraws_an_open_appeal(world, as_alice, alice):
    appeal = submit(alice, world["warn"])
    assert "Withdraw the appeal" in html(as_alice.get(detail_url(appeal)))
    response = as_alice.post(withdraw_url(appeal))
    assert response.status_code == 302 and response["Location"] == detail_url(appeal)
    assert Appeal.objects.get(pk=appeal.pk).state == Appeal.State.WITHDRAWN
    page = text(as_alice.get(detail_url(appeal)))
    assert "The appeal was withdrawn." in page and "Withdrawn" in page
    assert "Withdraw the appeal" not in page


def test_withdrawing_twice_explains_why_not(world, as_alice, alice):
    appeal = submit(alice, world["warn"])
    as_alice.post(withdraw_url(appeal))
    response = as_alice.post(withdraw_url(appeal), follow=True)
    assert "This appeal is already Withdrawn." in text(response)


def test_withdraw_takes_only_a_post(world, as_alice, alice):
    appeal = submit(alice, world["warn"])
    assert as_alice.get(withdraw_url(appeal)).status_code == 405


def test_ops_cannot_withdraw_a_sellers_appeal(world, client, olga, alice):
    appeal = submit(alice, world["warn"])
    signed_in(client, olga)
    assert client.post(withdraw_url(appeal)).status_code == 404
    assert Appeal.objects.get(pk=appeal.pk).state == Appeal.State.SUBMITTED


def test_a_rejection_shows_its_reason_and_offers_a_second_appeal(world, as_alice, alice, olga):
    appeal = appeal_reject(appeal=submit(alice, world["warn"]), user=olga, reason="The report covers another batch.")
    response = as_alice.get(detail_url(appeal))
    page = text(response)
    assert "Rejected." in page and "The report covers another batch." in page
    assert create_url(appeal.verdict) in html(response)


def test_an_approval_shows_the_status_ops_set_over_the_verdict(world, as_alice, alice, olga):
    appeal = appeal_approve(appeal=submit(alice, world["warn"]), user=olga, reason="Batch recalled; confirmed.")
    page = text(as_alice.get(detail_url(appeal)))
    assert "Approved." in page and "shows the status Eligible over the computed verdict" in page
    assert "Batch recalled; confirmed." in page
    assert "Appeal again" not in page


# Evidence files -----------------------------------------------------------------------------------------

ODD_NAME = '报告 "final"; v2.pdf'  # non-ASCII, a quote and a semicolon: nothing may leak into the header


def download_url(evidence: AppealEvidence) -> str:
    return reverse("appeal_evidence_download", args=[evidence.pk])


def submit_with(user, product: Product, name: str) -> Appeal:
    evidence = [(key, pdf(name if n == 0 else f"{key}.pdf")) for n, key in enumerate(NRR_ITEMS)]
    return appeal_submit(user=user, entity="product", entity_id=product.pk, statement=STATEMENT, evidence=evidence)


def test_the_appeal_page_links_every_evidence_file_to_its_download(world, as_alice, alice):
    appeal = submit(alice, world["warn"])
    body = html(as_alice.get(detail_url(appeal)))
    for evidence in appeal.evidence.all():
        assert f'<a href="{download_url(evidence)}" download>{evidence.original_name}</a>' in body


def test_the_list_links_every_evidence_file_of_each_appeal(world, as_alice, alice):
    appeal = submit(alice, world["warn"])
    body = html(as_alice.get(LIST))
    links = re.findall(r'href="(/appeals/evidence/\d+/)" download', body)
    assert sorted(links) == sorted(download_url(evidence) for evidence in appeal.evidence.all())


def test_the_owner_downloads_the_file_as_an_attachment_with_a_safe_name(world, as_alice, alice):
    appeal = submit_with(alice, world["warn"], ODD_NAME)
    evidence = appeal.evidence.get(original_name=ODD_NAME)
    response = as_alice.get(download_url(evidence))
    assert response.status_code == 200
    assert b"".join(response.streaming_content) == b"%PDF-1.7 proof of what happened"
    disposition = response["Content-Disposition"]
    # RFC 6266: the name percent-encoded in filename*, so no quote, semicolon or line break escapes it.
    assert disposition == "attachment; filename*=utf-8''" + quote(ODD_NAME)
    assert unquote(disposition.split("''", 1)[1]) == ODD_NAME
    assert response["X-Content-Type-Options"] == "nosniff"


def test_a_member_of_another_seller_or_a_creator_gets_404_for_the_file(world, client, alice, bob, carol):
    evidence = submit(alice, world["warn"]).evidence.first()
    for user in (bob, carol):
        assert signed_in(client, user).get(download_url(evidence)).status_code == 404
    assert signed_in(client, bob).get(reverse("appeal_evidence_download", args=[10**9])).status_code == 404


def test_an_anonymous_visitor_signs_in_before_any_file(client, world, alice):
    evidence = submit(alice, world["warn"]).evidence.first()
    response = client.get(download_url(evidence))
    assert response.status_code == 302 and response["Location"].startswith(reverse("login"))


def test_ops_download_the_file_too(world, client, alice, olga):
    evidence = submit(alice, world["warn"]).evidence.first()
    response = signed_in(client, olga).get(download_url(evidence))
    assert response.status_code == 200 and response["Content-Disposition"].startswith("attachment;")


# Fixed query counts -----------------------------------------------------------------------------------


def _many_appeals(user, shop, category, count: int) -> Appeal:
    run = EvaluationRun.objects.get()
    appeal = None
    for n in range(count):
        product = make_product(shop=shop, category=category, key=f"P-AP{n:03d}")
        verdict = StatusHistory.objects.create(
            entity="product",
            entity_id=product.pk,
            entity_key=product.key,
            new_status=c.WARNING,
            new_reasons=[c.NRR_ABOVE_WARNING],
            ruleset_version=1,
            run=run,
            as_of=DAY,
            created_at=timezone.now(),
        )
        appeal = Appeal.objects.create(
            entity="product",
            entity_id=product.pk,
            entity_key=product.key,
            seller=shop.seller,
            verdict=verdict,
            reason_codes=[c.NRR_ABOVE_WARNING],
            statement=STATEMENT,
            submitted_by=user,
            due_at=timezone.now() + dt.timedelta(days=7),
        )
        AppealEvidence.objects.create(appeal=appeal, item="review_export", file="x.pdf", original_name="x.pdf", size=9)
    return appeal


@pytest.mark.parametrize("size", [2, 25])
def test_the_list_costs_a_fixed_number_of_queries(world, as_alice, alice, django_assert_num_queries, size):
    _many_appeals(alice, world["shop_a"], world["phones"], size)
    with django_assert_num_queries(6):  # session, user, count, page, evidence, unread count
        assert as_alice.get(LIST).status_code == 200


@pytest.mark.parametrize("size", [2, 25])
def test_an_appeal_costs_a_fixed_number_of_queries(world, as_alice, alice, django_assert_num_queries, size):
    appeal = _many_appeals(alice, world["shop_a"], world["phones"], 1)
    for n in range(size):
        AppealEvidence.objects.create(
            appeal=appeal, item="product_quality_report", file="y.pdf", original_name=f"{n}.pdf", size=9
        )
    with django_assert_num_queries(6):  # session, user, appeal, evidence, rule set, unread count
        assert as_alice.get(detail_url(appeal)).status_code == 200


@pytest.mark.parametrize("size", [2, 25])
def test_the_form_costs_a_fixed_number_of_queries(world, as_alice, alice, django_assert_num_queries, size):
    _many_appeals(alice, world["shop_a"], world["phones"], size)
    url = create_url(verdict_of(world["warn"]))
    with django_assert_num_queries(8):  # session, user, verdict, product, latest verdict, appeals, rule set, unread
        assert as_alice.get(url).status_code == 200
