"""/api/v1/: each part of the API keeps its routes in its own module."""

from django.urls import include, path

app_name = "api"

urlpatterns = [
    path("", include("shops.api.eligibility_urls")),  # shops, products, creators, history
    path("", include("shops.api.feeds_urls")),  # feeds, runs
    path("", include("shops.api.operations_urls")),  # plans, creator adds, appeals, notifications, tokens
    path("", include("shops.api.webhooks_urls")),  # webhook subscriptions and deliveries
]
