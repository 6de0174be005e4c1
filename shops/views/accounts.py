"""Placeholder routes of this area; the pages are being built."""

from django.http import Http404
from django.urls import path


def _not_built(request, **kwargs):
    raise Http404("This page is not built yet.")


urlpatterns = [
    path("accounts/login/", _not_built, name="login"),
    path("accounts/logout/", _not_built, name="logout"),
    path("accounts/password-reset/", _not_built, name="password_reset"),
    path("accounts/password-reset/sent/", _not_built, name="password_reset_done"),
    path("accounts/reset/<uidb64>/<token>/", _not_built, name="password_reset_confirm"),
    path("accounts/reset/done/", _not_built, name="password_reset_complete"),
    path("accounts/security/", _not_built, name="account_security"),
    path("accounts/otp/", _not_built, name="otp_verify"),
]
