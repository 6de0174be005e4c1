"""Placeholder routes of this area; the pages are being built."""

from django.http import Http404
from django.urls import path


def _not_built(request, **kwargs):
    raise Http404("This page is not built yet.")


urlpatterns = [
    path("ops/", _not_built, name="ops_overview"),
    path("ops/review/", _not_built, name="ops_review_queue"),
    path("ops/appeals/", _not_built, name="ops_appeals"),
    path("ops/appeals/<int:pk>/", _not_built, name="ops_appeal_detail"),
    path("ops/overrides/", _not_built, name="ops_overrides"),
    path("ops/unbind/", _not_built, name="ops_unbind"),
    path("ops/recovery/", _not_built, name="ops_recovery"),
]
