"""Signing in: the lock-out after repeated failures, and the time-based one-time password (RFC 6238).

Every attempt is a ``LoginAttempt`` row in PostgreSQL, not a Redis counter, so the lock-out still
holds when Redis is down. An account (by e-mail, whether or not it exists) is locked when it has
``AUTH_LOCKOUT_ACCOUNT_FAILURES`` failures within ``AUTH_LOCKOUT_WINDOW_MINUTES``, until
``AUTH_LOCKOUT_MINUTES`` after the last of them; an address likewise with ``AUTH_LOCKOUT_IP_FAILURES``.
Attempts refused during a lock are failures too, so someone who keeps trying keeps the lock.
A success clears nothing: the window simply moves on. A wrong one-time code is a failure like a
wrong password. The web sign-in uses these functions; the API can use them the same way.
"""

from __future__ import annotations

import datetime as dt
import hmac
import ipaddress
from dataclasses import dataclass

import pyotp
import qrcode
import qrcode.image.svg
from django.conf import settings
from django.contrib.auth import authenticate
from django.core.exceptions import PermissionDenied
from django.db import transaction
from django.db.models import Q
from django.http import HttpRequest
from django.utils import timezone

from shops.models import LoginAttempt, User
from shops.services.audit import audit_record

# The session key that marks the second factor as passed (tests/conftest.py relies on the name).
OTP_SESSION_KEY = "otp_verified"
OTP_DIGITS = 6
OTP_INTERVAL = 30
# Codes of the previous and the next time step are accepted too: clocks of phones drift.
OTP_VALID_STEPS = 1
# The newest failures read to decide a lock; a flood beyond this is locked by its newest rows anyway.
_LOCK_ROWS = 1000


@dataclass(frozen=True)
class LockoutPolicy:
    account_failures: int
    ip_failures: int
    window: dt.timedelta
    duration: dt.timedelta


def lockout_policy() -> LockoutPolicy:
    return LockoutPolicy(
        account_failures=settings.AUTH_LOCKOUT_ACCOUNT_FAILURES,
        ip_failures=settings.AUTH_LOCKOUT_IP_FAILURES,
        window=dt.timedelta(minutes=settings.AUTH_LOCKOUT_WINDOW_MINUTES),
        duration=dt.timedelta(minutes=settings.AUTH_LOCKOUT_MINUTES),
    )


def email_key(email: str) -> str:
    """The form of an address that attempts are counted under: ``Alice@X.com`` is ``alice@x.com``."""
    return (email or "").strip().lower()[:254]


def client_ip(request: HttpRequest) -> str | None:
    """The client's address: ``REMOTE_ADDR``, or behind ``AUTH_TRUSTED_PROXIES`` proxies the
    address the outermost of them saw (from ``X-Forwarded-For``, never a value the client chose)."""
    candidate = request.META.get("REMOTE_ADDR", "")
    proxies = settings.AUTH_TRUSTED_PROXIES
    forwarded = [part.strip() for part in request.META.get("HTTP_X_FORWARDED_FOR", "").split(",") if part.strip()]
    if proxies and len(forwarded) >= proxies:
        candidate = forwarded[-proxies]
    try:
        return str(ipaddress.ip_address(candidate))
    except ValueError:
        return None


def _lock_end(times: list[dt.datetime], *, threshold: int, policy: LockoutPolicy, now: dt.datetime):
    """``times`` newest first: the end of the latest lock still running, if any.

    A failure starts (or extends) a lock when it is the last of ``threshold`` failures within the
    window; the lock runs for the lock duration from it.
    """
    for index, at in enumerate(times):
        if at + policy.duration <= now:
            break
        oldest = index + threshold - 1
        if oldest < len(times) and at - times[oldest] <= policy.window:
            return at + policy.duration
    return None


