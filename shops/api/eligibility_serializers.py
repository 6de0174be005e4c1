"""Output serializers of the eligibility API: verdicts of shops, products and creators, and their history.

Each object arrives with ``obj.eligibility`` (``shops.eligibility.Eligibility``): its
active override, the history row of its current verdict and the thresholds of that verdict's
rule set, loaded for a whole page at once. Messages are rendered in the active language.
Component names start with the entity or ``Eligibility`` so they cannot clash with other
parts of the API.
"""

from decimal import Decimal

from django.utils.translation import get_language
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from shops.reasons import REASON_MESSAGES, reason_message, reason_next_step, status_label, threshold_params
from shops.rules import can_add_to_affiliate, shop_can_add_to_affiliate

# History inputs are stored as the evaluator read them; the API names them plainly and leaves
# out database ids (the payload names the shop and the category by feed key).
INPUT_NAMES = {"shop__status": "shop_status"}
INTERNAL_INPUTS = frozenset({"shop_id", "category_id"})
BASELINE_FIELDS = ("source", "value", "benchmark", "products", "reviews", "negative_reviews")


class ScoreField(serializers.DecimalField):
    """An exact decimal as text without trailing zeros: 3.5, 150, 4.25."""

    def __init__(self, **kwargs):
        kwargs.setdefault("max_digits", 14)
        kwargs.setdefault("decimal_places", 4)
        kwargs.setdefault("read_only", True)
        super().__init__(**kwargs)

    def to_representation(self, value):
        return format(Decimal(value).normalize(), "f")


def reasons_rendered(codes, thresholds) -> list[dict]:
    """Each code with its message and next step, worded with the verdict's own thresholds."""
    params = threshold_params(thresholds) if thresholds is not None else None
    rendered = []
    for code in codes or ():
        if code in REASON_MESSAGES:
            rendered.append(
                {"code": code, "message": reason_message(code, params), "next_step": reason_next_step(code, params)}
            )
        else:  # a code retired from the rules: still shown, without words
            rendered.append({"code": code, "message": "", "next_step": ""})
    return rendered


def label(status: str | None) -> str | None:
    try:
        return status_label(status) if status else None
    except KeyError:
        return status


def inputs_shown(inputs: dict | None) -> dict | None:
    if inputs is None:
        return None
    return {INPUT_NAMES.get(key, key): value for key, value in inputs.items() if key not in INTERNAL_INPUTS}


def baseline_shown(baseline: dict | None) -> dict | None:
    """The category average a product was compared with, and its sample (internal ids left out)."""
    if baseline is None:
        return None
    return {name: baseline.get(name) for name in BASELINE_FIELDS}


# Parts ------------------------------------------------------------------------------------------


class EligibilityErrorBodySerializer(serializers.Serializer):
    code = serializers.CharField()
    message = serializers.CharField()
    details = serializers.JSONField(allow_null=True, help_text="Per parameter or field, when there are several.")


class EligibilityErrorSerializer(serializers.Serializer):
    """The API's one error format (``shops/api/errors.py``)."""

    error = EligibilityErrorBodySerializer()


class EligibilityReasonSerializer(serializers.Serializer):
    code = serializers.CharField(help_text="A reason code of spec/eligibility-rules.md (a public interface).")
    message = serializers.CharField(help_text="What the code means, in the request's language.")
    next_step = serializers.CharField(help_text="What the seller or creator can do about it.")


class EligibilityOverrideSerializer(serializers.Serializer):
    status = serializers.CharField()
    reason = serializers.CharField()
    expires_at = serializers.DateTimeField(allow_null=True)


class EligibilityBaselineSerializer(serializers.Serializer):
    source = serializers.CharField(help_text="computed (from the category's products) or benchmark (platform).")
    value = serializers.CharField(
        allow_null=True, help_text="The leaf category's average negative review rate, exact (null: no reviews)."
    )
    benchmark = serializers.CharField(allow_null=True, required=False)
    products = serializers.IntegerField(help_text="Products in the sample.")
    reviews = serializers.IntegerField()
    negative_reviews = serializers.IntegerField()


