import datetime as dt
import re
import threading
from decimal import Decimal

import pytest
from django.core import mail
from django.core.exceptions import ValidationError
from django.core.mail.backends.locmem import EmailBackend
from django.db import connection, transaction
from django.utils import timezone, translation

from shops.models import EvaluationRun, Notification, SellerMembership, User
from shops.services import notification_email
from shops.services.evaluation import evaluation_run_inline
from shops.services.notification_email import EMAIL_MAX_AGE, notifications_email_pending
from shops.services.notification_render import EVENT_TITLES, notification_render
from shops.services.notifications import (
    notification_mark_all_read,
    notification_mark_read,
    notification_preferences_update,
    notification_send,
    notifications_inbox,
    notifications_unread_count,
)
from shops.tasks import notifications_digest_task, notifications_email_task
from tests.factories import make_category, make_creator, make_product, make_shop, make_user

pytestmark = pytest.mark.django_db

DAY = dt.date(2026, 11, 20)
CJK = re.compile(r"[\u4e00-\u9fff]")


def seller_user(shop, **kw):
    user = make_user(role=User.Role.SELLER, **kw)
    SellerMembership.objects.create(user=user, seller=shop.seller)
    return user


def send(user, dedupe="event:1", **context):
    context = {"event": "verdict.changed", "entity": "shop", "key": "SHOP-1", "new_status": "RESTRICTED"} | context
    return notification_send(users=[user], kind="warning", subject="shop:SHOP-1", context=context, dedupe_key=dedupe)


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
    assert notifications_digest_task() == 0
    assert mail.outbox == []
    assert notifications_unread_count(user=user) == 1


# Exactly once ---------------------------------------------------------------------------------


def test_a_repeated_run_and_a_repeated_email_task_send_each_change_once(django_capture_on_commit_callbacks):
    shop = make_shop(sps=Decimal("3.2"))
    alice = seller_user(shop, email="alice@example.com")
    with django_capture_on_commit_callbacks(execute=True):
        evaluation_run_inline(as_of=DAY)
    with django_capture_on_commit_callbacks(execute=True):
        evaluation_run_inline(as_of=DAY)

    assert Notification.objects.filter(user=alice).count() == 1
    assert [m.to for m in mail.outbox] == [["alice@example.com"]]
    assert notifications_email_task() == 0
    assert notifications_email_task() == 0
    assert len(mail.outbox) == 1
    assert Notification.objects.get(user=alice).emailed_at is not None


def test_sending_the_same_event_twice_in_one_call_creates_one_notification():
    alice = make_user()
    created = notification_send(
        users=[alice, alice.pk], kind="warning", subject="shop:SHOP-1", context={}, dedupe_key="event:1"
    )
    assert created == 1
    assert send(alice, dedupe="event:1") == 0
    assert Notification.objects.filter(user=alice).count() == 1


def test_a_failed_send_gives_the_claim_back_and_the_next_run_sends_it(monkeypatch, django_capture_on_commit_callbacks):
    alice = make_user(email="alice@example.com")
    with django_capture_on_commit_callbacks():  # the task is run by hand below
        send(alice)

    def refuse(self, messages):
        raise ConnectionRefusedError("mail server down")

    with monkeypatch.context() as patch:
        patch.setattr(EmailBackend, "send_messages", refuse)
        assert notifications_email_task() == 0
    assert Notification.objects.get(user=alice).emailed_at is None

    assert notifications_email_task() == 1
    assert [m.to for m in mail.outbox] == [["alice@example.com"]]


def test_news_older_than_two_days_stays_in_the_inbox_only(django_capture_on_commit_callbacks):
    alice = make_user()
    with django_capture_on_commit_callbacks():
        send(alice)
    Notification.objects.update(created_at=timezone.now() - EMAIL_MAX_AGE - dt.timedelta(minutes=1))

    assert notifications_email_task() == 0
    assert mail.outbox == []
    assert len(notifications_inbox(user=alice)) == 1


