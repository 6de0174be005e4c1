"""API tokens: ``Authorization: Bearer cp_<prefix>_<secret>``, stored only as a SHA-256 hash."""

import hashlib
import ipaddress
import secrets

from django.utils import timezone
from django.utils.translation import gettext as _
from drf_spectacular.extensions import OpenApiAuthenticationExtension
from rest_framework import authentication, exceptions

from shops.models import ApiToken
from shops.services.auth import client_ip as auth_client_ip

TOKEN_PREFIX = "cp_"  # noqa: S105 - a marker, not a secret  # nosec B105 # a prefix marking our tokens, not a secret


def token_hash(raw: str) -> str:
    return hashlib.sha256(raw.encode()).hexdigest()


def token_generate() -> tuple[str, str]:
    """A new raw token and its lookup prefix."""
    prefix = secrets.token_hex(4)
    return f"{TOKEN_PREFIX}{prefix}_{secrets.token_urlsafe(32)}", prefix


def client_ip(request) -> str:
    """The client's address behind the trusted proxies (``AUTH_TRUSTED_PROXIES``), or ""."""
    return auth_client_ip(request) or ""


def ip_allowed(token: ApiToken, address: str) -> bool:
    if not token.allowed_ips:
        return True
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return False
    return any(ip in ipaddress.ip_network(network, strict=False) for network in token.allowed_ips)


class TokenAuthentication(authentication.BaseAuthentication):
    keyword = "Bearer"

    def authenticate(self, request):
        header = authentication.get_authorization_header(request).split()
        if not header or header[0].lower() != self.keyword.lower().encode():
            return None
        if len(header) != 2:
            raise exceptions.AuthenticationFailed(_("The Authorization header must be 'Bearer <token>'."))
        raw = header[1].decode(errors="replace")
        token = (
            ApiToken.objects.select_related("user").filter(key_hash=token_hash(raw), revoked_at__isnull=True).first()
        )
        if token is None or not token.user.is_active:
            raise exceptions.AuthenticationFailed(_("The API token is unknown or revoked."))
        if not ip_allowed(token, client_ip(request)):
            raise exceptions.PermissionDenied(
                _("Requests from %(ip)s are not allowed for this token.") % {"ip": client_ip(request)}
            )
        now = timezone.now()
        if token.last_used_at is None or (now - token.last_used_at).total_seconds() > 60:
            ApiToken.objects.filter(pk=token.pk).update(last_used_at=now)
        return token.user, token

    def authenticate_header(self, request):
        return self.keyword


class TokenAuthenticationScheme(OpenApiAuthenticationExtension):
    """How the OpenAPI schema describes the token."""

    target_class = "shops.api.auth.TokenAuthentication"
    name = "ApiToken"

    def get_security_definition(self, auto_schema):
        return {
            "type": "http",
            "scheme": "bearer",
            "description": "An API token created by ops: `Authorization: Bearer cp_...`",
        }
