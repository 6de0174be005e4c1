"""Data exports (policy 003 §4(2)): every piece of personal data about the requester, and
nothing about anyone else, as a ZIP of JSON and CSV files with a readable summary and a
manifest of SHA-256 hashes.

The archive is built by ``export_build_task``, stored encrypted under ``PRIVACY_EXPORT_ROOT``,
offered for ``PRIVACY_EXPORT_LINK_DAYS`` days through a link that only the requester can use,
and every download is logged. Which columns go out is decided by the privacy classes: every
field except ``secret`` ones (password hashes, token hashes, keyed hashes).
"""

import csv
import dataclasses
import datetime as dt
import hashlib
import io
import json
import logging
import secrets
import uuid
import zipfile
from decimal import Decimal
from pathlib import Path

from django.conf import settings
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import models, transaction
from django.db.models import QuerySet
from django.db.models.fields.files import FieldFile
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils import timezone, translation
from django.utils.translation import gettext as _

from affiliate.models import Creator, CreatorAdd, CreatorSnapshot, PlanInvitation
from privacy import processing
from privacy.classification import MODELS, SECRET
from privacy.fields import blind_index, decrypt_bytes, encrypt_bytes
from privacy.models import (
    AccessLog,
    AnalyticsEvent,
    ConsentEvent,
    DataExport,
    ExportDownload,
    PolicyAcceptance,
    RightsRequest,
    RightsRequestEvent,
)
from privacy.selectors import access_log_about, retention_policies
from privacy.services.common import client_ip, mail_user, request_event, user_agent
from privacy.services.identity import IdentityNotVerified, identity_check
from shops.models import (
    ApiToken,
    Appeal,
    AuditEntry,
    Entity,
    LoginAttempt,
    Notification,
    Product,
    Seller,
    SellerMembership,
    Shop,
    StatusHistory,
    User,
    WebhookSubscription,
)

logger = logging.getLogger(__name__)
FORMAT_VERSION = 1


@dataclasses.dataclass
class Dataset:
    name: str
    model: type[models.Model]
    rows: QuerySet
    # Columns when not all non-secret ones: data about others in the row is left out.
    only: tuple[str, ...] | None = None

    @property
    def label(self) -> str:
        return f"{self.model._meta.app_label}.{self.model.__name__}"

    @property
    def columns(self) -> list[str]:
        if self.only is not None:
            return list(self.only)
        classes = MODELS[self.label]
        return [f.name for f in self.model._meta.concrete_fields if classes.get(f.name) != SECRET]


def export_datasets(user: User) -> list[Dataset]:
    """What the export holds for ``user``: the person's own rows and their businesses' rows."""
    seller_ids = list(SellerMembership.objects.filter(user=user).values_list("seller_id", flat=True))
    shop_ids = Shop.objects.filter(seller_id__in=seller_ids).values("pk")
    email_hash = blind_index(user.email, kind="email")
    datasets = [
        Dataset("account", User, User.objects.filter(pk=user.pk)),
        Dataset("seller_memberships", SellerMembership, SellerMembership.objects.filter(user=user)),
        Dataset("sellers", Seller, Seller.objects.filter(pk__in=seller_ids)),
        Dataset("shops", Shop, Shop.objects.filter(seller_id__in=seller_ids)),
        Dataset(
            "shop_verdict_history",
            StatusHistory,
            StatusHistory.objects.filter(entity=Entity.SHOP, entity_id__in=shop_ids),
        ),
        Dataset("products", Product, Product.objects.filter(shop__seller_id__in=seller_ids)),
        Dataset("appeals", Appeal, Appeal.objects.filter(seller_id__in=seller_ids)),
        Dataset("notifications", Notification, Notification.objects.filter(user=user)),
        Dataset("api_tokens", ApiToken, ApiToken.objects.filter(user=user)),
        Dataset("webhook_subscriptions", WebhookSubscription, WebhookSubscription.objects.filter(token__user=user)),
        Dataset("consents", ConsentEvent, ConsentEvent.objects.filter(user=user)),
        Dataset("policy_acceptances", PolicyAcceptance, PolicyAcceptance.objects.filter(user=user)),
        Dataset("rights_requests", RightsRequest, RightsRequest.objects.filter(requester=user)),
        Dataset(
            "rights_request_events",
            RightsRequestEvent,
            RightsRequestEvent.objects.filter(request__requester=user),
            only=("id", "request", "at", "action", "note"),
        ),
        Dataset("export_downloads", ExportDownload, ExportDownload.objects.filter(export__request__requester=user)),
        Dataset("sign_in_attempts", LoginAttempt, LoginAttempt.objects.filter(email__iexact=user.email)),
        Dataset("access_log_my_actions", AccessLog, AccessLog.objects.filter(actor=user)),
        # Who accessed my data: not the address or identity of the staff member who did.
        Dataset(
            "access_log_about_me",
            AccessLog,
            access_log_about(user=user),
            only=("at", "actor_role", "token_prefix", "channel", "method", "path", "view_name"),
        ),
        Dataset("analytics_events", AnalyticsEvent, AnalyticsEvent.objects.filter(user=user)),
        Dataset("audit_my_actions", AuditEntry, AuditEntry.objects.filter(actor=user)),
        # Found by the keyed hash of the account's e-mail: where the person is someone's contact.
        Dataset(
            "contact_records_sellers",
            Seller,
            Seller.objects.filter(contact_email_hash=email_hash).exclude(pk__in=seller_ids)
            if email_hash
            else Seller.objects.none(),
            only=("key", "contact_email"),
        ),
    ]
    if user.creator_id:
        creator_filter = {"creator_id": user.creator_id}
        datasets += [
            Dataset("creator", Creator, Creator.objects.filter(pk=user.creator_id)),
            Dataset("creator_snapshots", CreatorSnapshot, CreatorSnapshot.objects.filter(**creator_filter)),
            Dataset(
                "creator_verdict_history",
                StatusHistory,
                StatusHistory.objects.filter(entity=Entity.CREATOR, entity_id=user.creator_id),
            ),
            Dataset("creator_adds", CreatorAdd, CreatorAdd.objects.filter(**creator_filter)),
            Dataset("plan_invitations", PlanInvitation, PlanInvitation.objects.filter(**creator_filter)),
        ]
    creators_by_email = Creator.objects.filter(email_hash=email_hash) if email_hash else Creator.objects.none()
    if user.creator_id:
        creators_by_email = creators_by_email.exclude(pk=user.creator_id)
    datasets.append(Dataset("contact_records_creators", Creator, creators_by_email, only=("key", "email")))
    return datasets


