"""Sellers, shops, categories, products, their daily snapshots, rule sets and runs.

Entities carry their latest metrics (the newest snapshot) and their current verdict; the
snapshots keep every day for trends; the history keeps every verdict change with its inputs.
"""

from decimal import Decimal

from django.conf import settings
from django.contrib.auth.models import AbstractUser, BaseUserManager
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.db.models import Q
from django.utils.translation import gettext_lazy as _

from privacy.fields import BlindIndexField, EncryptedTextField
from shops.rules import codes as c

SHOP_STATUS_CHOICES = [(s, s) for s in c.SHOP_STATUSES]
PRODUCT_STATUS_CHOICES = [(s, s) for s in c.PRODUCT_STATUSES]
CREATOR_STATUS_CHOICES = [(s, s) for s in c.CREATOR_STATUSES]
ACCOUNT_STATUS_CHOICES = [(s, s) for s in c.ACCOUNT_STATUSES]
LISTING_STATUS_CHOICES = [
    (c.LISTING_LIVE, _("Live")),
    (c.LISTING_STATUS_DELISTED, _("Delisted")),
    (c.LISTING_STATUS_FROZEN, _("Frozen")),
]
TIER_CHOICES = [("bronze", _("Bronze")), ("silver", _("Silver")), ("gold", _("Gold")), ("platinum", _("Platinum"))]
SCORE_FIELD = {"max_digits": 8, "decimal_places": 4}


class Entity(models.TextChoices):
    SHOP = "shop", _("Shop")
    PRODUCT = "product", _("Product")
    CREATOR = "creator", _("Creator")


# Users ----------------------------------------------------------------------------------


class UserManager(BaseUserManager):
    use_in_migrations = True

    def create_user(self, email, password=None, **extra):
        if not email:
            raise ValueError("An email address is required")
        user = self.model(email=self.normalize_email(email), **extra)
        user.set_password(password)
        user.save(using=self._db)
        return user

    def create_superuser(self, email, password=None, **extra):
        extra.setdefault("role", User.Role.OPS_ADMIN)
        extra.setdefault("is_staff", True)
        extra.setdefault("is_superuser", True)
        return self.create_user(email, password, **extra)


class User(AbstractUser):
    class Role(models.TextChoices):
        SELLER = "seller", _("Seller member")
        CREATOR = "creator", _("Creator")
        OPS = "ops", _("Ops reviewer")
        OPS_ADMIN = "ops_admin", _("Ops admin")

    username = None
    email = models.EmailField(_("email address"), unique=True)
    role = models.CharField(max_length=16, choices=Role.choices)
    sellers = models.ManyToManyField("Seller", through="SellerMembership", related_name="members", blank=True)
    creator = models.ForeignKey(
        "affiliate.Creator", null=True, blank=True, on_delete=models.SET_NULL, related_name="users"
    )
    language = models.CharField(max_length=10, choices=settings.LANGUAGES, default="en")
    # Notification preferences: e-mail at all, and at once or as one daily digest.
    email_notifications = models.BooleanField(default=True)
    email_digest = models.BooleanField(default=False)
    # When the seller portfolio was last opened: "changed since your last visit" starts here.
    portfolio_seen_at = models.DateTimeField(null=True, blank=True)
    # Time-based one-time passwords (RFC 6238): the shared secret, and when it was confirmed.
    otp_secret = EncryptedTextField(blank=True, default="")
    otp_confirmed_at = models.DateTimeField(null=True, blank=True)
    # Current consents (the privacy consent ledger is the record; these are read on every request).
    consent_marketing_email = models.BooleanField(default=False)
    consent_product_analytics = models.BooleanField(default=False)
    # Eligibility data shared with API clients and webhook receivers, until withdrawn.
    consent_data_sharing = models.BooleanField(default=True)
    # Set when the person was erased: the row stays, pseudonymised, for the records kept by law.
    erased_at = models.DateTimeField(null=True, blank=True)

    USERNAME_FIELD = "email"
    REQUIRED_FIELDS: list[str] = []
    objects = UserManager()

    def __str__(self):
        return self.email

    @property
    def is_ops(self) -> bool:
        return self.role in (self.Role.OPS, self.Role.OPS_ADMIN)

    @property
    def otp_enabled(self) -> bool:
        return self.otp_confirmed_at is not None


