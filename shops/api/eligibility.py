"""The eligibility API (read-only): verdicts of shops, products and creators, and their history.

- ``GET /api/v1/{shops,products,creators}/``: cursor pages, filters of ``eligibility_filters``;
- ``GET /api/v1/{...}/{key}/``: one object by feed key, with an ETag (304 on If-None-Match)
  and, for shops and creators, the score forecast;
- ``GET /api/v1/{...}/{key}/history/``: its append-only verdict history, newest first.

Objects come from ``shops.visibility`` only: what a user may not see answers 404. A list page
costs the same queries whatever its size: the page (with its shop, seller and category), the
active overrides (and the shops' for products), the history rows of the current verdicts and
the rule sets they name. Messages are worded in the request's language (Accept-Language).
"""

import dataclasses
import hashlib
import json
from collections.abc import Callable

from django.conf import settings
from django.core.serializers.json import DjangoJSONEncoder
from django.db.models import QuerySet
from django.utils import timezone, translation
from django.utils.cache import patch_cache_control, patch_vary_headers
from django.utils.http import parse_etags
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema, extend_schema_view
from rest_framework import generics
from rest_framework.response import Response

from shops.api import eligibility_serializers as s
from shops.api.eligibility_filters import creators_filtered, products_filtered, shops_filtered
from shops.api.pagination import IdCursorPagination
from shops.eligibility import (
    creator_forecast_today,
    eligibility_attach,
    shop_forecast_today,
    thresholds_by_version,
)
from shops.models import ApiToken, Entity, StatusHistory
from shops.rules import codes as c
from shops.visibility import creators_shared_with, products_visible_to, shops_visible_to


@dataclasses.dataclass(frozen=True)
class Kind:
    entity: str
    visible: Callable
    filtered: Callable
    related: tuple[str, ...]
    forecast: Callable | None = None


SHOPS = Kind(Entity.SHOP, shops_visible_to, shops_filtered, ("seller",), shop_forecast_today)
PRODUCTS = Kind(Entity.PRODUCT, products_visible_to, products_filtered, ("shop__seller", "category"))
# A creator who withdrew consent to sharing is left out for every client but its own (privacy).
CREATORS = Kind(Entity.CREATOR, creators_shared_with, creators_filtered, (), creator_forecast_today)


def _language(request) -> str:
    return getattr(request, "LANGUAGE_CODE", None) or settings.LANGUAGE_CODE


def _etag(data, language: str) -> str:
    body = json.dumps(data, sort_keys=True, cls=DjangoJSONEncoder)
    return '"{}"'.format(hashlib.sha256(f"{language}\n{body}".encode()).hexdigest()[:40])


def _not_modified(request, etag: str) -> bool:
    """If-None-Match with the weak comparison of RFC 9110 (13.1.2)."""
    header = request.headers.get("If-None-Match", "")
    if not header:
        return False
    tags = parse_etags(header)
    return "*" in tags or etag in {tag.removeprefix("W/") for tag in tags}


class NewestFirstCursorPagination(IdCursorPagination):
    ordering = "-id"


class _EligibilityView(generics.GenericAPIView):
    required_scopes = ApiToken.Scope.ELIGIBILITY_READ
    throttle_scope = "eligibility"
    kind: Kind

    def get_queryset(self) -> QuerySet:
        if getattr(self, "swagger_fake_view", False):  # the OpenAPI schema is being generated
            return self.kind.visible(self.request.user).none()
        return self.kind.visible(self.request.user).select_related(*self.kind.related)

    def get_visible(self):
        return generics.get_object_or_404(self.get_queryset(), key=self.kwargs["key"])

    def finalize_response(self, request, response, *args, **kwargs):
        response = super().finalize_response(request, response, *args, **kwargs)
        # Per user and per language; a cache may keep a copy but must check its ETag.
        patch_vary_headers(response, ("Accept-Language", "Authorization", "Cookie"))
        patch_cache_control(response, private=True, no_cache=True)
        return response


