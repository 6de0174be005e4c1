"""Helpers shared by the privacy services: client address, pseudonyms, e-mails, timeline."""

import hashlib
import hmac

from django.conf import settings
from django.core.mail import send_mail
from django.template.loader import render_to_string
from django.utils import timezone, translation

from privacy.models import RightsRequest, RightsRequestEvent
from shops.models import User
from shops.services.auth import client_ip as auth_client_ip


def client_ip(request) -> str | None:
    """The address the request came from, as the sign-in lock-out sees it (trusted proxies included)."""
    return auth_client_ip(request) if request is not None else None


def user_agent(request) -> str:
    return (request.META.get("HTTP_USER_AGENT", "") if request is not None else "")[:255]


def keyed_hash(message: str) -> str:
    return hmac.new(settings.FIELD_HASH_KEY.encode(), message.encode(), hashlib.sha256).hexdigest()


def pseudonym_for(user_id: int) -> str:
    """A stable pseudonym for an erased person: keyed, so it cannot be recomputed from an id list."""
    digest = hmac.new(settings.PRIVACY_PSEUDONYM_KEY.encode(), f"user:{user_id}".encode(), hashlib.sha256)
    return "P-" + digest.hexdigest()[:12].upper()


def mail_user(*, user: User, template: str, context: dict, to: str | None = None) -> None:
    """An e-mail from ``templates/privacy/email/<template>`` in the user's language."""
    with translation.override(user.language or settings.LANGUAGE_CODE):
        context = {"user": user, **context}
        subject = " ".join(render_to_string(f"privacy/email/{template}_subject.txt", context).split())
        body = render_to_string(f"privacy/email/{template}.txt", context)
    send_mail(subject, body, settings.DEFAULT_FROM_EMAIL, [to or user.email])


def ops_recipients() -> list[str]:
    """The privacy team's address (if set) and every active ops user's."""
    addresses = list(
        User.objects.filter(is_active=True, role__in=[User.Role.OPS, User.Role.OPS_ADMIN], erased_at__isnull=True)
        .order_by("pk")
        .values_list("email", flat=True)
    )
    if settings.PRIVACY_TEAM_EMAIL:
        addresses.insert(0, settings.PRIVACY_TEAM_EMAIL)
    return list(dict.fromkeys(addresses))


def request_event(request: RightsRequest, action: str, *, actor: User | None = None, note: str = "") -> None:
    RightsRequestEvent.objects.create(request=request, at=timezone.now(), actor=actor, action=action, note=note)