class LoginAttempt(models.Model):
    """Every sign-in attempt: the lock-out counts recent failures per account and per address."""

    email = models.CharField(max_length=254)
    ip = models.GenericIPAddressField(null=True, blank=True)
    succeeded = models.BooleanField(default=False)
    at = models.DateTimeField(db_index=True)

    class Meta:
        indexes = [models.Index(fields=["email", "at"]), models.Index(fields=["ip", "at"])]


class Seller(models.Model):
    key = models.CharField(_("seller id"), max_length=64, unique=True)
    legal_name = models.CharField(max_length=255)
    business_licence_no = models.CharField(max_length=64, db_index=True)
    contact_email = EncryptedTextField(blank=True, default="")
    contact_phone = EncryptedTextField(blank=True, default="")
    tax_id = EncryptedTextField(blank=True, default="")
    bank_account_name = EncryptedTextField(blank=True, default="")
    bank_account_number = EncryptedTextField(blank=True, default="")
    bank_code = EncryptedTextField(blank=True, default="", help_text=_("SWIFT/BIC or national bank code"))
    # Keyed hashes of the encrypted values, for lookups by exact value.
    contact_email_hash = BlindIndexField(source="contact_email", kind="email")
    contact_phone_hash = BlindIndexField(source="contact_phone", kind="phone")
    tax_id_hash = BlindIndexField(source="tax_id", kind="tax_id")
    bank_account_number_hash = BlindIndexField(source="bank_account_number", kind="bank_account")
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    def __str__(self):
        return f"{self.legal_name} ({self.key})"


class SellerMembership(models.Model):
    user = models.ForeignKey(User, on_delete=models.CASCADE)
    seller = models.ForeignKey(Seller, on_delete=models.CASCADE)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["user", "seller"], name="unique_seller_membership")]


# Catalogue ------------------------------------------------------------------------------


class Category(models.Model):
    key = models.CharField(_("category id"), max_length=64, unique=True)
    parent = models.ForeignKey("self", null=True, blank=True, on_delete=models.PROTECT, related_name="children")
    name = models.CharField(max_length=255)
    name_zh = models.CharField(max_length=255, blank=True, default="")
    gated = models.BooleanField(default=False)
    # Platform benchmark NRR; when given it wins over the computed average (spec decision).
    avg_nrr_30d = models.DecimalField(
        max_digits=12,
        decimal_places=10,
        null=True,
        blank=True,
        validators=[MinValueValidator(Decimal(0)), MaxValueValidator(Decimal(1))],
    )

    class Meta:
        verbose_name_plural = "categories"

    def __str__(self):
        return f"{self.name} ({self.key})"


class EvaluatedEntity(models.Model):
    """The current verdict of an evaluated entity, written only when it changes."""

    # Not indexed: every index on a verdict column is rewritten with each changed row.
    status = models.CharField(max_length=16, null=True, blank=True)
    reasons = models.JSONField(default=list, blank=True)
    status_changed_at = models.DateTimeField(null=True, blank=True)
    status_run = models.ForeignKey(
        "shops.EvaluationRun",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
        db_index=False,
        db_constraint=False,
    )
    # Date of the newest snapshot; the metric columns hold that snapshot's values.
    metrics_as_of = models.DateField(null=True, blank=True)

    class Meta:
        abstract = True


class ShopMetrics(models.Model):
    """A shop's daily metrics: the newest on the shop, every day in its snapshots."""

    account_status = models.CharField(max_length=32, choices=ACCOUNT_STATUS_CHOICES)
    orders_90d = models.PositiveIntegerField(default=0)
    sps = models.DecimalField(null=True, blank=True, **SCORE_FIELD)
    ip_violation = models.BooleanField(default=False)
    fair_trade_violation = models.BooleanField(default=False)
    review_violation = models.BooleanField(default=False)

    class Meta:
        abstract = True


class ProductMetrics(models.Model):
    """A product's daily metrics: the newest on the product, every day in its snapshots."""

    listing_status = models.CharField(max_length=16, choices=LISTING_STATUS_CHOICES)
    reviews_30d = models.PositiveIntegerField(default=0)
    negative_reviews_30d = models.PositiveIntegerField(default=0)
    ip_violation = models.BooleanField(default=False)
    fair_trade_violation = models.BooleanField(default=False)
    review_violation = models.BooleanField(default=False)
    counterfeit_flag = models.BooleanField(default=False)
    appeal_failed = models.BooleanField(default=False)

    class Meta:
        abstract = True


