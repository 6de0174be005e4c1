"""The notifications inbox, marking read, and the notification settings, per persona.

Every role has an inbox. Notifications are worded by the renderer the e-mails use, in the
reader's language; marking read works with htmx and without JavaScript, and another user's
notification is a 404. Settings are saved by ``notification_preferences_update``.
"""

import datetime as dt

import pytest
from django.conf import settings
from django.urls import reverse
from django.utils import timezone, translation

from shops.models import Notification, RuleSet, User
from shops.services.notification_render import notification_render
from tests.conftest import signed_in

pytestmark = pytest.mark.django_db

INBOX = "/notifications/"
PREFERENCES = "/notifications/preferences/"


def notify(user: User, n: int, *, read: bool = False, product: str = "PRD-1") -> Notification:
    """A refused creator add (it cites the rule set, as verdict notifications do), ``n`` minutes old."""
    notification = Notification.objects.create(
        user=user,
        kind=Notification.Kind.REFUSAL,
        subject=f"product:{product}",
        dedupe_key=f"test:{user.pk}:{n}",
        context={
            "event": "creator_add.refused",
            "product": product,
            "placement": "showcase",
            "reasons": ["PPS_BELOW_MIN"],
            "details": {"pps": "3.2", "chr": "180", "pps_min": "3.5", "chr_min": "150", "category": "Skincare"},
            "ruleset_version": 1,
        },
    )
    created = timezone.now() - dt.timedelta(minutes=n)
    Notification.objects.filter(pk=notification.pk).update(created_at=created, read_at=created if read else None)
    notification.refresh_from_db()
    return notification


def verdict_notice(user: User, n: int, key: str = "SHOP-A") -> Notification:
    return Notification.objects.create(
        user=user,
        kind=Notification.Kind.STATUS_CHANGE,
        subject=f"shop:{key}",
        dedupe_key=f"verdict:{user.pk}:{n}",
        context={
            "event": "verdict.changed",
            "entity": "shop",
            "key": key,
            "old_status": "ELIGIBLE",
            "new_status": "RESTRICTED",
            "reasons": ["SPS_BELOW_ELIGIBLE"],
            "inputs": {"sps": "3.2", "orders_90d": 120},
            "ruleset_version": 1,
        },
    )


def title_of(notification: Notification, language: str = "en") -> str:
    with translation.override(language):
        return notification_render(notification).title


# Who may see what ------------------------------------------------------------------------------


@pytest.mark.parametrize("url", [INBOX, PREFERENCES])
def test_an_anonymous_visitor_is_sent_to_sign_in(client, url):
    response = client.get(url)

    assert response.status_code == 302
    assert response["Location"] == f"{reverse('login')}?next={url}"


def test_an_anonymous_visitor_cannot_mark_anything_read(client, carol):
    notification = notify(carol, 1)

    response = client.post(reverse("notification_read", args=[notification.pk]))

    assert response.status_code == 302 and response["Location"].startswith(reverse("login"))
    notification.refresh_from_db()
    assert notification.read_at is None


@pytest.mark.parametrize("persona", ["alice", "carol", "olga"])
def test_every_role_has_an_inbox_with_only_its_own_notifications(client, request, persona, bob):
    user = request.getfixturevalue(persona)
    mine = notify(user, 1, product="PRD-MINE")
    notify(bob, 2, product="PRD-BOBS")
    signed_in(client, user)

    response = client.get(INBOX)

    assert response.status_code == 200
    assert [item.notification for item, _link in response.context["items"]] == [mine]
    body = response.content.decode()
    assert "PRD-MINE" in body and "PRD-BOBS" not in body


def test_marking_another_users_notification_read_is_a_404_and_changes_nothing(client, alice, bob):
    bobs = notify(bob, 1)
    signed_in(client, alice)

    response = client.post(reverse("notification_read", args=[bobs.pk]))

    assert response.status_code == 404
    bobs.refresh_from_db()
    assert bobs.read_at is None


def test_marking_read_needs_a_post(client, alice):
    notification = notify(alice, 1)
    signed_in(client, alice)

    assert client.get(reverse("notification_read", args=[notification.pk])).status_code == 405
    assert client.get(reverse("notifications_read_all")).status_code == 405


# The inbox ------------------------------------------------------------------------------------------


def test_the_inbox_lists_newest_first_with_unread_ones_highlighted(client, carol):
    old = notify(carol, 30, read=True, product="PRD-OLD")
    new = notify(carol, 5, product="PRD-NEW")
    signed_in(client, carol)

    response = client.get(INBOX)

    assert [item.notification for item, _link in response.context["items"]] == [new, old]
    body = response.content.decode()
    assert f'<li class="notification card unread" id="notification-{new.pk}">' in body
    assert f'<li class="notification card" id="notification-{old.pk}">' in body
    assert body.count(">New</span>") == 1
    assert (response.context["total"], response.context["unread_notifications"]) == (2, 1)


