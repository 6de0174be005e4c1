"""Rights requests (policy 003 §4): filed by the person, verified, acknowledged at once, and
answered by ops within ``PRIVACY_RESPONSE_DAYS`` (15) days of receipt.

Life of a request: ``unverified`` (filed, waiting for the e-mailed code) -> ``received`` (the
deadline starts, an acknowledgement goes out) -> ``in_progress`` (an ops reviewer took it) ->
``completed`` or ``refused`` (always with a reason); the requester may withdraw it while it
is open. Every state change checks the requester's identity again (``identity_check``).
A withdrawal of consent is applied on receipt; an access request builds its export at once.
"""

import datetime as dt
import json
import secrets

from django.conf import settings
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from affiliate.models import Creator
from privacy.fields import BlindIndexField
from privacy.models import ConsentSource, Purpose, RightsRequest
from privacy.services.common import mail_user, ops_recipients, request_event
from privacy.services.consent import consents_set
from privacy.services.identity import identity_check, identity_code_check, identity_code_send, identity_reauthenticate
from shops.models import Entity, Seller, StatusHistory, User
from shops.services.access import require_ops
from shops.services.audit import audit_record
from shops.visibility import products_visible_to, shops_visible_to

Kind, State = RightsRequest.Kind, RightsRequest.State

# What a correction may change: "<model>.<field>" -> label. Seller fields name the seller too.
CORRECTABLE = {
    "user.first_name": "first name",
    "user.last_name": "last name",
    "seller.legal_name": "legal name",
    "seller.contact_email": "contact e-mail",
    "seller.contact_phone": "contact phone",
    "seller.tax_id": "tax id",
    "seller.bank_account_name": "bank account holder",
    "seller.bank_account_number": "bank account number",
    "seller.bank_code": "bank code",
    "creator.display_name": "display name",
    "creator.email": "creator e-mail",
}


def _reference() -> str:
    return "PR-" + secrets.token_hex(4).upper()


def _decision_inputs(user: User, decision_id: int | None) -> tuple[StatusHistory, dict]:
    """The contested verdict, if the user may see it, and a copy of what it was computed from."""
    history = StatusHistory.objects.filter(pk=decision_id).first() if decision_id else None
    visible = False
    if history is not None:
        if history.entity == Entity.SHOP:
            visible = shops_visible_to(user).filter(pk=history.entity_id).exists()
        elif history.entity == Entity.PRODUCT:
            visible = products_visible_to(user).filter(pk=history.entity_id).exists()
        elif history.entity == Entity.CREATOR:
            visible = user.creator_id == history.entity_id
    if not visible:
        raise ValidationError({"decision": [_("Choose one of your own eligibility verdicts.")]})
    return history, {
        "history_id": history.pk,
        "entity": history.entity,
        "key": history.entity_key,
        "old_status": history.old_status,
        "new_status": history.new_status,
        "reasons": history.new_reasons,
        "inputs": history.inputs,
        "baseline": history.baseline,
        "ruleset_version": history.ruleset_version,
        "run": history.run_id,
        "as_of": history.as_of.isoformat(),
    }


def _clean_correction(user: User, correction: dict | None) -> dict:
    correction = correction or {}
    field, target, value = correction.get("field", ""), correction.get("target", ""), correction.get("value", "")
    if field not in CORRECTABLE:
        raise ValidationError({"field": [_("Choose the data to correct.")]})
    if not str(value).strip():
        raise ValidationError({"value": [_("Enter the correct value.")]})
    if field.startswith("seller.") and not user.sellers.filter(key=target).exists():
        raise ValidationError({"target": [_("Choose one of your sellers.")]})
    if field.startswith("creator.") and user.creator_id is None:
        raise ValidationError({"field": [_("Your account has no creator profile.")]})
    return {"field": field, "target": target if field.startswith("seller.") else "", "value": str(value).strip()}


