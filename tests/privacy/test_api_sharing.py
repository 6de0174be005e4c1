"""Consent to sharing eligibility data with API clients: a creator who withdraws it is left out
of what any other client reads through the REST API, at once; the creator still reads its own.

carol is the creator CR-CAROL (she withdraws), dora CR-DORA (she keeps consenting), CR-NOUSER
has no account; alice (SEL-A) invited carol to a targeted plan; olga is ops.
"""

import datetime as dt
from decimal import Decimal

import pytest

from affiliate.models import AffiliatePlan, CreatorAdd, PlanInvitation
from privacy.models import ConsentSource, Purpose
from privacy.services.consent import consent_set
from shops.models import User
from shops.services.evaluation import evaluation_run_inline
from tests.api.conftest import token_client
from tests.factories import make_category, make_creator, make_plan, make_product, make_shop, make_user

pytestmark = pytest.mark.django_db

DAY = dt.date(2026, 11, 20)
QUERIES = 5


@pytest.fixture
def world(seller_a, alice, carol):
    dora = make_user(email="dora@example.com", role=User.Role.CREATOR, creator=make_creator(key="CR-DORA"))
    make_creator(key="CR-NOUSER")
    shop = make_shop(seller=seller_a, key="SHOP-A", sps=Decimal("4.2"))
    product = make_product(shop=shop, category=make_category(key="CAT-PHONES"), key="P-A")
    evaluation_run_inline(as_of=DAY)
    plan = make_plan(shop=shop, kind=AffiliatePlan.Kind.TARGETED)
    PlanInvitation.objects.create(plan=plan, creator=carol.creator)
    for creator in (carol.creator, dora.creator):
        CreatorAdd.objects.create(creator=creator, product=product, placement="live", accepted=True, reasons=[])
    return {"dora": dora, "plan": plan}


def withdraw(user: User, granted: bool = False) -> None:
    consent_set(user=user, purpose=Purpose.DATA_SHARING, granted=granted, source=ConsentSource.PRIVACY_CENTRE)


def keys(response) -> list[str]:
    assert response.status_code == 200, response.status_code
    return sorted(item["id"] for item in response.json()["results"])


def add_creators(response) -> list[str]:
    assert response.status_code == 200, response.status_code
    return sorted(item["creator"] for item in response.json()["results"])


def test_a_withdrawal_takes_the_creator_out_of_another_clients_reads_at_once(world, carol, olga):
    ops = token_client(olga)
    assert keys(ops.get("/api/v1/creators/")) == ["CR-CAROL", "CR-DORA", "CR-NOUSER"]
    withdraw(carol)
    assert keys(ops.get("/api/v1/creators/")) == ["CR-DORA", "CR-NOUSER"]
    for path in ("/api/v1/creators/CR-CAROL/", "/api/v1/creators/CR-CAROL/history/"):
        assert ops.get(path).status_code == 404
    assert add_creators(ops.get("/api/v1/creator-adds/")) == ["CR-DORA"]
    withdraw(carol, granted=True)  # consenting again shares again
    assert keys(ops.get("/api/v1/creators/")) == ["CR-CAROL", "CR-DORA", "CR-NOUSER"]


def test_the_creator_still_reads_its_own_data(world, carol):
    withdraw(carol)
    own = token_client(carol)
    assert keys(own.get("/api/v1/creators/")) == ["CR-CAROL"]
    assert own.get("/api/v1/creators/CR-CAROL/").status_code == 200
    assert add_creators(own.get("/api/v1/creator-adds/")) == ["CR-CAROL"]


def test_a_sellers_client_no_longer_prechecks_a_creator_who_withdrew(world, alice, carol):
    url = f"/api/v1/plans/{world['plan'].pk}/precheck/?creator=CR-CAROL"
    seller = token_client(alice)  # an ERP or an agency acting for the seller
    assert seller.get(url).status_code == 200
    withdraw(carol)
    assert seller.get(url).status_code == 404


def test_another_creators_withdrawal_changes_nothing_for_a_creator(world, carol):
    withdraw(world["dora"])
    assert keys(token_client(carol).get("/api/v1/creators/")) == ["CR-CAROL"]


def test_the_creator_list_costs_the_same_queries_however_many_withdrew(world, carol, olga, django_assert_num_queries):
    ops = token_client(olga)
    ops.get("/api/v1/creators/")  # the token's first use is recorded once
    withdraw(carol)
    for n in range(20):
        creator = make_creator(key=f"CR-W{n:02d}")
        withdraw(make_user(email=f"w{n}@example.com", role=User.Role.CREATOR, creator=creator))
    # token, the page (the withdrawals are a subquery of it), overrides, verdict history, rule sets
    with django_assert_num_queries(QUERIES):
        assert keys(ops.get("/api/v1/creators/")) == ["CR-DORA", "CR-NOUSER"]