class _ListView(_EligibilityView, generics.ListAPIView):
    def filter_queryset(self, queryset):
        return self.kind.filtered(queryset, self.request.query_params)

    def list(self, request, *args, **kwargs):
        page = self.paginate_queryset(self.filter_queryset(self.get_queryset()))
        eligibility_attach(self.kind.entity, page)
        with translation.override(_language(request)):
            data = self.get_serializer(page, many=True).data
        return self.get_paginated_response(data)


class _DetailView(_EligibilityView, generics.RetrieveAPIView):
    def retrieve(self, request, *args, **kwargs):
        obj = self.get_visible()
        eligibility_attach(self.kind.entity, [obj])
        if self.kind.forecast is not None:
            obj.eligibility.forecast = self.kind.forecast(obj, timezone.localdate())
        language = _language(request)
        with translation.override(language):
            data = self.get_serializer(obj).data
        etag = _etag(data, language)
        response = Response(status=304) if _not_modified(request, etag) else Response(data)
        response["ETag"] = etag
        return response


class _HistoryView(_EligibilityView, generics.ListAPIView):
    serializer_class = s.EligibilityHistoryEntrySerializer
    pagination_class = NewestFirstCursorPagination

    def list(self, request, *args, **kwargs):
        target = self.get_visible()
        rows = StatusHistory.objects.filter(entity=self.kind.entity, entity_id=target.pk)
        page = self.paginate_queryset(rows)
        context = self.get_serializer_context() | {
            "thresholds": thresholds_by_version(row.ruleset_version for row in page)
        }
        with translation.override(_language(request)):
            data = s.EligibilityHistoryEntrySerializer(page, many=True, context=context).data
        return self.get_paginated_response(data)

    def get_visible(self):
        # Only the id is needed; the history rows are the page.
        return generics.get_object_or_404(self.kind.visible(self.request.user).only("pk"), key=self.kwargs["key"])


# OpenAPI ------------------------------------------------------------------------------------------

ERROR = s.EligibilityErrorSerializer
KEY = OpenApiParameter("key", OpenApiTypes.STR, OpenApiParameter.PATH, description="The feed key.")
ACCEPT_LANGUAGE = OpenApiParameter(
    "Accept-Language",
    OpenApiTypes.STR,
    OpenApiParameter.HEADER,
    description="Language of the messages: en (default) or zh-hans.",
)
ETAG = OpenApiParameter(
    "ETag", OpenApiTypes.STR, OpenApiParameter.HEADER, response=[200, 304], description="Validator of this payload."
)
IF_NONE_MATCH = OpenApiParameter(
    "If-None-Match",
    OpenApiTypes.STR,
    OpenApiParameter.HEADER,
    description="An ETag of an earlier response: 304 with no body while the payload is unchanged.",
)
CHANGED_SINCE = OpenApiParameter(
    "changed_since",
    OpenApiTypes.STR,
    description="Status changed at or after this ISO 8601 date or date-time (a date is midnight, server time).",
)


def _choice_filter(name: str, options: tuple[str, ...], description: str) -> OpenApiParameter:
    return OpenApiParameter(
        name, OpenApiTypes.STR, many=True, explode=False, enum=list(options), description=description
    )


