"""The consent ledger: every change is a ``ConsentEvent``; the user row holds the current answer.

A withdrawal takes effect in the same transaction: every processing reads the user row (the
marketing sender, the analytics middleware, the webhook dispatcher and sender), so nothing is
sent or recorded on the old answer once it commits.
"""

from collections.abc import Mapping

from django.db import transaction
from django.utils import timezone

from privacy.models import ConsentEvent, Purpose
from privacy.selectors import CONSENT_FIELDS, policy_current
from shops.models import User


def consent_set(*, user: User, purpose: str, granted: bool, source: str) -> bool:
    """Give or withdraw one consent; returns whether the answer changed (no event otherwise)."""
    return bool(consents_set(user=user, answers={purpose: granted}, source=source))


def consents_set(*, user: User, answers: Mapping[str, bool], source: str, record_unchanged: bool = False) -> list[str]:
    """Set several consents at once; returns the purposes whose answer changed.

    ``record_unchanged`` writes an event even for an answer that stays the same (registration:
    the ledger then holds the explicit first answer to every purpose).
    """
    now = timezone.now()
    version = policy_current()
    with transaction.atomic():
        locked = User.objects.select_for_update().get(pk=user.pk)
        changed, events = [], []
        for purpose, granted in answers.items():
            field = CONSENT_FIELDS[Purpose(purpose)]
            if getattr(locked, field) != bool(granted):
                changed.append(field)
            elif not record_unchanged:
                continue
            setattr(locked, field, bool(granted))
            events.append(
                ConsentEvent(
                    user=locked, purpose=purpose, granted=bool(granted), at=now, source=source, policy_version=version
                )
            )
        if changed:
            locked.save(update_fields=changed)
        ConsentEvent.objects.bulk_create(events)
    for field in changed:
        setattr(user, field, getattr(locked, field))
    return [purpose for purpose in answers if CONSENT_FIELDS[Purpose(purpose)] in changed]
