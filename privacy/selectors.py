"""Reads of the privacy centre: policy versions, consents, rights requests, access log, retention."""

import datetime as dt
from dataclasses import dataclass

from django.conf import settings
from django.db.models import Exists, OuterRef, Q, QuerySet
from django.utils import timezone

from privacy.models import (
    AccessLog,
    AccessLogSubject,
    DataExport,
    PolicyAcceptance,
    PolicyVersion,
    Purpose,
    RetentionPolicy,
    RetentionRun,
    RightsRequest,
)
from shops.models import SellerMembership, User

# Policies ----------------------------------------------------------------------------------------


def policy_versions() -> QuerySet[PolicyVersion]:
    """Every published version, newest first (old versions stay readable)."""
    return PolicyVersion.objects.order_by("-version")


def policy_current(*, today: dt.date | None = None) -> PolicyVersion | None:
    """The version in force: the newest one whose effective date has come."""
    today = today or timezone.localdate()
    return policy_versions().filter(effective_from__lte=today).first()


def policy_acceptance_required(*, user: User, today: dt.date | None = None) -> PolicyVersion | None:
    """The version ``user`` must accept before going on, or None.

    That is the current version when the newest significant version in force (or the first
    version ever) has not been accepted by the user, in that version or a later one.
    """
    if not (user.is_authenticated and user.is_active):
        return None
    today = today or timezone.localdate()
    in_force = policy_versions().filter(effective_from__lte=today)
    current = in_force.first()
    if current is None:
        return None
    significant = in_force.filter(significant=True).values_list("version", flat=True).first() or 0
    accepted = PolicyAcceptance.objects.filter(user=user, version__version__gte=significant).exists()
    return None if accepted else current


# Consent -----------------------------------------------------------------------------------------

CONSENT_FIELDS = {
    Purpose.MARKETING_EMAIL: "consent_marketing_email",
    Purpose.PRODUCT_ANALYTICS: "consent_product_analytics",
    Purpose.DATA_SHARING: "consent_data_sharing",
}


def consenting_users(*, purpose: str) -> QuerySet[User]:
    """Active, not erased users who currently consent to ``purpose``."""
    return User.objects.filter(is_active=True, erased_at__isnull=True, **{CONSENT_FIELDS[Purpose(purpose)]: True})


@dataclass(frozen=True)
class SharingWithheld:
    """Whose eligibility data may not go to API clients and webhook receivers."""

    seller_ids: frozenset[int]
    creator_ids: frozenset[int]
    creator_keys: frozenset[str]

    def covers(self, *, seller_ids=(), creator_key: str | None = None) -> bool:
        return bool(self.seller_ids.intersection(seller_ids)) or (
            creator_key is not None and creator_key in self.creator_keys
        )


def sharing_withheld() -> SharingWithheld:
    """Sellers any of whose members, and creators whose user, withdrew ``data_sharing``, in two queries.

    A seller is a business of one or more people: one member's withdrawal stops the sharing
    of its data, since the data is about every member alike.
    """
    withheld = User.objects.filter(consent_data_sharing=False)
    seller_ids = frozenset(
        SellerMembership.objects.filter(user__in=withheld).values_list("seller_id", flat=True).distinct()
    )
    creators = list(withheld.filter(creator__isnull=False).values_list("creator_id", "creator__key"))
    return SharingWithheld(
        seller_ids=seller_ids,
        creator_ids=frozenset(pk for pk, _key in creators),
        creator_keys=frozenset(key for _pk, key in creators),
    )


# Rights requests ---------------------------------------------------------------------------------


def rights_requests_of(*, user: User) -> QuerySet[RightsRequest]:
    return RightsRequest.objects.filter(requester=user).select_related("export").order_by("-created_at", "-id")


def rights_queue(*, state: str | None = None, kind: str | None = None) -> QuerySet[RightsRequest]:
    """The ops queue: open requests by due date (the oldest deadline first)."""
    requests = RightsRequest.objects.select_related("requester", "assigned_to").exclude(
        state=RightsRequest.State.UNVERIFIED
    )
    if state == "open" or state is None:
        requests = requests.filter(state__in=RightsRequest.OPEN_STATES)
    elif state != "all":
        requests = requests.filter(state=state)
    if kind:
        requests = requests.filter(kind=kind)
    return requests.order_by("due_at", "id")


def days_left(request: RightsRequest, *, now: dt.datetime | None = None) -> int | None:
    """Whole days until the answer is due (negative when overdue); None before receipt."""
    if request.due_at is None:
        return None
    now = now or timezone.now()
    seconds = (request.due_at - now).total_seconds()
    return int(seconds // 86400)


def deadline_state(request: RightsRequest, *, now: dt.datetime | None = None) -> str:
    """ "overdue", "due_soon" (within PRIVACY_ALERT_DAYS_BEFORE) or "on_track"; "closed" when answered."""
    if not request.is_open or request.due_at is None:
        return "closed"
    now = now or timezone.now()
    if request.due_at <= now:
        return "overdue"
    if request.due_at - now <= dt.timedelta(days=settings.PRIVACY_ALERT_DAYS_BEFORE):
        return "due_soon"
    return "on_track"


def export_for_token(*, token_hash: str) -> DataExport | None:
    return DataExport.objects.select_related("request__requester").filter(token_hash=token_hash).first()


# Access log --------------------------------------------------------------------------------------


def access_log_about(*, user: User) -> QuerySet[AccessLog]:
    """Accesses to ``user``'s data: to the user, to its sellers, to its creator, newest first."""
    subjects = Q(kind=AccessLogSubject.Kind.USER, subject_id=user.pk) | Q(
        kind=AccessLogSubject.Kind.SELLER,
        subject_id__in=SellerMembership.objects.filter(user_id=user.pk).values("seller_id"),
    )
    if user.creator_id:
        subjects |= Q(kind=AccessLogSubject.Kind.CREATOR, subject_id=user.creator_id)
    touched = AccessLogSubject.objects.filter(subjects, log_id=OuterRef("pk"))
    return AccessLog.objects.filter(Exists(touched)).select_related("actor").order_by("-at", "-id")


# Retention ---------------------------------------------------------------------------------------


def retention_policies() -> QuerySet[RetentionPolicy]:
    return RetentionPolicy.objects.select_related("updated_by").order_by("data_class")


def retention_runs(*, limit: int = 20) -> list[RetentionRun]:
    return list(RetentionRun.objects.order_by("-started_at")[:limit])


def sharing_withheld_for(*, seller_ids=(), creator_key: str | None = None) -> bool:
    """Whether a member of any of ``seller_ids``, or the creator ``creator_key``, withdrew
    consent to sharing eligibility data (one query)."""
    about = Q(pk__in=[])
    if seller_ids:
        about |= Q(sellermembership__seller_id__in=list(seller_ids))
    if creator_key:
        about |= Q(creator__key=creator_key)
    return User.objects.filter(about, consent_data_sharing=False).exists()
