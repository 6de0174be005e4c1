"""Scopes: a token acts only within the scopes it was given; a browser session has its role."""

from django.utils.translation import gettext as _
from rest_framework import exceptions, permissions

from shops.models import ApiToken


class HasScope(permissions.BasePermission):
    """Views declare ``required_scopes``: one scope, or a dict of HTTP method -> scope."""

    def has_permission(self, request, view):
        if not (request.user and request.user.is_authenticated):
            return False
        token = request.auth
        if not isinstance(token, ApiToken):
            return True  # a browser session: the role and object checks apply
        required = getattr(view, "required_scopes", None)
        if isinstance(required, dict):
            required = required.get(request.method, required.get("*"))
        if required and required not in token.scopes:
            raise exceptions.PermissionDenied(
                _("This token lacks the scope %(scope)s.") % {"scope": required}, code="missing_scope"
            )
        return True


class IsOps(permissions.BasePermission):
    message = "Only ops staff can do this."

    def has_permission(self, request, view):
        return bool(request.user and request.user.is_authenticated and request.user.is_ops)
