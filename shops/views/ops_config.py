"""Placeholder routes of this area; the pages are being built."""

from django.http import Http404
from django.urls import path


def _not_built(request, **kwargs):
    raise Http404("This page is not built yet.")


urlpatterns = [
    path("ops/rulesets/", _not_built, name="ops_rulesets"),
    path("ops/rulesets/<int:pk>/", _not_built, name="ops_ruleset_detail"),
    path("ops/feeds/", _not_built, name="ops_feeds"),
    path("ops/feeds/<int:pk>/", _not_built, name="ops_feed_detail"),
    path("ops/audit/", _not_built, name="ops_audit"),
]
