"""The privacy centre: policy versions and their acceptance, the consent ledger, rights
requests with their exports and erasure receipts, retention policies and runs, the access log.

Every field of every model is classified in ``privacy/classification.py`` (a system check
refuses an unclassified one). Services in ``privacy/services/`` are the only writers.
"""

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils.translation import gettext_lazy as _

from privacy.fields import EncryptedTextField
from shops.models import AppendOnlyQuerySet

# Policies and consent ------------------------------------------------------------------------


class PolicyVersion(models.Model):
    """One published version of the privacy policy, in English and Chinese; never edited."""

    version = models.PositiveIntegerField(unique=True)
    effective_from = models.DateField()
    # Significant changes (purposes, recipients, rights) ask everyone to accept again at sign-in.
    significant = models.BooleanField(default=False)
    title_en = models.CharField(max_length=200)
    title_zh = models.CharField(max_length=200)
    summary_en = models.TextField(help_text=_("What changed from the previous version"))
    summary_zh = models.TextField()
    body_en = models.TextField()
    body_zh = models.TextField()
    published_at = models.DateTimeField(auto_now_add=True)
    published_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )

    class Meta:
        ordering = ["-version"]

    def __str__(self):
        return f"v{self.version} ({self.effective_from})"

    def text(self, language: str | None) -> tuple[str, str, str]:
        """(title, summary, body) in ``language``; Chinese for any zh-* code, English otherwise."""
        if (language or "").startswith("zh"):
            return self.title_zh, self.summary_zh, self.body_zh
        return self.title_en, self.summary_en, self.body_en


class AcceptanceSource(models.TextChoices):
    REGISTRATION = "registration", _("Registration")
    SIGN_IN = "sign_in", _("Asked at sign-in")
    PRIVACY_CENTRE = "privacy_centre", _("Privacy centre")
    API = "api", _("API")
    SEEDED = "seeded", _("Demo data")


class PolicyAcceptance(models.Model):
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="policy_acceptances")
    version = models.ForeignKey(PolicyVersion, on_delete=models.PROTECT, related_name="acceptances")
    accepted_at = models.DateTimeField()
    source = models.CharField(max_length=16, choices=AcceptanceSource.choices)

    class Meta:
        ordering = ["-accepted_at", "-id"]
        constraints = [models.UniqueConstraint(fields=["user", "version"], name="one_acceptance_per_user_version")]


class Purpose(models.TextChoices):
    """What a consent covers; ``User.consent_<purpose>`` holds the current answer."""

    MARKETING_EMAIL = "marketing_email", _("Marketing e-mail")
    PRODUCT_ANALYTICS = "product_analytics", _("Product analytics")
    DATA_SHARING = "data_sharing", _("Sharing eligibility data with API clients and webhook receivers")


class ConsentSource(models.TextChoices):
    REGISTRATION = "registration", _("Registration")
    PRIVACY_CENTRE = "privacy_centre", _("Privacy centre")
    RIGHTS_REQUEST = "rights_request", _("Rights request")
    UNSUBSCRIBE = "unsubscribe", _("Unsubscribe link")
    API = "api", _("API")
    ERASURE = "erasure", _("Account erasure")
    SEEDED = "seeded", _("Demo data")


class ConsentEvent(models.Model):
    """The consent ledger: every consent given or withdrawn, with its time and source."""

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="consent_events")
    purpose = models.CharField(max_length=32, choices=Purpose.choices)
    granted = models.BooleanField()
    at = models.DateTimeField()
    source = models.CharField(max_length=16, choices=ConsentSource.choices)
    policy_version = models.ForeignKey(PolicyVersion, null=True, blank=True, on_delete=models.PROTECT, related_name="+")

    objects = AppendOnlyQuerySet.as_manager()

    class Meta:
        ordering = ["-at", "-id"]
        indexes = [models.Index(fields=["user", "purpose", "-at"], name="consent_by_user_purpose")]


# Rights requests -----------------------------------------------------------------------------