class Shop(ShopMetrics, EvaluatedEntity):
    key = models.CharField(_("shop id"), max_length=64, unique=True)
    seller = models.ForeignKey(Seller, on_delete=models.PROTECT, related_name="shops")
    name = models.CharField(max_length=255)
    market = models.CharField(max_length=8, db_index=True)
    tier = models.CharField(max_length=16, choices=TIER_CHOICES)
    # S6: set when a suspension disqualified the shop; only an ops user clears it.
    permanently_disqualified = models.BooleanField(default=False)
    # Force-unbound by ops (seed 001): no longer evaluated; its history stays.
    unbound_at = models.DateTimeField(null=True, blank=True)

    def __str__(self):
        return f"{self.name} ({self.key})"


class Product(ProductMetrics, EvaluatedEntity):
    key = models.CharField(_("product id"), max_length=64, unique=True)
    shop = models.ForeignKey(Shop, on_delete=models.PROTECT, related_name="products")
    category = models.ForeignKey(Category, on_delete=models.PROTECT, related_name="products")
    title = models.CharField(max_length=500)

    class Meta:
        constraints = [
            models.CheckConstraint(
                condition=Q(negative_reviews_30d__lte=models.F("reviews_30d")),
                name="product_negative_within_reviews",
            )
        ]

    def __str__(self):
        return f"{self.title} ({self.key})"


# Daily snapshots (one per entity per day) -------------------------------------------------


class ShopSnapshot(ShopMetrics):
    shop = models.ForeignKey(Shop, on_delete=models.CASCADE, related_name="snapshots")
    date = models.DateField()

    class Meta:
        constraints = [models.UniqueConstraint(fields=["shop", "date"], name="unique_shop_snapshot_per_day")]


class ProductSnapshot(ProductMetrics):
    product = models.ForeignKey(Product, on_delete=models.CASCADE, related_name="snapshots")
    date = models.DateField()

    class Meta:
        constraints = [models.UniqueConstraint(fields=["product", "date"], name="unique_product_snapshot_per_day")]


# Rules and runs ------------------------------------------------------------------------------


