"""Notifications: one per event and recipient, in the inbox and by e-mail.

Every sender passes a ``dedupe_key`` naming the event (``run:12:shop:345``); a repeated run
or task finds the row already there and creates nothing, so nobody is told twice.
"""

from collections.abc import Iterable

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from shops.models import Notification, SellerMembership, User
from shops.services.notification_render import Rendered, notifications_render

INBOX_PAGE_SIZE = 50


def notification_send(*, users: Iterable[User | int], kind: str, subject: str, context: dict, dedupe_key: str) -> int:
    """Queue one notification per user for one event; returns how many were new."""
    return notifications_send_many(
        [(user if isinstance(user, int) else user.pk, kind, subject, context, dedupe_key) for user in users]
    )


def notifications_send_many(items: list[tuple[int, str, str, dict, str]]) -> int:
    """Set-based: (user id, kind, subject, context, dedupe key) per notification.

    Call it inside the transaction of the change it reports: the e-mail task is queued only
    once that transaction commits, so nobody is mailed about a change that was rolled back.
    """
    if not items:
        return 0
    keys = {(user_id, key) for user_id, _kind, _subject, _context, key in items}
    existing = set(
        Notification.objects.filter(
            user_id__in={user_id for user_id, _key in keys}, dedupe_key__in={key for _user, key in keys}
        ).values_list("user_id", "dedupe_key")
    )
    new: dict[tuple[int, str], Notification] = {}
    for user_id, kind, subject, context, key in items:
        if (user_id, key) not in existing and (user_id, key) not in new:
            new[user_id, key] = Notification(
                user_id=user_id, kind=kind, subject=subject, context=context, dedupe_key=key
            )
    # A concurrent sender may insert the same row between the read and the write: the unique
    # constraint keeps one, so the count is an upper bound in that race.
    Notification.objects.bulk_create(new.values(), batch_size=1000, ignore_conflicts=True)
    if new:
        transaction.on_commit(_email_new_notifications)
    return len(new)


def _email_new_notifications() -> None:
    from shops.tasks import notifications_email_task

    notifications_email_task.delay()


def seller_member_ids(seller_ids: Iterable[int]) -> dict[int, list[int]]:
    """Seller id -> ids of its active member users."""
    members: dict[int, list[int]] = {}
    for seller_id, user_id in SellerMembership.objects.filter(
        seller_id__in=set(seller_ids), user__is_active=True
    ).values_list("seller_id", "user_id"):
        members.setdefault(seller_id, []).append(user_id)
    return members


# The inbox ------------------------------------------------------------------------------------


def notifications_inbox(
    *, user: User, unread_only: bool = False, limit: int = INBOX_PAGE_SIZE, offset: int = 0
) -> list[Rendered]:
    """The user's notifications, newest first, in the active language.

    Two queries whatever the page holds: the notifications, and the rule sets they cite.
    """
    notifications = Notification.objects.filter(user=user).order_by("-created_at", "-id")
    if unread_only:
        notifications = notifications.filter(read_at__isnull=True)
    return notifications_render(notifications[offset : offset + limit])


def notifications_unread_count(*, user: User) -> int:
    return Notification.objects.filter(user=user, read_at__isnull=True).count()


def notification_mark_read(*, user: User, notification_ids: Iterable[int], read: bool = True) -> int:
    """Mark the user's own notifications read (or unread again); returns how many changed.

    Ids of other users' notifications are ignored. A notification already read keeps the time
    it was first read.
    """
    notifications = Notification.objects.filter(user=user, pk__in=list(notification_ids))
    if read:
        return notifications.filter(read_at__isnull=True).update(read_at=timezone.now())
    return notifications.filter(read_at__isnull=False).update(read_at=None)


def notification_mark_all_read(*, user: User) -> int:
    return Notification.objects.filter(user=user, read_at__isnull=True).update(read_at=timezone.now())


# Preferences ----------------------------------------------------------------------------------


def notification_preferences_update(
    *, user: User, email_notifications: bool, email_digest: bool, language: str
) -> User:
    """Save how the user hears from us, or raise ``ValidationError`` keyed by field.

    ``email_digest`` chooses one e-mail a day instead of one per notification; it only matters
    while ``email_notifications`` is on. The inbox always receives everything.
    """
    errors: dict[str, list[ValidationError]] = {}
    for field, value in (("email_notifications", email_notifications), ("email_digest", email_digest)):
        if not isinstance(value, bool):
            errors[field] = [ValidationError(_("Choose yes or no."), code="invalid")]
    languages = [code for code, _name in settings.LANGUAGES]
    if language not in languages:
        errors["language"] = [
            ValidationError(
                _("Unknown language %(language)s: use one of %(choices)s."),
                code="invalid_choice",
                params={"language": repr(language), "choices": ", ".join(languages)},
            )
        ]
    if errors:
        raise ValidationError(errors)
    user.email_notifications = email_notifications
    user.email_digest = email_digest
    user.language = language
    user.save(update_fields=["email_notifications", "email_digest", "language"])
    return user


def notifications_counts(*, user: User) -> tuple[int, int]:
    """(all, unread) notifications of the user, in one query: the inbox tabs and its pages."""
    from django.db.models import Count, Q

    counts = Notification.objects.filter(user=user).aggregate(
        total=Count("pk"), unread=Count("pk", filter=Q(read_at__isnull=True))
    )
    return counts["total"], counts["unread"]
