"""Users: creating a portal account for a seller member, a creator or an ops user."""

from collections.abc import Sequence

from django.contrib.auth.password_validation import validate_password
from django.core.exceptions import ValidationError
from django.core.validators import validate_email
from django.db import IntegrityError, transaction

from affiliate.models import Creator
from shops.models import Seller, SellerMembership, User


def _unique_keys(keys: Sequence[str]) -> list[str]:
    return list(dict.fromkeys(key.strip() for key in keys if key and key.strip()))


def user_create(
    *,
    email: str,
    role: str,
    password: str,
    seller_keys: Sequence[str] = (),
    creator_key: str | None = None,
) -> User:
    """Create a user with its role and its sellers or creator, or raise ``ValidationError``.

    Every problem is reported at once, keyed by field. Seller members belong to one or more
    sellers (``Seller.key``), creator users to one creator (``Creator.key``); ops users are
    staff, and only ops admins are superusers.
    """
    errors: dict[str, list[str]] = {}
    email = User.objects.normalize_email((email or "").strip())
    seller_keys = _unique_keys(seller_keys)
    creator_key = (creator_key or "").strip() or None

    try:
        validate_email(email)
    except ValidationError:
        errors.setdefault("email", []).append(f"{email!r} is not a valid email address.")
    else:
        if User.objects.filter(email__iexact=email).exists():
            errors.setdefault("email", []).append(f"A user with email {email} already exists.")

    if role not in User.Role.values:
        errors.setdefault("role", []).append(f"Unknown role {role!r}: use one of {', '.join(User.Role.values)}.")

    sellers: list[Seller] = []
    if role == User.Role.SELLER and not seller_keys:
        errors.setdefault("sellers", []).append("A seller user needs at least one seller id.")
    elif seller_keys and role != User.Role.SELLER:
        errors.setdefault("sellers", []).append(f"Only seller users belong to sellers, not {role} users.")
    elif seller_keys:
        found = {seller.key: seller for seller in Seller.objects.filter(key__in=seller_keys)}
        unknown = [key for key in seller_keys if key not in found]
        if unknown:
            errors.setdefault("sellers", []).append(f"Unknown seller id(s): {', '.join(unknown)}.")
        sellers = [found[key] for key in seller_keys if key in found]

    creator: Creator | None = None
    if role == User.Role.CREATOR and not creator_key:
        errors.setdefault("creator", []).append("A creator user needs a creator id.")
    elif creator_key and role != User.Role.CREATOR:
        errors.setdefault("creator", []).append(f"Only creator users belong to a creator, not {role} users.")
    elif creator_key:
        creator = Creator.objects.filter(key=creator_key).first()
        if creator is None:
            errors.setdefault("creator", []).append(f"Unknown creator id: {creator_key}.")

    user = User(
        email=email,
        role=role,
        creator=creator,
        is_staff=role in (User.Role.OPS, User.Role.OPS_ADMIN),
        is_superuser=role == User.Role.OPS_ADMIN,
    )
    try:
        validate_password(password, user=user)
    except ValidationError as error:
        errors.setdefault("password", []).extend(error.messages)

    if errors:
        raise ValidationError(errors)

    user.set_password(password)
    try:
        with transaction.atomic():
            user.save()
            SellerMembership.objects.bulk_create(SellerMembership(user=user, seller=seller) for seller in sellers)
    except IntegrityError:
        # Another process created the same email between the check and the insert.
        raise ValidationError({"email": [f"A user with email {email} already exists."]}) from None
    return user