class ScoreForecastSerializer(serializers.Serializer):
    metric = serializers.CharField(help_text="sps (shops) or pps (creators).")
    points = serializers.IntegerField(help_text="Days with a score in the last 90 days (at least 7).")
    first_date = serializers.DateField()
    last_date = serializers.DateField()
    slope_per_day = serializers.DecimalField(max_digits=10, decimal_places=4)
    trend_score = serializers.DecimalField(
        max_digits=8, decimal_places=2, help_text="The trend line's score on the newest day."
    )
    direction = serializers.CharField(help_text="up or down.")
    threshold = ScoreField(allow_null=True, help_text="The next threshold in the trend's direction, if any.")
    crosses_on = serializers.DateField(
        allow_null=True, help_text="First day the trend is past the threshold (null: none within a year)."
    )


# Verdicts ---------------------------------------------------------------------------------------


class _VerdictSerializer(serializers.Serializer):
    """What every evaluated entity shows: its verdict, why, and what it was computed from."""

    id = serializers.CharField(source="key", help_text="The feed key.")
    status = serializers.CharField(allow_null=True, help_text="The computed status; null until first evaluated.")
    status_label = serializers.SerializerMethodField()
    reasons = serializers.SerializerMethodField()
    override = serializers.SerializerMethodField()
    effective_status = serializers.SerializerMethodField(
        help_text="The status that counts: an active ops override wins over the computed one."
    )
    inputs = serializers.SerializerMethodField(help_text="The metrics the verdict was computed from.")
    ruleset_version = serializers.SerializerMethodField()
    evaluated_at = serializers.DateTimeField(
        source="status_changed_at", allow_null=True, help_text="When the current verdict was set."
    )
    as_of = serializers.SerializerMethodField(help_text="The day of the data the verdict was computed for.")
    metrics_as_of = serializers.DateField(allow_null=True, help_text="The day of the newest metrics shown here.")

    @extend_schema_field(serializers.CharField(allow_null=True))
    def get_status_label(self, obj) -> str | None:
        return label(obj.status)

    @extend_schema_field(EligibilityReasonSerializer(many=True))
    def get_reasons(self, obj):
        return reasons_rendered(obj.reasons, obj.eligibility.thresholds)

    @extend_schema_field(EligibilityOverrideSerializer(allow_null=True))
    def get_override(self, obj):
        override = obj.eligibility.override
        if override is None:
            return None
        return EligibilityOverrideSerializer(override).data

    @extend_schema_field(serializers.CharField(allow_null=True))
    def get_effective_status(self, obj) -> str | None:
        return obj.eligibility.effective_status(obj.status)

    @extend_schema_field(serializers.DictField(allow_null=True, child=serializers.JSONField()))
    def get_inputs(self, obj):
        history = obj.eligibility.history
        return inputs_shown(history.inputs) if history is not None else None

    @extend_schema_field(serializers.IntegerField(allow_null=True))
    def get_ruleset_version(self, obj) -> int | None:
        history = obj.eligibility.history
        return history.ruleset_version if history is not None else None

    @extend_schema_field(serializers.DateField(allow_null=True))
    def get_as_of(self, obj):
        history = obj.eligibility.history
        return history.as_of.isoformat() if history is not None else None


class _ForecastMixin(serializers.Serializer):
    @extend_schema_field(ScoreForecastSerializer(allow_null=True))
    def get_forecast(self, obj):
        forecast = obj.eligibility.forecast
        return ScoreForecastSerializer(forecast._asdict()).data if forecast is not None else None


class ShopEligibilitySerializer(_VerdictSerializer):
    """A shop's verdict (spec S1-S8) with its key metrics."""

    name = serializers.CharField()
    seller = serializers.CharField(source="seller.key", help_text="The seller's feed key.")
    market = serializers.CharField()
    tier = serializers.CharField()
    account_status = serializers.CharField()
    sps = ScoreField(allow_null=True, help_text="Shop Performance Score (S1: counts only with 30 orders in 90 days).")
    orders_90d = serializers.IntegerField()
    permanently_disqualified = serializers.BooleanField(help_text="S6: lifted only by ops.")
    can_add_to_affiliate = serializers.SerializerMethodField(
        help_text="May the shop add products to affiliate plans now (effective status ELIGIBLE)."
    )

    def get_can_add_to_affiliate(self, obj) -> bool:
        return shop_can_add_to_affiliate(obj.eligibility.effective_status(obj.status))