@pytest.mark.django_db(transaction=True)
def test_a_user_another_sender_is_mailing_is_skipped_rather_than_mailed_twice():
    if connection.vendor != "postgresql":
        pytest.skip("row locks need PostgreSQL")
    alice = make_user(email="alice@example.com")
    Notification.objects.create(user=alice, kind="warning", subject="shop:SHOP-1", context={}, dedupe_key="event:1")
    locked, release = threading.Event(), threading.Event()

    def other_sender():
        try:
            with transaction.atomic():
                User.objects.select_for_update().get(pk=alice.pk)
                locked.set()
                release.wait(10)
        finally:
            connection.close()

    thread = threading.Thread(target=other_sender)
    thread.start()
    try:
        assert locked.wait(10)
        assert notifications_email_pending(digest=False) == 0
        assert Notification.objects.get().emailed_at is None
    finally:
        release.set()
        thread.join(10)
    assert notifications_email_pending(digest=False) == 1
    assert len(mail.outbox) == 1


class RunStartsWhileMailing(EmailBackend):
    """The mail server, while an evaluation run starts elsewhere after the first message."""

    def send_messages(self, messages):
        if not EvaluationRun.objects.exists():
            EvaluationRun.objects.create(as_of=DAY, state=EvaluationRun.State.RUNNING, chunk_size=10, total=1)
        return super().send_messages(messages)


def test_a_run_that_starts_while_mailing_stops_the_mailing_after_the_current_batch(monkeypatch, settings):
    monkeypatch.setattr(notification_email, "USERS_PER_BATCH", 2)
    settings.EMAIL_BACKEND = f"{__name__}.RunStartsWhileMailing"
    for n in range(5):
        user = make_user(email=f"user{n}@example.com")
        Notification.objects.create(user=user, kind="warning", subject="shop:SHOP-1", context={}, dedupe_key=f"e:{n}")

    # The run's chunks do not wait behind the other three users' e-mails: they stay pending.
    assert notifications_email_task() == 2
    assert Notification.objects.filter(emailed_at__isnull=True).count() == 3

    EvaluationRun.objects.update(state=EvaluationRun.State.SUCCEEDED)
    assert notifications_email_task() == 3
    assert len(mail.outbox) == 5 and not Notification.objects.filter(emailed_at__isnull=True).exists()


# Digest ---------------------------------------------------------------------------------------


def test_the_digest_sends_one_email_a_day_with_every_item_and_nothing_on_a_second_call(
    django_capture_on_commit_callbacks,
):
    shop = make_shop(sps=Decimal("2.5"))
    product = make_product(shop=shop)
    dana = seller_user(shop, email="dana@example.com", email_digest=True)
    with django_capture_on_commit_callbacks(execute=True):
        evaluation_run_inline(as_of=DAY)
    assert mail.outbox == []  # not at once

    assert notifications_digest_task() == 1
    (digest,) = mail.outbox
    assert digest.to == ["dana@example.com"]
    assert digest.subject == "Your Compliance Portal digest: 2 updates"
    assert shop.key in digest.body and product.key in digest.body
    assert shop.key in digest.alternatives[0][0] and product.key in digest.alternatives[0][0]
    assert notifications_digest_task() == 0

    # News after today's digest waits for tomorrow's, even if the task runs again today.
    with django_capture_on_commit_callbacks(execute=True):
        send(dana, dedupe="later")
    assert notifications_digest_task() == 0
    assert notifications_email_pending(digest=True, now=timezone.now() + dt.timedelta(days=1)) == 1
    assert len(mail.outbox) == 2
    assert mail.outbox[1].subject == "Your Compliance Portal digest: 1 update"
    assert "New status for shop SHOP-1: Restricted" in mail.outbox[1].body


def test_a_large_digest_lists_the_first_items_and_counts_the_rest(django_capture_on_commit_callbacks):
    dana = make_user(email_digest=True)
    with django_capture_on_commit_callbacks():
        for n in range(53):
            send(dana, dedupe=f"event:{n}")
    assert notifications_digest_task() == 1
    assert "And 3 more updates: see your inbox in Compliance Portal." in mail.outbox[0].body
    assert not Notification.objects.filter(emailed_at__isnull=True).exists()


# Inbox ----------------------------------------------------------------------------------------


