"""Placeholder routes of this area; the pages are being built."""

from django.http import Http404
from django.urls import path


def _not_built(request, **kwargs):
    raise Http404("This page is not built yet.")


urlpatterns = [
    path("notifications/", _not_built, name="notifications"),
    path("notifications/preferences/", _not_built, name="notification_preferences"),
]
