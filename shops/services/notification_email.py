"""E-mail for notifications, in each recipient's language.

Users choose one e-mail per notification, sent right after the change commits, or one digest a
day. Either way a notification is e-mailed at most once: a sender claims it by setting
``emailed_at`` in a committed transaction before the mail goes out, and gives the claim back
if the mail server refuses the message. A task that runs twice, or two workers at once, find
nothing left to claim.
"""

import datetime as dt
import logging
from collections import defaultdict
from collections.abc import Callable, Mapping

from django.conf import settings
from django.core.mail import EmailMultiAlternatives, get_connection
from django.db import transaction
from django.db.models import Exists, OuterRef, QuerySet
from django.template.loader import render_to_string
from django.utils import timezone, translation

from shops.models import Notification, User
from shops.rules.eligibility import Thresholds
from shops.services.notification_render import Rendered, notification_render, notification_thresholds

logger = logging.getLogger(__name__)

# Older news stays in the inbox only: after an outage, or for a user who has just turned e-mail
# on, nobody receives a pile of stale mail.
EMAIL_MAX_AGE = dt.timedelta(days=2)
# A digest lists this many items; the rest are counted and wait in the inbox.
DIGEST_MAX_ITEMS = 50
USERS_PER_BATCH = 200
MAX_SUBJECT_LENGTH = 120


def notifications_email_pending(
    *, digest: bool, now: dt.datetime | None = None, stop: Callable[[], bool] | None = None
) -> int:
    """Send what is pending for users in the given mode; returns the number of e-mails sent.

    ``stop`` is asked before each batch of users: when it answers true, the rest stays pending
    for the next call (the immediate e-mails give way to an evaluation run that has started).
    """
    now = now or timezone.now()
    user_ids = list(_pending(digest=digest, now=now).order_by("user_id").values_list("user_id", flat=True).distinct())
    sent = 0
    for start in range(0, len(user_ids), USERS_PER_BATCH):
        if stop is not None and stop():
            logger.info("E-mails paused after %s sent: %s users wait for the next call", sent, len(user_ids) - start)
            break
        claimed = _claim(user_ids[start : start + USERS_PER_BATCH], digest=digest, now=now)
        sent += _send(claimed, digest=digest, claimed_at=now)
    return sent


def _pending(*, digest: bool, now: dt.datetime) -> QuerySet[Notification]:
    pending = Notification.objects.filter(
        emailed_at__isnull=True,
        created_at__gte=now - EMAIL_MAX_AGE,
        user__is_active=True,
        user__email_notifications=True,
        user__email_digest=digest,
    )
    if digest:
        # One digest per user and day: a second run the same day (a retried task, a doubled
        # beat) sends nothing, even if new notifications arrived in between.
        day_start = timezone.make_aware(dt.datetime.combine(timezone.localdate(now), dt.time.min))
        emailed_today = Notification.objects.filter(
            user_id=OuterRef("user_id"), created_at__gte=day_start - EMAIL_MAX_AGE, emailed_at__gte=day_start
        )
        pending = pending.filter(~Exists(emailed_today))
    return pending


def _claim(user_ids: list[int], *, digest: bool, now: dt.datetime) -> list[Notification]:
    """Take the users' pending notifications for this sender, committed before any mail goes out.

    The users' rows are locked (skipping those another sender holds) and their notifications
    read again under that lock, so two senders never split one user's digest, and preferences
    changed meanwhile are respected.
    """
    with transaction.atomic():
        locked = list(User.objects.select_for_update(skip_locked=True).filter(pk__in=user_ids).values_list("pk"))
        notifications = list(
            _pending(digest=digest, now=now)
            .filter(user_id__in=[pk for (pk,) in locked])
            .select_related("user")
            .order_by("user_id", "created_at", "id")
        )
        Notification.objects.filter(pk__in=[n.pk for n in notifications], emailed_at__isnull=True).update(
            emailed_at=now
        )
    return notifications