def login_locked_until(*, email: str, ip: str | None, now: dt.datetime | None = None) -> dt.datetime | None:
    """When sign-in for this address or from this IP address opens again; ``None`` when it is open."""
    policy = lockout_policy()
    now = now or timezone.now()
    key = email_key(email)
    match = Q(email=key) | Q(ip=ip) if ip else Q(email=key)
    rows = list(
        LoginAttempt.objects.filter(match, succeeded=False, at__gt=now - policy.window - policy.duration)
        .order_by("-at")
        .values_list("email", "ip", "at")[:_LOCK_ROWS]
    )
    ends = [
        _lock_end([at for e, _, at in rows if e == key], threshold=policy.account_failures, policy=policy, now=now),
        _lock_end([at for _, i, at in rows if ip and i == ip], threshold=policy.ip_failures, policy=policy, now=now)
        if ip
        else None,
    ]
    ends = [end for end in ends if end is not None]
    return max(ends) if ends else None


def login_attempt_record(*, email: str, ip: str | None, succeeded: bool, at: dt.datetime | None = None) -> None:
    LoginAttempt.objects.create(email=email_key(email), ip=ip, succeeded=succeeded, at=at or timezone.now())


@dataclass(frozen=True)
class SignInResult:
    """``user`` when the password was right and nothing was locked; else ``locked_until`` may say why not."""

    user: User | None = None
    locked_until: dt.datetime | None = None


def sign_in_check(request: HttpRequest, *, email: str, password: str) -> SignInResult:
    """Check a password sign-in under the lock-out and record the attempt; the caller logs the user in.

    While locked the password is not even checked, and the answer is the same whether or not the
    account exists.
    """
    ip = client_ip(request)
    if login_locked_until(email=email, ip=ip):
        login_attempt_record(email=email, ip=ip, succeeded=False)
        return SignInResult(locked_until=login_locked_until(email=email, ip=ip))
    # Addresses are matched without regard to case; authenticate() still runs (and hashes) when
    # nobody has the address, so the answer takes as long either way.
    stored = User.objects.filter(email__iexact=email_key(email)).order_by("pk").values_list("email", flat=True).first()
    user = authenticate(request, username=stored or email, password=password)
    login_attempt_record(email=email, ip=ip, succeeded=user is not None)
    if user is None:
        # This failure may be the one that starts a lock: say so at once.
        return SignInResult(locked_until=login_locked_until(email=email, ip=ip))
    return SignInResult(user=user)


# Second factor ---------------------------------------------------------------------------------


def otp_required(user: User) -> bool:
    """Whether signing in takes a one-time code: ops always (enrolling first), others once they enrolled."""
    return bool(user.is_authenticated and (user.is_ops or user.otp_enabled))


def otp_passed(request: HttpRequest) -> bool:
    return bool(request.session.get(OTP_SESSION_KEY))


def otp_pending(request: HttpRequest) -> bool:
    """Signed in with the password, but the one-time code (or the ops enrolment) is still due."""
    return otp_required(request.user) and not otp_passed(request)


def otp_mark_passed(request: HttpRequest) -> None:
    # A new session key once the second factor is passed: a key seen before it is worth nothing.
    request.session.cycle_key()
    request.session[OTP_SESSION_KEY] = True


def otp_enrolment_secret(user: User) -> str:
    """The secret being enrolled: made once and kept (encrypted) until confirmed, so a reload shows the same code."""
    if user.otp_enabled:
        raise ValueError("A one-time password is already set up for this user.")
    if not user.otp_secret:
        user.otp_secret = pyotp.random_base32(length=32)
        user.save(update_fields=["otp_secret"])
    return user.otp_secret


def otp_provisioning_uri(user: User, secret: str) -> str:
    return pyotp.TOTP(secret, digits=OTP_DIGITS, interval=OTP_INTERVAL).provisioning_uri(
        name=user.email, issuer_name=settings.AUTH_OTP_ISSUER
    )


def otp_qr_svg(uri: str) -> str:
    """The QR code of ``uri`` as inline SVG markup (paths only: the secret is not in the text)."""
    image = qrcode.make(uri, image_factory=qrcode.image.svg.SvgPathFillImage, box_size=10, border=2)
    return image.to_string(encoding="unicode")


def _step_start(step: int) -> dt.datetime:
    return dt.datetime.fromtimestamp(step * OTP_INTERVAL, tz=dt.UTC)


