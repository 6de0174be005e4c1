"""Routes of the eligibility API (see shops/api/urls.py): objects are addressed by feed key.

``<str:key>`` takes any key without a slash, dots and dashes included.
"""

from django.urls import path

from shops.api import eligibility as views

urlpatterns = [
    path("shops/", views.ShopListView.as_view(), name="shop-list"),
    path("shops/<str:key>/", views.ShopDetailView.as_view(), name="shop-detail"),
    path("shops/<str:key>/history/", views.ShopHistoryView.as_view(), name="shop-history"),
    path("products/", views.ProductListView.as_view(), name="product-list"),
    path("products/<str:key>/", views.ProductDetailView.as_view(), name="product-detail"),
    path("products/<str:key>/history/", views.ProductHistoryView.as_view(), name="product-history"),
    path("creators/", views.CreatorListView.as_view(), name="creator-list"),
    path("creators/<str:key>/", views.CreatorDetailView.as_view(), name="creator-detail"),
    path("creators/<str:key>/history/", views.CreatorHistoryView.as_view(), name="creator-history"),
]
