"""The audit trail: who did what to which object, when and why."""

from shops.models import AuditEntry, User


def audit_record(
    *, actor: User | None, action: str, object_type: str, object_id: str, reason: str = "", details: dict | None = None
) -> AuditEntry:
    """Append one entry; call it inside the transaction of the action it records."""
    return AuditEntry.objects.create(
        actor=actor,
        action=action,
        object_type=object_type,
        object_id=str(object_id),
        reason=reason,
        details=details or {},
    )
