"""Key rotation for encrypted fields: re-encrypt every value under the first key of
``FIELD_ENCRYPTION_KEYS`` (the old keys still decrypt meanwhile), and recompute keyed hashes.

Tokens are rotated without being decrypted into model instances (``MultiFernet.rotate``), in
batches, and a value already under the first key is left alone, so a second run writes nothing.
"""

from collections.abc import Callable

from cryptography.fernet import InvalidToken
from django.apps import apps
from django.db import models, transaction
from django.db.models import Case, TextField, Value, When
from django.db.models.functions import Cast

from privacy.classification import CLASSIFIED_APPS
from privacy.fields import BlindIndexField, EncryptedTextField, blind_index, fernet, primary_fernet

BATCH = 1000


def encrypted_fields() -> list[tuple[type[models.Model], list[str]]]:
    found = []
    for app_label in CLASSIFIED_APPS:
        for model in apps.get_app_config(app_label).get_models():
            names = [f.name for f in model._meta.concrete_fields if isinstance(f, EncryptedTextField)]
            if names:
                found.append((model, names))
    return found


def _under_primary(token: str) -> bool:
    try:
        primary_fernet().decrypt(token.encode())
    except InvalidToken:
        return False
    return True


def keys_rotate(*, report: Callable[[str, int], None] | None = None) -> dict[str, int]:
    """Re-encrypt under the first key; returns values rewritten per ``app.Model.field``."""
    rotated: dict[str, int] = {}
    multi = fernet()
    for model, names in encrypted_fields():
        for name in names:
            label = f"{model._meta.label}.{name}"
            rows = model._base_manager.exclude(**{name: ""}).annotate(_raw=Cast(name, TextField()))
            last_pk, count = 0, 0
            while True:
                batch = list(rows.filter(pk__gt=last_pk).order_by("pk").values_list("pk", "_raw")[:BATCH])
                if not batch:
                    break
                last_pk = batch[-1][0]
                stale = [(pk, raw) for pk, raw in batch if raw and not _under_primary(raw)]
                if stale:
                    whens = [When(pk=pk, then=Value(multi.rotate(raw.encode()).decode())) for pk, raw in stale]
                    with transaction.atomic():
                        # Value(..., TextField) writes the token as it is (no second encryption).
                        model._base_manager.filter(pk__in=[pk for pk, _ in stale]).update(
                            **{name: Case(*whens, output_field=TextField())}
                        )
                    count += len(stale)
            rotated[label] = count
            if report:
                report(label, count)
    return rotated


def hashes_recompute() -> dict[str, int]:
    """Recompute every keyed hash from its (decrypted) source, e.g. after FIELD_HASH_KEY changed."""
    counts: dict[str, int] = {}
    for app_label in CLASSIFIED_APPS:
        for model in apps.get_app_config(app_label).get_models():
            fields = [f for f in model._meta.concrete_fields if isinstance(f, BlindIndexField)]
            if not fields:
                continue
            changed = []
            for obj in model._base_manager.only("pk", *[f.source for f in fields], *[f.name for f in fields]).iterator(
                chunk_size=BATCH
            ):
                dirty = False
                for field in fields:
                    value = blind_index(getattr(obj, field.source), kind=field.kind)
                    if getattr(obj, field.name) != value:
                        setattr(obj, field.name, value)
                        dirty = True
                if dirty:
                    changed.append(obj)
            model._base_manager.bulk_update(changed, [f.name for f in fields], batch_size=BATCH)
            counts[model._meta.label] = len(changed)
    return counts
