"""The API of affiliate operations: plans, creator adds, appeals, notifications and API tokens.

Thin views: an input serializer parses, a service decides and writes, an output serializer
answers. What a user can see is all that exists for them: an object outside it answers 404,
the same as an unknown one, whether the URL or the request body names it. Seller members see
their sellers' shops, products, plans and appeals; a creator sees its own adds and the plans
it is invited to or that are open to every creator; ops see everything.

Refusals keep the services' codes (``reason_message`` words each one):

- ``PlanRefused`` -> 422 ``plan_refused``, details ``{"codes", "reasons": [{code, message}], ...}``;
- a refused creator add -> 422 ``creator_add_refused``; the refusal is recorded all the same;
- a service ``ValidationError`` -> 400 with the service's code (``window_closed``, ``invalid_rate``...).
"""

import re

from django.core.exceptions import ValidationError as DjangoValidationError
from django.db.models import Q, QuerySet
from django.utils import timezone, translation
from django.utils.translation import gettext as _
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import exceptions, permissions, status
from rest_framework.generics import GenericAPIView
from rest_framework.metadata import SimpleMetadata
from rest_framework.response import Response

from affiliate.models import AffiliatePlan, Creator
from affiliate.selectors import blast_radius_actual, blast_radius_preview, creator_precheck, shop_manageable_by
from affiliate.services import (
    PlanRefused,
    creator_add_product,
    plan_add_product,
    plan_create,
    plan_end,
    plan_invite_creator,
    plan_remove_product,
    plans_recreate,
)
from shops.api import operations_serializers as s
from shops.api.errors import error_response
from shops.api.pagination import IdCursorPagination
from shops.api.permissions import IsOps
from shops.models import (
    ApiToken,
    Appeal,
    Entity,
    Notification,
    Product,
    Shop,
    User,
)
from shops.rules import codes as c
from shops.selectors import rulesets_in_force
from shops.services.appeals import (
    appeal_approve,
    appeal_checklist_for,
    appeal_reject,
    appeal_submit,
    appeal_withdraw,
    appeals_queue,
)
from shops.services.notification_render import notifications_render
from shops.services.notifications import (
    notification_mark_all_read,
    notification_mark_read,
    notification_preferences_update,
    notifications_unread_count,
)
from shops.services.tokens import api_token_create, api_token_revoke
from shops.visibility import (
    appeals_visible_to,
    creator_adds_shared_with,
    creator_adds_visible_to,
    creators_shared_with,
    creators_visible_to,
    plans_visible_to,
    products_visible_to,
    shops_visible_to,
    tokens_visible_to,
)

READ = ApiToken.Scope.ELIGIBILITY_READ.value
PLANS_SCOPES = {"GET": READ, "HEAD": READ, "*": ApiToken.Scope.PLANS_WRITE.value}
APPEALS_SCOPES = {"GET": READ, "HEAD": READ, "*": ApiToken.Scope.APPEALS_WRITE.value}
EVIDENCE_FIELD = re.compile(r"^evidence\[(?P<item>[^\]]+)\]$")

ERRORS = {
    code: OpenApiResponse(s.OperationErrorSerializer, description=text)
    for code, text in {
        400: "Invalid input; ``code`` is the service's (e.g. ``invalid_rate``, ``window_closed``).",
        403: "Missing scope (``missing_scope``) or not allowed (``permission_denied``).",
        404: "Unknown, or not visible to this user.",
        422: "Refused by the affiliate rules: ``details.codes`` and ``details.reasons``.",
    }.items()
}


def errors(*codes: int) -> dict:
    return {code: ERRORS[code] for code in codes}


def _one(queryset: QuerySet, what: str, name, /, **lookup):
    """The object, or 404 whether it does not exist or the user cannot see it."""
    obj = queryset.filter(**lookup).first()
    if obj is None:
        raise exceptions.NotFound(_("No %(what)s %(key)s.") % {"what": what, "key": name})
    return obj


