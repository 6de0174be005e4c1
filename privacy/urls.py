"""Routes of the privacy centre, under /privacy/ (the API is in privacy/api/urls.py)."""

from django.urls import path

from privacy import views

urlpatterns = [
    path("register/", views.register, name="register"),
    path("", views.centre, name="privacy_centre"),
    path("consents/", views.consents_update, name="privacy_consents"),
    path("policy/", views.policy_list, name="privacy_policy_list"),
    path("policy/accept/", views.policy_accept_view, name="privacy_policy_accept"),
    path("policy/<int:version>/", views.policy_detail, name="privacy_policy_detail"),
    path("my-data/", views.my_data, name="privacy_my_data"),
    path("access-log/", views.access_log, name="privacy_access_log"),
    path("requests/new/", views.request_new, name="privacy_request_new"),
    path("requests/<str:reference>/", views.request_detail, name="privacy_request_detail"),
    path("requests/<str:reference>/verify/", views.request_verify, name="privacy_request_verify"),
    path("requests/<str:reference>/resend/", views.request_resend, name="privacy_request_resend"),
    path("requests/<str:reference>/withdraw/", views.request_withdraw, name="privacy_request_withdraw"),
    path("requests/<str:reference>/export/", views.request_export, name="privacy_request_export"),
    path("exports/<str:token>/", views.export_link, name="privacy_export_download"),
    path("ops/requests/", views.ops_queue, name="privacy_ops_queue"),
    path("ops/requests/<str:reference>/", views.ops_request, name="privacy_ops_request"),
    path(
        "privacy/ops/requests/<str:reference>/<str:action>/",
        views.ops_request_action,
        name="privacy_ops_request_action",
    ),
    path("ops/retention/", views.ops_retention, name="privacy_ops_retention"),
    path("ops/policy/new/", views.ops_policy_new, name="privacy_ops_policy_new"),
]
