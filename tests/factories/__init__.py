"""Plain factory functions: each makes one valid object and takes overrides as keywords."""

import itertools
from decimal import Decimal

from affiliate.models import AffiliatePlan, Creator, PlanProduct
from shops.models import Category, Product, Seller, Shop, User

_seq = itertools.count(1)


def _n() -> int:
    return next(_seq)


def make_seller(**kw) -> Seller:
    n = _n()
    defaults = {"key": f"SEL{n}", "legal_name": f"Seller {n} Ltd", "business_licence_no": f"BL{n:06d}"}
    return Seller.objects.create(**(defaults | kw))


def make_category(**kw) -> Category:
    n = _n()
    defaults = {"key": f"CAT{n}", "name": f"Category {n}", "gated": False}
    return Category.objects.create(**(defaults | kw))


def make_shop(**kw) -> Shop:
    n = _n()
    if "seller" not in kw:
        kw["seller"] = make_seller()
    defaults = {
        "key": f"SHOP{n}",
        "name": f"Shop {n}",
        "market": "US",
        "tier": "silver",
        "account_status": "active",
        "orders_90d": 100,
        "sps": Decimal("4.2"),
    }
    return Shop.objects.create(**(defaults | kw))


def make_product(**kw) -> Product:
    n = _n()
    if "shop" not in kw:
        kw["shop"] = make_shop()
    if "category" not in kw:
        kw["category"] = make_category()
    defaults = {
        "key": f"PRD{n}",
        "title": f"Product {n}",
        "listing_status": "live",
        "reviews_30d": 100,
        "negative_reviews_30d": 1,
    }
    return Product.objects.create(**(defaults | kw))


def make_creator(**kw) -> Creator:
    n = _n()
    defaults = {
        "key": f"CR{n}",
        "handle": f"creator{n}",
        "account_status": "active",
        "pps": Decimal("4.0"),
        "chr": Decimal("200"),
    }
    return Creator.objects.create(**(defaults | kw))


def make_plan(**kw) -> AffiliatePlan:
    n = _n()
    if "shop" not in kw:
        kw["shop"] = make_shop()
    defaults = {"name": f"Plan {n}", "kind": AffiliatePlan.Kind.OPEN}
    return AffiliatePlan.objects.create(**(defaults | kw))


def add_to_plan(plan: AffiliatePlan, product: Product, rate: str = "10") -> PlanProduct:
    return PlanProduct.objects.create(plan=plan, product=product, commission_rate=Decimal(rate))


def make_user(email: str | None = None, role: str = User.Role.SELLER, password: str = "pw-123456!", **kw) -> User:
    return User.objects.create_user(email or f"user{_n()}@example.com", password, role=role, **kw)