def _by_keys(queryset: QuerySet, what: str, keys: list[str]) -> dict:
    found = {obj.key: obj for obj in queryset.filter(key__in=set(keys))}
    missing = sorted(set(keys) - set(found))
    if missing:
        raise exceptions.NotFound(_("No %(what)s %(key)s.") % {"what": what, "key": ", ".join(missing)})
    return found


def _require_manager(user: User, shop: Shop) -> None:
    """A plan is visible to creators too; changing it is for the shop's members and ops."""
    if not shop_manageable_by(user=user, shop=shop):
        raise exceptions.PermissionDenied(
            _("You cannot manage the affiliate plans of shop %(shop)s.") % {"shop": shop.key}
        )


# Refusals and errors -----------------------------------------------------------------------------------


def plan_refused_response(exc: PlanRefused, shop: Shop | None) -> Response:
    params = s.market_params(rulesets_in_force(as_of=timezone.localdate()), shop.market) if shop else None
    details = {"codes": exc.codes, "reasons": s.reasons_worded(exc.codes, params)} | exc.details
    return error_response(
        code="plan_refused", message=exc.message, details=details, status_code=status.HTTP_422_UNPROCESSABLE_ENTITY
    )


def _jsonable(value):
    return value if value is None or isinstance(value, bool | int | float) else str(value)


def validation_error_response(exc: DjangoValidationError) -> Response:
    """A service's ValidationError with its own code; field errors keyed like DRF's."""
    if hasattr(exc, "error_dict"):
        errors_ = [error for field_errors in exc.error_dict.values() for error in field_errors]
        details = {field: [m for e in field_errors for m in e] for field, field_errors in exc.error_dict.items()}
    else:
        errors_ = exc.error_list
        params = errors_[0].params or {}
        details = {key: _jsonable(value) for key, value in params.items()} or None
    code = next((error.code for error in errors_ if error.code), "invalid")
    return error_response(code=code, message=" ".join(exc.messages), details=details)


class SchemaPointerMetadata(SimpleMetadata):
    """OPTIONS names the view and its formats; the request bodies are documented in /api/schema/."""

    def determine_actions(self, request, view):
        return {}


class OperationsView(GenericAPIView):
    """Writes count against the hourly ``bulk`` limit, reads against the per-minute one."""

    metadata_class = SchemaPointerMetadata

    # The shop whose market thresholds word a plan refusal (set once the view knows it).
    refusal_shop: Shop | None = None

    @property
    def throttle_scope(self) -> str:
        return "eligibility" if self.request.method in permissions.SAFE_METHODS else "bulk"

    def initial(self, request, *args, **kwargs):
        super().initial(request, *args, **kwargs)
        # PostgreSQL text cannot hold NUL: refuse it before a lookup turns it into a 500.
        texts = [str(value) for value in kwargs.values()]
        texts += [value for _name, values in request.query_params.lists() for value in values]
        if any("\x00" in text for text in texts):
            raise exceptions.ValidationError(_("Null characters are not allowed."), code="null_characters")

    def handle_exception(self, exc):
        if isinstance(exc, PlanRefused):
            return plan_refused_response(exc, self.refusal_shop)
        if isinstance(exc, DjangoValidationError):
            return validation_error_response(exc)
        return super().handle_exception(exc)

    def parsed(self, serializer_class, data=None) -> dict:
        serializer = serializer_class(data=self.request.data if data is None else data)
        serializer.is_valid(raise_exception=True)
        return serializer.validated_data

    def page(self, queryset, serializer_class, **context) -> Response:
        items = self.paginate_queryset(queryset)
        return self.get_paginated_response(serializer_class(items, many=True, context=context).data)


# Plans ------------------------------------------------------------------------------------------------


def _plan_data(user: User, plan_id: int) -> dict:
    return s.PlanOutputSerializer(plans_visible_to(user).get(pk=plan_id)).data