def _filters(entity: str) -> list[OpenApiParameter]:
    statuses = {Entity.SHOP: c.SHOP_STATUSES, Entity.PRODUCT: c.PRODUCT_STATUSES, Entity.CREATOR: c.CREATOR_STATUSES}
    codes = {Entity.SHOP: c.SHOP_CODES, Entity.PRODUCT: c.PRODUCT_CODES, Entity.CREATOR: c.CREATOR_CODES}
    params = [
        _choice_filter("status", statuses[entity], "Computed status, any of (comma-separated)."),
        _choice_filter("reason", codes[entity], "Has any of these reason codes (comma-separated)."),
    ]
    if entity in (Entity.SHOP, Entity.PRODUCT):
        params.append(
            OpenApiParameter(
                "market",
                OpenApiTypes.STR,
                many=True,
                explode=False,
                pattern=r"^[A-Za-z]{2,3}$",
                description="Market of the shop, any of (comma-separated), e.g. US,UK.",
            )
        )
    if entity == Entity.PRODUCT:
        params += [
            OpenApiParameter("category", OpenApiTypes.STR, many=True, description="Leaf category feed key (repeat)."),
            OpenApiParameter("shop", OpenApiTypes.STR, many=True, description="Shop feed key (repeat for several)."),
        ]
    return [*params, CHANGED_SINCE, ACCEPT_LANGUAGE]


def _list_schema(entity: str, serializer, summary: str):
    return extend_schema_view(
        get=extend_schema(
            summary=summary,
            parameters=_filters(entity),
            responses={
                200: serializer,
                400: OpenApiResponse(ERROR, description="A filter value is invalid; details name the parameter."),
                401: ERROR,
                403: OpenApiResponse(ERROR, description="The token lacks the scope eligibility:read."),
                429: ERROR,
            },
        )
    )


def _detail_schema(serializer, summary: str):
    return extend_schema_view(
        get=extend_schema(
            summary=summary,
            parameters=[KEY, ACCEPT_LANGUAGE, IF_NONE_MATCH, ETAG],
            responses={
                200: serializer,
                304: OpenApiResponse(description="Not modified: If-None-Match holds the current ETag."),
                401: ERROR,
                403: ERROR,
                404: OpenApiResponse(ERROR, description="No such object, or not visible to this user."),
                429: ERROR,
            },
        )
    )


def _history_schema(summary: str):
    return extend_schema_view(
        get=extend_schema(
            summary=summary,
            parameters=[KEY, ACCEPT_LANGUAGE],
            responses={
                200: s.EligibilityHistoryEntrySerializer,
                401: ERROR,
                403: ERROR,
                404: OpenApiResponse(ERROR, description="No such object, or not visible to this user."),
                429: ERROR,
            },
        )
    )


# Views --------------------------------------------------------------------------------------------


@_list_schema(Entity.SHOP, s.ShopEligibilitySerializer, "Shops and their affiliate eligibility")
class ShopListView(_ListView):
    kind = SHOPS
    serializer_class = s.ShopEligibilitySerializer


@_detail_schema(s.ShopEligibilityDetailSerializer, "A shop's eligibility, with its SPS forecast")
class ShopDetailView(_DetailView):
    kind = SHOPS
    serializer_class = s.ShopEligibilityDetailSerializer


@_history_schema("A shop's verdict history, newest first")
class ShopHistoryView(_HistoryView):
    kind = SHOPS


@_list_schema(Entity.PRODUCT, s.ProductEligibilitySerializer, "Products and their affiliate eligibility")
class ProductListView(_ListView):
    kind = PRODUCTS
    serializer_class = s.ProductEligibilitySerializer


@_detail_schema(s.ProductEligibilityDetailSerializer, "A product's eligibility")
class ProductDetailView(_DetailView):
    kind = PRODUCTS
    serializer_class = s.ProductEligibilityDetailSerializer


@_history_schema("A product's verdict history, newest first")
class ProductHistoryView(_HistoryView):
    kind = PRODUCTS


@_list_schema(Entity.CREATOR, s.CreatorEligibilitySerializer, "Creators and their qualification")
class CreatorListView(_ListView):
    kind = CREATORS
    serializer_class = s.CreatorEligibilitySerializer


@_detail_schema(s.CreatorEligibilityDetailSerializer, "A creator's qualification, with the PPS forecast")
class CreatorDetailView(_DetailView):
    kind = CREATORS
    serializer_class = s.CreatorEligibilityDetailSerializer


@_history_schema("A creator's verdict history, newest first")
class CreatorHistoryView(_HistoryView):
    kind = CREATORS
