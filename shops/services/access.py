"""Who may act: the checks the services share."""

from django.core.exceptions import PermissionDenied

from shops.models import User


def require_ops(user: User, action: str) -> None:
    """Only active ops staff (reviewers and admins) may do ``action``."""
    if not (user.is_authenticated and user.is_active and user.is_ops):
        raise PermissionDenied(f"Only ops staff can {action}.")
