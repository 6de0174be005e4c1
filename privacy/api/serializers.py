"""Input and output serializers of the privacy API."""

from rest_framework import serializers

from privacy.models import (
    AccessLog,
    ConsentEvent,
    DataClass,
    DataExport,
    PolicyVersion,
    Purpose,
    RetentionPolicy,
    RightsRequest,
)
from privacy.selectors import days_left, deadline_state


class PolicyVersionSerializer(serializers.ModelSerializer):
    class Meta:
        model = PolicyVersion
        fields = [
            "version",
            "effective_from",
            "significant",
            "title_en",
            "title_zh",
            "summary_en",
            "summary_zh",
            "body_en",
            "body_zh",
            "published_at",
        ]


class ConsentsSerializer(serializers.Serializer):
    marketing_email = serializers.BooleanField(source="consent_marketing_email")
    product_analytics = serializers.BooleanField(source="consent_product_analytics")
    data_sharing = serializers.BooleanField(source="consent_data_sharing")


class ConsentsInputSerializer(serializers.Serializer):
    marketing_email = serializers.BooleanField(required=False)
    product_analytics = serializers.BooleanField(required=False)
    data_sharing = serializers.BooleanField(required=False)


class ConsentEventSerializer(serializers.ModelSerializer):
    class Meta:
        model = ConsentEvent
        fields = ["purpose", "granted", "at", "source"]


class RightsRequestSerializer(serializers.ModelSerializer):
    days_left = serializers.SerializerMethodField()
    deadline = serializers.SerializerMethodField()
    export_ready = serializers.SerializerMethodField()

    class Meta:
        model = RightsRequest
        fields = [
            "reference",
            "kind",
            "state",
            "details",
            "purposes",
            "decision_inputs",
            "created_at",
            "verified_at",
            "received_at",
            "due_at",
            "days_left",
            "deadline",
            "extended_at",
            "extension_reason",
            "closed_at",
            "response",
            "export_ready",
        ]

    def get_days_left(self, obj) -> int | None:
        return days_left(obj)

    def get_deadline(self, obj) -> str:
        return deadline_state(obj)

    def get_export_ready(self, obj) -> bool:
        try:
            return obj.export.state == DataExport.State.READY
        except DataExport.DoesNotExist:
            return False


class RightsRequestInputSerializer(serializers.Serializer):
    kind = serializers.ChoiceField(choices=RightsRequest.Kind.choices)
    password = serializers.CharField(write_only=True, style={"input_type": "password"})
    details = serializers.CharField(required=False, allow_blank=True, max_length=4000)
    correction = serializers.DictField(child=serializers.CharField(allow_blank=True), required=False)
    purposes = serializers.ListField(child=serializers.ChoiceField(choices=Purpose.choices), required=False)
    decision = serializers.IntegerField(required=False, allow_null=True)


class CodeInputSerializer(serializers.Serializer):
    code = serializers.CharField(max_length=12)


class ReasonInputSerializer(serializers.Serializer):
    reason = serializers.CharField(max_length=4000)
    days = serializers.IntegerField(required=False, min_value=1)


class ResponseInputSerializer(serializers.Serializer):
    response = serializers.CharField(required=False, allow_blank=True, max_length=4000)


class AccessLogSerializer(serializers.ModelSerializer):
    class Meta:
        model = AccessLog
        fields = ["id", "at", "actor_role", "token_prefix", "channel", "method", "path", "view_name", "status_code"]


class RetentionPolicySerializer(serializers.ModelSerializer):
    class Meta:
        model = RetentionPolicy
        fields = ["data_class", "days", "minimum_days", "enabled", "updated_at"]
        read_only_fields = ["data_class", "minimum_days", "updated_at"]


class RetentionInputSerializer(serializers.Serializer):
    days = serializers.IntegerField(min_value=1)
    enabled = serializers.BooleanField(required=False, default=True)


DATA_CLASSES = DataClass.values
