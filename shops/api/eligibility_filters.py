"""Filters of the eligibility lists: plain functions on querysets, shared by the API and the web pages.

``shops_filtered(queryset, params)`` (and the product and creator ones) take the query
parameters as a mapping (a ``QueryDict`` or a dict) and return the filtered queryset. Every
bad value is reported at once as a ``ValidationError`` keyed by the parameter's name, which
the API answers with a 400 in its error format and a form can show beside the field.

- ``status``, ``reason`` and ``market`` take one value or several, comma-separated or
  repeated, and match any of them; codes and markets are case-insensitive. ``status`` and
  ``reason`` are the computed verdict's (an ops override is shown over it, not filtered on).
- ``shop`` and ``category`` take feed keys, repeated for several (a key may hold a comma).
  An unknown key matches nothing: a 400 would tell a seller that another seller's shop exists.
- ``changed_since``: an ISO 8601 date or date-time; ``status_changed_at >= it``. A date means
  midnight and a date-time without an offset is local time, both in ``settings.TIME_ZONE``.
- A blank value is no filter (what an empty field of a web form sends); unknown parameters
  are ignored, like the cursor and the page size.

The verdict columns have no index (every index on them is rewritten with each changed row):
these filters scan the visible rows in id order until a page is full.
"""

import datetime as dt
from collections.abc import Callable, Mapping

from django.core.exceptions import ValidationError
from django.db import connections
from django.db.models import Q, QuerySet
from django.utils import timezone
from django.utils.dateparse import parse_date, parse_datetime
from django.utils.translation import gettext as _

from shops.rules import codes as c

KEY_MAX_LENGTH = 64
MAX_VALUES = 100


class _Invalid(ValueError):
    pass


def _raw_values(params: Mapping, name: str) -> list[str]:
    if hasattr(params, "getlist"):
        return list(params.getlist(name))
    value = params.get(name)
    if value is None:
        return []
    return list(value) if isinstance(value, list | tuple) else [value]


def _values(params: Mapping, name: str, *, split: bool) -> list[str]:
    values = []
    for raw in _raw_values(params, name):
        parts = str(raw).split(",") if split else [str(raw)]
        values.extend(part.strip() for part in parts if part.strip())
    if len(values) > MAX_VALUES:
        raise _Invalid(_("Give at most %(count)s values.") % {"count": MAX_VALUES})
    return list(dict.fromkeys(values))


Apply = Callable[[QuerySet, list[str]], QuerySet]


def _choices(field: str, options: tuple[str, ...], message: str) -> Apply:
    def apply(queryset: QuerySet, values: list[str]) -> QuerySet:
        chosen = [value.upper() for value in values]
        unknown = [value for value, upper in zip(values, chosen, strict=True) if upper not in options]
        if unknown:
            raise _Invalid(message % {"values": ", ".join(unknown), "options": ", ".join(options)})
        return queryset.filter(**{f"{field}__in": chosen})

    return apply


def _status(options: tuple[str, ...]) -> Apply:
    return _choices("status", options, _("Unknown status %(values)s; use one of %(options)s."))


def _reason(options: tuple[str, ...]) -> Apply:
    def apply(queryset: QuerySet, values: list[str]) -> QuerySet:
        codes = [value.upper() for value in values]
        unknown = [value for value, code in zip(values, codes, strict=True) if code not in options]
        if unknown:
            raise _Invalid(
                _("Unknown reason code %(values)s; use one of %(options)s.")
                % {"values": ", ".join(unknown), "options": ", ".join(options)}
            )
        if connections[queryset.db].vendor == "postgresql":
            # jsonb @> '["CODE"]': the code is one of the array's elements.
            condition = [Q(reasons__contains=[code]) for code in codes]
        else:
            condition = [Q(reasons__icontains=f'"{code}"') for code in codes]
        any_of = Q()
        for part in condition:
            any_of |= part
        return queryset.filter(any_of)

    return apply