def test_the_inbox_lists_a_users_own_notifications_newest_first_and_marks_them_read_or_unread():
    alice, bob = make_user(), make_user()
    for n in range(3):
        send(alice, dedupe=f"event:{n}", key=f"SHOP-{n}")
    send(bob, dedupe="event:0")
    first, second, third = Notification.objects.filter(user=alice).order_by("id")
    bobs = Notification.objects.get(user=bob)

    assert [item.notification for item in notifications_inbox(user=alice)] == [third, second, first]
    assert notifications_unread_count(user=alice) == 3

    assert notification_mark_read(user=alice, notification_ids=[first.pk, bobs.pk]) == 1
    assert notifications_unread_count(user=alice) == 2
    assert notifications_unread_count(user=bob) == 1  # not alice's to mark
    read_at = Notification.objects.get(pk=first.pk).read_at
    assert notification_mark_read(user=alice, notification_ids=[first.pk]) == 0
    assert Notification.objects.get(pk=first.pk).read_at == read_at  # first read time kept
    assert [item.notification for item in notifications_inbox(user=alice, unread_only=True)] == [third, second]

    assert notification_mark_read(user=alice, notification_ids=[first.pk], read=False) == 1
    assert notifications_unread_count(user=alice) == 3
    assert notification_mark_all_read(user=alice) == 3
    assert notifications_unread_count(user=alice) == 0
    assert notifications_unread_count(user=bob) == 1


@pytest.mark.parametrize("count", [1, 12])
def test_the_inbox_costs_two_queries_whatever_it_holds(count, django_assert_num_queries):
    alice = make_user()
    for n in range(count):
        send(alice, dedupe=f"event:{n}", ruleset_version=1, reasons=["SPS_BELOW_ELIGIBLE"], inputs={"sps": "3.2"})
    with django_assert_num_queries(2):  # the notifications, and the rule sets they cite
        items = notifications_inbox(user=alice)
    assert len(items) == count
    assert all("Shop Performance Score is below 3.5" in item.reasons[0] for item in items)
    with django_assert_num_queries(1):
        assert notifications_unread_count(user=alice) == count


# Preferences ----------------------------------------------------------------------------------


def test_preferences_are_saved_and_the_next_email_follows_them(django_capture_on_commit_callbacks):
    alice = make_user(email="alice@example.com")
    notification_preferences_update(user=alice, email_notifications=True, email_digest=False, language="zh-hans")
    alice.refresh_from_db()
    assert (alice.email_notifications, alice.email_digest, alice.language) == (True, False, "zh-hans")

    with django_capture_on_commit_callbacks(execute=True):
        send(alice)
    assert mail.outbox[0].subject == "店铺 SHOP-1 的新状态：受限"


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        pytest.param({"language": "fr"}, "language", id="unknown-language"),
        pytest.param({"language": ""}, "language", id="blank-language"),
        pytest.param({"email_digest": "yes"}, "email_digest", id="digest-not-a-bool"),
        pytest.param({"email_notifications": 1}, "email_notifications", id="email-not-a-bool"),
    ],
)
def test_preferences_refuse_unknown_languages_and_non_booleans(changes, field):
    alice = make_user()
    values = {"email_notifications": False, "email_digest": True, "language": "en"} | changes
    with pytest.raises(ValidationError) as refused:
        notification_preferences_update(user=alice, **values)
    assert set(refused.value.message_dict) == {field}
    alice.refresh_from_db()
    assert (alice.email_notifications, alice.email_digest, alice.language) == (True, False, "en")


# Rendering ------------------------------------------------------------------------------------

# One context per event, as its sender writes it.
EVENT_SAMPLES = {
    "verdict.changed": {
        "entity": "product",
        "key": "PRD-9",
        "old_status": "ELIGIBLE",
        "new_status": "WARNING",
        "reasons": ["NRR_ABOVE_WARNING"],
        "inputs": {"reviews_30d": 100, "negative_reviews_30d": 7, "nrr": "0.07"},
        "baseline": {"value": "0.03", "source": "computed"},
        "ruleset_version": 1,
    },
    "creator_add.refused": {
        "product": "PRD-9",
        "placement": "live",
        "reasons": ["PPS_BELOW_MIN"],
        "details": {
            "pps": "3.4",
            "chr": "180",
            "pps_min": "3.5",
            "chr_min": "150",
            "category": "Beauty",
            "gated": True,
        },
        "ruleset_version": 1,
    },
    "appeal.submitted": {
        "entity": "shop",
        "key": "SHOP-1",
        "reasons": ["SPS_BELOW_ELIGIBLE"],
        "due_at": "2026-11-23T10:00:00+00:00",
    },
    "appeal.approved": {
        "entity": "shop",
        "key": "SHOP-1",
        "reasons": ["SPS_BELOW_ELIGIBLE"],
        "status": "ELIGIBLE",
        "expires_at": "2026-12-31T00:00:00+00:00",
        "decision_reason": "Carrier strike confirmed.",
    },
    "appeal.rejected": {
        "entity": "shop",
        "key": "SHOP-1",
        "reasons": ["SPS_BELOW_ELIGIBLE"],
        "decision_reason": "The records end in August.",
    },
    "appeal.withdrawn": {"entity": "shop", "key": "SHOP-1", "reasons": ["SPS_BELOW_ELIGIBLE"]},
    "override.expired": {
        "entity": "shop",
        "key": "SHOP-1",
        "status": "ELIGIBLE",
        "expires_at": "2026-12-31T00:00:00+00:00",
        "computed_status": "RESTRICTED",
        "reasons": ["SPS_BELOW_ELIGIBLE"],
    },
    "plan.terminated": {"plan": "Spring sale", "shop": "SHOP-1", "reasons": ["SPS_BELOW_DISQUALIFY"], "products": 4},
    "plan.recreated": {"plan": "Spring sale", "shop": "SHOP-1", "products": ["PRD-1"], "skipped": {"PRD-2": ["X"]}},
    "licence.flagged": {"licence": "BL000123", "count": 4, "limit": 3, "shops": ["S1", "S2", "S3", "S4"]},
    "shop.unbound": {
        "key": "SHOP-1",
        "licence": "BL000123",
        "rebind_from": "2027-02-18",
        "plans_terminated": 2,
        "reason": "A fourth shop on one licence.",
    },
    "recovery.updated": {"key": "SHOP-1", "step": "exam", "exam_score": "72.00", "pass_score": "85"},
}


