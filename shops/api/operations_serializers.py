"""Input and output serializers of plans, creator adds, appeals, notifications and tokens.

Input serializers only parse and shape requests: the services decide (and word) what is
allowed. Output serializers read what the views' querysets already loaded, so a list page
costs the same number of queries whatever its size.
"""

from django.conf import settings
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from affiliate.models import AffiliatePlan, CreatorAdd
from affiliate.selectors import entity_reason_text
from shops.appeal_checklists import NOT_APPEALABLE
from shops.models import ApiToken, Appeal, Entity
from shops.reasons import threshold_params
from shops.rules import Thresholds
from shops.selectors import thresholds_for_market
from shops.services.appeals import appeal_checklist_for

# Any exact decimal: the services check the range and precision and answer with their codes.
RATE = {"max_digits": None, "decimal_places": None, "help_text": "Commission in percent, at most two decimals."}


class OperationErrorBodySerializer(serializers.Serializer):
    code = serializers.CharField()
    message = serializers.CharField()
    details = serializers.JSONField(allow_null=True)


class OperationErrorSerializer(serializers.Serializer):
    """The one error format of the API (shops/api/errors.py)."""

    error = OperationErrorBodySerializer()


class RefusalReasonSerializer(serializers.Serializer):
    code = serializers.CharField()
    message = serializers.CharField()


def reasons_worded(codes, params: dict | None = None) -> list[dict]:
    """[{code, message}] in the active language; ``params`` are the thresholds to quote."""
    return [{"code": code, "message": entity_reason_text(code, params)} for code in codes]


def market_params(rulesets: dict[str, Thresholds], market: str) -> dict[str, str]:
    return threshold_params(thresholds_for_market(rulesets, market))


def creator_add_params(add: CreatorAdd, rulesets: dict[str, Thresholds]) -> dict[str, str]:
    """The shop's market thresholds, and the creator thresholds the add was decided with."""
    recorded = {key: add.details[key] for key in ("pps_min", "chr_min") if add.details.get(key) is not None}
    return market_params(rulesets, add.product.shop.market) | recorded


# Plans ----------------------------------------------------------------------------------------------


class PlanProductInputSerializer(serializers.Serializer):
    product = serializers.CharField(help_text="Product id (feed key).")
    rate = serializers.DecimalField(**RATE)


class PlanCreateInputSerializer(serializers.Serializer):
    shop = serializers.CharField(help_text="Shop id (feed key).")
    name = serializers.CharField(allow_blank=True)
    kind = serializers.ChoiceField(choices=AffiliatePlan.Kind.choices)
    products = PlanProductInputSerializer(many=True, required=False, default=list)
    creators = serializers.ListField(
        child=serializers.CharField(), required=False, default=list, help_text="Creator ids of a targeted plan."
    )
    rate = serializers.DecimalField(
        **(RATE | {"help_text": "The one rate of a shop-wide plan (instead of products)."}),
        required=False,
        allow_null=True,
        default=None,
    )


class PlanEndInputSerializer(serializers.Serializer):
    reason = serializers.CharField(allow_blank=True)


class PlanInviteInputSerializer(serializers.Serializer):
    creator = serializers.CharField(help_text="Creator id (feed key).")


class PlansRecreateInputSerializer(serializers.Serializer):
    plans = serializers.ListField(
        child=serializers.IntegerField(),
        required=False,
        allow_null=True,
        default=None,
        help_text="Ids of terminated plans; omitted: every terminated plan not recreated yet.",
    )


class PlanMembershipOutputSerializer(serializers.Serializer):
    product = serializers.CharField(source="product.key")
    title = serializers.CharField(source="product.title")
    rate = serializers.DecimalField(source="commission_rate", max_digits=5, decimal_places=2)
    added_at = serializers.DateTimeField()
    removed_at = serializers.DateTimeField(allow_null=True)


class PlanOutputSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    shop = serializers.CharField(source="shop.key")
    name = serializers.CharField()
    kind = serializers.ChoiceField(choices=AffiliatePlan.Kind.choices)
    status = serializers.ChoiceField(choices=AffiliatePlan.Status.choices)
    created_at = serializers.DateTimeField()
    terminated_at = serializers.DateTimeField(allow_null=True, help_text="When the plan was terminated or ended.")
    termination_reasons = serializers.ListField(child=serializers.CharField())
    recreated_from = serializers.IntegerField(source="recreated_from_id", allow_null=True)
    products = PlanMembershipOutputSerializer(source="active_memberships", many=True)
    invited_creators = serializers.SerializerMethodField(
        help_text="Creator ids invited to a targeted plan (a creator sees only itself)."
    )

    def get_invited_creators(self, plan) -> list[str]:
        return [invitation.creator.key for invitation in plan.visible_invitations]


class PlanInvitationOutputSerializer(serializers.Serializer):
    plan = serializers.IntegerField(source="plan_id")
    creator = serializers.CharField(source="creator.key")
    invited_at = serializers.DateTimeField()


class PrecheckItemOutputSerializer(serializers.Serializer):
    product = serializers.CharField(source="product.key")
    title = serializers.CharField(source="product.title")
    may_promote = serializers.BooleanField()
    codes = serializers.ListField(child=serializers.CharField())
    message = serializers.CharField()
    details = serializers.DictField(help_text="Scores, thresholds and the category behind the answer.")


class PrecheckOutputSerializer(serializers.Serializer):
    plan = serializers.IntegerField()
    creator = serializers.CharField()
    results = PrecheckItemOutputSerializer(many=True)


class BlastPlanOutputSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    name = serializers.CharField()
    kind = serializers.ChoiceField(choices=AffiliatePlan.Kind.choices)
    status = serializers.ChoiceField(choices=AffiliatePlan.Status.choices)


class BlastMembershipOutputSerializer(serializers.Serializer):
    plan = serializers.IntegerField(source="plan_id")
    product = serializers.CharField(source="product.key")
    rate = serializers.DecimalField(source="commission_rate", max_digits=5, decimal_places=2)


class BlastCreatorOutputSerializer(serializers.Serializer):
    key = serializers.CharField()
    handle = serializers.CharField()


class BlastRadiusPartSerializer(serializers.Serializer):
    plans_end = serializers.BooleanField(help_text="True for a shop: its plans end; a product only leaves them.")
    run = serializers.IntegerField(source="run.pk", allow_null=True, help_text="The run that disqualified.")
    plans = BlastPlanOutputSerializer(many=True)
    memberships = BlastMembershipOutputSerializer(many=True)
    products = serializers.SerializerMethodField()
    creators = BlastCreatorOutputSerializer(many=True)

    def get_products(self, radius) -> list[str]:
        return [product.key for product in radius.products]


class BlastRadiusOutputSerializer(serializers.Serializer):
    entity = serializers.ChoiceField(choices=[Entity.SHOP, Entity.PRODUCT])
    key = serializers.CharField()
    preview = BlastRadiusPartSerializer(help_text="What a disqualification now would end.")
    actual = BlastRadiusPartSerializer(help_text="What the latest disqualification ended (empty if none).")


class CappedRateSerializer(serializers.Serializer):
    was = serializers.DecimalField(max_digits=5, decimal_places=2)
    now = serializers.DecimalField(max_digits=5, decimal_places=2)


class PlanRecreationOutputSerializer(serializers.Serializer):
    old_plan = serializers.IntegerField(source="old.pk")
    new_plan = PlanOutputSerializer(source="new", allow_null=True)
    rates = serializers.DictField(child=serializers.DecimalField(max_digits=5, decimal_places=2))
    capped = serializers.SerializerMethodField()
    skipped = serializers.DictField(child=serializers.ListField(child=serializers.CharField()))

    @extend_schema_field(serializers.DictField(child=CappedRateSerializer()))
    def get_capped(self, result) -> dict:
        return {key: CappedRateSerializer({"was": was, "now": now}).data for key, (was, now) in result.capped.items()}


class PlansRecreateOutputSerializer(serializers.Serializer):
    recreated = PlanRecreationOutputSerializer(many=True)


# Creator adds -----------------------------------------------------------------------------------------


class CreatorAddInputSerializer(serializers.Serializer):
    product = serializers.CharField(help_text="Product id (feed key).")
    placement = serializers.ChoiceField(choices=CreatorAdd.Placement.choices)


class CreatorAddOutputSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    creator = serializers.CharField(source="creator.key")
    product = serializers.CharField(source="product.key")
    placement = serializers.ChoiceField(choices=CreatorAdd.Placement.choices)
    accepted = serializers.BooleanField()
    codes = serializers.ListField(source="reasons", child=serializers.CharField())
    reasons = serializers.SerializerMethodField()
    details = serializers.DictField(help_text="Scores and thresholds behind a refusal.")
    created_at = serializers.DateTimeField()

    @extend_schema_field(RefusalReasonSerializer(many=True))
    def get_reasons(self, add):
        return reasons_worded(add.reasons, creator_add_params(add, self.context["rulesets"]))


# Appeals ---------------------------------------------------------------------------------------------


class AppealSubmitInputSerializer(serializers.Serializer):
    """The fields of POST /appeals/ besides the evidence files (see APPEAL_SUBMIT_REQUEST)."""

    entity = serializers.ChoiceField(choices=[Entity.SHOP, Entity.PRODUCT])
    key = serializers.CharField(help_text="Shop or product id (feed key).")
    statement = serializers.CharField(allow_blank=True)


class AppealApproveInputSerializer(serializers.Serializer):
    reason = serializers.CharField(allow_blank=True)
    status = serializers.CharField(required=False, help_text="The status the override shows; ELIGIBLE by default.")
    expires_at = serializers.DateTimeField(required=False, allow_null=True, default=None)


class AppealRejectInputSerializer(serializers.Serializer):
    reason = serializers.CharField(allow_blank=True)


class EvidenceFileOutputSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    name = serializers.CharField(source="original_name")
    size = serializers.IntegerField()
    uploaded_at = serializers.DateTimeField()


class ChecklistItemOutputSerializer(serializers.Serializer):
    key = serializers.CharField()
    label = serializers.CharField()


class AppealChecklistItemOutputSerializer(ChecklistItemOutputSerializer):
    files = EvidenceFileOutputSerializer(many=True)


class AppealVerdictOutputSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    status = serializers.CharField(source="new_status")
    reasons = serializers.ListField(source="new_reasons", child=serializers.CharField())
    created_at = serializers.DateTimeField()


class AppealOverrideOutputSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    status = serializers.CharField()
    expires_at = serializers.DateTimeField(allow_null=True)
    revoked_at = serializers.DateTimeField(allow_null=True)


class AppealOutputSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    entity = serializers.ChoiceField(choices=[Entity.SHOP, Entity.PRODUCT])
    key = serializers.CharField(source="entity_key")
    seller = serializers.CharField(source="seller.key")
    state = serializers.ChoiceField(choices=Appeal.State.choices)
    attempt = serializers.IntegerField()
    reason_codes = serializers.ListField(child=serializers.CharField())
    statement = serializers.CharField()
    verdict = AppealVerdictOutputSerializer()
    submitted_at = serializers.DateTimeField()
    due_at = serializers.DateTimeField()
    decided_at = serializers.DateTimeField(allow_null=True)
    decision_reason = serializers.CharField()
    override = serializers.SerializerMethodField()
    checklist = serializers.SerializerMethodField()

    @extend_schema_field(AppealOverrideOutputSerializer(allow_null=True))
    def get_override(self, appeal):
        # Only an approval creates an override: other states need no query to know there is none.
        if appeal.state != Appeal.State.APPROVED:
            return None
        return AppealOverrideOutputSerializer(appeal.override).data

    @extend_schema_field(AppealChecklistItemOutputSerializer(many=True))
    def get_checklist(self, appeal):
        files: dict[str, list] = {}
        for evidence in appeal.evidence.all():
            files.setdefault(evidence.item, []).append(evidence)
        items = [
            {"key": item.key, "label": str(item.label), "files": files.get(item.key, [])}
            for item in appeal_checklist_for(appeal.reason_codes)
        ]
        return AppealChecklistItemOutputSerializer(items, many=True).data


class AppealChecklistOutputSerializer(serializers.Serializer):
    codes = serializers.ListField(child=serializers.CharField())
    items = ChecklistItemOutputSerializer(many=True)
    not_appealable = RefusalReasonSerializer(many=True, help_text="Codes that cannot be appealed here, and why.")

    @staticmethod
    def not_appealable_for(codes: list[str]) -> list[dict]:
        return [{"code": code, "message": str(NOT_APPEALABLE[code])} for code in codes if code in NOT_APPEALABLE]


