"""Creators and affiliate plans: just enough for the effects of disqualification (S7, P5)."""

from decimal import Decimal

from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.db.models import Q
from django.utils.translation import gettext_lazy as _

from privacy.fields import BlindIndexField, EncryptedTextField
from shops.models import ACCOUNT_STATUS_CHOICES, SCORE_FIELD, EvaluatedEntity


class CreatorMetrics(models.Model):
    """A creator's scores: the newest on the creator, every day in its snapshots."""

    account_status = models.CharField(max_length=32, choices=ACCOUNT_STATUS_CHOICES)
    pps = models.DecimalField(null=True, blank=True, **SCORE_FIELD)
    chr = models.DecimalField(null=True, blank=True, max_digits=10, decimal_places=4)

    class Meta:
        abstract = True


class Creator(CreatorMetrics, EvaluatedEntity):
    key = models.CharField(_("creator id"), max_length=64, unique=True)
    handle = models.CharField(max_length=128)
    display_name = models.CharField(max_length=255, blank=True, default="")
    email = EncryptedTextField(blank=True, default="")
    email_hash = BlindIndexField(source="email", kind="email")

    def __str__(self):
        return f"@{self.handle} ({self.key})"


class CreatorSnapshot(CreatorMetrics):
    creator = models.ForeignKey(Creator, on_delete=models.CASCADE, related_name="snapshots")
    date = models.DateField()

    class Meta:
        constraints = [models.UniqueConstraint(fields=["creator", "date"], name="unique_creator_snapshot_per_day")]


class AffiliatePlan(models.Model):
    class Kind(models.TextChoices):
        OPEN = "open", _("Open")
        TARGETED = "targeted", _("Targeted")
        SHOP_WIDE = "shop_wide", _("Shop-wide")

    class Status(models.TextChoices):
        ACTIVE = "active", _("Active")
        TERMINATED = "terminated", _("Terminated")
        ENDED = "ended", _("Ended")

    shop = models.ForeignKey("shops.Shop", on_delete=models.PROTECT, related_name="plans")
    name = models.CharField(max_length=255)
    kind = models.CharField(max_length=16, choices=Kind.choices)
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.ACTIVE, db_index=True)
    created_at = models.DateTimeField(auto_now_add=True)
    terminated_at = models.DateTimeField(null=True, blank=True)
    termination_reasons = models.JSONField(default=list, blank=True)
    terminated_by_run = models.ForeignKey(
        "shops.EvaluationRun", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_by = models.ForeignKey("shops.User", null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    # A plan recreated after recovery points at the terminated one it copies (S8: never revived).
    recreated_from = models.ForeignKey(
        "self", null=True, blank=True, on_delete=models.SET_NULL, related_name="recreations"
    )
    invited_creators = models.ManyToManyField(Creator, through="PlanInvitation", related_name="invitations")

    def __str__(self):
        return f"{self.name} ({self.get_kind_display()}, {self.status})"


class PlanProduct(models.Model):
    """A product's membership of a plan; removal ends it but keeps the row (blast radius)."""

    plan = models.ForeignKey(AffiliatePlan, on_delete=models.CASCADE, related_name="memberships")
    product = models.ForeignKey("shops.Product", on_delete=models.PROTECT, related_name="plan_memberships")
    commission_rate = models.DecimalField(
        max_digits=5,
        decimal_places=2,
        validators=[MinValueValidator(Decimal("1")), MaxValueValidator(Decimal("80"))],
    )
    added_at = models.DateTimeField(auto_now_add=True)
    removed_at = models.DateTimeField(null=True, blank=True)
    removal_reasons = models.JSONField(default=list, blank=True)
    removed_by_run = models.ForeignKey(
        "shops.EvaluationRun", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["plan", "product"], condition=Q(removed_at__isnull=True), name="one_active_plan_membership"
            )
        ]
        indexes = [models.Index(fields=["product"], condition=Q(removed_at__isnull=True), name="active_membership")]


class PlanInvitation(models.Model):
    """A creator invited to a targeted plan."""

    plan = models.ForeignKey(AffiliatePlan, on_delete=models.CASCADE)
    creator = models.ForeignKey(Creator, on_delete=models.CASCADE)
    invited_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["plan", "creator"], name="one_invitation_per_plan_creator")]


class CreatorAdd(models.Model):
    """A creator's attempt to add a product to a showcase, a live session or a video (C2)."""

    class Placement(models.TextChoices):
        SHOWCASE = "showcase", _("Showcase")
        LIVE = "live", _("Live session")
        VIDEO = "video", _("Video")

    creator = models.ForeignKey(Creator, on_delete=models.CASCADE, related_name="adds")
    product = models.ForeignKey("shops.Product", on_delete=models.CASCADE, related_name="creator_adds")
    placement = models.CharField(max_length=16, choices=Placement.choices)
    accepted = models.BooleanField()
    reasons = models.JSONField(default=list)
    # The figures behind a refusal (scores and thresholds), for the creator's message.
    details = models.JSONField(default=dict)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created_at"]
        indexes = [models.Index(fields=["creator", "-created_at"], name="creator_adds_by_creator")]
