"""The forbidden-field guard (data minimisation, seed 001): one list, one check, shared by the
feed import, every API request body and query string, and every web form.

The list is ``settings.FEED_FORBIDDEN_COLUMNS`` (by default ``buyer_phone``,
``buyer_address``, ``order_profit_margin`` and other buyer identifiers); names are compared
case-insensitively and without surrounding spaces. Every refusal names the field.
"""

from collections.abc import Iterable, Mapping

from django import forms
from django.conf import settings
from django.core.exceptions import ValidationError
from django.utils.translation import gettext_lazy as _

MESSAGE = _("%(field)s is forbidden personal data and must not be sent.")


def forbidden_messages(names: Iterable[str]) -> dict[str, list[str]]:
    """The refusal of each forbidden field, in the active language, keyed by the field's name."""
    return {name: [str(MESSAGE) % {"field": name}] for name in names}


def forbidden_fields() -> frozenset[str]:
    return frozenset(name.strip().lower() for name in settings.FEED_FORBIDDEN_COLUMNS if name.strip())


def is_forbidden(name: str) -> bool:
    return str(name).strip().lower() in forbidden_fields()


def forbidden_in(names: Iterable[str]) -> list[str]:
    """The forbidden names among ``names``, as given, in their order."""
    forbidden = forbidden_fields()
    return [name for name in names if str(name).strip().lower() in forbidden]


def forbidden_in_data(data: object, *, limit: int = 10_000) -> list[str]:
    """Forbidden keys anywhere in a parsed JSON document (nested objects and lists included)."""
    forbidden, found, stack, seen = forbidden_fields(), [], [data], 0
    while stack and seen < limit:
        item = stack.pop()
        seen += 1
        if isinstance(item, Mapping):
            for key, value in item.items():
                if str(key).strip().lower() in forbidden and key not in found:
                    found.append(str(key))
                stack.append(value)
        elif isinstance(item, list | tuple):
            stack.extend(item)
    return found


class ForbiddenFieldError(ValidationError):
    """Raised with one message per forbidden field, keyed by the field's name."""

    def __init__(self, names: list[str]):
        self.fields = names
        super().__init__(
            {name: [ValidationError(MESSAGE, code="forbidden_field", params={"field": name})] for name in names}
        )


def check_names(names: Iterable[str]) -> None:
    found = forbidden_in(names)
    if found:
        raise ForbiddenFieldError(found)


class GuardedFormMixin:
    """For any ``forms.Form``: a submitted forbidden field is a form error naming it.

    Declared fields are checked as well as extra keys of the submitted data, so a page that
    posts ``buyer_phone`` is refused even though the form would have ignored it.
    """

    def clean(self):
        cleaned = super().clean()
        names = list(getattr(self, "fields", {})) + list(getattr(self, "data", {}).keys())
        for name in dict.fromkeys(forbidden_in(names)):
            self.add_error(None, ValidationError(MESSAGE, code="forbidden_field", params={"field": name}))
        return cleaned


class GuardedForm(GuardedFormMixin, forms.Form):
    pass
