"""Notifications: one per event and recipient, in the inbox and by e-mail.

Every sender passes a ``dedupe_key`` naming the event (``run:12:shop:345``); a repeated run
or task finds the row already there and creates nothing, so nobody is told twice.
"""

from collections.abc import Iterable

from django.db import transaction

from shops.models import Notification, SellerMembership, User


def notification_send(*, users: Iterable[User | int], kind: str, subject: str, context: dict, dedupe_key: str) -> int:
    """Queue one notification per user for one event; returns how many were new."""
    return notifications_send_many(
        [(user if isinstance(user, int) else user.pk, kind, subject, context, dedupe_key) for user in users]
    )


def notifications_send_many(items: list[tuple[int, str, str, dict, str]]) -> int:
    """Set-based: (user id, kind, subject, context, dedupe key) per notification."""
    if not items:
        return 0
    keys = {(user_id, key) for user_id, _, _, _, key in items}
    existing = set(
        Notification.objects.filter(
            user_id__in={user_id for user_id, _ in keys}, dedupe_key__in={key for _, key in keys}
        ).values_list("user_id", "dedupe_key")
    )
    new = [
        Notification(user_id=user_id, kind=kind, subject=subject, context=context, dedupe_key=key)
        for user_id, kind, subject, context, key in items
        if (user_id, key) not in existing
    ]
    Notification.objects.bulk_create(new, batch_size=1000, ignore_conflicts=True)
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


def notification_mark_read(*, user: User, notification_ids: Iterable[int], read: bool = True) -> int:
    from django.utils import timezone

    return Notification.objects.filter(user=user, pk__in=list(notification_ids)).update(
        read_at=timezone.now() if read else None
    )