class PlansView(OperationsView):
    required_scopes = PLANS_SCOPES

    @extend_schema(
        operation_id="plans_list",
        tags=["plans"],
        parameters=[
            OpenApiParameter("shop", str, description="Only the plans of this shop id."),
            OpenApiParameter("status", str, enum=AffiliatePlan.Status.values),
        ],
        responses={200: s.PlanOutputSerializer(many=True), **errors(403)},
    )
    def get(self, request):
        plans = plans_visible_to(request.user)
        if shop := request.query_params.get("shop"):
            plans = plans.filter(shop__key=shop)
        if state := request.query_params.get("status"):
            plans = plans.filter(status=state)
        return self.page(plans, s.PlanOutputSerializer)

    @extend_schema(
        operation_id="plans_create",
        tags=["plans"],
        request=s.PlanCreateInputSerializer,
        responses={201: s.PlanOutputSerializer, **errors(400, 403, 404, 422)},
    )
    def post(self, request):
        data = self.parsed(s.PlanCreateInputSerializer)
        shop = self.refusal_shop = _one(shops_visible_to(request.user), _("shop"), data["shop"], key=data["shop"])
        keys = [item["product"] for item in data["products"]]
        products = _by_keys(products_visible_to(request.user), _("product"), keys)
        creators = _by_keys(Creator.objects.all(), _("creator"), data["creators"])
        plan = plan_create(
            shop=shop,
            user=request.user,
            name=data["name"],
            kind=data["kind"],
            products=[(products[item["product"]], item["rate"]) for item in data["products"]],
            creators=list(creators.values()),
            rate=data["rate"],
        )
        return Response(_plan_data(request.user, plan.pk), status=status.HTTP_201_CREATED)


class PlanObjectView(OperationsView):
    required_scopes = PLANS_SCOPES

    def plan(self, pk: int, *, manage: bool = False) -> AffiliatePlan:
        plan = _one(plans_visible_to(self.request.user), _("plan"), pk, pk=pk)
        self.refusal_shop = plan.shop
        if manage:
            _require_manager(self.request.user, plan.shop)
        return plan


class PlanView(PlanObjectView):
    @extend_schema(
        operation_id="plans_retrieve", tags=["plans"], responses={200: s.PlanOutputSerializer, **errors(403, 404)}
    )
    def get(self, request, pk: int):
        return Response(s.PlanOutputSerializer(self.plan(pk)).data)


class PlanProductsView(PlanObjectView):
    @extend_schema(
        operation_id="plans_products_add",
        tags=["plans"],
        request=s.PlanProductInputSerializer,
        responses={201: s.PlanMembershipOutputSerializer, **errors(400, 403, 404, 422)},
    )
    def post(self, request, pk: int):
        plan = self.plan(pk, manage=True)
        data = self.parsed(s.PlanProductInputSerializer)
        product = _one(products_visible_to(request.user), _("product"), data["product"], key=data["product"])
        membership = plan_add_product(plan=plan, product=product, rate=data["rate"], user=request.user)
        return Response(s.PlanMembershipOutputSerializer(membership).data, status=status.HTTP_201_CREATED)


class PlanProductView(PlanObjectView):
    @extend_schema(
        operation_id="plans_products_remove",
        tags=["plans"],
        parameters=[OpenApiParameter("reason", str, description="Why the product leaves the plan (audited).")],
        responses={204: None, **errors(403, 404, 422)},
    )
    def delete(self, request, pk: int, product_key: str):
        plan = self.plan(pk, manage=True)
        product = _one(products_visible_to(request.user), _("product"), product_key, key=product_key)
        reason = request.query_params.get("reason", "")
        plan_remove_product(plan=plan, product=product, user=request.user, reason=reason)
        return Response(status=status.HTTP_204_NO_CONTENT)


class PlanEndView(PlanObjectView):
    @extend_schema(
        operation_id="plans_end",
        tags=["plans"],
        request=s.PlanEndInputSerializer,
        responses={200: s.PlanOutputSerializer, **errors(400, 403, 404, 422)},
    )
    def post(self, request, pk: int):
        plan = self.plan(pk, manage=True)
        data = self.parsed(s.PlanEndInputSerializer)
        plan_end(plan=plan, user=request.user, reason=data["reason"])
        return Response(_plan_data(request.user, plan.pk))