class RightsRequest(models.Model):
    """A request to exercise a right of policy 003 §4, answered within 15 days of receipt."""

    class Kind(models.TextChoices):
        ACCESS = "access", _("Access and copy of my data")
        CORRECTION = "correction", _("Correction of my data")
        DELETION = "deletion", _("Deletion of my data")
        CONSENT_WITHDRAWAL = "consent_withdrawal", _("Withdrawal of consent")
        CANCELLATION = "cancellation", _("Account cancellation")
        AUTOMATED_REVIEW = "automated_review", _("Human review of an automated decision")

    class State(models.TextChoices):
        UNVERIFIED = "unverified", _("Waiting for identity verification")
        RECEIVED = "received", _("Received")
        IN_PROGRESS = "in_progress", _("In progress")
        COMPLETED = "completed", _("Completed")
        REFUSED = "refused", _("Refused")
        WITHDRAWN = "withdrawn", _("Withdrawn")

    OPEN_STATES = (State.RECEIVED, State.IN_PROGRESS)
    CLOSED_STATES = (State.COMPLETED, State.REFUSED, State.WITHDRAWN)

    reference = models.CharField(max_length=16, unique=True)
    requester = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="rights_requests")
    kind = models.CharField(max_length=24, choices=Kind.choices)
    state = models.CharField(max_length=16, choices=State.choices, default=State.UNVERIFIED)
    details = models.TextField(blank=True, default="")
    # Correction: JSON {"field": "<app.Model.field>", "value": "..."}, encrypted (it may be a tax id).
    correction = EncryptedTextField(blank=True, default="")
    # Consent withdrawal: the purposes.
    purposes = models.JSONField(default=list, blank=True)
    # Automated review: the contested verdict and a copy of everything it was computed from.
    decision = models.ForeignKey(
        "shops.StatusHistory", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    decision_inputs = models.JSONField(default=dict, blank=True)
    created_at = models.DateTimeField()
    # Identity: the password again, then a code sent by e-mail (only its hash is kept).
    reauthenticated_at = models.DateTimeField(null=True, blank=True)
    code_hash = models.CharField(max_length=64, blank=True, default="")
    code_sent_at = models.DateTimeField(null=True, blank=True)
    code_attempts = models.PositiveSmallIntegerField(default=0)
    verified_at = models.DateTimeField(null=True, blank=True)
    # What was verified, as keyed hashes: a changed address or password voids the verification.
    verified_credentials = models.CharField(max_length=64, blank=True, default="")
    received_at = models.DateTimeField(null=True, blank=True)
    due_at = models.DateTimeField(null=True, blank=True)
    extended_at = models.DateTimeField(null=True, blank=True)
    extension_reason = models.TextField(blank=True, default="")
    assigned_to = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    closed_at = models.DateTimeField(null=True, blank=True)
    closed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    # The answer to the requester; a refusal always carries its reason here.
    response = models.TextField(blank=True, default="")
    due_soon_alerted_at = models.DateTimeField(null=True, blank=True)
    overdue_alerted_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["due_at", "id"]
        indexes = [
            models.Index(fields=["state", "due_at"], name="rights_queue"),
            models.Index(fields=["requester", "-created_at"], name="rights_by_requester"),
        ]
        constraints = [
            models.CheckConstraint(condition=~Q(state="refused") | ~Q(response=""), name="refusal_has_reason"),
            models.CheckConstraint(
                condition=Q(extended_at__isnull=True) | ~Q(extension_reason=""), name="extension_has_reason"
            ),
        ]

    def __str__(self):
        return f"{self.reference} ({self.kind}, {self.state})"

    @property
    def is_open(self) -> bool:
        return self.state in self.OPEN_STATES


class RightsRequestEvent(models.Model):
    """The timeline of a request, shown to the requester and to ops."""

    request = models.ForeignKey(RightsRequest, on_delete=models.CASCADE, related_name="events")
    at = models.DateTimeField()
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    action = models.CharField(max_length=32)
    note = models.TextField(blank=True, default="")

    class Meta:
        ordering = ["at", "id"]


class DataExport(models.Model):
    """The archive answering an access request: built by a task, offered by an expiring link."""

    class State(models.TextChoices):
        QUEUED = "queued", _("Queued")
        READY = "ready", _("Ready")
        FAILED = "failed", _("Failed")
        EXPIRED = "expired", _("Expired")

    request = models.OneToOneField(RightsRequest, on_delete=models.CASCADE, related_name="export")
    state = models.CharField(max_length=16, choices=State.choices, default=State.QUEUED)
    # Relative to PRIVACY_EXPORT_ROOT; the archive is stored encrypted.
    path = models.CharField(max_length=255, blank=True, default="")
    size = models.PositiveBigIntegerField(default=0)
    sha256 = models.CharField(max_length=64, blank=True, default="")
    manifest = models.JSONField(default=dict, blank=True)
    token_hash = models.CharField(max_length=64, blank=True, default="", db_index=True)
    created_at = models.DateTimeField()
    ready_at = models.DateTimeField(null=True, blank=True)
    expires_at = models.DateTimeField(null=True, blank=True)
    error = models.TextField(blank=True, default="")


class ExportDownload(models.Model):
    export = models.ForeignKey(DataExport, on_delete=models.CASCADE, related_name="downloads")
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    at = models.DateTimeField()
    ip = models.GenericIPAddressField(null=True, blank=True)
    user_agent = models.CharField(max_length=255, blank=True, default="")

    class Meta:
        ordering = ["-at"]


class ErasureReceipt(models.Model):
    """What an erasure removed per data class, and what it kept and why."""

    request = models.OneToOneField(RightsRequest, on_delete=models.PROTECT, related_name="erasure_receipt")
    pseudonym = models.CharField(max_length=32)
    created_at = models.DateTimeField()
    erased = models.JSONField(default=dict)
    kept = models.JSONField(default=list)
    recipients = models.JSONField(default=list)


class RecipientNotice(models.Model):
    """A recipient of the person's data told about the erasure (policy 003 §4(3))."""

    class Channel(models.TextChoices):
        WEBHOOK = "webhook", _("Signed webhook")
        EMAIL = "email", _("E-mail to the client's owner")

    class State(models.TextChoices):
        PENDING = "pending", _("Pending")
        SENT = "sent", _("Sent")
        FAILED = "failed", _("Failed")

    receipt = models.ForeignKey(ErasureReceipt, on_delete=models.CASCADE, related_name="notices")
    token = models.ForeignKey("shops.ApiToken", null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    subscription = models.ForeignKey(
        "shops.WebhookSubscription", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    token_prefix = models.CharField(max_length=12)
    channel = models.CharField(max_length=16, choices=Channel.choices)
    target = models.CharField(max_length=500)
    payload = models.JSONField(default=dict)
    # The keys the recipient knows the person by: encrypted, and cleared once the notice is sent.
    subjects = EncryptedTextField(blank=True, default="")
    state = models.CharField(max_length=16, choices=State.choices, default=State.PENDING)
    attempts = models.PositiveSmallIntegerField(default=0)
    sent_at = models.DateTimeField(null=True, blank=True)
    last_error = models.TextField(blank=True, default="")
    created_at = models.DateTimeField()


# Retention -----------------------------------------------------------------------------------


class DataClass(models.TextChoices):
    """Data kept for a limited time, each under one retention policy."""

    ACCESS_LOG = "access_log", _("Access log")
    SIGN_IN_ATTEMPTS = "sign_in_attempts", _("Sign-in attempts")
    ANALYTICS_EVENTS = "analytics_events", _("Product analytics events")
    CLOSED_RIGHTS_REQUESTS = "closed_rights_requests", _("Closed rights requests")
    NOTIFICATION_HISTORY = "notification_history", _("Notification history")
    EVALUATION_HISTORY = "evaluation_history", _("Evaluation history")
    EXPORTS = "exports", _("Data export archives")
    UNVERIFIED_REQUESTS = "unverified_requests", _("Unverified rights requests")


class RetentionPolicy(models.Model):
    data_class = models.CharField(max_length=32, choices=DataClass.choices, unique=True)
    days = models.PositiveIntegerField()
    # The legal floor: ops cannot shorten a policy below it (e.g. 3 years for evaluation records).
    minimum_days = models.PositiveIntegerField(default=0)
    enabled = models.BooleanField(default=True)
    updated_at = models.DateTimeField(auto_now=True)
    updated_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )

    class Meta:
        ordering = ["data_class"]
        verbose_name_plural = "retention policies"
        constraints = [models.CheckConstraint(condition=Q(days__gte=models.F("minimum_days")), name="retention_floor")]

    def __str__(self):
        return f"{self.data_class}: {self.days} days"


class RetentionRun(models.Model):
    started_at = models.DateTimeField()
    finished_at = models.DateTimeField(null=True, blank=True)
    # Per data class: the cut-off applied and how many rows (or files) were removed.
    removed = models.JSONField(default=dict)

    class Meta:
        ordering = ["-started_at"]


# Access log and analytics ------------------------------------------------------------------


class AccessLog(models.Model):
    """One API call or one view of personal data: who, what, when and from where."""

    class Channel(models.TextChoices):
        API = "api", _("API")
        WEB = "web", _("Web page")
        ADMIN = "admin", _("Admin")
        EXPORT = "export", _("Data export")

    at = models.DateTimeField(db_index=True)
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    actor_role = models.CharField(max_length=16, blank=True, default="")
    token_prefix = models.CharField(max_length=12, blank=True, default="")
    channel = models.CharField(max_length=8, choices=Channel.choices)
    method = models.CharField(max_length=8)
    # The path only: a query string can carry personal data of its own.
    path = models.CharField(max_length=500)
    view_name = models.CharField(max_length=100, blank=True, default="")
    status_code = models.PositiveSmallIntegerField(null=True, blank=True)
    ip = models.GenericIPAddressField(null=True, blank=True)
    user_agent = models.CharField(max_length=255, blank=True, default="")

    class Meta:
        ordering = ["-at", "-id"]


class AccessLogSubject(models.Model):
    """Whose data one access touched (a user, a seller, a creator): "who accessed my data"."""

    class Kind(models.TextChoices):
        USER = "user", _("User")
        SELLER = "seller", _("Seller")
        CREATOR = "creator", _("Creator")

    log = models.ForeignKey(AccessLog, on_delete=models.CASCADE, related_name="subjects")
    kind = models.CharField(max_length=8, choices=Kind.choices)
    subject_id = models.BigIntegerField()

    class Meta:
        indexes = [models.Index(fields=["kind", "subject_id", "log"], name="access_by_subject")]


class AnalyticsEvent(models.Model):
    """A page a user opened, recorded only while the user consents to product analytics."""

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    name = models.CharField(max_length=100)
    at = models.DateTimeField(db_index=True)
