"""/api/v1/privacy/: the privacy centre's API (views in privacy/api/views.py)."""

from django.urls import path

from privacy.api import views

app_name = "privacy_api"

urlpatterns = [
    path("policy/", views.PolicyView.as_view(), name="policy"),
    path("policy/accept/", views.PolicyAcceptView.as_view(), name="policy-accept"),
    path("policy/<int:version>/", views.PolicyVersionView.as_view(), name="policy-version"),
    path("consents/", views.ConsentsView.as_view(), name="consents"),
    path("requests/", views.RightsRequestsView.as_view(), name="requests"),
    path("requests/<str:reference>/", views.RightsRequestView.as_view(), name="request"),
    path("requests/<str:reference>/verify/", views.RightsRequestVerifyView.as_view(), name="request-verify"),
    path("requests/<str:reference>/withdraw/", views.RightsRequestWithdrawView.as_view(), name="request-withdraw"),
    path("requests/<str:reference>/export/", views.RightsRequestExportView.as_view(), name="request-export"),
    path("access-log/", views.AccessLogView.as_view(), name="access-log"),
    path("ops/requests/", views.OpsQueueView.as_view(), name="ops-queue"),
    path("ops/requests/<str:reference>/<str:action>/", views.OpsActionView.as_view(), name="ops-action"),
    path("ops/retention/", views.RetentionView.as_view(), name="retention"),
    path("ops/retention/<str:data_class>/", views.RetentionPolicyView.as_view(), name="retention-policy"),
]
