"""Demo data: a believable portfolio whose metrics cross every threshold over a period of days.

Everything goes through the real paths: each day's feed is rendered as CSV text exactly as
spec/feed-format.md describes it, imported with ``feed_import`` and evaluated with
``evaluation_run_inline``. The world (catalogue, sellers, shops, products, creators and the
trajectory of each one's metrics) is drawn once from ``random.Random(seed)``, so the same
seed always gives the same feeds and the same verdicts.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import math
import random
import time
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from decimal import Decimal

from django.core.exceptions import ValidationError
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import models, transaction
from django.db.models import Case, Count, Q, When
from django.urls import reverse
from django.utils import timezone

from affiliate.models import AffiliatePlan, Creator, CreatorAdd, PlanProduct
from affiliate.services import creator_add_product
from shops.models import Appeal, Entity, Notification, Product, Shop, StatusHistory, User
from shops.rules import codes as c
from shops.services.appeals import appeal_checklist_for, appeal_submit
from shops.services.evaluation import evaluation_run_inline
from shops.services.feeds import feed_import
from shops.services.integrity import licences_flag_refresh
from shops.services.users import user_create

DEMO_PASSWORD = "demo-pass-2026"  # noqa: S105 (demo data only, printed to the user)  # nosec B105 # demo data only
# DEMO ONLY: the one-time-password secret of the demo ops users (ops sign in with a second factor).
# Fixed and printed so anyone trying the demo can add it to an authenticator app; never for real users.
DEMO_OTP_SECRET = "DEMOONLYDEMOONLYDEMOONLYDEMOONLY"  # noqa: S105  # nosec B105 # demo data only
MARKETS = ("US", "UK", "TH", "MY", "VN", "SG", "PH", "ID")
# spec/eligibility-rules.md, "Shop tiers": the highest commission a tier's plans may offer.
TIER_COMMISSION_CAP = {"bronze": 20, "silver": 25, "gold": 30, "platinum": 40}
TIER_ORDERS = {"bronze": (60, 400), "silver": (300, 1500), "gold": (1000, 5000), "platinum": (4000, 20000)}
TIER_PRODUCT_WEIGHT = {"bronze": 1.0, "silver": 1.3, "gold": 1.6, "platinum": 2.0}


@dataclass(frozen=True)
class DemoConfig:
    days: int = 90
    seed: int = 7
    shops: int = 50
    products: int = 2000
    creators: int = 500
    end: dt.date | None = None  # the last day; today when not given

    @property
    def last_day(self) -> dt.date:
        return self.end or timezone.localdate()

    @property
    def first_day(self) -> dt.date:
        return self.last_day - dt.timedelta(days=self.days - 1)


# Catalogue -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class CategoryDef:
    key: str
    name: str
    name_zh: str
    parent: str | None = None
    gated: bool = False
    benchmark: Decimal | None = None
    base_nrr: float = 0.0  # the usual share of negative reviews of the leaf's products
    items: tuple[str, ...] = ()

    @property
    def root(self) -> str:
        return self.parent or self.key


def _root(key: str, name: str, name_zh: str) -> CategoryDef:
    return CategoryDef(key, name, name_zh)


def _leaf(key: str, parent: str, name: str, name_zh: str, nrr: float, items: str, **kw) -> CategoryDef:
    return CategoryDef(key, name, name_zh, parent=parent, base_nrr=nrr, items=tuple(items.split("; ")), **kw)


SUPPLEMENTS = "HEALTH-SUPPLEMENTS"
# Each leaf: key, parent, name, name_zh, usual NRR of its products, product names.
CATALOGUE: tuple[CategoryDef, ...] = (
    _root("BEAUTY", "Beauty", "美妆"),
    _leaf(
        "BEAUTY-SKINCARE", "BEAUTY", "Skincare", "护肤", 0.035,
        "Vitamin C Brightening Serum; Hyaluronic Acid Moisturiser; Gentle Foaming Cleanser; SPF 50 Daily Sunscreen; "
        "Retinol Night Cream; Niacinamide Toner; Caffeine Eye Cream; Kaolin Clay Mask",
        gated=True,
    ),
    _leaf(
        "BEAUTY-MAKEUP", "BEAUTY", "Makeup", "彩妆", 0.04,
        "Matte Liquid Lipstick; Waterproof Eyeliner; Cushion Foundation; Volumising Mascara; Setting Powder; "
        "Cream Blush; Eyeshadow Palette",
        gated=True,
    ),
    _leaf(
        "BEAUTY-FRAGRANCE", "BEAUTY", "Fragrance", "香水", 0.02,
        "Eau de Parfum Jasmine; Cedar Eau de Toilette; Solid Perfume Balm; Rose Body Mist; Travel Perfume Atomiser",
    ),
    _root("ELECTRONICS", "Electronics", "电子产品"),
    _leaf(
        "ELECTRONICS-PHONES", "ELECTRONICS", "Phones", "手机", 0.03,
        "5G Smartphone 128 GB; 5G Smartphone 256 GB; Rugged Outdoor Phone; Senior-Friendly Phone; Foldable Smartphone",
    ),
    _leaf(
        "ELECTRONICS-AUDIO", "ELECTRONICS", "Audio", "音频设备", 0.045,
        "Wireless Earbuds ANC; Over-Ear Headphones; Portable Bluetooth Speaker; Clip-On Lavalier Microphone; "
        "Soundbar 2.1",
    ),
    _leaf(
        "ELECTRONICS-ACCESSORIES", "ELECTRONICS", "Phone Accessories", "手机配件", 0.06,
        "65 W GaN Charger; Braided USB-C Cable; MagSafe Phone Case; 20,000 mAh Power Bank; "
        "Tempered Glass Screen Protector; Car Phone Mount",
    ),
    _root("HOME", "Home", "家居"),
    _leaf(
        "HOME-KITCHEN", "HOME", "Kitchen", "厨房用品", 0.025,
        "Bamboo Cutting Board; Cast Iron Skillet 26 cm; Stainless Steel Chef's Knife; Glass Food Containers; "
        "Pour-Over Coffee Set; Silicone Spatula Set",
    ),
    _leaf(
        "HOME-BEDDING", "HOME", "Bedding", "床上用品", 0.03,
        "Linen Duvet Cover; Bamboo Fibre Sheet Set; Memory Foam Pillow; Cooling Summer Quilt; Weighted Blanket",
    ),
    _leaf(
        "HOME-STORAGE", "HOME", "Storage", "收纳", 0.02,
        "Stackable Storage Boxes; Under-Bed Organiser; Rattan Laundry Basket; Drawer Dividers; Wall Shelf Set",
    ),
    _root("FASHION", "Fashion", "时尚"),
    _leaf(
        "FASHION-SHOES", "FASHION", "Shoes", "鞋类", 0.05,
        "Running Shoes; Canvas Sneakers; Leather Loafers; Slip-On Sandals; Trail Hiking Boots",
    ),
    _leaf(
        "FASHION-WOMENSWEAR", "FASHION", "Women's Clothing", "女装", 0.055,
        "Linen Midi Dress; High-Waist Yoga Leggings; Oversized Cotton Shirt; Knit Cardigan; Pleated Skirt",
    ),
    _leaf(
        "FASHION-BAGS", "FASHION", "Bags", "箱包", 0.03,
        "Canvas Tote Bag; Laptop Backpack 15 inch; Crossbody Phone Bag; Carry-On Suitcase; Belt Bag",
    ),
    _root("HEALTH", "Health", "健康"),
    _leaf(
        SUPPLEMENTS, "HEALTH", "Supplements", "膳食补充剂", 0.03,
        "Vitamin D3 + K2 Drops; Marine Collagen Powder; Magnesium Glycinate Capsules; Omega-3 Fish Oil; "
        "Probiotic 50 Billion; Whey Protein Isolate",
        gated=True,
        benchmark=Decimal("0.0300"),
    ),
    _leaf(
        "HEALTH-PERSONALCARE", "HEALTH", "Personal Care", "个人护理", 0.025,
        "Electric Toothbrush; Water Flosser; Bamboo Toothbrush Set; Digital Thermometer; Massage Gun",
    ),
)  # fmt: skip
LEAVES = tuple(category for category in CATALOGUE if category.parent)
VARIANTS = {
    "BEAUTY": ("30 ml", "50 ml", "100 ml", "Travel Size", "Set of 2"),
    "ELECTRONICS": ("Black", "White", "Graphite", "Ocean Blue", "2024 Edition"),
    "HOME": ("Small", "Large", "Set of 3", "Natural", "Charcoal"),
    "FASHION": ("Black", "Beige", "Navy", "Olive", "Ivory"),
    "HEALTH": ("60 Servings", "120 Capsules", "Family Pack", "Starter Kit", "Refill"),
}


# Sellers, shops, products, creators: each with the trajectory of its metrics ---------------------


@dataclass(frozen=True)
class SellerDef:
    key: str
    legal_name: str
    label: str  # short brand used in product titles
    brands: tuple[str, str]
    focus: tuple[str, ...]  # root categories most of its products belong to
    licence: str
    email: str
    phone: str
    tax_id: str


SELLER_TEMPLATES = (
    ("SEL-LUMIERE", "Lumière Beauté Holdings Ltd", "Lumière", ("Lumière Skincare", "Lumière Cosmetics"), ("BEAUTY",)),
    ("SEL-BAMBOO", "Bamboo & Stone Home Goods Co., Ltd.", "Bamboo", ("Bamboo Home", "Stonewell Kitchen"), ("HOME",)),
    ("SEL-VOLTIX", "Voltix Technology Pte. Ltd.", "Voltix", ("Voltix", "Voltix Audio"), ("ELECTRONICS",)),
    ("SEL-STRIDE", "Stride Athletic Group Inc.", "Stride", ("Stride Footwear", "Stride Active"), ("FASHION",)),
    ("SEL-VITAPEAK", "VitaPeak Nutrition Sdn. Bhd.", "VitaPeak", ("VitaPeak", "Green Leaf Wellness"), ("HEALTH",)),
    (
        "SEL-GOLDENLOTUS",
        "Golden Lotus Trading Co., Ltd.",
        "Golden Lotus",
        ("Golden Lotus", "Lotus Living"),
        ("HOME", "FASHION", "BEAUTY"),
    ),
)


@dataclass(frozen=True)
class Wobble:
    """Small smooth day-to-day movement: two sines with random phases (cheap and deterministic)."""

    amplitude: float
    phase: float

    def at(self, day: int) -> float:
        return self.amplitude * (0.65 * math.sin(day * 0.9 + self.phase) + 0.35 * math.sin(day * 0.23 + 2 * self.phase))


@dataclass(frozen=True)
class Path:
    """A value that moves from ``start`` to ``end`` between two points of the period (0..1)."""

    start: float
    end: float
    begin: float = 0.0
    finish: float = 1.0
    low: float | None = None  # a V: down to ``low`` at mid-way, then up to ``end``

    def at(self, progress: float) -> float:
        if self.low is not None:
            middle = (self.begin + self.finish) / 2
            if progress <= middle:
                return _lerp(self.start, self.low, _ramp(progress, self.begin, middle))
            return _lerp(self.low, self.end, _ramp(progress, middle, self.finish))
        return _lerp(self.start, self.end, _ramp(progress, self.begin, self.finish))


def _lerp(a: float, b: float, x: float) -> float:
    return a + (b - a) * x


def _ramp(x: float, begin: float, finish: float) -> float:
    if finish <= begin:
        return 1.0 if x >= begin else 0.0
    return min(1.0, max(0.0, (x - begin) / (finish - begin)))


@dataclass(frozen=True)
class ShopDef:
    key: str
    seller: SellerDef
    name: str
    market: str
    tier: str
    scenario: str
    orders: Path
    sps: Path | None  # None: the platform gives no SPS (fewer than 30 orders)
    wobble: Wobble
    violation: str = ""  # the violation column raised from ``event_day`` on
    event_day: int | None = None
    event_end: int | None = None  # a suspension ends here (the disqualification does not)


@dataclass(frozen=True)
class ProductDef:
    key: str
    shop: ShopDef
    category: CategoryDef
    title: str
    scenario: str
    reviews: Path
    nrr_multiple: Path  # the product's NRR as a multiple of its leaf's usual NRR
    wobble: Wobble
    event_day: int | None = None
    event_end: int | None = None


@dataclass(frozen=True)
class CreatorDef:
    key: str
    handle: str
    display_name: str
    email: str
    scenario: str
    pps: Path
    chr: Path
    wobble: Wobble
    appears_at: float = 0.0  # before this point of the period the platform has no scores


@dataclass
class DemoWorld:
    config: DemoConfig
    categories: tuple[CategoryDef, ...]
    sellers: list[SellerDef]
    shops: list[ShopDef]
    products: list[ProductDef]
    creators: list[CreatorDef]
    days: list[dt.date]

    def progress(self, day: int) -> float:
        return day / (len(self.days) - 1) if len(self.days) > 1 else 1.0


def build_world(config: DemoConfig) -> DemoWorld:
    rng = random.Random(config.seed)
    sellers = build_sellers()
    shops = build_shops(rng, sellers, count=config.shops, days=config.days)
    products = build_products(rng, shops, count=config.products, days=config.days)
    creators = build_creators(rng, count=config.creators)
    days = [config.first_day + dt.timedelta(days=offset) for offset in range(config.days)]
    return DemoWorld(config, CATALOGUE, sellers, shops, products, creators, days)


def build_sellers() -> list[SellerDef]:
    return [
        SellerDef(
            key=key,
            legal_name=legal_name,
            label=label,
            brands=brands,
            focus=focus,
            licence=f"BL-DEMO-{100001 + n}",
            email=f"compliance@{label.lower().replace(' ', '')}.example",
            phone=f"+1 555 01{n:02d}",
            tax_id=f"TX-DEMO-{9100 + n}",
        )
        for n, (key, legal_name, label, brands, focus) in enumerate(SELLER_TEMPLATES)
    ]


# The first shops cover every story, so that even a tiny demo shows each status.
SHOWCASE_SHOPS = (
    "steady",
    "collapsing",
    "slipping",
    "suspended",
    "small_flagged",
    "recovering",
    "steady",
    "small_clean",
)
SMALL_SHOPS = frozenset({"small_flagged", "small_clean", "newcomer"})
SHOP_SCENARIO_WEIGHTS = {
    "steady": 58,
    "slipping": 10,
    "collapsing": 6,
    "recovering": 7,
    "hovering": 7,
    "newcomer": 5,
    "small_flagged": 5,
    "small_clean": 4,
}


def build_shops(rng: random.Random, sellers: list[SellerDef], *, count: int, days: int) -> list[ShopDef]:
    names: set[str] = set()
    shops = []
    for index in range(count):
        seller = sellers[index % len(sellers)]
        nth = index // len(sellers)
        name, market = _shop_name(seller, nth, offset=index % len(sellers), taken=names)
        if index < len(SHOWCASE_SHOPS):
            scenario = SHOWCASE_SHOPS[index]
        else:
            scenario = rng.choices(list(SHOP_SCENARIO_WEIGHTS), weights=list(SHOP_SCENARIO_WEIGHTS.values()))[0]
        tier = rng.choices(list(TIER_ORDERS), weights=[25, 35, 25, 15])[0]
        if scenario in SMALL_SHOPS:
            tier = "bronze"
        shops.append(_shop(rng, f"SHOP-{index + 1:03d}", seller, (name, market), tier, scenario, days))
    return shops


def _shop_name(seller: SellerDef, nth: int, *, offset: int, taken: set[str]) -> tuple[str, str]:
    """("Lumière Skincare US", "US"): a seller's brands take turns, each in a new market."""
    market = MARKETS[(nth // 2 + offset) % len(MARKETS)]
    name = f"{seller.brands[nth % 2]} {market}"
    candidate, suffix = name, 2
    while candidate in taken:
        candidate, suffix = f"{name} {suffix}", suffix + 1
    taken.add(candidate)
    return candidate, market


def _shop(
    rng: random.Random,
    key: str,
    seller: SellerDef,
    name_and_market: tuple[str, str],
    tier: str,
    scenario: str,
    days: int,
) -> ShopDef:
    name, market = name_and_market
    low, high = TIER_ORDERS[tier]
    base = rng.randint(low, high)
    orders = Path(base, base * rng.uniform(0.9, 1.3))
    good = Path(rng.uniform(3.9, 4.8), rng.uniform(3.9, 4.8))
    turn = rng.uniform(0.1, 0.35)
    extra: dict = {}
    match scenario:
        case "steady":
            sps = good
        case "slipping":
            sps = Path(rng.uniform(3.75, 3.95), rng.uniform(3.15, 3.32), turn, turn + 0.5)
        case "collapsing":
            sps = Path(rng.uniform(3.75, 3.95), rng.uniform(2.55, 2.85), turn, turn + 0.55)
        case "recovering":
            sps = Path(rng.uniform(3.8, 4.1), rng.uniform(3.75, 4.0), 0.15, 0.9, low=rng.uniform(2.6, 2.85))
        case "hovering":
            # Dips just under the eligibility line, then ends on either side of it.
            sps = Path(rng.uniform(3.6, 3.75), rng.uniform(3.4, 3.7), turn, turn + 0.6, low=rng.uniform(3.3, 3.42))
        case "suspended":
            sps = good
            start = round(0.55 * (days - 1))
            extra = {"event_day": start, "event_end": start + max(2, round(0.2 * days))}
        case "newcomer":
            orders, sps = Path(rng.randint(3, 8), rng.randint(60, 120)), good
        case "small_flagged" | "small_clean":
            orders, sps = Path(rng.randint(8, 28), rng.randint(8, 28)), None
            if scenario == "small_flagged":
                violation = rng.choice(("ip_violation", "fair_trade_violation", "review_violation"))
                extra = {"violation": violation, "event_day": round(rng.uniform(0.2, 0.4) * (days - 1))}
        case _:
            raise ValueError(f"unknown shop scenario {scenario!r}")
    wobble = Wobble(0.05, rng.uniform(0, 2 * math.pi))
    return ShopDef(key, seller, name, market, tier, scenario, orders, sps, wobble, **extra)


# The first products of steady shops cover every product story (see SHOWCASE_SHOPS).
SHOWCASE_PRODUCTS = ("nrr_warning", "nrr_disqualify", "counterfeit", "delisted", "frozen", "appeal_failed")
PRODUCT_SCENARIO_WEIGHTS = {
    "steady": 800,
    "nrr_warning": 50,
    "nrr_disqualify": 30,
    "nrr_recovering": 30,
    "new_listing": 30,
    "counterfeit": 10,
    "delisted": 15,
    "frozen": 10,
    "appeal_failed": 10,
    "ip_violation": 15,
}
FLAG_SCENARIOS = ("counterfeit", "delisted", "frozen", "appeal_failed", "ip_violation")


def build_products(rng: random.Random, shops: list[ShopDef], *, count: int, days: int) -> list[ProductDef]:
    owners = _product_owners(rng, shops, count)
    scenarios = [
        rng.choices(list(PRODUCT_SCENARIO_WEIGHTS), weights=list(PRODUCT_SCENARIO_WEIGHTS.values()))[0] for _ in owners
    ]
    showcase = [index for index, shop in enumerate(owners) if shop.scenario == "steady"]
    for index, scenario in zip(showcase, SHOWCASE_PRODUCTS, strict=False):
        scenarios[index] = scenario
    products = []
    for index, (shop, scenario) in enumerate(zip(owners, scenarios, strict=True)):
        # The NRR showcases sit in the leaf with a platform benchmark, so their multiple is exact.
        benchmarked = index in showcase[:2]
        category = _by_key(SUPPLEMENTS) if benchmarked else _product_category(rng, shop)
        products.append(_product(rng, f"PRD-{index + 1:05d}", shop, category, scenario, days, benchmarked=benchmarked))
    return products


def _product_owners(rng: random.Random, shops: list[ShopDef], count: int) -> list[ShopDef]:
    """One product for each shop first, then more for the larger tiers."""
    if not shops:
        return []
    owners = [shops[index % len(shops)] for index in range(min(count, len(shops)))]
    weights = [0.4 if shop.scenario in SMALL_SHOPS else TIER_PRODUCT_WEIGHT[shop.tier] for shop in shops]
    owners += rng.choices(shops, weights=weights, k=max(0, count - len(shops)))
    order = {shop.key: position for position, shop in enumerate(shops)}
    return sorted(owners, key=lambda shop: order[shop.key])


def _by_key(key: str) -> CategoryDef:
    return next(category for category in CATALOGUE if category.key == key)


def _product_category(rng: random.Random, shop: ShopDef) -> CategoryDef:
    focused = [leaf for leaf in LEAVES if leaf.root in shop.seller.focus]
    return rng.choice(focused if rng.random() < 0.8 else LEAVES)


def _product(
    rng: random.Random,
    key: str,
    shop: ShopDef,
    category: CategoryDef,
    scenario: str,
    days: int,
    *,
    benchmarked: bool,
) -> ProductDef:
    label = f"{shop.seller.label} " if category.root in shop.seller.focus else ""
    title = f"{label}{rng.choice(category.items)}, {rng.choice(VARIANTS[category.root])}"
    usual, begin = rng.uniform(0.6, 1.35), rng.uniform(0.1, 0.4)
    usual_reviews = rng.randint(40, 900)
    reviews = Path(usual_reviews, usual_reviews * rng.uniform(0.85, 1.25))
    nrr, extra = Path(usual, usual), {}
    if scenario.startswith("nrr_"):
        # Products whose NRR drifts have few reviews, so they barely move their leaf's average.
        volume = rng.randint(180, 240) if benchmarked else rng.randint(60, 150)
        reviews = Path(volume, volume)
    match scenario:
        case "steady":
            pass
        case "nrr_warning":
            nrr = Path(rng.uniform(0.9, 1.2), rng.uniform(2.35, 2.7), begin, begin + 0.45)
        case "nrr_disqualify":
            nrr = Path(rng.uniform(0.9, 1.2), rng.uniform(3.7, 4.5), begin, begin + 0.5)
        case "nrr_recovering":
            nrr = Path(rng.uniform(2.4, 2.8), usual, begin, begin + 0.45)
        case "new_listing":
            reviews = Path(0, rng.randint(20, 120), begin, 1.0)
        case _ if scenario in FLAG_SCENARIOS:
            event = round(rng.uniform(0.2, 0.8) * (days - 1))
            # A frozen listing is unfrozen again later; the other flags stay.
            end = event + max(2, round(0.15 * days)) if scenario == "frozen" else None
            extra = {"event_day": event, "event_end": end}
        case _:
            raise ValueError(f"unknown product scenario {scenario!r}")
    wobble = Wobble(0.04, rng.uniform(0, 2 * math.pi))
    return ProductDef(key, shop, category, title, scenario, reviews, nrr, wobble, **extra)


FIRST_NAMES = (
    "Mei", "Aroon", "Linh", "Siti", "Jake", "Priya", "Hana", "Nam", "Somchai", "Aisyah", "Oliver", "Emma",
    "Wei", "Ploy", "Minh", "Farah", "Lucas", "Chloe", "Arjun", "Yuki", "Rizal", "Nadia", "Tom", "Ivy",
)  # fmt: skip
LAST_NAMES = (
    "Lin", "Tan", "Nguyen", "Rahman", "Smith", "Sharma", "Sato", "Tran", "Srisuk", "Ismail", "Brown", "Wong",
    "Chen", "Wattana", "Pham", "Abdullah", "Taylor", "Lee", "Patel", "Kim", "Santos", "Reyes", "Evans", "Ho",
)  # fmt: skip
TOPICS = ("glow", "beauty", "kitchen", "techie", "deals", "style", "fit", "home", "reviews", "eats", "gadgets", "mom")
SHOWCASE_CREATORS = ("top", "below", "rising", "falling", "newcomer")
CREATOR_SCENARIO_WEIGHTS = {"top": 45, "below": 25, "rising": 10, "falling": 10, "newcomer": 10, "unscored": 3}


def build_creators(rng: random.Random, *, count: int) -> list[CreatorDef]:
    handles: set[str] = set()
    creators = []
    for index in range(count):
        if index < len(SHOWCASE_CREATORS):
            scenario = SHOWCASE_CREATORS[index]
        else:
            scenario = rng.choices(list(CREATOR_SCENARIO_WEIGHTS), weights=list(CREATOR_SCENARIO_WEIGHTS.values()))[0]
        creators.append(_creator(rng, f"CR-{index + 1:04d}", scenario, handles))
    return creators


def _creator(rng: random.Random, key: str, scenario: str, taken: set[str]) -> CreatorDef:
    first, last, topic = rng.choice(FIRST_NAMES), rng.choice(LAST_NAMES), rng.choice(TOPICS)
    pattern = rng.choice(("{f}{t}", "{t}with{f}", "{f}.{l}", "the{f}{t}", "{f}_{t}"))
    handle = pattern.format(f=first.lower(), l=last.lower(), t=topic)
    base, n = handle, 2
    while handle in taken:
        handle, n = f"{base}{n}", n + 1
    taken.add(handle)
    email = f"{handle.replace('.', '').replace('_', '')}@creators.example" if rng.random() < 0.6 else ""
    begin = rng.uniform(0.1, 0.4)
    appears_at = 0.0
    match scenario:
        case "top":
            pps, reach = Path(rng.uniform(3.9, 4.9), rng.uniform(3.9, 4.9)), rng.uniform(180, 900)
            chr_ = Path(reach, reach * rng.uniform(0.9, 1.3))
        case "below":
            # Either the score or the health rating falls short, for the whole period.
            if rng.random() < 0.5:
                pps = Path(rng.uniform(2.6, 3.3), rng.uniform(2.6, 3.3))
                reach = rng.uniform(40, 130) if rng.random() < 0.5 else rng.uniform(170, 300)
            else:
                pps, reach = Path(rng.uniform(3.7, 4.5), rng.uniform(3.7, 4.5)), rng.uniform(40, 135)
            chr_ = Path(reach, reach)
        case "rising":
            pps = Path(rng.uniform(3.1, 3.3), rng.uniform(3.8, 4.2), begin, begin + 0.5)
            chr_ = Path(rng.uniform(90, 130), rng.uniform(175, 260), begin, begin + 0.5)
        case "falling":
            pps = Path(rng.uniform(3.9, 4.3), rng.uniform(3.0, 3.3), begin, begin + 0.5)
            chr_ = Path(rng.uniform(190, 260), rng.uniform(100, 135), begin, begin + 0.5)
        case "unscored":
            appears_at, pps, chr_ = 2.0, Path(0, 0), Path(0, 0)  # too new for any score
        case "newcomer":
            appears_at = rng.uniform(0.3, 0.7)
            pps = Path(rng.uniform(3.6, 4.4), rng.uniform(3.6, 4.4))
            chr_ = Path(rng.uniform(20, 60), rng.uniform(120, 260), appears_at, 1.0)
        case _:
            raise ValueError(f"unknown creator scenario {scenario!r}")
    display_name = f"{first} {last}" if rng.random() < 0.8 else ""
    wobble = Wobble(0.04, rng.uniform(0, 2 * math.pi))
    return CreatorDef(key, handle, display_name, email, scenario, pps, chr_, wobble, appears_at)


# Daily metrics -------------------------------------------------------------------------------------


def _flag(day: int, start: int | None, end: int | None = None) -> bool:
    return start is not None and day >= start and (end is None or day < end)


def _bool(value: bool) -> str:
    return "true" if value else "false"


def _score(value: float, places: int = 2, high: float = 5.0) -> str:
    return f"{min(high, max(0.0, value)):.{places}f}"


def shop_row(shop: ShopDef, day: int, progress: float) -> dict[str, str]:
    orders = max(0, round(shop.orders.at(progress) * (1 + shop.wobble.at(day) / 5)))
    if shop.sps is None:
        orders = min(orders, 29)  # the platform gives no SPS below 30 orders
    has_sps = shop.sps is not None and orders >= 30
    suspended = _flag(day, shop.event_day, shop.event_end) and shop.scenario == "suspended"
    violated = _flag(day, shop.event_day) and bool(shop.violation)
    return {
        "shop_id": shop.key,
        "seller_id": shop.seller.key,
        "name": shop.name,
        "market": shop.market,
        "tier": shop.tier,
        "account_status": c.ACCOUNT_SUSPENDED_TEMPORARY if suspended else c.ACCOUNT_ACTIVE,
        "orders_90d": str(orders),
        "sps": _score(shop.sps.at(progress) + shop.wobble.at(day)) if has_sps and shop.sps else "",
        "ip_violation": _bool(violated and shop.violation == "ip_violation"),
        "fair_trade_violation": _bool(violated and shop.violation == "fair_trade_violation"),
        "review_violation": _bool(violated and shop.violation == "review_violation"),
    }


def product_row(product: ProductDef, day: int, progress: float) -> dict[str, str]:
    reviews = max(0, round(product.reviews.at(progress) * (1 + product.wobble.at(day))))
    share = product.category.base_nrr * product.nrr_multiple.at(progress) * (1 + product.wobble.at(day + 3))
    negative = min(reviews, max(0, round(reviews * share)))
    flagged = _flag(day, product.event_day, product.event_end)
    scenario = product.scenario
    listing = c.LISTING_LIVE
    if flagged and scenario == "delisted":
        listing = c.LISTING_STATUS_DELISTED
    elif flagged and scenario == "frozen":
        listing = c.LISTING_STATUS_FROZEN
    return {
        "product_id": product.key,
        "shop_id": product.shop.key,
        "category_id": product.category.key,
        "title": product.title,
        "listing_status": listing,
        "reviews_30d": str(reviews),
        "negative_reviews_30d": str(negative),
        "ip_violation": _bool(flagged and scenario == "ip_violation"),
        "fair_trade_violation": "false",
        "review_violation": "false",
        "counterfeit_flag": _bool(flagged and scenario == "counterfeit"),
        "appeal_failed": _bool(flagged and scenario == "appeal_failed"),
    }


def creator_row(creator: CreatorDef, day: int, progress: float) -> dict[str, str]:
    scored = progress >= creator.appears_at
    wobble = creator.wobble.at(day)
    return {
        "creator_id": creator.key,
        "handle": creator.handle,
        "display_name": creator.display_name,
        "email": creator.email,
        "pps": _score(creator.pps.at(progress) + wobble) if scored else "",
        "chr": _score(creator.chr.at(progress) * (1 + wobble / 2), places=1, high=999_999) if scored else "",
        "account_status": c.ACCOUNT_ACTIVE,
    }


# Feed rendering (spec/feed-format.md) ----------------------------------------------------------------

CATEGORY_COLUMNS = ("category_id", "parent_id", "name", "name_zh", "gated", "avg_nrr_30d")
SELLER_COLUMNS = ("seller_id", "legal_name", "business_licence_no", "contact_email", "contact_phone", "tax_id")


def _csv(columns: Sequence[str], rows: Iterable[dict[str, str]]) -> str:
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=list(columns), lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    return buffer.getvalue()


def _category_rows(categories: Iterable[CategoryDef]) -> Iterable[dict[str, str]]:
    for category in categories:
        yield {
            "category_id": category.key,
            "parent_id": category.parent or "",
            "name": category.name,
            "name_zh": category.name_zh,
            "gated": _bool(category.gated),
            "avg_nrr_30d": str(category.benchmark) if category.benchmark is not None else "",
        }


def _seller_rows(sellers: Iterable[SellerDef]) -> Iterable[dict[str, str]]:
    for seller in sellers:
        yield {
            "seller_id": seller.key,
            "legal_name": seller.legal_name,
            "business_licence_no": seller.licence,
            "contact_email": seller.email,
            "contact_phone": seller.phone,
            "tax_id": seller.tax_id,
        }


def _dated(rows: Iterable[dict[str, str]], as_of: str) -> Iterable[dict[str, str]]:
    for row in rows:
        row["as_of"] = as_of
        yield row


def render_feed(world: DemoWorld, day: int) -> dict[str, str]:
    """The CSV files of one day's feed by name; the first day also carries the master data."""
    progress, as_of = world.progress(day), world.days[day].isoformat()
    shops = [shop_row(shop, day, progress) for shop in world.shops]
    products = [product_row(product, day, progress) for product in world.products]
    creators = [creator_row(creator, day, progress) for creator in world.creators]
    files = {}
    if day == 0:
        files["categories.csv"] = _csv(CATEGORY_COLUMNS, _category_rows(world.categories))
        files["sellers.csv"] = _csv(SELLER_COLUMNS, _seller_rows(world.sellers))
    for name, rows in (("shops.csv", shops), ("products.csv", products), ("creators.csv", creators)):
        if rows:
            files[name] = _csv([*rows[0], "as_of"], _dated(rows, as_of))
    return files


# Affiliate plans -------------------------------------------------------------------------------------

# Shops whose story ends in a disqualification always hold a plan, so that S7 shows.
DRAMATIC_SHOPS = frozenset({"collapsing", "recovering", "suspended"})


def plans_create(world: DemoWorld, rng: random.Random) -> int:
    """Open plans for about half the eligible shops, with some of their eligible products."""
    eligible = dict(Shop.objects.filter(status=c.ELIGIBLE).values_list("key", "id"))
    candidates = [shop for shop in world.shops if shop.key in eligible]
    dramatic = [shop for shop in candidates if shop.scenario in DRAMATIC_SHOPS]
    others = [shop for shop in candidates if shop.scenario not in DRAMATIC_SHOPS]
    wanted = max(0, (len(candidates) + 1) // 2 - len(dramatic))
    chosen = dramatic + rng.sample(others, min(wanted, len(others)))
    products = _eligible_products_by_shop([eligible[shop.key] for shop in chosen])
    started = timezone.make_aware(dt.datetime.combine(world.days[0], dt.time(10, 0)))
    plan_ids = []
    for shop in sorted(chosen, key=lambda s: s.key):
        pool = products.get(eligible[shop.key], [])
        if not pool:
            continue
        plan = AffiliatePlan.objects.create(
            shop_id=eligible[shop.key], name=f"{shop.name} open collaboration", kind=AffiliatePlan.Kind.OPEN
        )
        held = rng.sample(pool, max(1, min(25, round(len(pool) * rng.uniform(0.3, 0.7)))))
        cap = min(25, TIER_COMMISSION_CAP[shop.tier])
        PlanProduct.objects.bulk_create(
            PlanProduct(plan=plan, product_id=pk, commission_rate=Decimal(rng.randint(10, 2 * cap)) / 2)
            for pk in sorted(held)
        )
        plan_ids.append(plan.pk)
    # Plans date from the start of the period, before the disqualifications that end them.
    AffiliatePlan.objects.filter(pk__in=plan_ids).update(created_at=started)
    PlanProduct.objects.filter(plan_id__in=plan_ids).update(added_at=started)
    return len(plan_ids)


def _eligible_products_by_shop(shop_ids: list[int]) -> dict[int, list[int]]:
    products: dict[int, list[int]] = {}
    rows = Product.objects.filter(shop_id__in=shop_ids, status=c.ELIGIBLE).values_list("shop_id", "id")
    for shop_id, product_id in rows.order_by("id"):
        products.setdefault(shop_id, []).append(product_id)
    return products


# Demo users --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class DemoLogin:
    email: str
    role: str
    note: str


SELLER_EMAIL = "seller@demo.test"
CREATOR_EMAIL = "creator@demo.test"


def users_create(world: DemoWorld) -> list[DemoLogin]:
    sellers = world.sellers
    creator = next(cr for cr in world.creators if cr.scenario == "below")
    specs = [
        (SELLER_EMAIL, User.Role.SELLER, {"seller_keys": [sellers[0].key, sellers[1].key]}),
        ("seller2@demo.test", User.Role.SELLER, {"seller_keys": [sellers[2].key]}),
        (CREATOR_EMAIL, User.Role.CREATOR, {"creator_key": creator.key}),
        ("ops@demo.test", User.Role.OPS, {}),
        ("admin@demo.test", User.Role.OPS_ADMIN, {}),
    ]
    notes = {
        SELLER_EMAIL: f"member of {sellers[0].legal_name} and {sellers[1].legal_name}",
        "seller2@demo.test": f"member of {sellers[2].legal_name}",
        CREATOR_EMAIL: f"@{creator.handle} ({creator.key}), not qualified for gated categories",
        "ops@demo.test": "ops reviewer (staff; one-time code)",
        "admin@demo.test": "ops admin (superuser, also /admin/; one-time code)",
    }
    logins = []
    # The privacy policy is in force and accepted, so demo users are not asked to accept it.
    from privacy.models import AcceptanceSource
    from privacy.services.policies import policy_accept, policy_load_initial

    policy = policy_load_initial(effective_from=world.days[0])
    for email, role, links in specs:
        user = user_create(email=email, role=role, password=DEMO_PASSWORD, **links)
        policy_accept(user=user, version=policy, source=AcceptanceSource.SEEDED)
        if user.is_ops:
            # Demo only: enrolled already, so the ops logins work at once with DEMO_OTP_SECRET.
            user.otp_secret = DEMO_OTP_SECRET
            user.otp_confirmed_at = timezone.now()
            user.save(update_fields=["otp_secret", "otp_confirmed_at"])
        logins.append(DemoLogin(email, role, notes[email]))
    return logins


# What the demo users did: an appeal, creator adds, their inboxes ---------------------------------------

APPEAL_STATEMENT = (
    "One supplier batch had a loose seal; the reviews all date from the two weeks it was on sale. "
    "The batch was recalled and replaced, and the reviews since are back to the category's usual level."
)
UNREAD_DAYS = 7


def _demo_pdf(title: str) -> bytes:
    """A one-page PDF saying ``title``: the evidence a visitor downloads opens in any viewer."""
    text = "".join(ch for ch in title if ch.isascii() and ch not in "()\\")
    stream = f"BT /F1 14 Tf 72 720 Td ({text}) Tj 0 -24 Td (Demo data only.) Tj ET".encode()
    objects = [
        b"<< /Type /Catalog /Pages 2 0 R >>",
        b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Resources << /Font << /F1 4 0 R >> >> "
        b"/Contents 5 0 R >>",
        b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>",
        b"<< /Length %d >>\nstream\n%s\nendstream" % (len(stream), stream),
    ]
    pdf, offsets = bytearray(b"%PDF-1.4\n"), []
    for number, body in enumerate(objects, 1):
        offsets.append(len(pdf))
        pdf += b"%d 0 obj\n%s\nendobj\n" % (number, body)
    xref = len(pdf)
    pdf += b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1)
    pdf += b"".join(b"%010d 00000 n \n" % offset for offset in offsets)
    pdf += b"trailer\n<< /Size %d /Root 1 0 R >>\nstartxref\n%d\n%%%%EOF\n" % (len(objects) + 1, xref)
    return bytes(pdf)


def _appeal_candidates(user: User) -> list[tuple[str, models.Model]]:
    """The seller's warned products first (in an eligible shop, best), then restricted shops."""
    sellers = user.sellers.values("id")
    warned = Product.objects.filter(shop__seller__in=sellers, status=c.WARNING).order_by(
        Case(When(shop__status=c.ELIGIBLE, then=0), default=1), "key"
    )
    restricted = Shop.objects.filter(seller__in=sellers, status=c.RESTRICTED).order_by("key")
    return [(Entity.PRODUCT, p) for p in warned[:5]] + [(Entity.SHOP, s) for s in restricted[:5]]


def appeal_demo_submit(user: User) -> Appeal | None:
    """A pending appeal of ``user`` with a file for every checklist item, through ``appeal_submit``."""
    for entity, target in _appeal_candidates(user):
        verdict = (
            StatusHistory.objects.filter(entity=entity, entity_id=target.pk).order_by("-created_at", "-id").first()
        )
        checklist = appeal_checklist_for(verdict.new_reasons) if verdict else []
        if not checklist:
            continue
        evidence = [
            (
                item.key,
                SimpleUploadedFile(f"{item.key.replace('_', '-')}.pdf", _demo_pdf(f"{item.label}: {target.key}")),
            )
            for item in checklist
        ]
        try:
            return appeal_submit(
                user=user, entity=entity, entity_id=target.pk, statement=APPEAL_STATEMENT, evidence=evidence
            )
        except ValidationError:
            continue
    return None


def creator_adds_demo(user: User) -> list[CreatorAdd]:
    """The creator tries a gated product (refused: not qualified), a disqualified one (refused) and
    an open one (accepted), through ``creator_add_product`` like the creator pages."""
    addable = Product.objects.filter(status=c.ELIGIBLE, shop__status=c.ELIGIBLE).order_by("key")
    tries = (
        (addable.filter(category__gated=True).first(), CreatorAdd.Placement.SHOWCASE),
        (Product.objects.filter(status=c.DISQUALIFIED).order_by("key").first(), CreatorAdd.Placement.VIDEO),
        (addable.filter(category__gated=False).first(), CreatorAdd.Placement.LIVE),
    )
    return [
        creator_add_product(creator=user.creator, product=product, placement=placement)
        for product, placement in tries
        if product is not None
    ]


def notifications_settle(*, emails: list[str]) -> int:
    """Date the demo users' notifications on the day of their run, as if the users had lived the period.

    Each counts as e-mailed then (loading the demo sends no mail); those older than a week are read.
    """
    now = timezone.now()
    recent = now - dt.timedelta(days=UNREAD_DAYS)
    rows = list(Notification.objects.filter(user__email__in=emails).only("id", "context", "created_at"))
    for notification in rows:
        as_of = (notification.context or {}).get("as_of")
        if as_of:
            at = timezone.make_aware(dt.datetime.combine(dt.date.fromisoformat(as_of), dt.time(3)))
            notification.created_at = min(at, now)
        notification.emailed_at = notification.created_at
        notification.read_at = (
            notification.created_at + dt.timedelta(hours=2) if notification.created_at < recent else None
        )
    Notification.objects.bulk_update(rows, ["created_at", "emailed_at", "read_at"], batch_size=500)
    return len(rows)


@dataclass(frozen=True)
class TourStop:
    who: str
    url: str
    what: str


def demo_tour(*, appeal: Appeal | None, adds: list[CreatorAdd]) -> list[TourStop]:
    """Where each demo login finds the stories of the data (paths on the local server)."""
    seller = User.objects.get(email=SELLER_EMAIL)
    sellers = seller.sellers.values("id")
    shops = Counter(Shop.objects.filter(seller__in=sellers).values_list("status", flat=True))
    restricted = Shop.objects.filter(seller__in=sellers, status=c.RESTRICTED).order_by("key").first()
    warned = Product.objects.filter(shop__seller__in=sellers, status=c.WARNING).count()
    unread = Notification.objects.filter(user=seller, read_at__isnull=True).count()
    total = Notification.objects.filter(user=seller).count()
    stops = [
        TourStop(SELLER_EMAIL, reverse("portfolio"), f"{sum(shops.values())} shops: " + _counts_text(shops)),
    ]
    if restricted is not None:
        stops.append(
            TourStop(
                SELLER_EMAIL,
                reverse("shop_detail", args=[restricted.key]),
                f"{restricted.name}, RESTRICTED ({', '.join(restricted.reasons)})",
            )
        )
    stops.append(TourStop(SELLER_EMAIL, f"{reverse('product_list')}?status=WARNING", f"{warned} warned products"))
    if appeal is not None:
        files = appeal.evidence.count()
        stops.append(
            TourStop(
                SELLER_EMAIL,
                reverse("appeal_detail", args=[appeal.pk]),
                f"a pending appeal of {appeal.entity_key} with {files} evidence files",
            )
        )
    stops.append(TourStop(SELLER_EMAIL, reverse("notifications"), f"{unread} unread of {total} notifications"))
    refused = sum(not add.accepted for add in adds)
    stops.append(
        TourStop(
            CREATOR_EMAIL, reverse("creator_home"), f"{refused} refused and {len(adds) - refused} accepted product adds"
        )
    )
    stops.append(TourStop("ops@demo.test", reverse("ops_overview"), "the daily runs and what needs review"))
    if appeal is not None:
        stops.append(
            TourStop("ops@demo.test", reverse("ops_appeal_detail", args=[appeal.pk]), "decide the pending appeal")
        )
    stops.append(
        TourStop(
            "admin@demo.test", reverse("ops_rulesets"), "rule sets; new drafts and their activation are the ops admin's"
        )
    )
    stops.append(TourStop("every login", reverse("privacy_centre"), "privacy centre: consents, requests, my data"))
    return stops


def _counts_text(counter: Counter) -> str:
    return ", ".join(f"{counter[status]} {status}" for status in c.SHOP_STATUSES if counter.get(status))


# The whole seed ------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class DayReport:
    index: int  # 1-based
    total: int
    day: dt.date
    rows: int
    changed: int  # verdicts changed by that day's evaluation


@dataclass
class DemoSummary:
    first_day: dt.date
    last_day: dt.date
    shops: Counter
    products: Counter
    creators: Counter
    plans: int
    plans_terminated: int
    memberships: int
    memberships_removed: int
    history_rows: int
    logins: list[DemoLogin]
    tour: list[TourStop]
    policy_version: int | None
    seconds: float


def demo_seed(*, config: DemoConfig, progress: Callable[[DayReport], None] | None = None) -> DemoSummary:
    """Import and evaluate every day of the demo period, create plans, users and their activity.

    All or nothing. The users join after the first day's verdicts (a starting point, not news)
    and before every later run, so each change of the period reaches their inboxes.
    """
    started = time.monotonic()
    world = build_world(config)
    # A separate stream, so that plans never change the feeds of a seed.
    plan_rng = random.Random(f"{config.seed}:plans")
    logins: list[DemoLogin] = []
    with transaction.atomic():
        for index, day in enumerate(world.days):
            result = feed_import(files=render_feed(world, index), as_of=day)
            run = evaluation_run_inline(as_of=day)
            if index == 0:
                plans_create(world, plan_rng)
                logins = users_create(world)
            if progress is not None:
                rows = sum(counts["rows"] for counts in result.counts.values())
                progress(DayReport(index + 1, config.days, day, rows, run.changed))
        # The imports flag licences over the shop limit only once committed; flagged here, ops
        # find them in their inboxes like the rest (and the commit mails nobody).
        licences_flag_refresh()
        appeal = appeal_demo_submit(User.objects.get(email=SELLER_EMAIL))
        adds = creator_adds_demo(User.objects.get(email=CREATOR_EMAIL))
        notifications_settle(emails=[login.email for login in logins])
    tour = demo_tour(appeal=appeal, adds=adds)
    return _summary(world, logins, tour=tour, seconds=time.monotonic() - started)


def _status_counts(model: type[models.Model]) -> Counter:
    return Counter(dict(model.objects.values_list("status").annotate(n=Count("id")).order_by()))


def _summary(world: DemoWorld, logins: list[DemoLogin], *, tour: list[TourStop], seconds: float) -> DemoSummary:
    from privacy.selectors import policy_current

    policy = policy_current()
    terminated = Q(status=AffiliatePlan.Status.TERMINATED)
    plans = AffiliatePlan.objects.aggregate(total=Count("id"), terminated=Count("id", filter=terminated))
    removed = Q(removed_at__isnull=False)
    memberships = PlanProduct.objects.aggregate(total=Count("id"), removed=Count("id", filter=removed))
    return DemoSummary(
        first_day=world.days[0],
        last_day=world.days[-1],
        shops=_status_counts(Shop),
        products=_status_counts(Product),
        creators=_status_counts(Creator),
        plans=plans["total"],
        plans_terminated=plans["terminated"],
        memberships=memberships["total"],
        memberships_removed=memberships["removed"],
        history_rows=StatusHistory.objects.count(),
        logins=logins,
        tour=tour,
        policy_version=policy.version if policy else None,
        seconds=seconds,
    )
