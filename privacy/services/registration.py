"""Registration of a seller or creator account: adults only (policy 000: the Partner Platform
is for users aged 18 and older), the current policy accepted, and every consent answered.

Only the fact that the person is an adult is kept, not the date of birth (minimisation).
"""

import datetime as dt

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from privacy.models import AcceptanceSource, ConsentSource, Purpose
from privacy.selectors import policy_current
from privacy.services.consent import consents_set
from privacy.services.policies import policy_accept
from shops.models import User
from shops.services.audit import audit_record
from shops.services.users import user_create


def age_on(birth_date: dt.date, day: dt.date) -> int:
    years = day.year - birth_date.year
    return years - ((day.month, day.day) < (birth_date.month, birth_date.day))


def user_register(
    *,
    email: str,
    password: str,
    role: str,
    birth_date: dt.date,
    accept_policy: bool,
    consents: dict[str, bool],
    seller_key: str = "",
    creator_key: str = "",
    today: dt.date | None = None,
) -> User:
    """Create the account through ``user_create`` or raise ``ValidationError`` keyed by field."""
    today = today or timezone.localdate()
    if birth_date > today:
        raise ValidationError({"birth_date": [_("Enter your real date of birth.")]})
    if age_on(birth_date, today) < settings.PRIVACY_MINIMUM_AGE:
        raise ValidationError(
            {
                "birth_date": [
                    _("You must be at least %(age)s years old to register.") % {"age": settings.PRIVACY_MINIMUM_AGE}
                ]
            },
            code="under_age",
        )
    if role not in (User.Role.SELLER, User.Role.CREATOR):
        raise ValidationError({"role": [_("Register as a seller or as a creator.")]})
    policy = policy_current()
    if policy is None:
        raise ValidationError(_("Registration is closed until a privacy policy is published."))
    if not accept_policy:
        raise ValidationError({"accept_policy": [_("You must accept the privacy policy to register.")]})
    with transaction.atomic():
        user = user_create(
            email=email,
            role=role,
            password=password,
            seller_keys=[seller_key] if role == User.Role.SELLER else [],
            creator_key=creator_key if role == User.Role.CREATOR else None,
        )
        policy_accept(user=user, version=policy, source=AcceptanceSource.REGISTRATION)
        answers = {purpose: bool(consents.get(purpose, False)) for purpose in Purpose.values}
        consents_set(user=user, answers=answers, source=ConsentSource.REGISTRATION, record_unchanged=True)
        audit_record(
            actor=user,
            action="privacy.register",
            object_type="user",
            object_id=user.pk,
            details={"role": role, "adult_confirmed": True, "policy_version": policy.version},
        )
    return user