def render(context, language, subject="shop:SHOP-1"):
    with translation.override(language):
        return notification_render(Notification(pk=1, subject=subject, context=context))


def test_every_event_has_a_sample():
    assert set(EVENT_SAMPLES) == set(EVENT_TITLES)


@pytest.mark.parametrize("event", sorted(EVENT_TITLES))
def test_every_event_reads_in_english_and_in_chinese(event):
    context = {"event": event} | EVENT_SAMPLES[event]
    english, chinese = render(context, "en"), render(context, "zh-hans")

    assert english.title and chinese.title and english.title != chinese.title
    assert not CJK.search(english.title) and CJK.search(chinese.title)
    assert "—" not in english.title  # every placeholder of the title was filled
    for rendered in (english, chinese):
        assert rendered.summary or rendered.reasons
        assert rendered.next_steps
        texts = [rendered.title, rendered.summary, rendered.note, *rendered.reasons, *rendered.next_steps]
        texts += [part for figure in rendered.figures for part in figure]
        assert not any("%(" in text or "%s" in text for text in texts)
    assert CJK.search(chinese.summary or chinese.reasons[0])
    assert all(CJK.search(step) for step in chinese.next_steps)
    assert all(CJK.search(label) for label, _value in chinese.figures)


def test_a_verdict_shows_the_figures_behind_it_beside_their_thresholds():
    product = render({"event": "verdict.changed"} | EVENT_SAMPLES["verdict.changed"], "en")
    assert product.title == "New status for product PRD-9: Warning"
    assert dict(product.figures) == {
        "Reviews in the last 30 days": "100",
        "Negative reviews in the last 30 days": "7",
        "Negative review rate": "7%",
        "Leaf category average negative review rate": "3%",
        "Times the leaf category average": "2.33",
        "Negative review rate thresholds": "warning at 2 times the average or more; disqualified above 3 times",
    }
    shop = render({"entity": "shop", "new_status": "RESTRICTED", "inputs": {"sps": "3.2", "orders_90d": 120}}, "en")
    assert dict(shop.figures) == {
        "Shop Performance Score": "3.2",
        "Score thresholds": "fully eligible from 3.5; disqualified below 3",
        "Orders in the last 90 days": "120",
    }
    creator = render(
        {"entity": "creator", "new_status": "NOT_QUALIFIED", "inputs": {"pps": "3.4", "chr": None}}, "zh-hans"
    )
    assert dict(creator.figures) == {
        "达人带货分（PPS）": "3.4",
        "指定类目所需的最低达人带货分": "3.5",
        "达人健康分（CHR）": "暂无",
        "指定类目所需的最低达人健康分": "150",
    }


def test_a_multiple_that_rounds_onto_a_threshold_keeps_its_decimals():
    context = {"entity": "product", "inputs": {"nrr": "0.08988"}, "baseline": {"value": "0.03"}}
    assert dict(render(context, "en").figures)["Times the leaf category average"] == "2.996"


