"""Placeholder routes of this area; the pages are being built."""

from django.http import Http404
from django.urls import path


def _not_built(request, **kwargs):
    raise Http404("This page is not built yet.")


urlpatterns = [
    path("products/", _not_built, name="product_list"),
    path("products/export.csv", _not_built, name="product_export"),
    path("products/<str:key>/", _not_built, name="product_detail"),
]
