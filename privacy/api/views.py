"""The privacy API (/api/v1/privacy/): the same services as the privacy centre pages.

A person reads the policy, accepts it, manages consents, files and follows rights requests and
sees who accessed their data; ops work the rights request queue and the retention policies.
Tokens need the ``privacy:manage`` scope; a request of someone else answers 404.
"""

from django.http import HttpResponse
from django.shortcuts import get_object_or_404
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema, inline_serializer
from rest_framework import generics, permissions, serializers, status
from rest_framework.response import Response
from rest_framework.views import APIView

from privacy.api import serializers as s
from privacy.models import AcceptanceSource, ConsentEvent, ConsentSource, RightsRequest
from privacy.selectors import access_log_about, policy_current, policy_versions, rights_queue, rights_requests_of
from privacy.services.consent import consents_set
from privacy.services.exports import export_download
from privacy.services.policies import policy_accept
from privacy.services.retention import retention_policies_ensure, retention_policy_update
from privacy.services.rights import (
    rights_request_complete,
    rights_request_extend,
    rights_request_file,
    rights_request_refuse,
    rights_request_start,
    rights_request_verify,
    rights_request_withdraw,
)
from shops.api.pagination import IdCursorPagination
from shops.api.permissions import IsOps

SCOPE = "privacy:manage"


class _PrivacyView(APIView):
    required_scopes = SCOPE


class NewestFirst(IdCursorPagination):
    ordering = "-id"


class PolicyView(_PrivacyView):
    @extend_schema(
        responses=inline_serializer(
            "PrivacyPolicy",
            {
                "current": s.PolicyVersionSerializer(allow_null=True),
                "versions": serializers.ListField(child=serializers.IntegerField()),
            },
        ),
        operation_id="privacy_policy_current",
    )
    def get(self, request):
        current = policy_current()
        return Response(
            {
                "current": s.PolicyVersionSerializer(current).data if current else None,
                "versions": [v.version for v in policy_versions()],
            }
        )


class PolicyVersionView(_PrivacyView):
    @extend_schema(responses=s.PolicyVersionSerializer, operation_id="privacy_policy_version")
    def get(self, request, version: int):
        return Response(s.PolicyVersionSerializer(get_object_or_404(policy_versions(), version=version)).data)


class PolicyAcceptView(_PrivacyView):
    @extend_schema(
        request=None,
        responses=inline_serializer(
            "PolicyAccepted", {"version": serializers.IntegerField(), "accepted_at": serializers.DateTimeField()}
        ),
    )
    def post(self, request):
        current = policy_current()
        if current is None:
            return Response(status=status.HTTP_404_NOT_FOUND)
        acceptance = policy_accept(user=request.user, version=current, source=AcceptanceSource.API)
        return Response({"version": current.version, "accepted_at": acceptance.accepted_at})


class ConsentsView(_PrivacyView):
    @extend_schema(
        responses=inline_serializer(
            "PrivacyConsents", {"consents": s.ConsentsSerializer(), "ledger": s.ConsentEventSerializer(many=True)}
        )
    )
    def get(self, request):
        ledger = ConsentEvent.objects.filter(user=request.user).order_by("-at", "-id")[:100]
        return Response(
            {
                "consents": s.ConsentsSerializer(request.user).data,
                "ledger": s.ConsentEventSerializer(ledger, many=True).data,
            }
        )

    @extend_schema(
        request=s.ConsentsInputSerializer,
        responses=inline_serializer("ConsentsUpdated", {"consents": s.ConsentsSerializer()}),
    )
    def patch(self, request):
        data = s.ConsentsInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        consents_set(user=request.user, answers=dict(data.validated_data), source=ConsentSource.API)
        return Response({"consents": s.ConsentsSerializer(request.user).data})

    put = patch


class RightsRequestsView(_PrivacyView):
    @extend_schema(responses=s.RightsRequestSerializer(many=True), operation_id="privacy_requests_list")
    def get(self, request):
        return Response(s.RightsRequestSerializer(rights_requests_of(user=request.user)[:100], many=True).data)

    @extend_schema(request=s.RightsRequestInputSerializer, responses={201: s.RightsRequestSerializer})
    def post(self, request):
        data = s.RightsRequestInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        values = data.validated_data
        filed = rights_request_file(
            user=request.user,
            kind=values["kind"],
            password=values["password"],
            details=values.get("details", ""),
            correction=values.get("correction"),
            purposes=values.get("purposes", []),
            decision_id=values.get("decision"),
        )
        return Response(s.RightsRequestSerializer(filed).data, status=status.HTTP_201_CREATED)


