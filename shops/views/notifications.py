"""The notifications inbox and the notification settings, for every role.

- ``/notifications/``: the user's notifications, newest first, worded in the page's language by
  the renderer the e-mails use (``notifications_inbox``); ``?filter=unread`` and ``?page=N``.
- ``POST /notifications/<id>/read/`` and ``POST /notifications/read-all/``: mark read. Only the
  user's own notifications exist here: another user's id is a 404. With htmx the answer is the
  inbox region (and the top bar's unread count, swapped out of band); without JavaScript a
  redirect back to the same inbox page.
- ``/notifications/preferences/``: e-mail on or off, one e-mail per notification or a daily
  digest, and the language; saved by ``notification_preferences_update``.
"""

import math

from django import forms
from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import path, reverse
from django.utils import translation
from django.utils.http import urlencode
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from shops.models import Notification, User
from shops.services.notification_render import Rendered
from shops.services.notifications import (
    notification_mark_all_read,
    notification_mark_read,
    notification_preferences_update,
    notifications_counts,
    notifications_inbox,
)

PAGE_SIZE = 20
INBOX_TARGET = "inbox"
UNREAD = "unread"

# Delivery choices of the form; the user model keeps them as ``email_digest``.
IMMEDIATE = "immediate"
DIGEST = "digest"


def _page_number(value) -> int:
    try:
        return max(1, int(value))
    except (TypeError, ValueError):
        return 1


def _link(notification: Notification, user: User) -> str | None:
    """Where the notification's subject is shown to this reader, if anywhere."""
    kind, _sep, key = notification.subject.partition(":")
    if not key:
        return None
    if user.role == User.Role.CREATOR:
        # A creator sees no shop or product page: its refusals and plans are on its own page.
        anchors = {"product": "#creator-refusals", "plan": "#creator-plans", "creator": ""}
        return reverse("creator_home") + anchors[kind] if kind in anchors else None
    if kind == "plan":
        return reverse("plan_detail", args=[int(key)]) if key.isdigit() else None
    names = {"shop": "shop_detail", "product": "product_detail", "creator": "creator_detail"}
    return reverse(names[kind], args=[key]) if kind in names else None


def _inbox_context(user: User, *, unread_only: bool, page: int) -> dict:
    """One page of the inbox: four queries whatever the inbox holds (counts, page, rule sets)."""
    total, unread = notifications_counts(user=user)
    shown = unread if unread_only else total
    pages = max(1, math.ceil(shown / PAGE_SIZE))
    page = min(page, pages)
    items: list[Rendered] = notifications_inbox(
        user=user, unread_only=unread_only, limit=PAGE_SIZE, offset=(page - 1) * PAGE_SIZE
    )
    return {
        "items": [(item, _link(item.notification, user)) for item in items],
        "total": total,
        # Also read by the frame's unread badge, which then needs no query of its own.
        "unread_notifications": unread,
        "unread_only": unread_only,
        "filter": UNREAD if unread_only else "",
        "page": page,
        "pages": pages,
        "previous_url": _inbox_url(unread_only, page - 1) if page > 1 else None,
        "next_url": _inbox_url(unread_only, page + 1) if page < pages else None,
    }


def _inbox_url(unread_only: bool, page: int = 1) -> str:
    query: dict[str, str | int] = {}
    if unread_only:
        query["filter"] = UNREAD
    if page > 1:
        query["page"] = page
    return reverse("notifications") + (f"?{urlencode(query)}" if query else "")


def _is_htmx(request: HttpRequest) -> bool:
    return bool(request.headers.get("HX-Request")) and request.headers.get("HX-Target") == INBOX_TARGET


@require_GET
@login_required
def notifications(request: HttpRequest) -> HttpResponse:
    context = _inbox_context(
        request.user, unread_only=request.GET.get("filter") == UNREAD, page=_page_number(request.GET.get("page"))
    )
    template = "shops/_notifications_inbox.html" if _is_htmx(request) else "shops/notifications.html"
    return render(request, template, context)


