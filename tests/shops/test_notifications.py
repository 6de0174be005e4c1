import datetime as dt
from decimal import Decimal

import pytest
from django.core import mail

from shops.models import Notification, SellerMembership, User
from shops.services.evaluation import evaluation_run_inline
from tests.factories import make_product, make_shop, make_user

pytestmark = pytest.mark.django_db

DAY = dt.date(2026, 11, 20)


def seller_user(shop, **kw):
    user = make_user(role=User.Role.SELLER, **kw)
    SellerMembership.objects.create(user=user, seller=shop.seller)
    return user


def test_a_status_change_notifies_each_seller_member_once_even_when_the_run_repeats():
    shop = make_shop(sps=Decimal("3.2"))
    alice, bob = seller_user(shop), seller_user(shop)
    evaluation_run_inline(as_of=DAY)
    evaluation_run_inline(as_of=DAY)

    for user in (alice, bob):
        notes = Notification.objects.filter(user=user)
        assert notes.count() == 1
        note = notes.get()
        assert note.kind == "warning"
        assert note.context["reasons"] == ["SPS_BELOW_ELIGIBLE"]
        assert note.context["inputs"]["sps"] == "3.2"


def test_the_email_speaks_the_recipients_language_with_reasons_figures_and_next_step(
    django_capture_on_commit_callbacks,
):
    shop = make_shop(sps=Decimal("2.5"))
    make_product(shop=shop)
    seller_user(shop, email="en@example.com")
    seller_user(shop, email="zh@example.com", language="zh-hans")
    with django_capture_on_commit_callbacks(execute=True):
        evaluation_run_inline(as_of=DAY)

    english = [m for m in mail.outbox if m.to == ["en@example.com"]]
    chinese = [m for m in mail.outbox if m.to == ["zh@example.com"]]
    assert len(english) == 2 and len(chinese) == 2  # the shop and its product
    shop_mail = next(m for m in english if shop.key in m.subject)
    assert "Shop Performance Score is below 3:" in shop_mail.body
    assert "Shop Performance Score: 2.5" in shop_mail.body
    assert "What to do next:" in shop_mail.body
    zh_mail = next(m for m in chinese if shop.key in m.subject)
    assert "店铺体验分" in zh_mail.body


def test_a_user_who_turned_email_off_gets_the_inbox_entry_only(django_capture_on_commit_callbacks):
    shop = make_shop(sps=Decimal("2.5"))
    user = seller_user(shop, email_notifications=False)
    with django_capture_on_commit_callbacks(execute=True):
        evaluation_run_inline(as_of=DAY)
    assert Notification.objects.filter(user=user).count() == 1
    assert mail.outbox == []