class PlanInvitationsView(PlanObjectView):
    @extend_schema(
        operation_id="plans_invitations_create",
        tags=["plans"],
        description="Invite a creator to a running targeted plan; inviting again returns the first invitation.",
        request=s.PlanInviteInputSerializer,
        responses={200: s.PlanInvitationOutputSerializer, **errors(400, 403, 404, 422)},
    )
    def post(self, request, pk: int):
        plan = self.plan(pk, manage=True)
        data = self.parsed(s.PlanInviteInputSerializer)
        creator = _one(Creator.objects.all(), _("creator"), data["creator"], key=data["creator"])
        invitation = plan_invite_creator(plan=plan, creator=creator, user=request.user)
        return Response(s.PlanInvitationOutputSerializer(invitation).data)


class PlanPrecheckView(PlanObjectView):
    @extend_schema(
        operation_id="plans_precheck",
        tags=["plans"],
        description="Could this creator add each product of the plan now (C2), and why not. "
        "A creator checks itself (``creator`` may be left out); the shop's members may check the "
        "creators invited to the plan, ops any creator.",
        parameters=[OpenApiParameter("creator", str, description="Creator id (feed key).")],
        responses={200: s.PrecheckOutputSerializer, **errors(400, 403, 404)},
    )
    def get(self, request, pk: int):
        plan = self.plan(pk)
        user = request.user
        key = request.query_params.get("creator") or (user.creator.key if user.creator_id else "")
        if not key:
            raise exceptions.ValidationError({"creator": [_("Name the creator to check.")]})
        creators = creators_visible_to(user)
        if not user.is_ops and shop_manageable_by(user=user, shop=plan.shop):
            creators = Creator.objects.filter(Q(pk__in=creators.values("pk")) | Q(invitations=plan))
        # The answer carries the creator's scores: not for a creator who withdrew consent to sharing.
        creator = _one(creators_shared_with(user, creators), _("creator"), key, key=key)
        results = creator_precheck(creator=creator, plan=plan)
        data = {"plan": plan.pk, "creator": creator.key, "results": results}
        return Response(s.PrecheckOutputSerializer(data).data)


class BlastRadiusView(OperationsView):
    required_scopes = READ
    entity: str

    def target(self, key: str):
        raise NotImplementedError

    def get(self, request, key: str):
        target = self.target(key)
        kwargs = {self.entity: target}
        data = {
            "entity": self.entity,
            "key": target.key,
            "preview": blast_radius_preview(**kwargs),
            "actual": blast_radius_actual(**kwargs),
        }
        return Response(s.BlastRadiusOutputSerializer(data).data)


BLAST_RADIUS_SCHEMA = {
    "tags": ["plans"],
    "description": "What disqualifying it now would end (preview) and what its latest disqualification ended.",
    "responses": {200: s.BlastRadiusOutputSerializer, **errors(403, 404)},
}


class ShopBlastRadiusView(BlastRadiusView):
    entity = Entity.SHOP

    def target(self, key: str) -> Shop:
        return _one(shops_visible_to(self.request.user), _("shop"), key, key=key)

    @extend_schema(operation_id="shops_blast_radius", **BLAST_RADIUS_SCHEMA)
    def get(self, request, key: str):
        return super().get(request, key)


class ProductBlastRadiusView(BlastRadiusView):
    entity = Entity.PRODUCT

    def target(self, key: str) -> Product:
        return _one(products_visible_to(self.request.user), _("product"), key, key=key)

    @extend_schema(operation_id="products_blast_radius", **BLAST_RADIUS_SCHEMA)
    def get(self, request, key: str):
        return super().get(request, key)