def _plain(value):
    if isinstance(value, dt.datetime | dt.date):
        return value.isoformat()
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, FieldFile):
        return value.name or ""
    if isinstance(value, uuid.UUID):
        return str(value)
    return value


def export_collect(user: User) -> dict[str, list[dict]]:
    """Every dataset's rows as plain JSON values (encrypted fields come back decrypted)."""
    collected = {}
    for dataset in export_datasets(user):
        columns = dataset.columns
        collected[dataset.name] = [
            {column: _plain(row[column]) for column in columns}
            for row in dataset.rows.order_by("pk").values(*columns).iterator(chunk_size=2000)
        ]
    return collected


def _csv(rows: list[dict]) -> bytes:
    buffer = io.StringIO()
    if rows:
        writer = csv.DictWriter(buffer, fieldnames=list(rows[0]))
        writer.writeheader()
        for row in rows:
            writer.writerow(
                {k: json.dumps(v, ensure_ascii=False) if isinstance(v, dict | list) else v for k, v in row.items()}
            )
    return buffer.getvalue().encode("utf-8-sig")  # the BOM makes spreadsheets read UTF-8


def export_archive(*, user: User, request: RightsRequest, now: dt.datetime) -> tuple[bytes, dict]:
    """The ZIP archive and its manifest."""
    collected = export_collect(user)
    files: dict[str, bytes] = {}
    files["data.json"] = json.dumps(collected, ensure_ascii=False, indent=2, sort_keys=True).encode()
    for name, rows in collected.items():
        files[f"json/{name}.json"] = json.dumps(rows, ensure_ascii=False, indent=2).encode()
        files[f"csv/{name}.csv"] = _csv(rows)
    with translation.override(user.language or settings.LANGUAGE_CODE):
        files["summary.txt"] = render_to_string(
            "privacy/export_summary.txt",
            {
                "user": user,
                "request": request,
                "generated_at": now,
                "counts": {name: len(rows) for name, rows in collected.items()},
                "purposes": processing.PURPOSES,
                "recipients": processing.RECIPIENTS,
                "automated_decisions": processing.AUTOMATED_DECISIONS,
                "rights": processing.RIGHTS,
                "retention": list(retention_policies()),
            },
        ).encode()
    manifest = {
        "format_version": FORMAT_VERSION,
        "request": request.reference,
        "generated_at": now.isoformat(),
        "files": [
            {"name": name, "bytes": len(content), "sha256": hashlib.sha256(content).hexdigest()}
            for name, content in sorted(files.items())
        ],
    }
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        for name, content in sorted(files.items()):
            archive.writestr(name, content)
        archive.writestr("manifest.json", json.dumps(manifest, indent=2))
    return buffer.getvalue(), manifest


