"""Webhook subscriptions of the token's user, their delivery log and manual redelivery.

Every call needs the scope webhooks:manage; a subscription belongs to the user of the token
that created it, and anybody else's subscription or delivery answers 404.
"""

from django.shortcuts import get_object_or_404
from django.utils.translation import gettext as _
from drf_spectacular.utils import extend_schema
from rest_framework import generics, serializers, status
from rest_framework.response import Response
from rest_framework.views import APIView

from shops.api.errors import error_response
from shops.api.pagination import IdCursorPagination
from shops.models import ApiToken, WebhookDelivery, WebhookSubscription
from shops.services.webhooks import (
    EVENTS,
    webhook_redeliver,
    webhook_subscription_create,
    webhook_subscription_delete,
    webhook_subscription_update,
    webhook_subscriptions_of,
)

SCOPE = ApiToken.Scope.WEBHOOKS_MANAGE


class WebhookSubscriptionInSerializer(serializers.Serializer):
    url = serializers.CharField(max_length=500, help_text="https URL of the receiver (http is allowed locally)")
    events = serializers.ListField(child=serializers.ChoiceField(choices=EVENTS), allow_empty=False, max_length=10)


class WebhookSubscriptionPatchSerializer(serializers.Serializer):
    url = serializers.CharField(max_length=500, required=False)
    events = serializers.ListField(
        child=serializers.ChoiceField(choices=EVENTS), allow_empty=False, max_length=10, required=False
    )
    active = serializers.BooleanField(required=False)


class WebhookSubscriptionSerializer(serializers.ModelSerializer):
    events = serializers.ListField(child=serializers.ChoiceField(choices=EVENTS))
    token = serializers.CharField(source="token.prefix", help_text="Prefix of the API token it belongs to")

    class Meta:
        model = WebhookSubscription
        fields = ["id", "url", "events", "active", "token", "created_at"]


class WebhookSubscriptionCreatedSerializer(WebhookSubscriptionSerializer):
    secret = serializers.CharField(help_text="The HMAC-SHA256 signing key: shown once, store it now")

    class Meta(WebhookSubscriptionSerializer.Meta):
        fields = [*WebhookSubscriptionSerializer.Meta.fields, "secret"]


class WebhookDeliverySerializer(serializers.ModelSerializer):
    subscription = serializers.IntegerField(source="subscription_id")
    event = serializers.CharField(source="event.event")
    event_id = serializers.IntegerField()
    payload = serializers.JSONField(source="event.payload")

    class Meta:
        model = WebhookDelivery
        fields = [
            "id",
            "subscription",
            "event",
            "event_id",
            "state",
            "attempts",
            "next_attempt_at",
            "last_status_code",
            "last_error",
            "delivered_at",
            "created_at",
            "payload",
        ]


class NewestFirstPagination(IdCursorPagination):
    ordering = "-id"


@extend_schema(tags=["webhooks"])
class WebhookListView(generics.ListAPIView):
    required_scopes = SCOPE
    serializer_class = WebhookSubscriptionSerializer

    def get_queryset(self):
        return webhook_subscriptions_of(user=self.request.user)

    @extend_schema(request=WebhookSubscriptionInSerializer, responses={201: WebhookSubscriptionCreatedSerializer})
    def post(self, request):
        if not isinstance(request.auth, ApiToken):
            return error_response(
                code="token_required", message=_("Webhook subscriptions are created with an API token.")
            )
        data = WebhookSubscriptionInSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        subscription, secret = webhook_subscription_create(token=request.auth, **data.validated_data)
        subscription.secret = secret
        return Response(WebhookSubscriptionCreatedSerializer(subscription).data, status=status.HTTP_201_CREATED)


@extend_schema(tags=["webhooks"])
class WebhookDetailView(generics.RetrieveAPIView):
    required_scopes = SCOPE
    serializer_class = WebhookSubscriptionSerializer
    http_method_names = ["get", "patch", "delete", "head", "options"]

    def get_queryset(self):
        return webhook_subscriptions_of(user=self.request.user)

    @extend_schema(request=WebhookSubscriptionPatchSerializer, responses={200: WebhookSubscriptionSerializer})
    def patch(self, request, pk):
        subscription = self.get_object()
        data = WebhookSubscriptionPatchSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        subscription = webhook_subscription_update(subscription=subscription, user=request.user, **data.validated_data)
        return Response(WebhookSubscriptionSerializer(subscription).data)

    @extend_schema(responses={204: None})
    def delete(self, request, pk):
        webhook_subscription_delete(subscription=self.get_object(), user=request.user)
        return Response(status=status.HTTP_204_NO_CONTENT)


@extend_schema(tags=["webhooks"])
class WebhookDeliveryListView(generics.ListAPIView):
    """The delivery log of one subscription, newest first."""

    required_scopes = SCOPE
    serializer_class = WebhookDeliverySerializer
    pagination_class = NewestFirstPagination

    def get_queryset(self):
        subscription = get_object_or_404(webhook_subscriptions_of(user=self.request.user), pk=self.kwargs["pk"])
        return WebhookDelivery.objects.filter(subscription=subscription).select_related("event")


@extend_schema(tags=["webhooks"])
class WebhookRedeliverView(APIView):
    required_scopes = SCOPE

    @extend_schema(request=None, responses={202: WebhookDeliverySerializer})
    def post(self, request, pk):
        delivery = get_object_or_404(
            WebhookDelivery.objects.select_related("subscription__token", "event"),
            pk=pk,
            subscription__token__user=request.user,
        )
        delivery = webhook_redeliver(delivery=delivery, user=request.user)
        return Response(WebhookDeliverySerializer(delivery).data, status=status.HTTP_202_ACCEPTED)