class PlansRecreateView(OperationsView):
    required_scopes = PLANS_SCOPES

    @extend_schema(
        operation_id="shops_recreate_plans",
        tags=["plans"],
        description="New plans copying the shop's terminated ones (S8), with today's eligible products "
        "at their old rates capped by the tier.",
        request=s.PlansRecreateInputSerializer,
        responses={200: s.PlansRecreateOutputSerializer, **errors(400, 403, 404, 422)},
    )
    def post(self, request, key: str):
        shop = self.refusal_shop = _one(shops_visible_to(request.user), _("shop"), key, key=key)
        data = self.parsed(s.PlansRecreateInputSerializer)
        plans = None
        if data["plans"] is not None:
            plans = list(plans_visible_to(request.user).filter(pk__in=data["plans"]))
            missing = sorted(set(data["plans"]) - {plan.pk for plan in plans})
            if missing:
                raise exceptions.NotFound(
                    _("No %(what)s %(key)s.") % {"what": _("plan"), "key": ", ".join(map(str, missing))}
                )
        results = plans_recreate(shop=shop, user=request.user, plans=plans)
        new = plans_visible_to(request.user).in_bulk([r.new.pk for r in results if r.new is not None])
        for result in results:
            if result.new is not None:
                result.new = new[result.new.pk]
        return Response(s.PlansRecreateOutputSerializer({"recreated": results}).data)


# Creator adds ---------------------------------------------------------------------------------------


class CreatorAddsView(OperationsView):
    required_scopes = PLANS_SCOPES

    @extend_schema(
        operation_id="creator_adds_list",
        tags=["creator adds"],
        description="A creator's own adds, accepted and refused; ops see every creator's.",
        responses={200: s.CreatorAddOutputSerializer(many=True), **errors(403)},
    )
    def get(self, request):
        rulesets = rulesets_in_force(as_of=timezone.localdate())
        return self.page(creator_adds_shared_with(request.user), s.CreatorAddOutputSerializer, rulesets=rulesets)

    @extend_schema(
        operation_id="creator_adds_create",
        tags=["creator adds"],
        description="A creator adds a product to its showcase, a live session or a video (C2). "
        "A refusal answers 422 and is recorded (and notified) like an accepted add.",
        request=s.CreatorAddInputSerializer,
        responses={201: s.CreatorAddOutputSerializer, **errors(400, 403, 404, 422)},
    )
    def post(self, request):
        creator = request.user.creator
        if creator is None:
            raise exceptions.PermissionDenied(_("Only creators add products to showcases, live sessions and videos."))
        data = self.parsed(s.CreatorAddInputSerializer)
        product = _one(Product.objects.all(), _("product"), data["product"], key=data["product"])
        add = creator_add_product(creator=creator, product=product, placement=data["placement"])
        add = creator_adds_visible_to(request.user).get(pk=add.pk)
        context = {"rulesets": rulesets_in_force(as_of=timezone.localdate())}
        body = s.CreatorAddOutputSerializer(add, context=context).data
        if add.accepted:
            return Response(body, status=status.HTTP_201_CREATED)
        # An answer, not an exception: nothing is rolled back and the recorded refusal stays.
        return error_response(
            code="creator_add_refused",
            message=_("You cannot add %(product)s now. %(reasons)s")
            % {"product": product.key, "reasons": " ".join(reason["message"] for reason in body["reasons"])},
            details={"codes": body["codes"], "reasons": body["reasons"], "add": body},
            status_code=status.HTTP_422_UNPROCESSABLE_ENTITY,
        )


# Appeals ------------------------------------------------------------------------------------------------


def _appeal_data(user: User, appeal_id: int) -> dict:
    return s.AppealOutputSerializer(appeals_visible_to(user).get(pk=appeal_id)).data


