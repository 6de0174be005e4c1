"""What every page's frame shows: the signed-in user's unread notification count."""

from shops.models import Notification


def navigation(request) -> dict:
    user = getattr(request, "user", None)
    if user is None or not user.is_authenticated:
        return {}

    def unread() -> int:
        # Called by the template only where the frame shows it: one query, never for the admin.
        return Notification.objects.filter(user_id=user.pk, read_at__isnull=True).count()

    return {"unread_notifications": unread}
