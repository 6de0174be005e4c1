"""Erasure (policy 003 §4(3) and §4(5)): deletion and account cancellation erase or
anonymise everything about the person.

What the law requires us to keep (evaluation and transaction records, at least 3 years after
completion; closed rights requests; the consent ledger as proof) is kept with the person
pseudonymised: the user row stays (other records point to it) with a pseudonymous address,
keys that name the person are replaced, free texts are cleared, and the person's identifiers
are scrubbed from history and audit tables (audit trail, webhook outbox, notifications of
others, admin log, access log). Personal fields and their keyed hashes are blanked.

The person's businesses: a seller whose only member is the person is the person's own
business and is erased with them; a seller with other members keeps its data (it is theirs
too) and only loses the membership. Every recipient of the person's data (API clients that
read it, webhook receivers that got it) is notified, and each notice is logged.
"""

import datetime as dt
import json
from collections.abc import Iterable

from django.contrib.admin.models import LogEntry
from django.contrib.contenttypes.models import ContentType
from django.db import connection, models, transaction
from django.db.models import Count, Q, TextField
from django.db.models.functions import Cast
from django.utils import timezone
from django.utils.translation import gettext_noop

from affiliate.models import Creator, CreatorSnapshot, PlanInvitation
from privacy.models import (
    AccessLog,
    AccessLogSubject,
    AnalyticsEvent,
    ConsentEvent,
    ConsentSource,
    DataClass,
    DataExport,
    ErasureReceipt,
    ExportDownload,
    PolicyAcceptance,
    RecipientNotice,
    RetentionPolicy,
    RightsRequest,
    RightsRequestEvent,
)
from privacy.services.access_log import access_log_flush
from privacy.services.common import mail_user, pseudonym_for, request_event
from privacy.services.exports import export_remove_file
from shops.models import (
    ApiToken,
    Appeal,
    AppealEvidence,
    AuditEntry,
    Entity,
    LicenceFlag,
    LoginAttempt,
    Notification,
    Override,
    Seller,
    SellerMembership,
    Shop,
    StatusHistory,
    User,
    WebhookDelivery,
    WebhookEvent,
    WebhookSubscription,
)
from shops.services.audit import audit_record

ERASED = "[erased]"
THREE_YEARS = 3 * 365

# What is kept, on which basis (gettext_noop: the receipt is worded in the reader's language).
BASIS_EVALUATION = gettext_noop(
    "Evaluation records: kept at least 3 years after completion, as the law requires for transaction "
    "and evaluation records; pseudonymised."
)
BASIS_REQUESTS = gettext_noop("Rights requests: kept 3 years to show how each request was answered; pseudonymised.")
BASIS_CONSENT = gettext_noop("Consent and policy records: kept as proof of the consents given; pseudonymised.")
BASIS_SECURITY = gettext_noop("Access log: kept 180 days for the security of the portal; pseudonymised.")
BASIS_AUDIT = gettext_noop("Audit trail: kept to account for decisions made by staff; pseudonymised.")
BASIS_LICENCE = gettext_noop(
    "Business licence number: kept with the shop records for the platform's licence rules (at most 3 active "
    "shops, 90-day re-entry ban)."
)


def _scope(user: User) -> tuple[list[Seller], Creator | None]:
    """The sellers that are the person's own business, and the person's creator profile."""
    # Counted over all members: filtering on the person's membership first would count only it.
    sole = (
        Seller.objects.filter(pk__in=SellerMembership.objects.filter(user=user).values("seller_id"))
        .annotate(member_count=Count("sellermembership"))
        .filter(member_count=1)
        .order_by("pk")
    )
    creator = None
    if (
        user.creator_id
        and not User.objects.filter(creator_id=user.creator_id, erased_at__isnull=True).exclude(pk=user.pk).exists()
    ):
        creator = Creator.objects.get(pk=user.creator_id)
    return list(sole), creator


def _replace_text(text: str, replacements: list[tuple[str, str]]) -> str:
    lowered = text.lower()
    for old, new in replacements:
        if old.lower() in lowered:
            start = 0
            while (index := text.lower().find(old.lower(), start)) != -1:
                text = text[:index] + new + text[index + len(old) :]
                start = index + len(new)
            lowered = text.lower()
    return text