class AppealsView(OperationsView):
    required_scopes = APPEALS_SCOPES

    @extend_schema(
        operation_id="appeals_list",
        tags=["appeals"],
        parameters=[OpenApiParameter("state", str, enum=Appeal.State.values)],
        responses={200: s.AppealOutputSerializer(many=True), **errors(403)},
    )
    def get(self, request):
        appeals = appeals_visible_to(request.user)
        if state := request.query_params.get("state"):
            appeals = appeals.filter(state=state)
        return self.page(appeals, s.AppealOutputSerializer)

    @extend_schema(
        operation_id="appeals_create",
        tags=["appeals"],
        description="A seller member appeals the latest verdict of a shop or product. Multipart: "
        "``entity``, ``key``, ``statement`` and one file field ``evidence[<item key>]`` per checklist "
        "item (GET /appeals/checklist/?codes=... lists them); a field may repeat for several files.",
        request=s.APPEAL_SUBMIT_REQUEST,
        responses={201: s.AppealOutputSerializer, **errors(400, 403, 404)},
    )
    def post(self, request):
        data = self.parsed(s.AppealSubmitInputSerializer)
        if data["entity"] == Entity.SHOP:
            target = _one(shops_visible_to(request.user), _("shop"), data["key"], key=data["key"])
        else:
            target = _one(products_visible_to(request.user), _("product"), data["key"], key=data["key"])
        evidence = []
        for field, uploads in request.FILES.lists():
            match = EVIDENCE_FIELD.match(field)
            if match is None:
                raise exceptions.ValidationError({field: [_("Send evidence files as evidence[<item key>].")]})
            evidence += [(match["item"], upload) for upload in uploads]
        appeal = appeal_submit(
            user=request.user,
            entity=data["entity"],
            entity_id=target.pk,
            statement=data["statement"],
            evidence=evidence,
        )
        return Response(_appeal_data(request.user, appeal.pk), status=status.HTTP_201_CREATED)


class AppealsQueueView(OperationsView):
    required_scopes = READ
    permission_classes = [*OperationsView.permission_classes, IsOps]

    @extend_schema(
        operation_id="appeals_queue",
        tags=["appeals"],
        description="Open appeals, the nearest review deadline first (ops only).",
        responses={200: s.AppealQueueOutputSerializer, **errors(403)},
    )
    def get(self, request):
        queued = [item.appeal for item in appeals_queue()]
        return Response(s.AppealQueueOutputSerializer({"results": queued}).data)


class AppealChecklistView(OperationsView):
    required_scopes = READ

    @extend_schema(
        operation_id="appeals_checklist",
        tags=["appeals"],
        description="The evidence an appeal against these reason codes needs, each item once.",
        parameters=[OpenApiParameter("codes", str, required=True, description="Reason codes, comma-separated.")],
        responses={200: s.AppealChecklistOutputSerializer, **errors(400)},
    )
    def get(self, request):
        codes = [code.strip() for code in request.query_params.get("codes", "").split(",") if code.strip()]
        unknown = [code for code in codes if code not in c.SHOP_CODES + c.PRODUCT_CODES]
        if not codes or unknown:
            return error_response(
                code="unknown_code",
                message=_("Give shop or product reason codes, comma-separated; unknown: %(codes)s.")
                % {"codes": ", ".join(unknown) or "-"},
                details={"codes": unknown},
            )
        items = [{"key": item.key, "label": str(item.label)} for item in appeal_checklist_for(codes)]
        not_appealable = s.AppealChecklistOutputSerializer.not_appealable_for(codes)
        data = {"codes": codes, "items": items, "not_appealable": not_appealable}
        return Response(s.AppealChecklistOutputSerializer(data).data)


class AppealObjectView(OperationsView):
    required_scopes = APPEALS_SCOPES

    def appeal(self, pk: int) -> Appeal:
        return _one(appeals_visible_to(self.request.user), _("appeal"), pk, pk=pk)

    def change(self, appeal: Appeal, action, **kwargs) -> Response:
        """Run one state change (the service notifies, audits and records the webhook event)."""
        appeal = action(appeal=appeal, user=self.request.user, **kwargs)
        return Response(_appeal_data(self.request.user, appeal.pk))