def test_a_notification_reads_with_its_reasons_figures_and_next_steps(client, carol):
    notification = notify(carol, 1, product="PRD-SERUM")
    signed_in(client, carol)

    body = client.get(INBOX).content.decode()

    rendered = notification_render(notification)
    assert rendered.title == "Product PRD-SERUM was not added to your showcase"
    assert rendered.title in body and rendered.summary in body
    for text in rendered.reasons + rendered.next_steps:
        assert text in body
    for label, value in rendered.figures:
        assert f"<dt>{label}</dt><dd>{value}</dd>" in body


def test_the_inbox_speaks_the_readers_language(client, carol):
    notification = notify(carol, 1, product="PRD-SERUM")
    User.objects.filter(pk=carol.pk).update(language="zh-hans")
    carol.refresh_from_db()
    signed_in(client, carol)

    body = client.get(INBOX).content.decode()

    chinese, english = title_of(notification, "zh-hans"), title_of(notification)
    assert chinese != english
    assert chinese in body and english not in body


def test_a_creators_notice_about_a_product_links_to_its_own_page_and_a_sellers_to_the_shop(client, alice, carol):
    notify(carol, 1)
    verdict_notice(alice, 1, key="SHOP-A")

    signed_in(client, carol)
    creator_links = [link for _item, link in client.get(INBOX).context["items"]]
    client.logout()
    signed_in(client, alice)
    seller_links = [link for _item, link in client.get(INBOX).context["items"]]

    assert creator_links == [reverse("creator_home") + "#creator-refusals"]
    assert seller_links == [reverse("shop_detail", args=["SHOP-A"])]


def test_the_unread_filter_shows_only_unread_notifications(client, alice):
    notify(alice, 3, read=True, product="PRD-READ")
    unread = notify(alice, 1, product="PRD-UNREAD")
    signed_in(client, alice)

    response = client.get(INBOX, {"filter": "unread"})

    assert [item.notification for item, _link in response.context["items"]] == [unread]
    assert "PRD-READ" not in response.content.decode()


def test_nothing_unread_says_so(client, alice):
    notify(alice, 1, read=True)
    signed_in(client, alice)

    body = client.get(INBOX, {"filter": "unread"}).content.decode()

    assert "Nothing unread. You are up to date." in body


def test_the_inbox_pages_by_twenty(client, alice):
    notes = [notify(alice, n) for n in range(25)]
    signed_in(client, alice)

    first = client.get(INBOX)
    second = client.get(INBOX, {"page": 2})
    beyond = client.get(INBOX, {"page": 9})

    assert [item.notification for item, _ in first.context["items"]] == notes[:20]
    assert [item.notification for item, _ in second.context["items"]] == notes[20:]
    assert beyond.context["page"] == 2
    assert 'href="/notifications/?page=2"' in first.content.decode()
    assert "Page 2 of 2" in second.content.decode()


def test_the_inbox_answers_htmx_with_its_region_only(client, alice):
    notify(alice, 1)
    signed_in(client, alice)

    response = client.get(INBOX, {"filter": "unread"}, HTTP_HX_REQUEST="true", HTTP_HX_TARGET="inbox")

    body = response.content.decode()
    assert body.startswith('<section id="inbox"') and "<html" not in body


@pytest.mark.parametrize("size", [2, 25])
def test_the_inbox_costs_the_same_queries_whatever_it_holds(client, alice, size, django_assert_num_queries):
    for n in range(size):
        notify(alice, n, read=n % 2 == 0)
    signed_in(client, alice)

    with django_assert_num_queries(5):
        response = client.get(INBOX)

    assert len(response.context["items"]) == min(size, 20)


@pytest.mark.parametrize("size", [2, 25])
def test_marking_read_costs_the_same_queries_whatever_the_inbox_holds(client, alice, size, django_assert_num_queries):
    notes = [notify(alice, n) for n in range(size)]
    signed_in(client, alice)

    with django_assert_num_queries(7):
        response = client.post(
            reverse("notification_read", args=[notes[0].pk]), HTTP_HX_REQUEST="true", HTTP_HX_TARGET="inbox"
        )

    assert response.status_code == 200


# Marking read ---------------------------------------------------------------------------------------


def test_marking_one_read_without_javascript_returns_to_the_same_inbox_page(client, alice):
    notification = notify(alice, 1)
    other = notify(alice, 2)
    signed_in(client, alice)

    response = client.post(reverse("notification_read", args=[notification.pk]), {"filter": "unread", "page": "1"})

    assert response.status_code == 302 and response["Location"] == "/notifications/?filter=unread"
    notification.refresh_from_db()
    other.refresh_from_db()
    assert notification.read_at is not None and other.read_at is None