def _replace_json(value, replacements: list[tuple[str, str]]):
    if isinstance(value, str):
        return _replace_text(value, replacements)
    if isinstance(value, list):
        return [_replace_json(item, replacements) for item in value]
    if isinstance(value, dict):
        return {_replace_text(str(k), replacements): _replace_json(v, replacements) for k, v in value.items()}
    return value


def _mentions(fields: Iterable[str], identifiers: Iterable[str]) -> Q:
    """Rows where any of ``fields`` (text or JSON) contains any identifier."""
    condition = Q()
    for field in fields:
        for identifier in identifiers:
            condition |= Q(**{f"_text_{field}__icontains": identifier})
    return condition


def _scrub(
    queryset: models.QuerySet, fields: list[str], replacements: list[tuple[str, str]], extra: Q | None = None
) -> int:
    """Replace the identifiers in ``fields`` of every row mentioning one; bypasses append-only
    managers on purpose (``_base_manager``). Returns the number of rows changed."""
    model = queryset.model
    identifiers = [old for old, _new in replacements if old]
    if not identifiers:
        return 0
    annotated = model._base_manager.filter(pk__in=queryset.values("pk")).annotate(
        **{f"_text_{field}": Cast(field, TextField()) for field in fields}
    )
    condition = _mentions(fields, identifiers)
    if extra is not None:
        condition |= extra
    changed = 0
    for row in annotated.filter(condition).only("pk", *fields).iterator(chunk_size=500):
        values = {}
        for field in fields:
            old = getattr(row, field)
            new = _replace_json(old, replacements)
            if new != old:
                values[field] = new
        if values:
            model._base_manager.filter(pk=row.pk).update(**values)
            changed += 1
    return changed


def _recipients(user: User, sellers: list[Seller], creator: Creator | None) -> list[dict]:
    """Who received the person's data: webhook subscriptions that got an event about it, and
    API clients whose calls read it (from the access log), other than the person's own."""
    access_log_flush()
    seller_ids = [s.pk for s in sellers]
    events = _events_about(seller_ids, creator)
    subscriptions = {
        d.subscription
        for d in WebhookDelivery.objects.filter(event__in=events, state=WebhookDelivery.State.DELIVERED)
        .exclude(subscription__token__user=user)
        .select_related("subscription__token__user")
    }
    subject_q = Q(kind=AccessLogSubject.Kind.USER, subject_id=user.pk)
    if seller_ids:
        subject_q |= Q(kind=AccessLogSubject.Kind.SELLER, subject_id__in=seller_ids)
    if creator is not None:
        subject_q |= Q(kind=AccessLogSubject.Kind.CREATOR, subject_id=creator.pk)
    prefixes = set(
        AccessLog.objects.filter(subjects__in=AccessLogSubject.objects.filter(subject_q))
        .exclude(token_prefix="")  # nosec B106 # clears the token hash, not a password
        .values_list("token_prefix", flat=True)
    )
    tokens = {
        t.prefix: t for t in ApiToken.objects.filter(prefix__in=prefixes).exclude(user=user).select_related("user")
    }
    recipients: dict[tuple, dict] = {}
    for subscription in subscriptions:
        recipients[("webhook", subscription.pk)] = {
            "channel": RecipientNotice.Channel.WEBHOOK,
            "token": subscription.token,
            "subscription": subscription,
            "target": subscription.url,
        }
    for prefix, token in tokens.items():
        hooks = [s for s in subscriptions if s.token_id == token.pk]
        if hooks:
            continue  # told through its webhook already
        live = WebhookSubscription.objects.filter(token=token, active=True).first()
        if live is not None:
            recipients[("webhook", live.pk)] = {
                "channel": RecipientNotice.Channel.WEBHOOK,
                "token": token,
                "subscription": live,
                "target": live.url,
            }
        else:
            recipients[("email", prefix)] = {
                "channel": RecipientNotice.Channel.EMAIL,
                "token": token,
                "subscription": None,
                "target": token.user.email,
            }
    return list(recipients.values())


def _events_about(seller_ids: list[int], creator: Creator | None) -> models.QuerySet[WebhookEvent]:
    """Webhook events carrying the person's data: about their sellers or their creator."""
    if connection.vendor == "postgresql":
        about = Q(pk__in=[])
        for seller_id in seller_ids:
            about |= Q(seller_ids__contains=[seller_id])
        if creator is not None:
            about |= Q(payload__entity="creator", payload__id=creator.key)
        return WebhookEvent.objects.filter(about)
    # SQLite cannot look inside a JSON list: read the events (a local checkout is small).
    wanted = set(seller_ids)
    ids = [
        event.pk
        for event in WebhookEvent.objects.only("pk", "seller_ids", "payload").iterator()
        if wanted.intersection(event.seller_ids or [])
        or (creator is not None and event.payload.get("entity") == "creator" and event.payload.get("id") == creator.key)
    ]
    return WebhookEvent.objects.filter(pk__in=ids)


