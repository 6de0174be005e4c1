"""Signing in and out, the password reset, and the second factor (a time-based one-time password).

The rules (lock-out, codes, who needs a second factor) live in ``shops.services.auth``; these views
only show the forms. ``shops.middleware.SecondFactorMiddleware`` keeps a user who has given only the
password on the code or enrolment page.
"""

from __future__ import annotations

from urllib.parse import urlencode

from django.conf import settings
from django.contrib import messages
from django.contrib.auth import update_session_auth_hash
from django.contrib.auth import views as auth_views
from django.contrib.auth.decorators import login_required
from django.contrib.auth.forms import PasswordChangeForm
from django.contrib.auth.models import AnonymousUser
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import redirect, render
from django.urls import path, reverse, reverse_lazy
from django.utils.http import url_has_allowed_host_and_scheme
from django.utils.translation import gettext as _
from django.views.decorators.cache import never_cache
from django.views.decorators.debug import sensitive_post_parameters

from shops.forms import OtpCodeForm, PortalPasswordResetForm, SignInForm, lockout_message, reset_minutes
from shops.services.auth import (
    OTP_SESSION_KEY,
    OtpCheck,
    otp_disable,
    otp_enable,
    otp_enrolment_secret,
    otp_mark_passed,
    otp_pending,
    otp_provisioning_uri,
    otp_qr_svg,
    otp_required,
    otp_verify,
)


def _safe_next(request: HttpRequest) -> str | None:
    candidate = request.POST.get("next") or request.GET.get("next")
    if candidate and url_has_allowed_host_and_scheme(
        candidate, allowed_hosts={request.get_host()}, require_https=request.is_secure()
    ):
        return candidate
    return None


def _with_next(url: str, next_url: str | None) -> str:
    return f"{url}?{urlencode({'next': next_url})}" if next_url else url


def _second_factor_frame() -> dict:
    # Before the second factor the frame shows no navigation: those pages are not open yet.
    return {"user": AnonymousUser()}


def _code_error(form: OtpCodeForm, check: OtpCheck) -> None:
    if check.locked_until is not None:
        form.add_error("code", lockout_message(check.locked_until))
    else:
        form.add_error("code", _("That code is not right, or it has been used already. Enter the current code."))


class SignInView(auth_views.LoginView):
    template_name = "accounts/login.html"
    form_class = SignInForm

    def form_valid(self, form: SignInForm) -> HttpResponse:
        # Every password sign-in asks for the code again, even in a session that passed it before.
        self.request.session.pop(OTP_SESSION_KEY, None)
        response = super().form_valid(form)
        user = form.get_user()
        if otp_required(user):
            target = reverse("otp_verify") if user.otp_enabled else reverse("account_security")
            return HttpResponseRedirect(_with_next(target, self.get_redirect_url() or None))
        return response


class SignOutView(auth_views.LogoutView):
    def post(self, request: HttpRequest, *args, **kwargs) -> HttpResponse:
        response = super().post(request, *args, **kwargs)
        messages.info(request, _("You have signed out."))
        return response


class ResetRequestView(auth_views.PasswordResetView):
    template_name = "accounts/password_reset_form.html"
    form_class = PortalPasswordResetForm
    email_template_name = "registration/password_reset_email.txt"
    html_email_template_name = "registration/password_reset_email.html"
    subject_template_name = "registration/password_reset_subject.txt"
    success_url = reverse_lazy("password_reset_done")


class ResetSentView(auth_views.PasswordResetDoneView):
    template_name = "accounts/password_reset_done.html"

    def get_context_data(self, **kwargs) -> dict:
        return {**super().get_context_data(**kwargs), "reset_minutes": reset_minutes()}


class ResetConfirmView(auth_views.PasswordResetConfirmView):
    template_name = "accounts/password_reset_confirm.html"
    success_url = reverse_lazy("password_reset_complete")


