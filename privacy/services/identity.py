"""Identity verification for rights requests (policy 003 §4(7)): the password again, then a
one-time code sent to the account's e-mail address, with a limited number of attempts.

What was verified is remembered as a keyed hash of the account's e-mail address and password
hash; ``identity_check`` compares it again before every state change, so a request filed
before the address or the password changed cannot be acted on until it is verified again.
"""

import datetime as dt
import hmac
import secrets

from django.conf import settings
from django.core.exceptions import ValidationError
from django.utils import timezone
from django.utils.translation import gettext as _

from privacy.models import RightsRequest
from privacy.services.common import keyed_hash, mail_user, request_event
from shops.models import User

CODE_DIGITS = 6


class IdentityNotVerified(ValidationError):
    """The requester's identity is not (or no longer) verified for this request."""


def credentials_fingerprint(user: User) -> str:
    return keyed_hash(f"credentials:{user.pk}:{user.email.lower()}:{user.password}")


def _code_hash(request: RightsRequest, code: str) -> str:
    return keyed_hash(f"rights-code:{request.pk}:{code.strip()}")


def identity_reauthenticate(*, user: User, password: str) -> None:
    """The password again; a wrong one is a form error on ``password``."""
    if not password or not user.check_password(password):
        raise ValidationError({"password": [_("The password is not correct.")]}, code="reauthentication_failed")


def identity_code_send(*, request: RightsRequest, password: str) -> None:
    """Check the password, then e-mail a new code (the previous one stops working)."""
    user = User.objects.get(pk=request.requester_id)  # fresh: the password may have just changed
    request.requester = user
    identity_reauthenticate(user=user, password=password)
    code = f"{secrets.randbelow(10**CODE_DIGITS):0{CODE_DIGITS}d}"
    now = timezone.now()
    request.reauthenticated_at = now
    request.code_hash = _code_hash(request, code)
    request.code_sent_at = now
    request.code_attempts = 0
    request.save(update_fields=["reauthenticated_at", "code_hash", "code_sent_at", "code_attempts"])
    request_event(request, "code_sent", actor=user)
    mail_user(
        user=user,
        template="verification_code",
        context={"request": request, "code": code, "minutes": settings.PRIVACY_CODE_MINUTES},
    )


def identity_code_check(*, request: RightsRequest, code: str) -> None:
    """Accept the code or raise ``ValidationError`` on ``code`` (every failure counts)."""
    if not request.code_hash or request.code_sent_at is None:
        raise ValidationError({"code": [_("Ask for a new code first.")]}, code="no_code")
    if request.code_attempts >= settings.PRIVACY_CODE_MAX_ATTEMPTS:
        raise ValidationError(
            {"code": [_("Too many wrong codes. Enter your password again to get a new code.")]},
            code="too_many_attempts",
        )
    if timezone.now() - request.code_sent_at > dt.timedelta(minutes=settings.PRIVACY_CODE_MINUTES):
        raise ValidationError({"code": [_("The code has expired. Ask for a new one.")]}, code="code_expired")
    if not hmac.compare_digest(request.code_hash, _code_hash(request, code or "")):
        RightsRequest.objects.filter(pk=request.pk).update(code_attempts=request.code_attempts + 1)
        request.code_attempts += 1
        left = settings.PRIVACY_CODE_MAX_ATTEMPTS - request.code_attempts
        request_event(request, "code_rejected", actor=request.requester)
        raise ValidationError(
            {"code": [_("The code is not correct (%(left)s attempts left).") % {"left": max(left, 0)}]},
            code="wrong_code",
        )
    now = timezone.now()
    request.verified_at = now
    request.verified_credentials = credentials_fingerprint(request.requester)
    request.code_hash = ""
    request.save(update_fields=["verified_at", "verified_credentials", "code_hash"])
    request_event(request, "identity_verified", actor=request.requester)


def identity_check(request: RightsRequest) -> None:
    """Raise ``IdentityNotVerified`` unless the request's verification still holds."""
    user = request.requester
    if request.verified_at is None or not request.verified_credentials:
        raise IdentityNotVerified(_("The requester's identity has not been verified."), code="identity_not_verified")
    if user.erased_at is None and not hmac.compare_digest(request.verified_credentials, credentials_fingerprint(user)):
        raise IdentityNotVerified(
            _(
                "The requester's e-mail address or password changed after verification: "
                "the requester must verify their identity again."
            ),
            code="identity_changed",
        )
    if user.erased_at is None and not user.is_active:
        raise IdentityNotVerified(_("The requester's account is not active."), code="identity_inactive")