def test_marking_one_read_with_htmx_answers_the_inbox_and_the_top_bar_count(client, alice):
    notification = notify(alice, 1)
    notify(alice, 2)
    signed_in(client, alice)

    response = client.post(
        reverse("notification_read", args=[notification.pk]),
        {"page": "1"},
        HTTP_HX_REQUEST="true",
        HTTP_HX_TARGET="inbox",
    )

    body = response.content.decode()
    assert body.startswith('<section id="inbox"')
    assert 'hx-swap-oob="outerHTML:.topbar .inbox-link"' in body
    assert 'aria-label="1 unread">1</span>' in body
    assert response.context["unread_notifications"] == 1


def test_marking_read_twice_keeps_the_first_time(client, alice):
    notification = notify(alice, 1)
    signed_in(client, alice)
    client.post(reverse("notification_read", args=[notification.pk]))
    notification.refresh_from_db()
    first = notification.read_at

    client.post(reverse("notification_read", args=[notification.pk]))

    notification.refresh_from_db()
    assert notification.read_at == first


def test_marking_all_read_reads_only_the_users_own_and_confirms(client, alice, bob):
    mine = [notify(alice, n) for n in range(3)]
    bobs = notify(bob, 1)
    signed_in(client, alice)

    response = client.post(reverse("notifications_read_all"), follow=True)

    assert response.redirect_chain == [("/notifications/", 302)]
    assert Notification.objects.filter(pk__in=[n.pk for n in mine], read_at__isnull=True).count() == 0
    bobs.refresh_from_db()
    assert bobs.read_at is None
    assert "3 notifications marked as read." in response.content.decode()


# Preferences ------------------------------------------------------------------------------------------


def test_the_settings_show_the_users_current_choices(client, alice):
    User.objects.filter(pk=alice.pk).update(email_notifications=True, email_digest=True, language="en")
    signed_in(client, alice)

    response = client.get(PREFERENCES)

    form = response.context["form"]
    assert form.initial == {"email_notifications": True, "delivery": "digest", "language": "en"}
    body = response.content.decode()
    assert 'name="email_notifications" id="id_email_notifications" checked' in body
    assert 'value="digest"' in body and "checked" in body.split('value="digest"', 1)[1].split(">", 1)[0]


def test_saving_the_settings_goes_through_the_service_and_confirms(client, alice):
    signed_in(client, alice)

    response = client.post(PREFERENCES, {"delivery": "digest", "language": "en"}, follow=True)

    alice.refresh_from_db()
    assert (alice.email_notifications, alice.email_digest, alice.language) == (False, True, "en")
    assert response.redirect_chain == [(PREFERENCES, 302)]
    assert "Your notification settings are saved." in response.content.decode()


def test_choosing_a_language_switches_the_pages_to_it(client, alice):
    signed_in(client, alice)

    response = client.post(PREFERENCES, {"email_notifications": "on", "delivery": "immediate", "language": "zh-hans"})

    alice.refresh_from_db()
    assert (alice.email_notifications, alice.email_digest, alice.language) == (True, False, "zh-hans")
    assert response.cookies[settings.LANGUAGE_COOKIE_NAME].value == "zh-hans"
    page = client.get(PREFERENCES)
    assert page.content.decode().startswith('<!doctype html>\n\n<html lang="zh-hans">')


def test_an_unknown_language_is_refused_and_nothing_is_saved(client, alice):
    signed_in(client, alice)

    response = client.post(PREFERENCES, {"email_notifications": "on", "delivery": "digest", "language": "fr"})

    assert response.status_code == 200
    assert "language" in response.context["form"].errors
    alice.refresh_from_db()
    assert (alice.email_digest, alice.language) == (False, "en")


@pytest.mark.parametrize("size", [2, 25])
def test_the_settings_page_costs_the_same_queries_whatever_the_inbox_holds(
    client, alice, size, django_assert_num_queries
):
    for n in range(size):
        notify(alice, n)
    signed_in(client, alice)

    with django_assert_num_queries(3):
        response = client.get(PREFERENCES)

    assert response.status_code == 200


def test_rule_set_figures_come_from_the_notifications_own_rule_set(client, alice):
    RuleSet.objects.create(version=2, market="", effective_from=dt.date(2001, 1, 1), sps_eligible="3.8")
    notification = verdict_notice(alice, 1)
    signed_in(client, alice)

    body = client.get(INBOX).content.decode()

    # The notice cites rule set 1: its message keeps 3.5, not the 3.8 of the newer rule set.
    rendered = notification_render(notification)
    assert any("3.5" in reason for reason in rendered.reasons)
    assert rendered.reasons[0] in body
