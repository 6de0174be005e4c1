"""What a verdict is shown with, for the API and the web pages alike.

``eligibility_attach`` loads, for a whole page of shops, products or creators, the active
overrides, the history row of each current verdict and the rule sets those rows name, in a
fixed number of queries whatever the page size.
"""

import dataclasses
import datetime as dt
from collections.abc import Iterable

from django.db.models import Max

from shops.forecast import Forecast, creator_forecast, shop_forecast
from shops.models import Entity, Override, RuleSet, StatusHistory
from shops.rules import Thresholds
from shops.selectors import (
    DEFAULT_MARKET,
    overrides_active,
    ruleset_thresholds,
    rulesets_in_force,
    thresholds_for_market,
)


@dataclasses.dataclass
class Eligibility:
    """What a verdict is shown with, loaded for a whole page at once."""

    override: Override | None = None
    shop_override: Override | None = None
    history: StatusHistory | None = None
    thresholds: Thresholds | None = None
    forecast: Forecast | None = None

    def effective_status(self, computed: str | None) -> str | None:
        return self.override.status if self.override is not None else computed

    def effective_shop_status(self, computed: str | None) -> str | None:
        return self.shop_override.status if self.shop_override is not None else computed


def thresholds_by_version(versions: Iterable[int]) -> dict[int, Thresholds]:
    versions = set(versions)
    if not versions:
        return {}
    return {ruleset.version: ruleset_thresholds(ruleset) for ruleset in RuleSet.objects.filter(version__in=versions)}


def latest_history(entity: str, ids: list[int]) -> dict[int, StatusHistory]:
    """Entity id -> the history row of its current verdict (its newest row), in one query."""
    if not ids:
        return {}
    newest = (
        StatusHistory.objects.filter(entity=entity, entity_id__in=ids)
        .order_by()
        .values("entity_id")
        .annotate(newest=Max("id"))
        .values("newest")
    )
    return {row.entity_id: row for row in StatusHistory.objects.filter(id__in=newest)}


def eligibility_attach(entity: str, objects: list) -> list:
    """Give each object its ``eligibility``: a fixed number of queries for any number of objects."""
    ids = [obj.pk for obj in objects]
    overrides = overrides_active(entity=entity, entity_ids=ids) if ids else {}
    shop_overrides = {}
    if entity == Entity.PRODUCT and ids:
        shop_overrides = overrides_active(entity=Entity.SHOP, entity_ids={obj.shop_id for obj in objects})
    history = latest_history(entity, ids)
    thresholds = thresholds_by_version(row.ruleset_version for row in history.values())
    for obj in objects:
        row = history.get(obj.pk)
        obj.eligibility = Eligibility(
            override=overrides.get(obj.pk),
            shop_override=shop_overrides.get(obj.shop_id) if entity == Entity.PRODUCT else None,
            history=row,
            thresholds=thresholds.get(row.ruleset_version) if row is not None else None,
        )
    return objects


def shop_forecast_today(shop, today: dt.date) -> Forecast | None:
    thresholds = thresholds_for_market(rulesets_in_force(as_of=today), shop.market)
    return shop_forecast(shop=shop, thresholds=thresholds, today=today)


def creator_forecast_today(creator, today: dt.date) -> Forecast | None:
    thresholds = thresholds_for_market(rulesets_in_force(as_of=today), DEFAULT_MARKET)
    return creator_forecast(creator=creator, thresholds=thresholds, today=today)
