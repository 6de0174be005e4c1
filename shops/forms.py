"""Forms of the web pages: signing in, the one-time code and the password reset e-mail."""

from __future__ import annotations

import datetime as dt
import math

from django import forms
from django.conf import settings
from django.contrib.auth.forms import PasswordResetForm
from django.core.exceptions import ValidationError
from django.http import HttpRequest
from django.utils import formats, timezone, translation
from django.utils.text import capfirst
from django.utils.translation import gettext_lazy as _
from django.utils.translation import ngettext

from shops.models import User
from shops.services.auth import OTP_DIGITS, sign_in_check


def lockout_message(until: dt.datetime) -> str:
    """What a locked-out visitor is told: when to try again. The same whether the account exists or not."""
    local = timezone.localtime(until)
    minutes = max(1, math.ceil((until - timezone.now()).total_seconds() / 60))
    return ngettext(
        "Too many failed sign-in attempts. Sign-in is paused until %(time)s %(zone)s (in %(minutes)s minute); "
        "trying again before then extends the pause.",
        "Too many failed sign-in attempts. Sign-in is paused until %(time)s %(zone)s (in %(minutes)s minutes); "
        "trying again before then extends the pause.",
        minutes,
    ) % {"time": formats.time_format(local, "H:i"), "zone": local.tzname(), "minutes": minutes}


def reset_minutes() -> int:
    """How long a password-reset link works, in minutes."""
    return max(1, settings.PASSWORD_RESET_TIMEOUT // 60)


class SignInForm(forms.Form):
    """E-mail and password, checked under the lock-out (``shops.services.auth.sign_in_check``).

    Shaped like Django's AuthenticationForm (``request`` first, ``get_user()``) so LoginView can use it.
    """

    email = forms.EmailField(
        label=capfirst(_("email address")),
        max_length=254,
        widget=forms.EmailInput(attrs={"autocomplete": "username", "autofocus": True}),
    )
    password = forms.CharField(
        label=_("Password"),
        strip=False,
        widget=forms.PasswordInput(attrs={"autocomplete": "current-password"}),
    )

    def __init__(self, request: HttpRequest | None = None, *args, **kwargs):
        self.request = request
        self.user_cache: User | None = None
        super().__init__(*args, **kwargs)

    def clean(self):
        cleaned = super().clean()
        email, password = cleaned.get("email"), cleaned.get("password")
        if email and password:
            result = sign_in_check(self.request, email=email, password=password)
            if result.locked_until is not None:
                raise ValidationError(lockout_message(result.locked_until), code="locked")
            if result.user is None:
                raise ValidationError(_("The e-mail address or the password is not right."), code="invalid_login")
            self.user_cache = result.user
        return cleaned

    def get_user(self) -> User | None:
        return self.user_cache


class OtpCodeForm(forms.Form):
    """A six-digit code from the authenticator app; spaces are allowed (some apps show ``123 456``)."""

    code = forms.CharField(
        label=_("Six-digit code"),
        max_length=12,
        widget=forms.TextInput(
            attrs={
                "autocomplete": "one-time-code",
                "inputmode": "numeric",
                "pattern": r"[0-9 ]*",
                "class": "otp-input",
                "spellcheck": "false",
            }
        ),
    )

    def clean_code(self) -> str:
        code = "".join(self.cleaned_data["code"].split())
        if len(code) != OTP_DIGITS or not code.isdigit():
            raise ValidationError(_("Enter the six digits your authenticator app shows."), code="format")
        return code


class PortalPasswordResetForm(PasswordResetForm):
    """Django's reset form, but the e-mail is written in the user's language and links use our domain."""

    def send_mail(self, subject_template_name, email_template_name, context, from_email, to_email, **kwargs):
        user = context.get("user")
        language = getattr(user, "language", None) or settings.LANGUAGE_CODE
        with translation.override(language):
            context["language"] = language
            super().send_mail(subject_template_name, email_template_name, context, from_email, to_email, **kwargs)

    def save(self, *args, **kwargs):
        # A configured public host name wins over the Host header of the request.
        if settings.AUTH_PASSWORD_RESET_DOMAIN:
            kwargs["domain_override"] = settings.AUTH_PASSWORD_RESET_DOMAIN
        kwargs["extra_email_context"] = {**(kwargs.get("extra_email_context") or {}), "reset_minutes": reset_minutes()}
        return super().save(*args, **kwargs)