def _after_marking(request: HttpRequest) -> HttpResponse:
    """The same inbox page again: the region for htmx, a redirect without JavaScript."""
    unread_only = request.POST.get("filter") == UNREAD
    page = _page_number(request.POST.get("page"))
    if _is_htmx(request):
        context = _inbox_context(request.user, unread_only=unread_only, page=page) | {"oob": True}
        return render(request, "shops/_notifications_inbox.html", context)
    return redirect(_inbox_url(unread_only, page))


@require_POST
@login_required
def notification_read(request: HttpRequest, pk: int) -> HttpResponse:
    notification = get_object_or_404(Notification.objects.filter(user=request.user).only("pk"), pk=pk)
    notification_mark_read(user=request.user, notification_ids=[notification.pk])
    return _after_marking(request)


@require_POST
@login_required
def notifications_read_all(request: HttpRequest) -> HttpResponse:
    changed = notification_mark_all_read(user=request.user)
    if not _is_htmx(request):
        messages.success(
            request,
            translation.ngettext(
                "%(count)d notification marked as read.", "%(count)d notifications marked as read.", changed
            )
            % {"count": changed},
        )
    return _after_marking(request)


# Preferences ------------------------------------------------------------------------------------


class NotificationPreferencesForm(forms.Form):
    email_notifications = forms.BooleanField(
        required=False,
        label=_("Send me notifications by e-mail"),
        help_text=_("Your inbox here always receives every notification."),
    )
    delivery = forms.ChoiceField(
        label=_("How often"),
        choices=[
            (IMMEDIATE, _("One e-mail per notification, right after it happens")),
            (DIGEST, _("One digest e-mail a day")),
        ],
        widget=forms.RadioSelect,
    )
    language = forms.ChoiceField(
        label=_("Language"),
        choices=settings.LANGUAGES,
        help_text=_("Used for the portal, the inbox and the e-mails."),
    )

    @classmethod
    def for_user(cls, user: User, data=None) -> "NotificationPreferencesForm":
        initial = {
            "email_notifications": user.email_notifications,
            "delivery": DIGEST if user.email_digest else IMMEDIATE,
            "language": user.language,
        }
        return cls(data=data, initial=initial)


@require_http_methods(["GET", "POST"])
@login_required
def notification_preferences(request: HttpRequest) -> HttpResponse:
    user = request.user
    form = NotificationPreferencesForm.for_user(user, request.POST if request.method == "POST" else None)
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        try:
            notification_preferences_update(
                user=user,
                email_notifications=data["email_notifications"],
                email_digest=data["delivery"] == DIGEST,
                language=data["language"],
            )
        except ValidationError as error:
            for field, problems in error.error_dict.items():
                form.add_error("delivery" if field == "email_digest" else field, problems)
        else:
            # The confirmation, and the pages from now on, speak the language just chosen; the
            # cookie makes it win over an earlier choice made with the top bar's switch.
            translation.activate(user.language)
            messages.success(request, gettext("Your notification settings are saved."))
            response = redirect("notification_preferences")
            response.set_cookie(
                settings.LANGUAGE_COOKIE_NAME,
                user.language,
                max_age=settings.LANGUAGE_COOKIE_AGE,
                path=settings.LANGUAGE_COOKIE_PATH,
                domain=settings.LANGUAGE_COOKIE_DOMAIN,
                secure=settings.LANGUAGE_COOKIE_SECURE,
                httponly=settings.LANGUAGE_COOKIE_HTTPONLY,
                samesite=settings.LANGUAGE_COOKIE_SAMESITE,
            )
            return response
    return render(request, "shops/notifications_preferences.html", {"form": form})


urlpatterns = [
    path("notifications/", notifications, name="notifications"),
    path("notifications/read-all/", notifications_read_all, name="notifications_read_all"),
    path("notifications/<int:pk>/read/", notification_read, name="notification_read"),
    path("notifications/preferences/", notification_preferences, name="notification_preferences"),
]
