"""Privacy policy versions and their acceptance (policy 003 §6: significant changes are
accepted again; old versions stay readable)."""

import datetime as dt
from pathlib import Path

from django.core.exceptions import PermissionDenied, ValidationError
from django.db import IntegrityError, transaction
from django.utils import timezone

from privacy.models import AcceptanceSource, PolicyAcceptance, PolicyVersion
from shops.models import User
from shops.services.audit import audit_record

POLICY_DIR = Path(__file__).resolve().parent.parent / "policies"


def policy_publish(
    *,
    actor: User | None,
    effective_from: dt.date,
    significant: bool,
    title_en: str,
    title_zh: str,
    summary_en: str,
    summary_zh: str,
    body_en: str,
    body_zh: str,
) -> PolicyVersion:
    """Publish the next version; both languages are required. Versions are never edited."""
    if actor is not None and not (actor.is_active and actor.role == User.Role.OPS_ADMIN):
        raise PermissionDenied("Only ops admins publish privacy policy versions.")
    texts = {
        "title_en": title_en,
        "title_zh": title_zh,
        "summary_en": summary_en,
        "summary_zh": summary_zh,
        "body_en": body_en,
        "body_zh": body_zh,
    }
    errors = {name: ["This text is required in both languages."] for name, text in texts.items() if not text.strip()}
    if errors:
        raise ValidationError(errors)
    with transaction.atomic():
        latest = PolicyVersion.objects.select_for_update().order_by("-version").first()
        if latest is not None and effective_from < latest.effective_from:
            raise ValidationError({"effective_from": ["A new version cannot take effect before the previous one."]})
        version = PolicyVersion.objects.create(
            version=(latest.version + 1) if latest else 1,
            effective_from=effective_from,
            significant=significant,
            published_by=actor,
            **{name: text.strip() for name, text in texts.items()},
        )
        audit_record(
            actor=actor,
            action="privacy.policy_publish",
            object_type="policy_version",
            object_id=version.version,
            details={"effective_from": effective_from.isoformat(), "significant": significant},
        )
    return version


def policy_accept(*, user: User, version: PolicyVersion, source: str) -> PolicyAcceptance:
    """Record that ``user`` accepted ``version`` (idempotent)."""
    if version.effective_from > timezone.localdate() and source != AcceptanceSource.SEEDED:
        raise ValidationError("This version is not in force yet.")
    try:
        with transaction.atomic():
            acceptance, _created = PolicyAcceptance.objects.get_or_create(
                user=user, version=version, defaults={"accepted_at": timezone.now(), "source": source}
            )
    except IntegrityError:
        acceptance = PolicyAcceptance.objects.get(user=user, version=version)
    return acceptance


def policy_load_initial(*, effective_from: dt.date | None = None) -> PolicyVersion:
    """Version 1 from the texts shipped in ``privacy/policies/`` when no version exists yet."""
    existing = PolicyVersion.objects.order_by("version").first()
    if existing is not None:
        return existing

    def read(name: str) -> str:
        return (POLICY_DIR / name).read_text(encoding="utf-8").strip()

    body_en, body_zh = read("v1.en.md"), read("v1.zh-hans.md")
    return policy_publish(
        actor=None,
        effective_from=effective_from or timezone.localdate(),
        significant=True,
        title_en=body_en.splitlines()[0].lstrip("# ").strip(),
        title_zh=body_zh.splitlines()[0].lstrip("# ").strip(),
        summary_en="First version of the Compliance Portal privacy policy.",
        summary_zh="合规门户隐私政策的第一个版本。",
        body_en="\n".join(body_en.splitlines()[1:]).strip(),
        body_zh="\n".join(body_zh.splitlines()[1:]).strip(),
    )
