"""Template helpers of the privacy centre: names of data classes, deadline badges."""

from django import template
from django.utils.translation import gettext_lazy as _

from privacy.models import DataClass

register = template.Library()

# Names used in erasure receipts (what was erased or kept) beside the retention data classes.
LABELS = dict(DataClass.choices) | {
    "account": _("Account"),
    "notifications": _("Notifications"),
    "analytics_events": _("Product analytics events"),
    "sign_in_attempts": _("Sign-in attempts"),
    "api_tokens": _("API tokens and their webhooks"),
    "seller_memberships": _("Seller memberships"),
    "export_archives": _("Data export archives"),
    "seller_contact_and_payment_details": _("Seller contact, tax and bank details"),
    "shop_names": _("Shop names and ids"),
    "appeal_evidence_files": _("Appeal evidence files"),
    "appeal_statements": _("Appeal statements"),
    "creator_profile": _("Creator profile (id, handle, name, e-mail)"),
    "creator_snapshots": _("Creator daily scores"),
    "plan_invitations": _("Affiliate plan invitations"),
    "audit_entries_scrubbed": _("Mentions in the audit trail"),
    "webhook_events_scrubbed": _("Mentions in the webhook outbox"),
    "notifications_of_others_scrubbed": _("Mentions in other people's notifications"),
    "admin_log_scrubbed": _("Mentions in the admin history"),
    "evaluation_history": _("Evaluation history"),
    "appeals_and_overrides": _("Appeals and manual decisions"),
    "business_licence_numbers": _("Business licence numbers"),
    "access_log": _("Access log"),
    "audit_trail": _("Audit trail of your actions"),
    "rights_requests": _("Rights requests"),
    "consent_and_policy_records": _("Consent and policy records"),
    # Timeline of a rights request.
    "filed": _("Request filed"),
    "code_sent": _("Confirmation code sent by e-mail"),
    "code_rejected": _("Wrong confirmation code entered"),
    "identity_verified": _("Identity verified"),
    "received": _("Request received; the 15-day deadline starts"),
    "acknowledged": _("Receipt acknowledged by e-mail"),
    "started": _("Taken by an ops reviewer"),
    "extended": _("Deadline extended"),
    "extension_told": _("Extension and its reason e-mailed"),
    "export_queued": _("Data export being prepared"),
    "export_ready": _("Data export ready"),
    "export_failed": _("Data export failed"),
    "consent_withdrawn": _("Consent withdrawn"),
    "erased": _("Personal data erased"),
    "completed": _("Answered"),
    "refused": _("Refused"),
    "withdrawn": _("Withdrawn by the requester"),
    "alert_due_soon": _("Ops alerted: deadline near"),
    "alert_overdue": _("Ops alerted: deadline passed"),
}

DEADLINE_BADGES = {
    "overdue": ("badge-bad", _("Overdue")),
    "due_soon": ("badge-warn", _("Due soon")),
    "on_track": ("badge-ok", _("On track")),
    "closed": ("badge-none", _("Closed")),
}


@register.filter
def data_label(name: str) -> str:
    return str(LABELS.get(name, name.replace("_", " ")))


@register.inclusion_tag("privacy/_deadline_badge.html")
def deadline_badge(state: str):
    css, label = DEADLINE_BADGES.get(state, DEADLINE_BADGES["closed"])
    return {"css": css, "label": label}


STATE_CSS = {
    "unverified": "badge-warn",
    "received": "badge-none",
    "in_progress": "badge-none",
    "completed": "badge-ok",
    "refused": "badge-bad",
    "withdrawn": "badge-none",
}


@register.simple_tag
def state_css(state: str) -> str:
    return STATE_CSS.get(state, "badge-none")