def export_root() -> Path:
    root = Path(settings.PRIVACY_EXPORT_ROOT)
    root.mkdir(parents=True, exist_ok=True)
    return root


def export_start(*, request: RightsRequest) -> DataExport:
    """Queue the build of the request's export (after the transaction commits)."""
    from privacy.tasks import export_build_task

    export, _created = DataExport.objects.get_or_create(request=request, defaults={"created_at": timezone.now()})
    if export.state in (DataExport.State.FAILED, DataExport.State.EXPIRED):
        DataExport.objects.filter(pk=export.pk).update(state=DataExport.State.QUEUED, error="")
        export.state = DataExport.State.QUEUED
    request_event(request, "export_queued")
    transaction.on_commit(lambda: export_build_task.delay(export.pk))
    return export


def export_build(*, export_id: int) -> DataExport | None:
    """Build a queued export; a second run for the same export does nothing."""
    export = DataExport.objects.select_related("request__requester").filter(pk=export_id).first()
    if export is None or export.state != DataExport.State.QUEUED:
        return export
    request = export.request
    try:
        identity_check(request)
        now = timezone.now()
        content, manifest = export_archive(user=request.requester, request=request, now=now)
    except IdentityNotVerified as exc:
        DataExport.objects.filter(pk=export.pk).update(state=DataExport.State.FAILED, error=" ".join(exc.messages))
        request_event(request, "export_failed", note=" ".join(exc.messages))
        return DataExport.objects.get(pk=export.pk)
    except Exception as exc:  # the request stays open for ops; the error is shown in the queue
        logger.exception("Export %s failed", export.pk)
        DataExport.objects.filter(pk=export.pk).update(state=DataExport.State.FAILED, error=str(exc)[:500])
        request_event(request, "export_failed", note=type(exc).__name__)
        return DataExport.objects.get(pk=export.pk)
    name = f"{request.reference}-{secrets.token_hex(8)}.zip.enc"
    (export_root() / name).write_bytes(encrypt_bytes(content))
    token = secrets.token_urlsafe(32)
    with transaction.atomic():
        updated = DataExport.objects.filter(pk=export.pk, state=DataExport.State.QUEUED).update(
            state=DataExport.State.READY,
            path=name,
            size=len(content),
            sha256=hashlib.sha256(content).hexdigest(),
            manifest=manifest,
            token_hash=export_token_hash(token),
            ready_at=now,
            expires_at=now + dt.timedelta(days=settings.PRIVACY_EXPORT_LINK_DAYS),
        )
        if not updated:
            (export_root() / name).unlink(missing_ok=True)
            return DataExport.objects.get(pk=export.pk)
        export.refresh_from_db()
        locked = RightsRequest.objects.select_for_update().select_related("requester").get(pk=request.pk)
        request_event(locked, "export_ready")
        if locked.state in RightsRequest.OPEN_STATES:
            locked.state, locked.closed_at = RightsRequest.State.COMPLETED, now
            locked.response = _("Your data export is ready to download until %(date)s.") % {
                "date": export.expires_at.date().isoformat()
            }
            locked.save(update_fields=["state", "closed_at", "response"])
            request_event(locked, "completed", note=locked.response)
        link = settings.PRIVACY_BASE_URL.rstrip("/") + reverse("privacy_export_download", args=[token])
        mail_user(
            user=locked.requester, template="export_ready", context={"request": locked, "export": export, "link": link}
        )
    return export


def export_token_hash(token: str) -> str:
    return hashlib.sha256(f"privacy-export:{token}".encode()).hexdigest()


def export_download(*, export: DataExport, user: User, http_request=None) -> tuple[bytes, str]:
    """The archive for its requester while the link is valid; each download is logged."""
    from privacy.services.access_log import access_log_record

    if export.request.requester_id != user.pk:
        raise PermissionDenied("Only the requester can download this export.")
    if export.state != DataExport.State.READY or export.expires_at is None or export.expires_at <= timezone.now():
        raise ValidationError(_("This download link has expired."), code="expired")
    content = decrypt_bytes((export_root() / export.path).read_bytes())
    ExportDownload.objects.create(
        export=export, user=user, at=timezone.now(), ip=client_ip(http_request), user_agent=user_agent(http_request)
    )
    access_log_record(
        request=http_request,
        actor=user,
        channel="export",
        view_name="privacy_export_download",
        subjects=[("user", user.pk)],
    )
    return content, f"{export.request.reference}-my-data.zip"


def export_remove_file(export: DataExport) -> bool:
    """Delete the archive file (retention, erasure); returns whether there was one."""
    if not export.path:
        return False
    (Path(settings.PRIVACY_EXPORT_ROOT) / export.path).unlink(missing_ok=True)
    return True