def test_a_refusal_shows_the_creators_scores_and_the_thresholds():
    refusal = render({"event": "creator_add.refused"} | EVENT_SAMPLES["creator_add.refused"], "en")
    assert refusal.title == "Product PRD-9 was not added to your live session"
    assert dict(refusal.figures) == {
        "Promotion performance score (PPS)": "3.4",
        "Minimum PPS for gated categories": "3.5",
        "Creator health rating (CHR)": "180",
        "Minimum CHR for gated categories": "150",
        "Category": "Beauty (a gated category)",
    }
    assert refusal.reasons[0].startswith("Your promotion performance score (PPS) is below 3.5")


@pytest.mark.parametrize(
    "context",
    [
        pytest.param({"event": "mystery.event", "entity": "shop", "key": "S1", "reasons": ["NOT_A_CODE"]}, id="event"),
        pytest.param({"event": "verdict.changed", "new_status": "LIMBO", "reasons": ["NOT_A_CODE", 7]}, id="codes"),
        pytest.param({"event": "plan.terminated"}, id="missing-values"),
        pytest.param({"event": ["odd"], "reasons": "SPS", "inputs": "junk", "baseline": [1], "details": 3}, id="types"),
        pytest.param({"ruleset_version": "x", "inputs": {"sps": "NaN", "nrr": "abc"}}, id="numbers"),
        pytest.param({}, id="empty"),
    ],
)
def test_an_unknown_event_code_or_value_renders_plainly_instead_of_failing(context):
    for language in ("en", "zh-hans"):
        rendered = render(context, language)
        assert rendered.title
        assert "%(" not in rendered.title
    unknown = render({"event": "mystery.event", "entity": "shop", "key": "S1", "reasons": ["NOT_A_CODE"]}, "en")
    assert unknown.title == "Update on shop S1"
    assert "NOT_A_CODE" in unknown.reasons[0]


def test_odd_notifications_are_still_mailed_with_a_one_line_subject_and_plain_text(django_capture_on_commit_callbacks):
    alice = make_user(email="alice@example.com")
    with django_capture_on_commit_callbacks(execute=True):
        notification_send(
            users=[alice],
            kind="plan",
            subject="plan:1",
            dedupe_key="a",
            context={"event": "plan.terminated", "plan": "Spring\nsale <b>&</b>"},
        )
        notification_send(users=[alice], kind="account", subject="", dedupe_key="b", context={"event": "mystery.event"})
    subjects = sorted(m.subject for m in mail.outbox)
    assert subjects == ["Affiliate plan Spring sale <b>&</b> has ended", "Compliance Portal update"]
    plan_mail = next(m for m in mail.outbox if "Spring" in m.subject)
    assert "<b>&</b>" in plan_mail.body  # plain text is not HTML-escaped
    assert "Spring sale &lt;b&gt;&amp;&lt;/b&gt;" in plan_mail.alternatives[0][0]


def test_a_recovered_entity_is_told_that_ended_plans_do_not_come_back():
    recovered = render({"entity": "shop", "old_status": "DISQUALIFIED", "new_status": "ELIGIBLE"}, "en")
    assert recovered.next_steps == [
        "Affiliate plans and collaborations that ended are not restored: set them up again by hand."
    ]


def test_the_html_email_declares_its_language_and_labels_the_figures(django_capture_on_commit_callbacks):
    category = make_category()
    shop = make_shop()
    make_product(shop=make_shop(), category=category, reviews_30d=100, negative_reviews_30d=1)
    make_product(shop=shop, category=category, reviews_30d=100, negative_reviews_30d=9)
    seller_user(shop, email="zh@example.com", language="zh-hans")
    creator = make_creator(pps=Decimal("3.1"))
    make_user(role=User.Role.CREATOR, creator=creator, email="creator@example.com")
    with django_capture_on_commit_callbacks(execute=True):
        evaluation_run_inline(as_of=DAY)

    product_mail = next(m for m in mail.outbox if m.to == ["zh@example.com"] and "商品" in m.subject)
    html = product_mail.alternatives[0][0]
    assert '<html lang="zh-hans">' in html
    assert '<th scope="row"' in html and "差评率" in html
    assert "&#x27;" not in product_mail.body
    creator_mail = next(m for m in mail.outbox if m.to == ["creator@example.com"])
    assert "Promotion performance score (PPS): 3.1" in creator_mail.body
    assert "Minimum PPS for gated categories: 3.5" in creator_mail.body