def _market(field: str) -> Apply:
    def apply(queryset: QuerySet, values: list[str]) -> QuerySet:
        bad = [value for value in values if not (value.isascii() and value.isalpha() and 2 <= len(value) <= 3)]
        if bad:
            raise _Invalid(_("A market is 2 or 3 letters, e.g. US; got %(values)s.") % {"values": ", ".join(bad)})
        return queryset.filter(**{f"{field}__in": [value.upper() for value in values]})

    return apply


def _key(field: str) -> Apply:
    def apply(queryset: QuerySet, values: list[str]) -> QuerySet:
        if any(len(value) > KEY_MAX_LENGTH for value in values):
            raise _Invalid(_("A key is at most %(length)s characters.") % {"length": KEY_MAX_LENGTH})
        return queryset.filter(**{f"{field}__in": values})

    return apply


def parse_since(value: str) -> dt.datetime:
    """An ISO 8601 date or date-time as an aware datetime (naive ones in the current time zone)."""
    try:
        moment = parse_datetime(value)
        day = None if moment is not None else parse_date(value)
    except ValueError:
        moment = day = None
    if moment is None and day is None:
        raise _Invalid(
            _(
                "Give an ISO 8601 date or date-time, e.g. 2026-11-20 or 2026-11-20T08:00:00Z "
                "(write + in an offset as %%2B); got %(value)s."
            )
            % {"value": value[:40]}
        )
    if moment is None:
        moment = dt.datetime.combine(day, dt.time.min)
    if timezone.is_naive(moment):
        moment = timezone.make_aware(moment)
    return moment


def _changed_since(queryset: QuerySet, values: list[str]) -> QuerySet:
    if len(values) > 1:
        raise _Invalid(_("Give one date or date-time."))
    return queryset.filter(status_changed_at__gte=parse_since(values[0]))


# Parameter -> (split comma-separated values?, how it filters), per list.
SHOP_FILTERS: dict[str, tuple[bool, Apply]] = {
    "status": (True, _status(c.SHOP_STATUSES)),
    "reason": (True, _reason(c.SHOP_CODES)),
    "market": (True, _market("market")),
    "changed_since": (False, _changed_since),
}
PRODUCT_FILTERS: dict[str, tuple[bool, Apply]] = {
    "status": (True, _status(c.PRODUCT_STATUSES)),
    "reason": (True, _reason(c.PRODUCT_CODES)),
    "market": (True, _market("shop__market")),
    "category": (False, _key("category__key")),
    "shop": (False, _key("shop__key")),
    "changed_since": (False, _changed_since),
}
CREATOR_FILTERS: dict[str, tuple[bool, Apply]] = {
    "status": (True, _status(c.CREATOR_STATUSES)),
    "reason": (True, _reason(c.CREATOR_CODES)),
    "changed_since": (False, _changed_since),
}


def _filtered(queryset: QuerySet, params: Mapping, filters: dict[str, tuple[bool, Apply]]) -> QuerySet:
    errors: dict[str, list[str]] = {}
    for name, (split, apply) in filters.items():
        try:
            values = _values(params, name, split=split)
            if values:
                queryset = apply(queryset, values)
        except _Invalid as exc:
            errors[name] = [str(exc)]
    if errors:
        raise ValidationError(errors)
    return queryset


def shops_filtered(queryset: QuerySet, params: Mapping) -> QuerySet:
    """Filters ``status``, ``reason``, ``market``, ``changed_since``."""
    return _filtered(queryset, params, SHOP_FILTERS)


def products_filtered(queryset: QuerySet, params: Mapping) -> QuerySet:
    """Filters ``status``, ``reason``, ``market`` (the shop's), ``category``, ``shop``, ``changed_since``."""
    return _filtered(queryset, params, PRODUCT_FILTERS)


def creators_filtered(queryset: QuerySet, params: Mapping) -> QuerySet:
    """Filters ``status``, ``reason``, ``changed_since``."""
    return _filtered(queryset, params, CREATOR_FILTERS)