def _matching_step(secret: str, code: str, now: dt.datetime) -> int | None:
    code = "".join(code.split()).replace("-", "")
    if len(code) != OTP_DIGITS or not code.isdigit() or not secret:
        return None
    totp = pyotp.TOTP(secret, digits=OTP_DIGITS, interval=OTP_INTERVAL)
    current = int(now.timestamp()) // OTP_INTERVAL
    matches = [
        step
        for step in range(current - OTP_VALID_STEPS, current + OTP_VALID_STEPS + 1)
        if hmac.compare_digest(totp.generate_otp(step), code)
    ]
    return max(matches) if matches else None


def _step_marker(user: User) -> str:
    # Accepted time steps are kept as LoginAttempt rows under this marker (no migration needed),
    # so a code is accepted once across sessions, processes and servers.
    return f"otp-step:{user.pk}"


@dataclass(frozen=True)
class OtpCheck:
    ok: bool
    locked_until: dt.datetime | None = None


def otp_verify(request: HttpRequest, user: User, code: str) -> OtpCheck:
    """Check a one-time code of ``user``'s secret (enrolled or being enrolled) under the lock-out.

    A code is accepted once: its time step, and every earlier one, are then refused for this user
    (RFC 6238, section 5.2). A wrong or reused code is recorded as a failed sign-in attempt.
    """
    ip = client_ip(request)
    if login_locked_until(email=user.email, ip=ip):
        login_attempt_record(email=user.email, ip=ip, succeeded=False)
        return OtpCheck(ok=False, locked_until=login_locked_until(email=user.email, ip=ip))
    now = timezone.now()
    with transaction.atomic():
        # One check at a time per user, so two requests cannot both spend the same code.
        secret = User.objects.select_for_update().filter(pk=user.pk).values_list("otp_secret", flat=True).first()
        step = _matching_step(secret or "", code, now)
        marker = _step_marker(user)
        if (
            step is not None
            and not LoginAttempt.objects.filter(email=marker, succeeded=True, at__gte=_step_start(step)).exists()
        ):
            LoginAttempt.objects.create(email=marker, ip=None, succeeded=True, at=_step_start(step))
            login_attempt_record(email=user.email, ip=ip, succeeded=True, at=now)
            return OtpCheck(ok=True)
    login_attempt_record(email=user.email, ip=ip, succeeded=False, at=now)
    return OtpCheck(ok=False, locked_until=login_locked_until(email=user.email, ip=ip))


def otp_enable(request: HttpRequest, user: User, code: str) -> OtpCheck:
    """Confirm the enrolment with a code from the authenticator; from then on sign-in asks for one."""
    if user.otp_enabled:
        raise ValueError("A one-time password is already set up for this user.")
    check = otp_verify(request, user, code)
    if check.ok:
        with transaction.atomic():
            user.otp_confirmed_at = timezone.now()
            user.save(update_fields=["otp_confirmed_at"])
            audit_record(actor=user, action="user.otp_enable", object_type="user", object_id=user.pk)
    return check


def otp_disable(request: HttpRequest, user: User, code: str) -> OtpCheck:
    """Turn the second factor off with a current code; ops staff cannot (it is required for them)."""
    if user.is_ops:
        raise PermissionDenied("Ops staff must keep their one-time password.")
    if not user.otp_enabled:
        return OtpCheck(ok=True)
    check = otp_verify(request, user, code)
    if check.ok:
        with transaction.atomic():
            user.otp_secret = ""  # nosec B105 # removes the secret
            user.otp_confirmed_at = None
            user.save(update_fields=["otp_secret", "otp_confirmed_at"])
            audit_record(actor=user, action="user.otp_disable", object_type="user", object_id=user.pk)
    return check


def otp_reset(*, actor: User, user: User) -> None:
    """An ops admin clears someone's authenticator (a lost phone): ops enrol again at their next sign-in."""
    if not (actor.is_authenticated and actor.is_active and actor.role == User.Role.OPS_ADMIN):
        raise PermissionDenied("Only ops admins can reset two-step sign-in.")
    with transaction.atomic():
        user.otp_secret = ""  # nosec B105 # removes the secret
        user.otp_confirmed_at = None
        user.save(update_fields=["otp_secret", "otp_confirmed_at"])
        audit_record(actor=actor, action="user.otp_reset", object_type="user", object_id=user.pk)