def rights_request_file(
    *,
    user: User,
    kind: str,
    password: str,
    details: str = "",
    correction: dict | None = None,
    purposes: list[str] | tuple[str, ...] = (),
    decision_id: int | None = None,
) -> RightsRequest:
    """File a request: the password is checked first, then a code is e-mailed to verify it."""
    if not (user.is_authenticated and user.is_active) or user.erased_at is not None:
        raise PermissionDenied("Only an active account can file a rights request.")
    if kind not in Kind.values:
        raise ValidationError({"kind": [_("Choose what you are asking for.")]})
    identity_reauthenticate(user=user, password=password)
    fields: dict = {"details": (details or "").strip()}
    if kind == Kind.CORRECTION:
        fields["correction"] = json.dumps(_clean_correction(user, correction))
    elif kind == Kind.CONSENT_WITHDRAWAL:
        chosen = [p for p in dict.fromkeys(purposes) if p in Purpose.values]
        if not chosen:
            raise ValidationError({"purposes": [_("Choose at least one consent to withdraw.")]})
        fields["purposes"] = chosen
    elif kind == Kind.AUTOMATED_REVIEW:
        fields["decision"], fields["decision_inputs"] = _decision_inputs(user, decision_id)
    if kind in (Kind.DELETION, Kind.CANCELLATION) and user.is_ops:
        raise ValidationError({"kind": [_("Staff accounts are closed by an ops admin, not through this form.")]})
    if RightsRequest.objects.filter(requester=user, kind=kind, state__in=RightsRequest.OPEN_STATES).exists():
        raise ValidationError({"kind": [_("You already have an open request of this kind.")]}, code="duplicate")
    with transaction.atomic():
        request = RightsRequest.objects.create(
            reference=_reference(), requester=user, kind=kind, created_at=timezone.now(), **fields
        )
        request_event(request, "filed", actor=user)
        identity_code_send(request=request, password=password)
    return request


def rights_request_resend_code(*, request: RightsRequest, user: User, password: str) -> None:
    """A new code (after expiry, too many attempts, or to verify again after a credentials change)."""
    _require_requester(request, user)
    if request.state not in (State.UNVERIFIED, *RightsRequest.OPEN_STATES):
        raise ValidationError(_("This request is closed."))
    identity_code_send(request=request, password=password)


def rights_request_verify(*, request: RightsRequest, user: User, code: str) -> RightsRequest:
    """Check the code; the first verification is the receipt: deadline, acknowledgement, start."""
    _require_requester(request, user)
    if request.state not in (State.UNVERIFIED, *RightsRequest.OPEN_STATES):
        raise ValidationError(_("This request is closed."))
    failure = None
    with transaction.atomic():
        request = RightsRequest.objects.select_for_update().select_related("requester").get(pk=request.pk)
        try:
            identity_code_check(request=request, code=code)
        except ValidationError as error:
            # Raised after the block: the failed attempt is counted (committed), not rolled back.
            failure = error
        else:
            if request.received_at is None:
                _receive(request)
    if failure is not None:
        raise failure
    return request


def _receive(request: RightsRequest) -> None:
    now = timezone.now()
    request.state = State.RECEIVED
    request.received_at = now
    request.due_at = now + dt.timedelta(days=settings.PRIVACY_RESPONSE_DAYS)
    request.save(update_fields=["state", "received_at", "due_at"])
    request_event(request, "received", actor=request.requester)
    mail_user(user=request.requester, template="acknowledgement", context={"request": request})
    request_event(request, "acknowledged")
    if request.kind == Kind.CONSENT_WITHDRAWAL:
        withdrawn = consents_set(
            user=request.requester,
            answers=dict.fromkeys(request.purposes, False),
            source=ConsentSource.RIGHTS_REQUEST,
        )
        names = ", ".join(str(Purpose(p).label) for p in request.purposes)
        _close(
            request,
            State.COMPLETED,
            actor=None,
            response=_("Your consent was withdrawn on receipt of your request: %(purposes)s.") % {"purposes": names},
        )
        request_event(request, "consent_withdrawn", note=", ".join(withdrawn))
    elif request.kind == Kind.ACCESS:
        from privacy.services.exports import export_start

        export_start(request=request)


