"""System checks: every field carries a privacy class, and sensitive fields are encrypted."""

from django.apps import apps
from django.core import checks

from privacy.classification import CLASSIFIED_APPS, REGISTRY, SENSITIVE
from privacy.fields import EncryptedTextField


def _label(model, field) -> str:
    return f"{model._meta.app_label}.{model.__name__}.{field.name}"


@checks.register("privacy")
def check_field_classification(app_configs=None, **kwargs) -> list[checks.CheckMessage]:
    """privacy.E001: a field without a class; E002: a sensitive field stored in clear;
    W001: a class for a field that no longer exists."""
    messages: list[checks.CheckMessage] = []
    seen: set[str] = set()
    for app_label in CLASSIFIED_APPS:
        for model in apps.get_app_config(app_label).get_models():
            for field in model._meta.concrete_fields:
                label = _label(model, field)
                seen.add(label)
                privacy = REGISTRY.get(label)
                if privacy is None:
                    messages.append(
                        checks.Error(
                            f"{label} has no privacy classification.",
                            hint="Add it to privacy/classification.py (public, internal, business, personal, "
                            "sensitive or secret).",
                            obj=model,
                            id="privacy.E001",
                        )
                    )
                elif privacy == SENSITIVE and not isinstance(field, EncryptedTextField):
                    messages.append(
                        checks.Error(
                            f"{label} is classified sensitive but is not encrypted at rest.",
                            hint="Use privacy.fields.EncryptedTextField for sensitive data.",
                            obj=model,
                            id="privacy.E002",
                        )
                    )
    for label in sorted(set(REGISTRY) - seen):
        messages.append(
            checks.Warning(f"{label} is classified but no such field exists.", obj=label, id="privacy.W001")
        )
    return messages
