"""E-mail for notifications, in each recipient's language."""

from collections import defaultdict

from django.conf import settings
from django.core.mail import EmailMultiAlternatives
from django.db import transaction
from django.template.loader import render_to_string
from django.utils import timezone, translation

from shops.models import Notification, User
from shops.services.notification_render import notification_render


def notifications_email_pending(*, digest: bool) -> int:
    """Send what is pending for users in the given mode; returns the number of e-mails sent."""
    pending = (
        Notification.objects.filter(
            emailed_at__isnull=True, user__email_notifications=True, user__email_digest=digest, user__is_active=True
        )
        .select_related("user")
        .order_by("user_id", "created_at")
    )
    by_user: dict[User, list[Notification]] = defaultdict(list)
    for notification in pending[:5000]:
        by_user[notification.user].append(notification)
    sent = 0
    for user, notifications in by_user.items():
        messages = [_message(user, [n]) for n in notifications] if not digest else [_message(user, notifications)]
        with transaction.atomic():
            # Mark first: a crash after sending must not send the same mail again.
            claimed = Notification.objects.filter(pk__in=[n.pk for n in notifications], emailed_at__isnull=True).update(
                emailed_at=timezone.now()
            )
            if claimed != len(notifications):
                continue
            for message in messages:
                message.send()
                sent += 1
    return sent


def _message(user: User, notifications: list[Notification]) -> EmailMultiAlternatives:
    with translation.override(user.language):
        rendered = [notification_render(n) for n in notifications]
        if len(rendered) == 1:
            subject = rendered[0].title
        else:
            subject = translation.gettext("Compliance Portal: %(count)d updates") % {"count": len(rendered)}
        context = {"user": user, "items": rendered}
        text = render_to_string("shops/email/notifications.txt", context)
        html = render_to_string("shops/email/notifications.html", context)
    message = EmailMultiAlternatives(subject, text, settings.DEFAULT_FROM_EMAIL, [user.email])
    message.attach_alternative(html, "text/html")
    return message