class ShopEligibilityDetailSerializer(_ForecastMixin, ShopEligibilitySerializer):
    """A shop's verdict, key metrics and SPS forecast."""

    forecast = serializers.SerializerMethodField(help_text="Where the SPS is heading (null: too few days or flat).")


class ProductCategorySerializer(serializers.Serializer):
    id = serializers.CharField(source="key")
    name = serializers.SerializerMethodField()
    gated = serializers.BooleanField()

    def get_name(self, category) -> str:
        if (get_language() or "").lower().startswith("zh") and category.name_zh:
            return category.name_zh
        return category.name


class ProductEligibilitySerializer(_VerdictSerializer):
    """A product's verdict (spec P0-P5), its metrics and the category baseline behind it."""

    title = serializers.CharField()
    shop = serializers.CharField(source="shop.key", help_text="The shop's feed key.")
    shop_status = serializers.SerializerMethodField(help_text="The shop's effective status (P0: shop first).")
    market = serializers.CharField(source="shop.market")
    category = ProductCategorySerializer()
    listing_status = serializers.CharField()
    reviews_30d = serializers.IntegerField()
    negative_reviews_30d = serializers.IntegerField()
    baseline = serializers.SerializerMethodField(help_text="The leaf category average the verdict compared with.")
    can_add_to_affiliate = serializers.SerializerMethodField(
        help_text="P0: the shop and the product are both ELIGIBLE (effective statuses)."
    )

    @extend_schema_field(serializers.CharField(allow_null=True))
    def get_shop_status(self, obj) -> str | None:
        return obj.eligibility.effective_shop_status(obj.shop.status)

    @extend_schema_field(EligibilityBaselineSerializer(allow_null=True))
    def get_baseline(self, obj):
        history = obj.eligibility.history
        return baseline_shown(history.baseline) if history is not None else None

    def get_can_add_to_affiliate(self, obj) -> bool:
        return can_add_to_affiliate(
            obj.eligibility.effective_shop_status(obj.shop.status), obj.eligibility.effective_status(obj.status)
        )


class ProductEligibilityDetailSerializer(ProductEligibilitySerializer):
    """A product's verdict, as in the list, and ``forecast`` (always null for products)."""

    forecast = serializers.SerializerMethodField(help_text="Always null: products have no score to forecast.")

    @extend_schema_field(ScoreForecastSerializer(allow_null=True))
    def get_forecast(self, obj):
        return None


class CreatorEligibilitySerializer(_VerdictSerializer):
    """A creator's qualification (spec C1) with the scores behind it."""

    handle = serializers.CharField()
    display_name = serializers.CharField()
    account_status = serializers.CharField()
    pps = ScoreField(allow_null=True, help_text="Promotion performance score (C1).")
    chr = ScoreField(allow_null=True, help_text="Creator health rating (C1).")


class CreatorEligibilityDetailSerializer(_ForecastMixin, CreatorEligibilitySerializer):
    """A creator's qualification, scores and PPS forecast."""

    forecast = serializers.SerializerMethodField(help_text="Where the PPS is heading (null: too few days or flat).")


# History ----------------------------------------------------------------------------------------


class EligibilityHistoryEntrySerializer(serializers.Serializer):
    """One immutable verdict change, with everything needed to reproduce it."""

    id = serializers.IntegerField(help_text="The verdict's id (appeals refer to it).")
    old_status = serializers.CharField(allow_null=True)
    new_status = serializers.CharField()
    old_reasons = serializers.ListField(child=serializers.CharField(), help_text="Codes before the change.")
    reasons = serializers.SerializerMethodField(help_text="Codes of the new verdict, with their messages.")
    inputs = serializers.SerializerMethodField()
    baseline = serializers.SerializerMethodField()
    ruleset_version = serializers.IntegerField()
    run = serializers.IntegerField(source="run_id", help_text="The evaluation run that made the change.")
    as_of = serializers.DateField()
    created_at = serializers.DateTimeField()

    @extend_schema_field(EligibilityReasonSerializer(many=True))
    def get_reasons(self, row):
        return reasons_rendered(row.new_reasons, self.context["thresholds"].get(row.ruleset_version))

    @extend_schema_field(serializers.DictField(child=serializers.JSONField()))
    def get_inputs(self, row):
        return inputs_shown(row.inputs) or {}

    @extend_schema_field(EligibilityBaselineSerializer(allow_null=True))
    def get_baseline(self, row):
        return baseline_shown(row.baseline)
