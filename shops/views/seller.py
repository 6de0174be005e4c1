"""Placeholder routes of this area; the pages are being built."""

from django.http import Http404
from django.urls import path


def _not_built(request, **kwargs):
    raise Http404("This page is not built yet.")


urlpatterns = [
    path("shops/", _not_built, name="portfolio"),
    path("shops/<str:key>/", _not_built, name="shop_detail"),
    path("plans/<int:pk>/", _not_built, name="plan_detail"),
]