class AppealView(AppealObjectView):
    @extend_schema(
        operation_id="appeals_retrieve",
        tags=["appeals"],
        responses={200: s.AppealOutputSerializer, **errors(403, 404)},
    )
    def get(self, request, pk: int):
        return Response(s.AppealOutputSerializer(self.appeal(pk)).data)


DECISION_RESPONSES = {200: s.AppealOutputSerializer, **errors(400, 403, 404)}


class AppealApproveView(AppealObjectView):
    @extend_schema(
        operation_id="appeals_approve",
        tags=["appeals"],
        description="Ops grant the appeal: an override with ``status`` (ELIGIBLE by default) is shown over "
        "the verdict until ``expires_at``; the verdict itself stays as computed.",
        request=s.AppealApproveInputSerializer,
        responses=DECISION_RESPONSES,
    )
    def post(self, request, pk: int):
        appeal = self.appeal(pk)
        data = self.parsed(s.AppealApproveInputSerializer)
        return self.change(
            appeal,
            appeal_approve,
            reason=data["reason"],
            status=data.get("status") or c.ELIGIBLE,
            expires_at=data["expires_at"],
        )


class AppealRejectView(AppealObjectView):
    @extend_schema(
        operation_id="appeals_reject",
        tags=["appeals"],
        description="Ops refuse the appeal; the reason is shown to the seller and opens the second window.",
        request=s.AppealRejectInputSerializer,
        responses=DECISION_RESPONSES,
    )
    def post(self, request, pk: int):
        appeal = self.appeal(pk)
        data = self.parsed(s.AppealRejectInputSerializer)
        return self.change(appeal, appeal_reject, reason=data["reason"])


class AppealWithdrawView(AppealObjectView):
    @extend_schema(
        operation_id="appeals_withdraw",
        tags=["appeals"],
        description="A seller member takes an open appeal back; it still counts towards the two appeals.",
        request=None,
        responses=DECISION_RESPONSES,
    )
    def post(self, request, pk: int):
        return self.change(self.appeal(pk), appeal_withdraw)


# Notifications ------------------------------------------------------------------------------------------


class InboxPagination(IdCursorPagination):
    ordering = ("-created_at", "-id")

    def get_paginated_response_schema(self, schema):
        paginated = super().get_paginated_response_schema(schema)
        paginated["properties"]["unread_count"] = {"type": "integer", "example": 3}
        return paginated


class NotificationsView(OperationsView):
    pagination_class = InboxPagination

    @extend_schema(
        operation_id="notifications_list",
        tags=["notifications"],
        description="The user's inbox, newest first, worded in the Accept-Language language "
        "(without that header, in the user's own language).",
        parameters=[OpenApiParameter("unread", OpenApiTypes.BOOL, description="Only unread notifications.")],
        responses={200: s.NotificationOutputSerializer(many=True)},
    )
    def get(self, request):
        notifications = Notification.objects.filter(user=request.user)
        if request.query_params.get("unread", "").lower() in ("1", "true", "yes"):
            notifications = notifications.filter(read_at__isnull=True)
        page = self.paginate_queryset(notifications)
        language = request.LANGUAGE_CODE if "HTTP_ACCEPT_LANGUAGE" in request.META else request.user.language
        with translation.override(language):
            data = s.NotificationOutputSerializer(notifications_render(page), many=True).data
        response = self.get_paginated_response(data)
        response.data["unread_count"] = notifications_unread_count(user=request.user)
        return response


class NotificationsReadView(OperationsView):
    @extend_schema(
        operation_id="notifications_read",
        tags=["notifications"],
        description="Mark the user's own notifications read (or unread); other ids are ignored.",
        request=s.NotificationsReadInputSerializer,
        responses={200: s.NotificationsChangedOutputSerializer, **errors(400)},
    )
    def post(self, request):
        data = self.parsed(s.NotificationsReadInputSerializer)
        changed = notification_mark_read(user=request.user, notification_ids=data["ids"], read=data["read"])
        unread = notifications_unread_count(user=request.user)
        return Response(s.NotificationsChangedOutputSerializer({"changed": changed, "unread_count": unread}).data)