def _own(request, reference: str) -> RightsRequest:
    return get_object_or_404(rights_requests_of(user=request.user), reference=reference)


class RightsRequestView(_PrivacyView):
    @extend_schema(responses=s.RightsRequestSerializer, operation_id="privacy_request_detail")
    def get(self, request, reference: str):
        return Response(s.RightsRequestSerializer(_own(request, reference)).data)


class RightsRequestVerifyView(_PrivacyView):
    @extend_schema(request=s.CodeInputSerializer, responses=s.RightsRequestSerializer)
    def post(self, request, reference: str):
        data = s.CodeInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        verified = rights_request_verify(
            request=_own(request, reference), user=request.user, code=data.validated_data["code"]
        )
        return Response(s.RightsRequestSerializer(verified).data)


class RightsRequestWithdrawView(_PrivacyView):
    @extend_schema(request=None, responses=s.RightsRequestSerializer)
    def post(self, request, reference: str):
        return Response(
            s.RightsRequestSerializer(rights_request_withdraw(request=_own(request, reference), user=request.user)).data
        )


class RightsRequestExportView(_PrivacyView):
    @extend_schema(responses={(200, "application/zip"): OpenApiTypes.BINARY})
    def get(self, request, reference: str):
        item = _own(request, reference)
        export = getattr(item, "export", None)
        if export is None:
            return Response(status=status.HTTP_404_NOT_FOUND)
        content, filename = export_download(export=export, user=request.user, http_request=request._request)
        response = HttpResponse(content, content_type="application/zip")
        response["Content-Disposition"] = f'attachment; filename="{filename}"'
        return response


class AccessLogView(_PrivacyView, generics.ListAPIView):
    serializer_class = s.AccessLogSerializer
    pagination_class = NewestFirst

    def get_queryset(self):
        return access_log_about(user=self.request.user)


# Ops ---------------------------------------------------------------------------------------------


class OpsQueueView(_PrivacyView):
    permission_classes = [permissions.IsAuthenticated, IsOps]

    @extend_schema(responses=s.RightsRequestSerializer(many=True))
    def get(self, request):
        queue = rights_queue(state=request.query_params.get("state") or "open", kind=request.query_params.get("kind"))
        return Response(s.RightsRequestSerializer(queue[:200], many=True).data)


class OpsActionView(_PrivacyView):
    permission_classes = [permissions.IsAuthenticated, IsOps]

    @extend_schema(request=s.ReasonInputSerializer, responses=s.RightsRequestSerializer)
    def post(self, request, reference: str, action: str):
        item = get_object_or_404(RightsRequest.objects.select_related("requester"), reference=reference)
        if action == "start":
            item = rights_request_start(request=item, actor=request.user)
        elif action in ("extend", "refuse"):
            data = s.ReasonInputSerializer(data=request.data)
            data.is_valid(raise_exception=True)
            if action == "extend":
                item = rights_request_extend(
                    request=item,
                    actor=request.user,
                    reason=data.validated_data["reason"],
                    days=data.validated_data.get("days", 15),
                )
            else:
                item = rights_request_refuse(request=item, actor=request.user, reason=data.validated_data["reason"])
        elif action == "complete":
            data = s.ResponseInputSerializer(data=request.data)
            data.is_valid(raise_exception=True)
            item = rights_request_complete(
                request=item, actor=request.user, response=data.validated_data.get("response", "")
            )
        else:
            return Response(status=status.HTTP_404_NOT_FOUND)
        return Response(s.RightsRequestSerializer(item).data)


class RetentionView(_PrivacyView):
    permission_classes = [permissions.IsAuthenticated, IsOps]

    @extend_schema(responses=s.RetentionPolicySerializer(many=True))
    def get(self, request):
        return Response(s.RetentionPolicySerializer(retention_policies_ensure(), many=True).data)


class RetentionPolicyView(_PrivacyView):
    permission_classes = [permissions.IsAuthenticated, IsOps]

    @extend_schema(request=s.RetentionInputSerializer, responses=s.RetentionPolicySerializer)
    def patch(self, request, data_class: str):
        if data_class not in s.DATA_CLASSES:
            return Response(status=status.HTTP_404_NOT_FOUND)
        data = s.RetentionInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        policy = retention_policy_update(actor=request.user, data_class=data_class, **data.validated_data)
        return Response(s.RetentionPolicySerializer(policy).data)