class AppealQueueOutputSerializer(serializers.Serializer):
    results = AppealOutputSerializer(many=True)


# The request body of POST /appeals/: evidence comes as one multipart field per checklist item.
APPEAL_SUBMIT_REQUEST = {
    "multipart/form-data": {
        "type": "object",
        "required": ["entity", "key", "statement"],
        "properties": {
            "entity": {"type": "string", "enum": [Entity.SHOP.value, Entity.PRODUCT.value]},
            "key": {"type": "string", "description": "Shop or product id (feed key)."},
            "statement": {"type": "string", "description": "Why the verdict is wrong (20 characters at least)."},
        },
        "additionalProperties": {
            "type": "string",
            "format": "binary",
            "description": "evidence[<item key>]: a file for that checklist item (the field may repeat).",
        },
    }
}


# Notifications ----------------------------------------------------------------------------------------


class FigureOutputSerializer(serializers.Serializer):
    label = serializers.CharField()
    value = serializers.CharField()


class NotificationOutputSerializer(serializers.Serializer):
    """A rendered notification (``shops.services.notification_render.Rendered``)."""

    id = serializers.IntegerField(source="notification.pk")
    kind = serializers.CharField(source="notification.kind")
    subject = serializers.CharField(source="notification.subject")
    created_at = serializers.DateTimeField(source="notification.created_at")
    read_at = serializers.DateTimeField(source="notification.read_at", allow_null=True)
    title = serializers.CharField()
    summary = serializers.CharField()
    reasons = serializers.ListField(child=serializers.CharField())
    figures = serializers.SerializerMethodField()
    next_steps = serializers.ListField(child=serializers.CharField())
    note = serializers.CharField()

    @extend_schema_field(FigureOutputSerializer(many=True))
    def get_figures(self, rendered):
        return [{"label": str(label), "value": str(value)} for label, value in rendered.figures]


class NotificationsReadInputSerializer(serializers.Serializer):
    ids = serializers.ListField(child=serializers.IntegerField(), allow_empty=False)
    read = serializers.BooleanField(default=True, help_text="False marks them unread again.")


class NotificationsChangedOutputSerializer(serializers.Serializer):
    changed = serializers.IntegerField()
    unread_count = serializers.IntegerField()


class NotificationPreferencesSerializer(serializers.Serializer):
    """Both ways: what GET answers and what PUT takes (the service checks the values)."""

    email_notifications = serializers.BooleanField()
    email_digest = serializers.BooleanField(help_text="One e-mail a day instead of one per notification.")
    language = serializers.CharField(help_text=f"One of {', '.join(code for code, _name in settings.LANGUAGES)}.")


# Tokens ---------------------------------------------------------------------------------------------


class ApiTokenCreateInputSerializer(serializers.Serializer):
    user = serializers.EmailField(help_text="E-mail of the user the client acts as.")
    scopes = serializers.ListField(child=serializers.ChoiceField(choices=ApiToken.Scope.choices), allow_empty=False)
    purpose = serializers.CharField(help_text="What the client uses the data for (declared before any use).")
    allowed_ips = serializers.ListField(child=serializers.CharField(), required=False, default=list)


class ApiTokenOutputSerializer(serializers.Serializer):
    prefix = serializers.CharField()
    user = serializers.EmailField(source="user.email")
    purpose = serializers.CharField()
    scopes = serializers.ListField(child=serializers.CharField())
    allowed_ips = serializers.ListField(child=serializers.CharField())
    created_by = serializers.SerializerMethodField()
    created_at = serializers.DateTimeField()
    last_used_at = serializers.DateTimeField(allow_null=True)
    revoked_at = serializers.DateTimeField(allow_null=True)

    @extend_schema_field(serializers.EmailField(allow_null=True))
    def get_created_by(self, token) -> str | None:
        return token.created_by.email if token.created_by_id else None


class ApiTokenCreatedOutputSerializer(ApiTokenOutputSerializer):
    token = serializers.CharField(help_text="The raw token: shown this once, only its hash is stored.")
