"""Routes of this part of the API (see shops/api/urls.py): webhook subscriptions and deliveries."""

from django.urls import path

from shops.api.webhooks import WebhookDeliveryListView, WebhookDetailView, WebhookListView, WebhookRedeliverView

urlpatterns = [
    path("webhooks/", WebhookListView.as_view(), name="webhook-list"),
    path("webhooks/<int:pk>/", WebhookDetailView.as_view(), name="webhook-detail"),
    path("webhooks/<int:pk>/deliveries/", WebhookDeliveryListView.as_view(), name="webhook-deliveries"),
    path("webhook-deliveries/<int:pk>/redeliver/", WebhookRedeliverView.as_view(), name="webhook-redeliver"),
]