@never_cache
@sensitive_post_parameters("code")
def otp_verify_view(request: HttpRequest) -> HttpResponse:
    """The code asked for at sign-in, after the password."""
    if not request.user.is_authenticated:
        return redirect(_with_next(reverse("login"), _safe_next(request)))
    next_url = _safe_next(request)
    if not otp_pending(request):
        return redirect(next_url or "home")
    if not request.user.otp_enabled:
        return redirect(_with_next(reverse("account_security"), next_url))
    form = OtpCodeForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        check = otp_verify(request, request.user, form.cleaned_data["code"])
        if check.ok:
            otp_mark_passed(request)
            return redirect(next_url or "home")
        _code_error(form, check)
    context = {"form": form, "next": next_url, "account": request.user, **_second_factor_frame()}
    return render(request, "accounts/otp_verify.html", context)


@never_cache
@login_required
@sensitive_post_parameters("code", "old_password", "new_password1", "new_password2")
def account_security(request: HttpRequest) -> HttpResponse:
    """The second factor (enrol, or turn off) and the password; also where ops enrol at first sign-in."""
    user = request.user
    pending = otp_pending(request)
    next_url = _safe_next(request)
    action = request.POST.get("action") if request.method == "POST" else None
    code_form = OtpCodeForm(request.POST if action in {"enable", "disable"} else None)
    password_form = PasswordChangeForm(user, request.POST if action == "password" and not pending else None)
    # The page opens on the second factor; the cursor should not jump to the password form.
    password_form.fields["old_password"].widget.attrs.pop("autofocus", None)

    if action == "enable" and not user.otp_enabled and code_form.is_valid():
        check = otp_enable(request, user, code_form.cleaned_data["code"])
        if check.ok:
            otp_mark_passed(request)
            messages.success(request, _("Two-step sign-in is on. From now on, signing in asks for a code."))
            return redirect(next_url or ("home" if pending else "account_security"))
        _code_error(code_form, check)
    elif action == "disable" and user.otp_enabled:
        if user.is_ops:
            # Required for ops: the page offers no such button, so this is a forged request.
            raise PermissionDenied
        if code_form.is_valid():
            check = otp_disable(request, user, code_form.cleaned_data["code"])
            if check.ok:
                messages.success(request, _("Two-step sign-in is off."))
                return redirect("account_security")
            _code_error(code_form, check)
    elif action == "password" and password_form.is_valid():
        password_form.save()
        # Changing the password signs out other sessions; this one stays signed in.
        update_session_auth_hash(request, password_form.user)
        messages.success(request, _("Your password has been changed."))
        return redirect("account_security")

    context = {
        "account": user,
        "pending": pending,
        "next": next_url,
        "code_form": code_form,
        "password_form": password_form,
    }
    if not user.otp_enabled:
        secret = otp_enrolment_secret(user)
        uri = otp_provisioning_uri(user, secret)
        context.update(
            secret=secret,
            secret_groups=[secret[i : i + 4] for i in range(0, len(secret), 4)],
            qr_svg=otp_qr_svg(uri),
            issuer=settings.AUTH_OTP_ISSUER,
        )
    if pending:
        context.update(_second_factor_frame())
    return render(request, "accounts/security.html", context)


urlpatterns = [
    path("accounts/login/", SignInView.as_view(), name="login"),
    path("accounts/logout/", SignOutView.as_view(), name="logout"),
    path("accounts/password-reset/", ResetRequestView.as_view(), name="password_reset"),
    path("accounts/password-reset/sent/", ResetSentView.as_view(), name="password_reset_done"),
    path("accounts/reset/<uidb64>/<token>/", ResetConfirmView.as_view(), name="password_reset_confirm"),
    path(
        "accounts/reset/done/",
        auth_views.PasswordResetCompleteView.as_view(template_name="accounts/password_reset_complete.html"),
        name="password_reset_complete",
    ),
    path("accounts/security/", account_security, name="account_security"),
    path("accounts/otp/", otp_verify_view, name="otp_verify"),
]