def _require_requester(request: RightsRequest, user: User) -> None:
    if request.requester_id != user.pk:
        raise PermissionDenied("Only the requester can do this.")


def _require_open(request: RightsRequest) -> None:
    if request.state not in RightsRequest.OPEN_STATES:
        raise ValidationError(_("This request is not open."), code="not_open")


def _locked(request: RightsRequest) -> RightsRequest:
    return RightsRequest.objects.select_for_update().select_related("requester").get(pk=request.pk)


def rights_request_start(*, request: RightsRequest, actor: User) -> RightsRequest:
    require_ops(actor, "handle rights requests")
    with transaction.atomic():
        request = _locked(request)
        _require_open(request)
        identity_check(request)
        request.state, request.assigned_to = State.IN_PROGRESS, actor
        request.save(update_fields=["state", "assigned_to"])
        request_event(request, "started", actor=actor)
    return request


def rights_request_extend(*, request: RightsRequest, actor: User, reason: str, days: int) -> RightsRequest:
    """Extend the deadline once, with a reason e-mailed to the requester before the deadline."""
    require_ops(actor, "handle rights requests")
    reason = (reason or "").strip()
    if not reason:
        raise ValidationError({"reason": [_("An extension needs a reason for the requester.")]})
    if not 1 <= int(days) <= settings.PRIVACY_EXTENSION_MAX_DAYS:
        raise ValidationError(
            {"days": [_("Extend by 1 to %(max)s days.") % {"max": settings.PRIVACY_EXTENSION_MAX_DAYS}]}
        )
    with transaction.atomic():
        request = _locked(request)
        _require_open(request)
        identity_check(request)
        if request.extended_at is not None:
            raise ValidationError(_("The deadline of this request was already extended once."), code="extended")
        now = timezone.now()
        if request.due_at is None or now >= request.due_at:
            raise ValidationError(
                _("The deadline has passed: an extension must be told to the requester before it."), code="too_late"
            )
        request.due_at = request.due_at + dt.timedelta(days=int(days))
        request.extended_at, request.extension_reason = now, reason
        request.due_soon_alerted_at = None
        request.save(update_fields=["due_at", "extended_at", "extension_reason", "due_soon_alerted_at"])
        request_event(request, "extended", actor=actor, note=reason)
        mail_user(user=request.requester, template="extension", context={"request": request})
        request_event(request, "extension_told")
    return request


def rights_request_refuse(*, request: RightsRequest, actor: User, reason: str) -> RightsRequest:
    require_ops(actor, "handle rights requests")
    reason = (reason or "").strip()
    if not reason:
        raise ValidationError({"reason": [_("A refusal needs a reason for the requester.")]})
    with transaction.atomic():
        request = _locked(request)
        _require_open(request)
        identity_check(request)
        _close(request, State.REFUSED, actor=actor, response=reason)
    return request


def rights_request_complete(*, request: RightsRequest, actor: User, response: str = "") -> RightsRequest:
    """Carry out and answer a request: apply a correction, erase, or answer a review."""
    require_ops(actor, "handle rights requests")
    response = (response or "").strip()
    with transaction.atomic():
        request = _locked(request)
        _require_open(request)
        identity_check(request)
        if request.kind == Kind.CORRECTION:
            correction_apply(request=request, actor=actor)
            response = response or _("Your data was corrected as you asked.")
        elif request.kind in (Kind.DELETION, Kind.CANCELLATION):
            from privacy.services.erasure import person_erase

            receipt = person_erase(request=request, actor=actor)
            response = response or _("Your data was erased; the receipt lists what was kept and why (%(ref)s).") % {
                "ref": receipt.pseudonym
            }
        elif request.kind == Kind.ACCESS:
            raise ValidationError(_("An access request is answered by its export."), code="answered_by_export")
        elif not response:
            raise ValidationError({"response": [_("Write the outcome of the review for the requester.")]})
        _close(request, State.COMPLETED, actor=actor, response=response)
    return request


