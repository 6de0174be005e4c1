"""Reads: the rule sets in force, current verdicts and their history."""

import datetime as dt
from collections.abc import Iterable, Iterator
from fractions import Fraction

from shops.models import EvaluationRun, RuleSet
from shops.rules import Thresholds

DEFAULT_MARKET = ""

THRESHOLD_FIELDS = (
    "sps_min_orders",
    "sps_window_days",
    "sps_eligible",
    "sps_disqualify",
    "nrr_window_days",
    "nrr_warning_multiple",
    "nrr_disqualify_multiple",
    "pps_min",
    "chr_min",
)


def thresholds_from_values(*, version: int, values: dict) -> Thresholds:
    """Build the rules' thresholds; NRR multiples become exact fractions."""
    data = {name: values[name] for name in THRESHOLD_FIELDS if name in values}
    for name in ("nrr_warning_multiple", "nrr_disqualify_multiple"):
        if name in data:
            data[name] = Fraction(data[name])
    return Thresholds(version=version, **data)


def ruleset_thresholds(ruleset: RuleSet) -> Thresholds:
    return thresholds_from_values(
        version=ruleset.version, values={name: getattr(ruleset, name) for name in THRESHOLD_FIELDS}
    )


def rulesets_in_force(*, as_of: dt.date) -> dict[str, Thresholds]:
    """The newest rule set effective on ``as_of`` for each market; key '' is the default."""
    in_force: dict[str, Thresholds] = {}
    for ruleset in RuleSet.objects.filter(effective_from__lte=as_of).order_by("-effective_from", "-version"):
        in_force.setdefault(ruleset.market, ruleset_thresholds(ruleset))
    if DEFAULT_MARKET not in in_force:
        raise RuleSet.DoesNotExist(f"No default rule set is in force on {as_of}")
    return in_force


def thresholds_for_market(rules: dict[str, Thresholds], market: str) -> Thresholds:
    return rules.get(market) or rules[DEFAULT_MARKET]


def run_active() -> EvaluationRun | None:
    return EvaluationRun.objects.filter(state=EvaluationRun.State.RUNNING).first()


def verdicts_export() -> Iterator[dict]:
    """Every entity's current verdict, shops then products then creators, by feed key."""
    from affiliate.models import Creator
    from shops.models import Product, Shop
    from shops.rules import can_add_to_affiliate, shop_can_add_to_affiliate

    for key, status, reasons in Shop.objects.order_by("key").values_list("key", "status", "reasons").iterator(10_000):
        yield {
            "entity": "shop",
            "id": key,
            "status": status,
            "reasons": reasons,
            "can_add_to_affiliate": shop_can_add_to_affiliate(status),
        }
    products = Product.objects.order_by("key").values_list("key", "status", "reasons", "shop__status")
    for key, status, reasons, shop_status in products.iterator(10_000):
        yield {
            "entity": "product",
            "id": key,
            "status": status,
            "reasons": reasons,
            "can_add_to_affiliate": can_add_to_affiliate(shop_status, status),
        }
    for key, status, reasons in (
        Creator.objects.order_by("key").values_list("key", "status", "reasons").iterator(10_000)
    ):
        yield {"entity": "creator", "id": key, "status": status, "reasons": reasons}


def overrides_active(*, entity: str, entity_ids: Iterable[int], at: dt.datetime | None = None) -> dict:
    """Entity id -> its active ops override (not revoked, not expired), if any."""
    from django.db.models import Q
    from django.utils import timezone

    from shops.models import Override

    at = at or timezone.now()
    overrides = Override.objects.filter(
        Q(expires_at__isnull=True) | Q(expires_at__gt=at),
        entity=entity,
        entity_id__in=list(entity_ids),
        revoked_at__isnull=True,
    ).order_by("entity_id", "-created_at")
    active: dict[int, object] = {}
    for override in overrides:
        active.setdefault(override.entity_id, override)
    return active


def effective_status(*, entity: str, entity_id: int, computed: str | None) -> str | None:
    """The status that counts: an active override shown over the computed verdict."""
    override = overrides_active(entity=entity, entity_ids=[entity_id]).get(entity_id)
    return override.status if override else computed