class RuleSet(models.Model):
    """One version of every threshold of the spec, for one market or the default ('')."""

    version = models.PositiveIntegerField(unique=True)
    market = models.CharField(max_length=8, blank=True, default="", help_text=_("Blank for the default"))
    effective_from = models.DateField()
    sps_min_orders = models.PositiveIntegerField(default=30)
    sps_window_days = models.PositiveIntegerField(default=90)
    sps_eligible = models.DecimalField(max_digits=6, decimal_places=4, default=Decimal("3.5"))
    sps_disqualify = models.DecimalField(max_digits=6, decimal_places=4, default=Decimal("3.0"))
    nrr_window_days = models.PositiveIntegerField(default=30)
    nrr_warning_multiple = models.DecimalField(max_digits=8, decimal_places=4, default=Decimal("2"))
    nrr_disqualify_multiple = models.DecimalField(max_digits=8, decimal_places=4, default=Decimal("3"))
    pps_min = models.DecimalField(max_digits=6, decimal_places=4, default=Decimal("3.5"))
    chr_min = models.DecimalField(max_digits=10, decimal_places=4, default=Decimal("150"))
    note = models.TextField(blank=True, default="")
    created_by = models.ForeignKey(User, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-effective_from", "-version"]
        constraints = [
            models.UniqueConstraint(fields=["market", "effective_from"], name="one_ruleset_per_market_and_day"),
            models.CheckConstraint(condition=Q(sps_disqualify__lte=models.F("sps_eligible")), name="ruleset_sps_order"),
            models.CheckConstraint(
                condition=Q(nrr_warning_multiple__lte=models.F("nrr_disqualify_multiple")),
                name="ruleset_nrr_order",
            ),
        ]

    def __str__(self):
        return f"v{self.version} {self.market or 'default'} from {self.effective_from}"


class EvaluationRun(models.Model):
    class State(models.TextChoices):
        RUNNING = "running", _("Running")
        SUCCEEDED = "succeeded", _("Succeeded")
        FAILED = "failed", _("Failed")

    class Trigger(models.TextChoices):
        SCHEDULED = "scheduled", _("Scheduled")
        MANUAL = "manual", _("Manual")

    ACTIVE_STATES = (State.RUNNING,)

    as_of = models.DateField()
    trigger = models.CharField(max_length=16, choices=Trigger.choices, default=Trigger.MANUAL)
    state = models.CharField(max_length=16, choices=State.choices, default=State.RUNNING)
    # The entity type whose chunks are being evaluated (shop, then product, then creator).
    phase = models.CharField(max_length=16, choices=Entity.choices, default=Entity.SHOP)
    # A constant so that a partial unique index allows one active run at a time.
    lock = models.CharField(max_length=16, default="evaluation", editable=False)
    chunk_size = models.PositiveIntegerField()
    total = models.PositiveIntegerField(default=0)
    done = models.PositiveIntegerField(default=0)
    changed = models.PositiveIntegerField(default=0)
    stats = models.JSONField(default=dict, blank=True)
    ruleset_versions = models.JSONField(default=dict, blank=True)
    error = models.TextField(blank=True, default="")
    created_by = models.ForeignKey(User, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    started_at = models.DateTimeField(auto_now_add=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-started_at"]
        constraints = [
            models.UniqueConstraint(fields=["lock"], condition=Q(state="running"), name="one_active_evaluation_run"),
            models.UniqueConstraint(
                fields=["as_of"], condition=Q(trigger="scheduled"), name="one_scheduled_run_per_day"
            ),
        ]

    def __str__(self):
        return f"run #{self.pk} as of {self.as_of} ({self.state})"

    @property
    def progress(self) -> float:
        return self.done / self.total if self.total else 1.0

    @property
    def duration(self):
        return (self.finished_at - self.started_at) if self.finished_at else None


class RunChunk(models.Model):
    """A slice of one entity type's id range; one Celery task evaluates it atomically."""

    run = models.ForeignKey(EvaluationRun, on_delete=models.CASCADE, related_name="chunks")
    entity = models.CharField(max_length=16, choices=Entity.choices)
    seq = models.PositiveIntegerField()
    first_id = models.BigIntegerField()
    last_id = models.BigIntegerField()
    rows = models.PositiveIntegerField()
    done = models.BooleanField(default=False)
    changed = models.PositiveIntegerField(default=0)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["run", "entity", "seq"]
        constraints = [models.UniqueConstraint(fields=["run", "entity", "seq"], name="unique_run_chunk")]
        indexes = [models.Index(fields=["run", "entity", "done"], name="run_chunk_pending")]


class CategoryBaseline(models.Model):
    """The leaf category average NRR a run compared products with (sample included)."""

    class Source(models.TextChoices):
        COMPUTED = "computed", _("Computed from the category's products")
        BENCHMARK = "benchmark", _("Platform benchmark")

    run = models.ForeignKey(EvaluationRun, on_delete=models.CASCADE, related_name="baselines")
    category = models.ForeignKey(Category, on_delete=models.CASCADE, related_name="+")
    source = models.CharField(max_length=16, choices=Source.choices)
    negative_reviews = models.BigIntegerField()
    reviews = models.BigIntegerField()
    products = models.PositiveIntegerField()
    benchmark = models.DecimalField(max_digits=12, decimal_places=10, null=True, blank=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["run", "category"], name="unique_run_category_baseline")]


class AppendOnlyQuerySet(models.QuerySet):
    """Rows are only ever inserted: bulk updates and deletes are refused."""

    def update(self, **kwargs):
        raise TypeError(f"{self.model._meta.verbose_name_plural} are append-only")

    def delete(self):
        raise TypeError(f"{self.model._meta.verbose_name_plural} are append-only")


class StatusHistory(models.Model):
    """One immutable row per verdict change, with everything needed to reproduce it."""

    entity = models.CharField(max_length=16, choices=Entity.choices)
    entity_id = models.BigIntegerField()
    entity_key = models.CharField(max_length=64)
    old_status = models.CharField(max_length=16, null=True, blank=True)
    new_status = models.CharField(max_length=16)
    old_reasons = models.JSONField(default=list)
    new_reasons = models.JSONField(default=list)
    inputs = models.JSONField(default=dict)
    baseline = models.JSONField(null=True, blank=True)
    ruleset_version = models.PositiveIntegerField()
    # Indexed by the unique constraint below, which starts with the run.
    run = models.ForeignKey(EvaluationRun, on_delete=models.PROTECT, related_name="history", db_index=False)
    as_of = models.DateField()
    created_at = models.DateTimeField()

    objects = AppendOnlyQuerySet.as_manager()

    class Meta:
        ordering = ["-id"]  # ids grow with time; no extra index to keep up on every insert
        verbose_name_plural = "status history"
        constraints = [
            # A retried chunk can never write a second row for the same change.
            models.UniqueConstraint(fields=["run", "entity", "entity_id"], name="one_history_row_per_run_entity")
        ]
        indexes = [models.Index(fields=["entity", "entity_id", "created_at"], name="history_by_entity")]

    def save(self, *args, **kwargs):
        if self.pk is not None:
            raise TypeError("Status history is append-only")
        super().save(*args, **kwargs)

    def delete(self, *args, **kwargs):
        raise TypeError("Status history is append-only")


class AuditEntry(models.Model):
    """Who did what to which object, when and why. Never edited or deleted in the product."""

    actor = models.ForeignKey(User, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    action = models.CharField(max_length=64)
    object_type = models.CharField(max_length=32)
    object_id = models.CharField(max_length=64)
    reason = models.TextField(blank=True, default="")
    details = models.JSONField(default=dict, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    objects = AppendOnlyQuerySet.as_manager()

    class Meta:
        ordering = ["-created_at", "-id"]
        verbose_name_plural = "audit entries"

    def save(self, *args, **kwargs):
        if self.pk is not None:
            raise TypeError("The audit log is append-only")
        super().save(*args, **kwargs)

    def delete(self, *args, **kwargs):
        raise TypeError("The audit log is append-only")


# Notifications ---------------------------------------------------------------------------------


class Notification(models.Model):
    """One message to one user; rendered in the reader's language from ``context``."""

    class Kind(models.TextChoices):
        STATUS_CHANGE = "status_change", _("Status change")
        WARNING = "warning", _("Warning")
        REFUSAL = "refusal", _("Refusal")
        APPEAL = "appeal", _("Appeal")
        PLAN = "plan", _("Affiliate plan")
        ACCOUNT = "account", _("Account")

    user = models.ForeignKey(User, on_delete=models.CASCADE, related_name="notifications")
    kind = models.CharField(max_length=16, choices=Kind.choices)
    # What the message is about, e.g. "shop:SHOP-1"; the context holds codes and figures.
    subject = models.CharField(max_length=128)
    context = models.JSONField(default=dict)
    # Exactly one notification per event and user, however often a run or task repeats.
    dedupe_key = models.CharField(max_length=128)
    created_at = models.DateTimeField(auto_now_add=True)
    read_at = models.DateTimeField(null=True, blank=True)
    emailed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [
            models.UniqueConstraint(fields=["user", "dedupe_key"], name="one_notification_per_event_and_user")
        ]
        indexes = [
            models.Index(fields=["user", "-created_at"], name="notification_inbox"),
            models.Index(fields=["emailed_at"], condition=Q(emailed_at__isnull=True), name="notification_unsent"),
        ]


# Appeals and overrides --------------------------------------------------------------------------


class Appeal(models.Model):
    """A seller contests a shop or product verdict (a history row) with evidence."""

    class State(models.TextChoices):
        SUBMITTED = "submitted", _("Submitted")
        APPROVED = "approved", _("Approved")
        REJECTED = "rejected", _("Rejected")
        WITHDRAWN = "withdrawn", _("Withdrawn")

    entity = models.CharField(max_length=16, choices=Entity.choices)
    entity_id = models.BigIntegerField()
    entity_key = models.CharField(max_length=64)
    seller = models.ForeignKey(Seller, on_delete=models.PROTECT, related_name="appeals")
    verdict = models.ForeignKey(StatusHistory, on_delete=models.PROTECT, related_name="appeals")
    reason_codes = models.JSONField(default=list)
    attempt = models.PositiveSmallIntegerField(default=1)
    statement = models.TextField()
    state = models.CharField(max_length=16, choices=State.choices, default=State.SUBMITTED)
    submitted_by = models.ForeignKey(User, on_delete=models.PROTECT, related_name="appeals_submitted")
    submitted_at = models.DateTimeField(auto_now_add=True)
    # Ops answer by this time; the queue is ordered by it.
    due_at = models.DateTimeField()
    decided_by = models.ForeignKey(User, null=True, blank=True, on_delete=models.PROTECT, related_name="+")
    decided_at = models.DateTimeField(null=True, blank=True)
    decision_reason = models.TextField(blank=True, default="")

    class Meta:
        ordering = ["due_at", "id"]
        constraints = [
            models.UniqueConstraint(fields=["verdict", "attempt"], name="one_appeal_per_verdict_attempt"),
            models.UniqueConstraint(
                fields=["verdict"], condition=Q(state="submitted"), name="one_open_appeal_per_verdict"
            ),
        ]
        indexes = [models.Index(fields=["state", "due_at"], name="appeal_queue")]


class AppealEvidence(models.Model):
    appeal = models.ForeignKey(Appeal, on_delete=models.CASCADE, related_name="evidence")
    # The checklist item of the reason code this file answers.
    item = models.CharField(max_length=64)
    file = models.FileField(upload_to="appeals/%Y/%m/")
    original_name = models.CharField(max_length=255)
    size = models.PositiveIntegerField()
    uploaded_at = models.DateTimeField(auto_now_add=True)


class Override(models.Model):
    """An ops decision shown over a computed verdict; the verdict and its history stay as they are."""

    entity = models.CharField(max_length=16, choices=Entity.choices)
    entity_id = models.BigIntegerField()
    entity_key = models.CharField(max_length=64)
    status = models.CharField(max_length=16)
    reason = models.TextField()
    appeal = models.OneToOneField(Appeal, null=True, blank=True, on_delete=models.PROTECT, related_name="override")
    expires_at = models.DateTimeField(null=True, blank=True)
    created_by = models.ForeignKey(User, on_delete=models.PROTECT, related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)
    revoked_at = models.DateTimeField(null=True, blank=True)
    revoked_by = models.ForeignKey(User, null=True, blank=True, on_delete=models.PROTECT, related_name="+")

    class Meta:
        ordering = ["-created_at"]
        indexes = [models.Index(fields=["entity", "entity_id"], name="override_by_entity")]


# Account integrity (seed 001) --------------------------------------------------------------------


class LicenceFlag(models.Model):
    """A business licence bound to more active shops than allowed, waiting for ops."""

    business_licence_no = models.CharField(max_length=64)
    active_shops = models.PositiveIntegerField()
    shop_keys = models.JSONField(default=list)
    flagged_at = models.DateTimeField(auto_now_add=True)
    resolved_at = models.DateTimeField(null=True, blank=True)
    resolved_by = models.ForeignKey(User, null=True, blank=True, on_delete=models.PROTECT, related_name="+")
    resolution = models.TextField(blank=True, default="")

    class Meta:
        ordering = ["-flagged_at"]
        constraints = [
            models.UniqueConstraint(
                fields=["business_licence_no"], condition=Q(resolved_at__isnull=True), name="one_open_flag_per_licence"
            )
        ]


class ShopUnbinding(models.Model):
    shop = models.ForeignKey(Shop, on_delete=models.PROTECT, related_name="unbindings")
    business_licence_no = models.CharField(max_length=64, db_index=True)
    reason = models.TextField()
    unbound_at = models.DateTimeField()
    # The licence may bind a new shop again from this day (90 days after the unbinding).
    rebind_allowed_on = models.DateField()
    created_by = models.ForeignKey(User, on_delete=models.PROTECT, related_name="+")

    class Meta:
        ordering = ["-unbound_at"]


class RecoveryReview(models.Model):
    """The 3-step review after a forced unbinding, tracked step by step."""

    class State(models.TextChoices):
        OPEN = "open", _("Open")
        PASSED = "passed", _("Passed")
        FAILED = "failed", _("Failed")

    unbinding = models.ForeignKey(ShopUnbinding, on_delete=models.PROTECT, related_name="recovery_reviews")
    state = models.CharField(max_length=16, choices=State.choices, default=State.OPEN)
    letter = models.FileField(upload_to="recovery/%Y/%m/", blank=True)
    letter_at = models.DateTimeField(null=True, blank=True)
    tax_proof = models.FileField(upload_to="recovery/%Y/%m/", blank=True)
    shipping_documents = models.FileField(upload_to="recovery/%Y/%m/", blank=True)
    documents_at = models.DateTimeField(null=True, blank=True)
    exam_score = models.DecimalField(max_digits=5, decimal_places=2, null=True, blank=True)
    exam_at = models.DateTimeField(null=True, blank=True)
    decided_by = models.ForeignKey(User, null=True, blank=True, on_delete=models.PROTECT, related_name="+")
    decided_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)


# API clients ----------------------------------------------------------------------------------


class ApiToken(models.Model):
    """A REST client's credential: a declared purpose, scopes, optional client IP allow-list.

    Only a hash of the token is stored; the token itself is shown once, when it is created.
    """

    class Scope(models.TextChoices):
        ELIGIBILITY_READ = "eligibility:read", "eligibility:read"
        FEEDS_WRITE = "feeds:write", "feeds:write"
        PLANS_WRITE = "plans:write", "plans:write"
        APPEALS_WRITE = "appeals:write", "appeals:write"
        WEBHOOKS_MANAGE = "webhooks:manage", "webhooks:manage"
        PRIVACY_MANAGE = "privacy:manage", "privacy:manage"

    user = models.ForeignKey(User, on_delete=models.CASCADE, related_name="api_tokens")
    purpose = models.TextField(help_text=_("What the client uses the data for (declared before any use)"))
    scopes = models.JSONField(default=list)
    allowed_ips = models.JSONField(default=list, blank=True, help_text=_("Addresses or networks; empty allows any"))
    prefix = models.CharField(max_length=12, unique=True)
    key_hash = models.CharField(max_length=64, unique=True)
    created_by = models.ForeignKey(User, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)
    last_used_at = models.DateTimeField(null=True, blank=True)
    revoked_at = models.DateTimeField(null=True, blank=True)

    def __str__(self):
        return f"{self.prefix}… ({self.user})"


class FeedJob(models.Model):
    """A feed pushed through the API, imported by a Celery task with the command's validation."""

    class State(models.TextChoices):
        QUEUED = "queued", _("Queued")
        RUNNING = "running", _("Running")
        SUCCEEDED = "succeeded", _("Succeeded")
        FAILED = "failed", _("Failed")

    submitted_by = models.ForeignKey(User, on_delete=models.PROTECT, related_name="feed_jobs")
    token = models.ForeignKey(ApiToken, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    state = models.CharField(max_length=16, choices=State.choices, default=State.QUEUED)
    as_of = models.DateField(null=True, blank=True)
    # File name -> stored path of the uploaded CSV files.
    files = models.JSONField(default=dict)
    counts = models.JSONField(default=dict, blank=True)
    progress = models.JSONField(default=dict, blank=True)
    errors = models.JSONField(default=list, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]


class WebhookSubscription(models.Model):
    class Event(models.TextChoices):
        ELIGIBILITY_CHANGED = "eligibility.changed", "eligibility.changed"
        APPEAL_UPDATED = "appeal.updated", "appeal.updated"
        FEED_COMPLETED = "feed.completed", "feed.completed"
        RUN_COMPLETED = "run.completed", "run.completed"

    token = models.ForeignKey(ApiToken, on_delete=models.CASCADE, related_name="webhooks")
    url = models.URLField(max_length=500)
    events = models.JSONField(default=list)
    # HMAC-SHA256 key shared with the receiver (shown once); stored encrypted.
    secret = EncryptedTextField()
    active = models.BooleanField(default=True)
    created_at = models.DateTimeField(auto_now_add=True)


class WebhookEvent(models.Model):
    """The outbox: written in the transaction of the change, delivered after commit."""

    event = models.CharField(max_length=32, choices=WebhookSubscription.Event.choices)
    # Sellers whose clients may receive it (empty: ops-only events such as run.completed).
    seller_ids = models.JSONField(default=list)
    payload = models.JSONField()
    dedupe_key = models.CharField(max_length=128, unique=True)
    created_at = models.DateTimeField(auto_now_add=True)
    dispatched_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        indexes = [
            models.Index(fields=["created_at"], condition=Q(dispatched_at__isnull=True), name="webhook_outbox_pending")
        ]


class WebhookDelivery(models.Model):
    class State(models.TextChoices):
        PENDING = "pending", _("Pending")
        DELIVERED = "delivered", _("Delivered")
        FAILED = "failed", _("Failed")

    subscription = models.ForeignKey(WebhookSubscription, on_delete=models.CASCADE, related_name="deliveries")
    event = models.ForeignKey(WebhookEvent, on_delete=models.CASCADE, related_name="deliveries")
    state = models.CharField(max_length=16, choices=State.choices, default=State.PENDING)
    attempts = models.PositiveIntegerField(default=0)
    next_attempt_at = models.DateTimeField(null=True, blank=True)
    last_status_code = models.PositiveIntegerField(null=True, blank=True)
    last_error = models.TextField(blank=True, default="")
    delivered_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created_at"]
        constraints = [
            models.UniqueConstraint(fields=["subscription", "event"], name="one_delivery_per_subscription_event")
        ]