def rights_request_withdraw(*, request: RightsRequest, user: User) -> RightsRequest:
    _require_requester(request, user)
    with transaction.atomic():
        request = _locked(request)
        if request.state not in (State.UNVERIFIED, *RightsRequest.OPEN_STATES):
            raise ValidationError(_("This request is closed."))
        request.state, request.closed_at, request.closed_by = State.WITHDRAWN, timezone.now(), user
        request.save(update_fields=["state", "closed_at", "closed_by"])
        request_event(request, "withdrawn", actor=user)
    return request


def _close(request: RightsRequest, state: str, *, actor: User | None, response: str) -> None:
    request.state, request.response = state, response
    request.closed_at, request.closed_by = timezone.now(), actor
    request.save(update_fields=["state", "response", "closed_at", "closed_by"])
    request_event(request, state, actor=actor, note=response)
    # After an erasure the address is gone: the receipt went to the old one already.
    if request.requester.erased_at is None:
        mail_user(user=request.requester, template="answered", context={"request": request})


def correction_apply(*, request: RightsRequest, actor: User) -> None:
    correction = json.loads(request.correction or "{}")
    model_name, field = correction["field"].split(".", 1)
    user = request.requester
    if model_name == "user":
        target = User.objects.get(pk=user.pk)
    elif model_name == "seller":
        target = Seller.objects.get(key=correction["target"], members=user)
    else:
        target = Creator.objects.get(pk=user.creator_id)
    setattr(target, field, correction["value"])
    derived = [
        f.name for f in type(target)._meta.concrete_fields if isinstance(f, BlindIndexField) and f.source == field
    ]
    target.clean_fields(exclude=[f.name for f in type(target)._meta.fields if f.name != field])
    target.save(update_fields=[field, *derived])
    audit_record(
        actor=actor,
        action="privacy.correction",
        object_type=model_name,
        object_id=target.pk,
        details={"field": field, "request": request.reference},
    )


def rights_deadlines_alert(*, now: dt.datetime | None = None) -> dict[str, int]:
    """Alert ops once when a request comes within ``PRIVACY_ALERT_DAYS_BEFORE`` days of its
    deadline, and once when it is overdue. Idempotent: a second run alerts nobody."""
    now = now or timezone.now()
    soon = now + dt.timedelta(days=settings.PRIVACY_ALERT_DAYS_BEFORE)
    open_requests = RightsRequest.objects.filter(state__in=RightsRequest.OPEN_STATES, due_at__isnull=False)
    alerted: dict[str, list[RightsRequest]] = {"overdue": [], "due_soon": []}
    with transaction.atomic():
        for request in open_requests.filter(due_at__lte=now, overdue_alerted_at__isnull=True).select_for_update(
            skip_locked=True
        ):
            alerted["overdue"].append(request)
        for request in open_requests.filter(
            due_at__gt=now, due_at__lte=soon, due_soon_alerted_at__isnull=True
        ).select_for_update(skip_locked=True):
            alerted["due_soon"].append(request)
        RightsRequest.objects.filter(pk__in=[r.pk for r in alerted["overdue"]]).update(overdue_alerted_at=now)
        RightsRequest.objects.filter(pk__in=[r.pk for r in alerted["due_soon"]]).update(due_soon_alerted_at=now)
        for kind, requests in alerted.items():
            for request in requests:
                request_event(request, f"alert_{kind}")
    if any(alerted.values()):
        recipients = ops_recipients()
        if recipients:
            from django.core.mail import send_mail
            from django.template.loader import render_to_string

            context = {"overdue": alerted["overdue"], "due_soon": alerted["due_soon"], "now": now}
            context["total"] = len(alerted["overdue"]) + len(alerted["due_soon"])
            subject = " ".join(render_to_string("privacy/email/deadline_alert_subject.txt", context).split())
            body = render_to_string("privacy/email/deadline_alert.txt", context)
            send_mail(subject, body, settings.DEFAULT_FROM_EMAIL, recipients)
    return {kind: len(requests) for kind, requests in alerted.items()}
