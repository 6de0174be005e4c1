"""Placeholder routes of this area; the pages are being built."""

from django.http import Http404
from django.urls import path


def _not_built(request, **kwargs):
    raise Http404("This page is not built yet.")


urlpatterns = [
    path("appeals/", _not_built, name="appeal_list"),
    path("appeals/new/<int:history_id>/", _not_built, name="appeal_create"),
    path("appeals/<int:pk>/", _not_built, name="appeal_detail"),
]
