"""Personal data encrypted at rest, and keyed hashes for exact lookups.

Values are encrypted with Fernet under the first key of ``FIELD_ENCRYPTION_KEYS``; every
listed key still decrypts, so keys can be rotated without downtime (``rotate_field_keys``
re-encrypts the stored values under the first key).

An encrypted column cannot be searched, so a value that must be found by exact match (a
seller's contact e-mail, a tax id) also gets a ``BlindIndexField``: an HMAC of the normalised
value under ``FIELD_HASH_KEY``. Without the key the hash reveals nothing, and the same value
always gives the same hash, so ``filter(tax_id_hash=blind_index(...))`` finds it.
"""

import hashlib
import hmac
import re
from functools import lru_cache

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.db import models


@lru_cache(maxsize=4)
def _fernet(keys: tuple[str, ...]) -> MultiFernet:
    try:
        return MultiFernet([Fernet(key.encode()) for key in keys])
    except ValueError as exc:
        raise ImproperlyConfigured(f"FIELD_ENCRYPTION_KEYS holds an invalid Fernet key: {exc}") from None


@lru_cache(maxsize=4)
def _primary(key: str) -> Fernet:
    return Fernet(key.encode())


def fernet() -> MultiFernet:
    return _fernet(tuple(settings.FIELD_ENCRYPTION_KEYS))


def primary_fernet() -> Fernet:
    """The key new values are encrypted with (the first of ``FIELD_ENCRYPTION_KEYS``)."""
    return _primary(settings.FIELD_ENCRYPTION_KEYS[0])


def encrypt(value: str) -> str:
    return fernet().encrypt(value.encode()).decode()


def decrypt(token: str) -> str:
    try:
        return fernet().decrypt(token.encode()).decode()
    except InvalidToken:
        raise ImproperlyConfigured(
            "An encrypted field cannot be decrypted with any key of FIELD_ENCRYPTION_KEYS"
        ) from None


def encrypt_bytes(data: bytes) -> bytes:
    return fernet().encrypt(data)


def decrypt_bytes(token: bytes) -> bytes:
    return fernet().decrypt(token)


class EncryptedTextField(models.TextField):
    """A text field stored as a Fernet token; blank stays blank (nothing to protect)."""

    def from_db_value(self, value, expression, connection):
        if value is None or value == "":
            return value
        return decrypt(value)

    def get_prep_value(self, value):
        value = super().get_prep_value(value)
        if value is None or value == "":
            return value
        return encrypt(value)


# Keyed hashes -------------------------------------------------------------------------------------

_NOT_DIGITS = re.compile(r"[^0-9]")
_NOT_ALNUM = re.compile(r"[^0-9A-Za-z]")


def _normalise(kind: str, value: str) -> str:
    """The same e-mail, phone or number written two ways must hash alike."""
    value = (value or "").strip()
    if kind == "email":
        return value.lower()
    if kind == "phone":
        return ("+" if value.startswith("+") else "") + _NOT_DIGITS.sub("", value)
    if kind in {"tax_id", "bank_account"}:
        return _NOT_ALNUM.sub("", value).upper()
    return value


def blind_index(value: str | None, *, kind: str) -> str:
    """HMAC-SHA256 of the normalised value under ``FIELD_HASH_KEY``; blank for a blank value."""
    normalised = _normalise(kind, value or "")
    if not normalised:
        return ""
    message = f"{kind}:{normalised}".encode()
    return hmac.new(settings.FIELD_HASH_KEY.encode(), message, hashlib.sha256).hexdigest()


class BlindIndexField(models.CharField):
    """The keyed hash of another field of the same model, computed whenever the row is written.

    Kept in step on ``save()`` and ``bulk_create`` (including upserts that list it among their
    update fields); ``rotate_field_keys --rehash`` recomputes every row.
    """

    def __init__(self, *args, source: str, kind: str, **kwargs):
        self.source, self.kind = source, kind
        kwargs.setdefault("max_length", 64)
        kwargs.setdefault("blank", True)
        kwargs.setdefault("default", "")
        kwargs.setdefault("editable", False)
        kwargs.setdefault("db_index", True)
        super().__init__(*args, **kwargs)

    def deconstruct(self):
        name, path, args, kwargs = super().deconstruct()
        kwargs |= {"source": self.source, "kind": self.kind}
        for key in ("max_length", "blank", "default", "editable", "db_index"):
            kwargs.pop(key, None)
        return name, path, args, kwargs

    def pre_save(self, model_instance, add):
        value = blind_index(getattr(model_instance, self.source), kind=self.kind)
        setattr(model_instance, self.attname, value)
        return value