def _send(notifications: list[Notification], *, digest: bool, claimed_at: dt.datetime) -> int:
    by_user: dict[int, list[Notification]] = defaultdict(list)
    for notification in notifications:
        by_user[notification.user_id].append(notification)
    rulesets = notification_thresholds(notifications)
    sent = 0
    with get_connection() as connection:
        for group in by_user.values():
            user = group[0].user
            for batch in [group] if digest else ([n] for n in group):
                try:
                    message = notifications_email_message(user, batch, rulesets=rulesets, digest=digest)
                    connection.send_messages([message])
                except Exception:
                    # Give the claim back: the next run tries again (while the news is fresh).
                    logger.exception("E-mail to user #%s about %s notification(s) failed", user.pk, len(batch))
                    Notification.objects.filter(pk__in=[n.pk for n in batch], emailed_at=claimed_at).update(
                        emailed_at=None
                    )
                else:
                    sent += 1
    return sent


def notifications_email_message(
    user: User,
    notifications: list[Notification],
    *,
    rulesets: Mapping[int, Thresholds] | None = None,
    digest: bool = False,
) -> EmailMultiAlternatives:
    """The e-mail about ``notifications`` for ``user``, in the user's language, text and HTML."""
    with translation.override(user.language or settings.LANGUAGE_CODE):
        if rulesets is None:
            rulesets = notification_thresholds(notifications)
        items = [notification_render(n, rulesets=rulesets) for n in notifications[:DIGEST_MAX_ITEMS]]
        subject = _subject(items, count=len(notifications), digest=digest)
        context = {
            "items": items,
            "more": len(notifications) - len(items),
            "digest": digest,
            "subject": subject,
            "language": translation.get_language(),
        }
        text = render_to_string("shops/email/notifications.txt", context)
        html = render_to_string("shops/email/notifications.html", context)
    message = EmailMultiAlternatives(subject, text, settings.DEFAULT_FROM_EMAIL, [user.email])
    message.attach_alternative(html, "text/html")
    return message


def _subject(items: list[Rendered], *, count: int, digest: bool) -> str:
    if digest:
        subject = translation.ngettext(
            "Your Compliance Portal digest: %(count)s update",
            "Your Compliance Portal digest: %(count)s updates",
            count,
        ) % {"count": count}
    else:
        subject = items[0].title
    # A header is one line; titles are built from one-line values, this is the last guard.
    subject = " ".join(subject.split())
    return subject if len(subject) <= MAX_SUBJECT_LENGTH else subject[: MAX_SUBJECT_LENGTH - 1] + "…"


# Marketing e-mail (privacy centre): only to users who consent now ---------------------------------


def marketing_email_send(*, subject_en: str, subject_zh: str, body_en: str, body_zh: str) -> int:
    """Send one marketing e-mail to every user who currently consents to marketing e-mail;
    returns how many were sent. Consent is read per batch, right before sending, so a
    withdrawal stops the mail at once."""
    from privacy.models import Purpose
    from privacy.selectors import consenting_users

    sent = 0
    last_pk = 0
    with get_connection() as connection:
        while True:
            batch = list(
                consenting_users(purpose=Purpose.MARKETING_EMAIL)
                .filter(pk__gt=last_pk)
                .order_by("pk")
                .only("pk", "email", "language")[:USERS_PER_BATCH]
            )
            if not batch:
                return sent
            last_pk = batch[-1].pk
            messages = []
            for user in batch:
                chinese = (user.language or "").startswith("zh")
                with translation.override(user.language or settings.LANGUAGE_CODE):
                    footer = translation.gettext(
                        "You receive this because you agreed to marketing e-mail. "
                        "Withdraw your consent in the privacy centre at any time."
                    )
                text = f"{body_zh if chinese else body_en}\n\n--\n{footer}\n"
                messages.append(
                    EmailMultiAlternatives(
                        subject_zh if chinese else subject_en, text, settings.DEFAULT_FROM_EMAIL, [user.email]
                    )
                )
            sent += connection.send_messages(messages) or 0