def _until(data_class: str, now: dt.datetime, default_days: int) -> str:
    days = RetentionPolicy.objects.filter(data_class=data_class).values_list("days", flat=True).first()
    return (now + dt.timedelta(days=days or default_days)).date().isoformat()


def person_erase(*, request: RightsRequest, actor: User) -> ErasureReceipt:
    """Erase the requester of a deletion or cancellation request; returns the receipt.

    Call inside the request's transaction (``rights_request_complete`` does): the notices to
    recipients and the receipt e-mail go out only after it commits.
    """
    user = User.objects.select_for_update().get(pk=request.requester_id)
    if user.erased_at is not None:
        return request.erasure_receipt
    now = timezone.now()
    pseudonym = pseudonym_for(user.pk)
    original_email, language = user.email, user.language
    sellers, creator = _scope(user)
    seller_ids = [s.pk for s in sellers]
    shops = list(Shop.objects.filter(seller_id__in=seller_ids).order_by("pk"))
    recipients = _recipients(user, sellers, creator)

    # Identifiers -> what replaces them wherever they were copied (longest first).
    replacements: list[tuple[str, str]] = [(user.email, f"{pseudonym.lower()}@erased.invalid")]
    subjects = []
    for seller in sellers:
        subjects.append({"entity": "seller", "id": seller.key})
        replacements += [
            (seller.key, f"{pseudonym}-SELLER-{seller.pk}"),
            (seller.legal_name, ERASED),
            (seller.contact_email, ERASED),
            (seller.contact_phone, ERASED),
            (seller.tax_id, ERASED),
            (seller.bank_account_number, ERASED),
        ]
    for shop in shops:
        subjects.append({"entity": "shop", "id": shop.key})
        replacements += [(shop.key, f"{pseudonym}-SHOP-{shop.pk}"), (shop.name, ERASED)]
    if creator is not None:
        subjects.append({"entity": "creator", "id": creator.key})
        replacements += [
            (creator.key, f"{pseudonym}-CREATOR"),
            (creator.handle, pseudonym.lower()),
            (creator.email, ERASED),
            (creator.display_name, ERASED),
        ]
    replacements = sorted({(old, new) for old, new in replacements if old and len(old) >= 3}, key=lambda p: -len(p[0]))
    key_of = dict(replacements)
    erased: dict[str, int] = {}
    kept: list[dict] = []

    # The person's own rows ----------------------------------------------------------------------
    erased["notifications"] = Notification.objects.filter(user=user).delete()[0]
    erased["analytics_events"] = AnalyticsEvent.objects.filter(user=user).delete()[0]
    erased["sign_in_attempts"] = LoginAttempt.objects.filter(email__iexact=original_email).delete()[0]
    erased["api_tokens"] = ApiToken.objects.filter(user=user).count()
    ApiToken.objects.filter(user=user).delete()
    erased["seller_memberships"] = SellerMembership.objects.filter(user=user).delete()[0]
    exports = DataExport.objects.filter(request__requester=user)
    erased["export_archives"] = sum(export_remove_file(export) for export in exports)
    exports.update(state=DataExport.State.EXPIRED, path="", manifest={}, token_hash="")  # nosec B106 # clears the token hash, not a password
    ExportDownload.objects.filter(Q(user=user) | Q(export__request__requester=user)).update(ip=None, user_agent="")

    # Sellers and shops that are the person's own business ---------------------------------------
    for seller in sellers:
        seller.key = key_of[seller.key]
        seller.legal_name = f"Erased seller {pseudonym}"
        for field in (
            "contact_email",
            "contact_phone",
            "tax_id",
            "bank_account_name",
            "bank_account_number",
            "bank_code",
        ):
            setattr(seller, field, "")
        seller.save()  # the keyed hashes are recomputed, blank
    erased["seller_contact_and_payment_details"] = len(sellers)
    for shop in shops:
        Shop.objects.filter(pk=shop.pk).update(key=key_of[shop.key], name=f"Erased shop {pseudonym}")
    erased["shop_names"] = len(shops)
    appeals = Appeal.objects.filter(seller_id__in=seller_ids)
    evidence = AppealEvidence.objects.filter(appeal__in=appeals)
    for item in evidence:
        item.file.delete(save=False)
    erased["appeal_evidence_files"] = evidence.update(file="", original_name="")
    erased["appeal_statements"] = appeals.exclude(statement="").update(statement=ERASED)

    # The creator profile -------------------------------------------------------------------------
    if creator is not None:
        Creator.objects.filter(pk=creator.pk).update(
            key=key_of[creator.key], handle=pseudonym.lower(), display_name="", email="", email_hash=""
        )
        erased["creator_profile"] = 1
        erased["creator_snapshots"] = CreatorSnapshot.objects.filter(creator=creator).delete()[0]
        erased["plan_invitations"] = PlanInvitation.objects.filter(creator=creator).delete()[0]

    # Evaluation and transaction records: kept, pseudonymised ------------------------------------
    history = Q(entity=Entity.SHOP, entity_id__in=[s.pk for s in shops])
    if creator is not None:
        history |= Q(entity=Entity.CREATOR, entity_id=creator.pk)
    history_rows = StatusHistory._base_manager.filter(history)
    for old, new in replacements:
        history_rows.filter(entity_key=old).update(entity_key=new)
    _scrub(history_rows, ["inputs", "baseline"], replacements)
    kept.append(
        {
            "data": "evaluation_history",
            "count": history_rows.count(),
            "basis": BASIS_EVALUATION,
            "until": _until(DataClass.EVALUATION_HISTORY, now, THREE_YEARS),
        }
    )
    overrides = Override.objects.filter(
        Q(entity=Entity.SHOP, entity_id__in=[s.pk for s in shops])
        | Q(entity=Entity.CREATOR, entity_id=creator.pk if creator else -1)
    )
    for old, new in replacements:
        overrides.filter(entity_key=old).update(entity_key=new)
        appeals.filter(entity_key=old).update(entity_key=new)
    kept.append(
        {
            "data": "appeals_and_overrides",
            "count": appeals.count() + overrides.count(),
            "basis": BASIS_EVALUATION,
            "until": _until(DataClass.EVALUATION_HISTORY, now, THREE_YEARS),
        }
    )
    if sellers:
        kept.append({"data": "business_licence_numbers", "count": len(sellers), "basis": BASIS_LICENCE, "until": ""})

    # Copies of identifiers in history and audit tables -------------------------------------------
    erased["audit_entries_scrubbed"] = _scrub(
        AuditEntry.objects.all(),
        ["reason", "details"],
        replacements,
        extra=Q(object_type="user", object_id=str(user.pk)),
    )
    erased["webhook_events_scrubbed"] = _scrub(WebhookEvent.objects.all(), ["payload", "dedupe_key"], replacements)
    erased["notifications_of_others_scrubbed"] = _scrub(
        Notification.objects.all(), ["subject", "context", "dedupe_key"], replacements
    )
    _scrub(LicenceFlag.objects.all(), ["shop_keys"], replacements)
    erased["admin_log_scrubbed"] = _scrub_admin_log(user, sellers, creator, replacements)
    access_rows = AccessLog.objects.filter(
        Q(actor=user) | Q(subjects__in=_subjects_of(user, seller_ids, creator))
    ).distinct()
    _scrub(access_rows, ["path"], replacements)
    AccessLog.objects.filter(actor=user).update(ip=None, user_agent="")
    kept.append(
        {
            "data": "access_log",
            "count": access_rows.count(),
            "basis": BASIS_SECURITY,
            "until": _until(DataClass.ACCESS_LOG, now, 180),
        }
    )
    audit_kept = AuditEntry.objects.filter(actor=user).count()
    if audit_kept:
        kept.append({"data": "audit_trail", "count": audit_kept, "basis": BASIS_AUDIT, "until": ""})

    # Rights requests and the consent ledger: kept, pseudonymised ----------------------------------
    requests = RightsRequest.objects.filter(requester=user)
    requests.update(details="", correction="")
    _scrub(requests, ["response", "extension_reason"], replacements)
    _scrub(RightsRequestEvent.objects.filter(request__requester=user), ["note"], replacements)
    kept.append(
        {
            "data": "rights_requests",
            "count": requests.count(),
            "basis": BASIS_REQUESTS,
            "until": _until(DataClass.CLOSED_RIGHTS_REQUESTS, now, THREE_YEARS),
        }
    )
    withdrawn = [
        ConsentEvent(user=user, purpose=purpose, granted=False, at=now, source=ConsentSource.ERASURE)
        for purpose, field in (
            ("marketing_email", "consent_marketing_email"),
            ("product_analytics", "consent_product_analytics"),
            ("data_sharing", "consent_data_sharing"),
        )
        if getattr(user, field)
    ]
    ConsentEvent.objects.bulk_create(withdrawn)
    kept.append(
        {
            "data": "consent_and_policy_records",
            "count": ConsentEvent.objects.filter(user=user).count()
            + PolicyAcceptance.objects.filter(user=user).count(),
            "basis": BASIS_CONSENT,
            "until": "",
        }
    )

    # The account itself: pseudonymised, closed --------------------------------------------------
    user.email = f"{pseudonym.lower()}@erased.invalid"
    user.first_name = user.last_name = ""
    user.set_unusable_password()
    user.is_active = False
    user.otp_secret, user.otp_confirmed_at = "", None
    user.last_login = user.portfolio_seen_at = None
    user.consent_marketing_email = user.consent_product_analytics = user.consent_data_sharing = False
    user.email_notifications = False
    user.creator = None
    user.erased_at = now
    user.save()
    erased["account"] = 1

    receipt = ErasureReceipt.objects.create(
        request=request,
        pseudonym=pseudonym,
        created_at=now,
        erased={name: count for name, count in erased.items() if count},
        kept=kept,
        recipients=[
            {"channel": r["channel"], "token": r["token"].prefix if r["token"] else "", "target": r["target"]}
            for r in recipients
        ],
    )
    notice_payload = {
        "event": "privacy.erasure",
        "pseudonym": pseudonym,
        "erased_at": now.isoformat(),
        "message": "The person behind these objects had their personal data erased. Delete the personal data "
        "you received about them, unless the law requires you to keep it.",
    }
    RecipientNotice.objects.bulk_create(
        RecipientNotice(
            receipt=receipt,
            token=r["token"],
            subscription=r["subscription"],
            token_prefix=r["token"].prefix if r["token"] else "",
            channel=r["channel"],
            target=r["target"],
            payload=notice_payload,
            subjects=json.dumps(subjects),
            created_at=now,
        )
        for r in recipients
    )
    audit_record(
        actor=actor,
        action="privacy.erasure",
        object_type="user",
        object_id=user.pk,
        details={"request": request.reference, "pseudonym": pseudonym, "recipients": len(recipients)},
    )
    request_event(request, "erased", actor=actor, note=pseudonym)

    def after_commit() -> None:
        from privacy.tasks import recipient_notices_send_task

        recipient_notices_send_task.delay(receipt.pk)
        user.email, user.language = original_email, language
        mail_user(user=user, template="erasure_receipt", context={"request": request, "receipt": receipt})

    transaction.on_commit(after_commit)
    return receipt


def _subjects_of(user: User, seller_ids: list[int], creator: Creator | None):
    subject_q = Q(kind=AccessLogSubject.Kind.USER, subject_id=user.pk)
    if seller_ids:
        subject_q |= Q(kind=AccessLogSubject.Kind.SELLER, subject_id__in=seller_ids)
    if creator is not None:
        subject_q |= Q(kind=AccessLogSubject.Kind.CREATOR, subject_id=creator.pk)
    return AccessLogSubject.objects.filter(subject_q)


def _scrub_admin_log(
    user: User, sellers: list[Seller], creator: Creator | None, replacements: list[tuple[str, str]]
) -> int:
    """Django's admin history names objects by their text (an e-mail, a legal name, a handle)."""
    about = Q(content_type=ContentType.objects.get_for_model(User), object_id=str(user.pk))
    if sellers:
        about |= Q(content_type=ContentType.objects.get_for_model(Seller), object_id__in=[str(s.pk) for s in sellers])
    if creator is not None:
        about |= Q(content_type=ContentType.objects.get_for_model(Creator), object_id=str(creator.pk))
    changed = LogEntry.objects.filter(about).update(object_repr=ERASED)
    return changed + _scrub(LogEntry.objects.all(), ["object_repr", "change_message"], replacements)
