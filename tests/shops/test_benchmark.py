"""The benchmark's data set (bench_evaluate), its reset, and the page timings (bench_pages).

A tiny data set (2 sellers, 20 shops, 200 products, 100 creators) built by the same SQL as the
1M one; no timing is asserted.
"""

import datetime as dt

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db import connection
from django.http import HttpResponse
from django.urls import path, reverse

from affiliate.models import Creator
from compliance_portal.urls import urlpatterns as project_urlpatterns
from privacy.fields import blind_index
from shops import benchmark
from shops.models import Product, Seller, SellerMembership, Shop, StatusHistory, User
from shops.services.evaluation import evaluation_start, evaluation_work
from tests.conftest import signed_in
from tests.factories import make_seller

pytestmark = [
    pytest.mark.django_db,
    pytest.mark.skipif(connection.vendor != "postgresql", reason="the benchmark builds its data in PostgreSQL SQL"),
]

DAY = dt.date(2026, 11, 2)


def broken_page(request):
    raise RuntimeError("a page that fails")


def missing_page(request):
    return HttpResponse("gone", status=404)


# The project's pages plus two that fail, for the command's failure exit.
urlpatterns = [
    path("bench-broken/", broken_page),
    path("bench-missing/", missing_page),
    *project_urlpatterns,
]


@pytest.fixture
def data_set():
    benchmark.generate(shops=20, products=200, creators=100, as_of=DAY)
    evaluation_work(run=evaluation_start(as_of=DAY))


def test_generated_sellers_have_their_details_encrypted_and_hashed(data_set):
    seller = Seller.objects.get(key="BS2")
    assert seller.contact_email == "seller2@bench.invalid"
    assert seller.bank_account_number and seller.bank_code and seller.tax_id
    assert Seller.objects.get(tax_id_hash=blind_index(seller.tax_id, kind="tax_id")) == seller
    assert Seller.objects.get(contact_email_hash=blind_index("SELLER2@bench.invalid", kind="email")) == seller
    with connection.cursor() as cursor:
        cursor.execute("SELECT contact_email, bank_account_number FROM shops_seller WHERE key = 'BS2'")
        stored = cursor.fetchone()
    assert "seller2" not in stored[0] and "BENCH" not in stored[1]  # encrypted at rest
    creator = Creator.objects.get(key="BC1")
    assert (creator.email, creator.email_hash) == ("", "")
    assert Shop.objects.count() == 20 and Product.objects.count() == 200 and Creator.objects.count() == 100


def test_reset_empties_the_benchmark_data_and_keeps_users(data_set):
    ops = User.objects.create(email="keep-ops@example.com", role=User.Role.OPS)
    creator_user = User.objects.create(
        email="keep-creator@example.com", role=User.Role.CREATOR, creator=Creator.objects.get(key="BC3")
    )
    member = User.objects.create(email="keep-seller@example.com", role=User.Role.SELLER)
    SellerMembership.objects.create(user=member, seller=Seller.objects.get(key="BS1"))
    assert StatusHistory.objects.exists()

    plan = benchmark.reset()

    assert not (Shop.objects.exists() or Product.objects.exists() or Creator.objects.exists())
    assert not (Seller.objects.exists() or StatusHistory.objects.exists() or SellerMembership.objects.exists())
    assert set(User.objects.values_list("email", flat=True)) >= {ops.email, creator_user.email, member.email}
    creator_user.refresh_from_db()
    assert creator_user.creator_id is None
    assert "shops_user.creator_id" in plan.nulled
    assert "shops_user" not in plan.truncated + plan.deleted


def test_reset_refuses_data_the_benchmark_did_not_make_unless_forced(data_set):
    make_seller(key="SEL-REAL")
    with pytest.raises(CommandError, match="did not make"):
        call_command("bench_evaluate", "--reset", shops=20, products=200, creators=100)
    assert Seller.objects.filter(key="SEL-REAL").exists()
    assert benchmark.foreign_data() == {"sellers": 1}


def test_bench_pages_prints_a_line_per_page(data_set, capsys):
    call_command("bench_pages", repeats=1, warmups=0, group_shops=15)
    out = capsys.readouterr().out
    for page in (
        "portfolio",
        "shop detail",
        "product table, first page",
        "product table, sorted by NRR",
        "product table, filtered (disqualified)",
        "product table, searched",
        "product table, deep page (half way)",
        "product CSV export (streamed)",
        "group: portfolio",
        "creator page (own)",
        "ops: overview",
        "ops: review queue",
        "ops: product table, first page",
    ):
        line = next((line for line in out.splitlines() if line.startswith(f"| {page} |")), None)
        assert line is not None, f"no line for {page}"
        assert line.endswith("| 200 |")


@pytest.mark.urls(__name__)
@pytest.mark.parametrize(("extra", "status"), [("/bench-missing/", "404"), ("ops:/bench-broken/", "500")])
def test_bench_pages_fails_when_a_page_does_not_answer_200(data_set, capsys, extra, status):
    with pytest.raises(CommandError, match=f"did not answer 200: {extra.split(':')[-1]} .*{status}"):
        call_command("bench_pages", repeats=1, warmups=0, group_shops=0, only="portfolio", extra=[extra])
    out = capsys.readouterr().out
    assert "| portfolio | seller |" in out


# What the ops pages count from the runs' counters instead of the history rows -----------------------


@pytest.fixture
def two_days(data_set):
    """The data set's first run, then a day with ~5 % of the entities crossing a threshold."""
    benchmark.change_share(day=1, as_of=DAY + dt.timedelta(days=1))
    evaluation_work(run=evaluation_start(as_of=DAY + dt.timedelta(days=1)))


def test_the_review_queue_counts_every_disqualifying_verdict_of_the_history(two_days, client):
    ops = User.objects.create(email="olga-bench@example.com", role=User.Role.OPS)
    signed_in(client, ops)
    disqualifying = StatusHistory.objects.filter(new_status="DISQUALIFIED")
    for entity, expected in (
        ("", disqualifying.filter(entity__in=["shop", "product"]).count()),
        ("shop", disqualifying.filter(entity="shop").count()),
        ("product", disqualifying.filter(entity="product").count()),
    ):
        response = client.get(reverse("ops_review_queue"), {"entity": entity} if entity else {})
        assert response.status_code == 200
        assert response.context["page"].paginator.count == expected > 0


def test_the_overview_counts_the_changes_of_the_day_as_the_history_does(two_days, client):
    ops = User.objects.create(email="olga-bench@example.com", role=User.Role.OPS)
    response = signed_in(client, ops).get(reverse("ops_overview"))
    shown = {(row.entity, row.status): (row.last_day, row.last_run) for row in response.context["data"].changes}
    last = StatusHistory.objects.order_by("-run_id").values_list("run_id", flat=True).first()
    history = StatusHistory.objects.values_list("entity", "new_status", "run_id")
    expected: dict = {}
    for entity, status, run_id in history:
        day, in_last = expected.get((entity, status), (0, 0))
        expected[entity, status] = (day + 1, in_last + (run_id == last))
    assert shown == expected
