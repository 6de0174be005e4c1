"""Pure eligibility policy: plain values in, a verdict out.

Nothing here imports Django, reads a clock or touches the database, so the same functions
serve the daily run, dry runs, single-entity checks and the tests.
"""

from shops.rules.eligibility import (
    Baseline,
    CreatorFacts,
    ProductFacts,
    ShopFacts,
    Thresholds,
    Verdict,
    can_add_to_affiliate,
    creator_may_promote,
    evaluate_creator,
    evaluate_product,
    evaluate_shop,
    shop_can_add_to_affiliate,
)

__all__ = [
    "Baseline",
    "CreatorFacts",
    "ProductFacts",
    "ShopFacts",
    "Thresholds",
    "Verdict",
    "can_add_to_affiliate",
    "creator_may_promote",
    "shop_can_add_to_affiliate",
    "evaluate_creator",
    "evaluate_product",
    "evaluate_shop",
]
