"""API tokens: created by ops (or for oneself), shown once, stored as a hash."""

import ipaddress
from collections.abc import Sequence

from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction
from django.utils import timezone

from shops.api.auth import token_generate, token_hash
from shops.models import ApiToken, User
from shops.services.audit import audit_record

SCOPES = [choice for choice, _ in ApiToken.Scope.choices]


def api_token_create(
    *,
    user: User,
    scopes: Sequence[str],
    purpose: str,
    allowed_ips: Sequence[str] = (),
    created_by: User | None = None,
) -> tuple[ApiToken, str]:
    """Returns the token row and the raw token, which is never stored and cannot be shown again."""
    if created_by is not None and created_by != user and not created_by.is_ops:
        raise PermissionDenied("Only ops staff can create tokens for other users.")
    errors = {}
    unknown = sorted(set(scopes) - set(SCOPES))
    if not scopes or unknown:
        errors["scopes"] = f"Unknown scopes: {', '.join(unknown)}" if unknown else "At least one scope is required."
        errors["scopes"] += f" (known: {', '.join(SCOPES)})"
    if len((purpose or "").strip()) < 10:
        errors["purpose"] = "Declare what the client uses the data for (at least 10 characters)."
    for network in allowed_ips:
        try:
            ipaddress.ip_network(network, strict=False)
        except ValueError:
            errors["allowed_ips"] = f"{network!r} is not an IP address or network."
    if errors:
        raise ValidationError(errors)
    raw, prefix = token_generate()
    with transaction.atomic():
        token = ApiToken.objects.create(
            user=user,
            purpose=purpose.strip(),
            scopes=sorted(set(scopes)),
            allowed_ips=list(allowed_ips),
            prefix=prefix,
            key_hash=token_hash(raw),
            created_by=created_by,
        )
        audit_record(
            actor=created_by,
            action="api_token.create",
            object_type="api_token",
            object_id=token.prefix,
            reason=token.purpose,
            details={"user": user.email, "scopes": token.scopes, "allowed_ips": token.allowed_ips},
        )
    return token, raw


def api_token_revoke(*, token: ApiToken, user: User, reason: str = "") -> ApiToken:
    if user != token.user and not user.is_ops:
        raise PermissionDenied("Only the token's owner or ops staff can revoke it.")
    with transaction.atomic():
        ApiToken.objects.filter(pk=token.pk, revoked_at__isnull=True).update(revoked_at=timezone.now())
        audit_record(
            actor=user, action="api_token.revoke", object_type="api_token", object_id=token.prefix, reason=reason
        )
    token.refresh_from_db()
    return token