class NotificationsReadAllView(OperationsView):
    @extend_schema(
        operation_id="notifications_read_all",
        tags=["notifications"],
        request=None,
        responses={200: s.NotificationsChangedOutputSerializer},
    )
    def post(self, request):
        changed = notification_mark_all_read(user=request.user)
        unread = notifications_unread_count(user=request.user)
        return Response(s.NotificationsChangedOutputSerializer({"changed": changed, "unread_count": unread}).data)


class NotificationPreferencesView(OperationsView):
    @extend_schema(
        operation_id="notifications_preferences_retrieve",
        tags=["notifications"],
        responses={200: s.NotificationPreferencesSerializer},
    )
    def get(self, request):
        return Response(s.NotificationPreferencesSerializer(request.user).data)

    @extend_schema(
        operation_id="notifications_preferences_update",
        tags=["notifications"],
        request=s.NotificationPreferencesSerializer,
        responses={200: s.NotificationPreferencesSerializer, **errors(400)},
    )
    def put(self, request):
        data = self.parsed(s.NotificationPreferencesSerializer)
        user = notification_preferences_update(user=request.user, **data)
        return Response(s.NotificationPreferencesSerializer(user).data)


# API tokens ---------------------------------------------------------------------------------------------


class ApiTokensView(OperationsView):
    """Ops create tokens for any user; everyone lists their own tokens (ops: all)."""

    def get_permissions(self):
        if self.request.method == "POST":
            return [*super().get_permissions(), IsOps()]
        return super().get_permissions()

    @extend_schema(
        operation_id="tokens_list",
        tags=["tokens"],
        parameters=[OpenApiParameter("user", OpenApiTypes.EMAIL, description="Only this user's tokens (ops).")],
        responses={200: s.ApiTokenOutputSerializer(many=True)},
    )
    def get(self, request):
        tokens = tokens_visible_to(request.user)
        if email := request.query_params.get("user"):
            tokens = tokens.filter(user__email__iexact=email)
        return self.page(tokens, s.ApiTokenOutputSerializer)

    @extend_schema(
        operation_id="tokens_create",
        tags=["tokens"],
        description="Ops create a token for a user; the raw token is in this answer only. A request made "
        "with a token cannot grant scopes that token lacks.",
        request=s.ApiTokenCreateInputSerializer,
        responses={201: s.ApiTokenCreatedOutputSerializer, **errors(400, 403, 404)},
    )
    def post(self, request):
        data = self.parsed(s.ApiTokenCreateInputSerializer)
        if isinstance(request.auth, ApiToken) and not set(data["scopes"]) <= set(request.auth.scopes):
            raise exceptions.PermissionDenied(
                _("A token cannot grant scopes it does not hold: %(scopes)s.")
                % {"scopes": ", ".join(sorted(set(data["scopes"]) - set(request.auth.scopes)))},
                code="scope_escalation",
            )
        user = _one(User.objects.all(), _("user"), data["user"], email__iexact=data["user"])
        token, raw = api_token_create(
            user=user,
            scopes=data["scopes"],
            purpose=data["purpose"],
            allowed_ips=data["allowed_ips"],
            created_by=request.user,
        )
        token = tokens_visible_to(request.user).get(pk=token.pk)
        body = s.ApiTokenOutputSerializer(token).data | {"token": raw}
        return Response(body, status=status.HTTP_201_CREATED)


class ApiTokenView(OperationsView):
    @extend_schema(
        operation_id="tokens_revoke",
        tags=["tokens"],
        description="Revoke a token: its owner or ops. Revoking twice changes nothing.",
        parameters=[OpenApiParameter("reason", str, description="Why (audited).")],
        responses={204: None, **errors(404)},
    )
    def delete(self, request, prefix: str):
        token = _one(tokens_visible_to(request.user), _("token"), prefix, prefix=prefix)
        api_token_revoke(token=token, user=request.user, reason=request.query_params.get("reason", ""))
        return Response(status=status.HTTP_204_NO_CONTENT)
