"""Server time of the web pages on the benchmark's data set (``manage.py bench_pages``).

Each page is requested in-process with Django's test ``Client`` against the configured
database, signed in as the page's user (second factor passed), as a browser would ask for it:
the whole middleware stack, the view, the queries and the template, no network and no web
server. A streaming response (the CSV export) is read to its end inside the timing.

The users are taken from the data set, or made once and kept (e-mails ``…@bench.invalid``):

- a seller member of the seller with the most shops (``bench_evaluate``'s sellers have 10 shops
  and 100 products each);
- a member of several sellers together holding ``group_shops`` shops (a large seller group);
- a creator user of one creator;
- an ops user, who sees every shop, product and creator (the product table over 1M products).
"""

from __future__ import annotations

import dataclasses
import statistics
import time
from collections.abc import Iterator

from django.conf import settings
from django.db import connection, reset_queries
from django.db.models import Count
from django.test import Client
from django.test.utils import CaptureQueriesContext, override_settings
from django.urls import reverse
from django.utils.http import urlencode

from affiliate.models import Creator
from shops.dashboards import products as dash
from shops.models import Product, Seller, SellerMembership, Shop, User
from shops.services.auth import OTP_SESSION_KEY

BENCH_DOMAIN = "bench.invalid"


@dataclasses.dataclass(frozen=True)
class PageSpec:
    name: str
    user: str  # a key of the users dict
    path: str


@dataclasses.dataclass
class PageTiming:
    spec: PageSpec
    statuses: list[int]
    times_ms: list[float]
    queries: list[int]
    size: int

    @property
    def ok(self) -> bool:
        return bool(self.statuses) and all(status == 200 for status in self.statuses)

    @property
    def status(self) -> int:
        return next((status for status in self.statuses if status != 200), self.statuses[-1] if self.statuses else 0)

    @property
    def median(self) -> float:
        return statistics.median(self.times_ms) if self.times_ms else float("nan")

    @property
    def p95(self) -> float:
        """Nearest rank: the 19th of 20."""
        if not self.times_ms:
            return float("nan")
        ordered = sorted(self.times_ms)
        return ordered[max(0, -(-95 * len(ordered) // 100) - 1)]

    @property
    def max(self) -> float:
        return max(self.times_ms) if self.times_ms else float("nan")

    @property
    def queries_shown(self) -> str:
        low, high = min(self.queries, default=0), max(self.queries, default=0)
        return str(low) if low == high else f"{low}–{high}"


# The users -----------------------------------------------------------------------------------------


def _bench_user(email: str, role: str, **fields) -> User:
    user, created = User.objects.get_or_create(
        email=email,
        defaults={"role": role, "password": "!", **fields},  # nosec B105 # '!' is Django's unusable-password marker
    )
    if not created and (not user.is_active or user.role != role):
        User.objects.filter(pk=user.pk).update(is_active=True, role=role)
        user.refresh_from_db()
    return user


def seller_user(seller_key: str | None = None) -> tuple[User, Seller]:
    """A seller member of ``seller_key``, or of the seller with the most shops (made if none)."""
    sellers = Seller.objects.annotate(shop_count=Count("shops"))
    seller = sellers.get(key=seller_key) if seller_key else sellers.order_by("-shop_count", "id").first()
    if seller is None:
        raise ValueError("The database has no sellers: run bench_evaluate first")
    member = (
        User.objects.filter(sellermembership__seller=seller, role=User.Role.SELLER, is_active=True)
        .exclude(email__startswith="pages-group-")
        .order_by("id")
        .first()
    )
    if member is None:
        member = _bench_user(f"pages-seller-{seller.key.lower()}@{BENCH_DOMAIN}", User.Role.SELLER)
        SellerMembership.objects.get_or_create(user=member, seller=seller)
    return member, seller


def group_user(shops: int) -> User:
    """A member of the sellers with the most shops, enough of them to hold ``shops`` shops."""
    user = _bench_user(f"pages-group-{shops}@{BENCH_DOMAIN}", User.Role.SELLER)
    have = Shop.objects.filter(seller__sellermembership__user=user).count()
    if have < shops:
        mine = SellerMembership.objects.filter(user=user).values("seller_id")
        candidates = (
            Seller.objects.exclude(pk__in=mine).annotate(shop_count=Count("shops")).order_by("-shop_count", "id")
        )
        added = []
        for seller_id, count in candidates.values_list("id", "shop_count").iterator():
            if have >= shops:
                break
            added.append(SellerMembership(user=user, seller_id=seller_id))
            have += count
        SellerMembership.objects.bulk_create(added, batch_size=1000)
    return user


def creator_user() -> User:
    """A creator's user: an existing one, or one made for the first creator with a verdict."""
    user = User.objects.filter(role=User.Role.CREATOR, is_active=True, creator__isnull=False).order_by("id").first()
    if user is not None:
        return user
    creator = (
        Creator.objects.filter(status__isnull=False).order_by("id").first() or Creator.objects.order_by("id").first()
    )
    if creator is None:
        raise ValueError("The database has no creators: run bench_evaluate first")
    return _bench_user(f"pages-creator@{BENCH_DOMAIN}", User.Role.CREATOR, creator=creator)


def ops_user() -> User:
    return _bench_user(f"pages-ops@{BENCH_DOMAIN}", User.Role.OPS)


# The pages -----------------------------------------------------------------------------------------


def _products(params: dict[str, str] | None = None, name: str = "product_list") -> str:
    base = reverse(name)
    return f"{base}?{urlencode(params)}" if params else base


def deep_cursor(user: User, share: float = 0.5) -> str | None:
    """The ``after`` cursor of the table page ``share`` of the way through the user's products
    (the page a seller reaches by following "next" that far), in the default order."""
    ordering = dash.ordering_parse(None, dash.default_sort(user))
    queryset = dash.products_matching(user=user, params={}).annotate(sort_value=ordering.column.expression())
    fields = ["sort_value"] if ordering.column.unique else ["sort_value", "pk"]
    queryset = queryset.order_by(*(f"-{f}" if ordering.descending else f for f in fields))
    total = dash.products_matching(user=user, params={}).count()
    position = int(total * share)
    if position < 1:
        return None
    row = queryset.values_list("sort_value", "pk")[position - 1 : position].first()
    return dash.cursor_encode(*row) if row else None


def _product_pages(label: str, user_key: str, user: User, sample: Product | None) -> list[PageSpec]:
    pages = [
        PageSpec(f"{label}product table, first page", user_key, _products()),
        PageSpec(f"{label}product table, sorted by NRR", user_key, _products({"sort": "-nrr"})),
        PageSpec(f"{label}product table, filtered (disqualified)", user_key, _products({"status": "disqualified"})),
    ]
    if sample is not None:
        pages.append(PageSpec(f"{label}product table, searched", user_key, _products({"q": sample.key[:-1]})))
    cursor = deep_cursor(user)
    if cursor is not None:
        pages.append(PageSpec(f"{label}product table, deep page (half way)", user_key, _products({"after": cursor})))
    return pages


def page_specs(users: dict[str, User], *, shop_key: str, group_shop_key: str | None) -> list[PageSpec]:
    """Every page timed, with the user who asks for it."""
    seller = users["seller"]
    sample = Product.objects.filter(shop__key=shop_key).order_by("key").first()
    pages = [
        PageSpec("portfolio", "seller", reverse("portfolio")),
        PageSpec("shop detail", "seller", reverse("shop_detail", args=[shop_key])),
        *_product_pages("", "seller", seller, sample),
        PageSpec("product CSV export (streamed)", "seller", _products(name="product_export")),
    ]
    if "group" in users:
        group = users["group"]
        group_sample = Product.objects.filter(shop__key=group_shop_key).order_by("key").first()
        pages += [
            PageSpec("group: portfolio", "group", reverse("portfolio")),
            PageSpec("group: portfolio, page 2", "group", reverse("portfolio") + "?page=2"),
            PageSpec("group: shop detail", "group", reverse("shop_detail", args=[group_shop_key])),
            *_product_pages("group: ", "group", group, group_sample),
            PageSpec("group: product CSV export (streamed)", "group", _products(name="product_export")),
        ]
    pages.append(PageSpec("creator page (own)", "creator", reverse("creator_home")))
    creator = users["creator"].creator
    ops = users["ops"]
    pages += [
        PageSpec("ops: overview", "ops", reverse("ops_overview")),
        PageSpec("ops: review queue", "ops", reverse("ops_review_queue")),
        PageSpec("ops: creator search", "ops", reverse("creator_home")),
        PageSpec("ops: creator page", "ops", reverse("creator_detail", args=[creator.key])),
        *_product_pages("ops: ", "ops", ops, sample),
    ]
    return pages


# Timing --------------------------------------------------------------------------------------------


def signed_in_client(user: User) -> Client:
    """A client signed in as ``user`` with the second factor passed, as after a real sign-in."""
    client = Client(raise_request_exception=False)
    client.force_login(user)
    session = client.session
    session[OTP_SESSION_KEY] = True
    session.save()
    return client


def _body_size(response) -> int:
    if response.streaming:
        return sum(len(part) for part in response.streaming_content)
    return len(response.content)


def time_page(client: Client, spec: PageSpec, *, repeats: int, warmups: int) -> PageTiming:
    timing = PageTiming(spec, [], [], [], 0)
    for attempt in range(warmups + repeats):
        reset_queries()  # the query log keeps 9,000 queries: a full one would count none
        with CaptureQueriesContext(connection) as captured:
            started = time.perf_counter()
            response = client.get(spec.path)
            size = _body_size(response)  # a streamed body is produced while it is read
            elapsed = (time.perf_counter() - started) * 1000
        if attempt < warmups and response.status_code == 200:
            continue
        timing.statuses.append(response.status_code)
        timing.times_ms.append(elapsed)
        timing.queries.append(len(captured))
        timing.size = size
        if response.status_code != 200:
            break  # a failing page is reported once, not timed
    return timing


@dataclasses.dataclass
class Plan:
    users: dict[str, User]
    specs: list[PageSpec]

    def described(self) -> list[str]:
        """Who the pages are timed for, and how much each of them sees."""
        lines = []
        for name, user in self.users.items():
            if user.is_ops:
                seen = f"{Shop.objects.count():,} shops, {Product.objects.count():,} products (all)"
            elif user.creator_id:
                seen = f"creator {user.creator.key}"
            else:
                shops = Shop.objects.filter(seller__sellermembership__user=user)
                products = Product.objects.filter(shop__seller__sellermembership__user=user)
                seen = f"{shops.count():,} shops, {products.count():,} products"
            lines.append(f"{name}: {user.email} ({seen})")
        return lines


def plan(
    *, seller_key: str | None = None, group_shops: int = 1000, only: str | None = None, extra: list[str] = ()
) -> Plan:
    """The users (found or made) and the pages to time (``only``: names containing it), plus
    ``extra`` paths, each ``[user:]path`` (user seller, group, creator or ops; seller by default)."""
    seller, seller_obj = seller_user(seller_key)
    users = {"seller": seller}
    shop_key = Shop.objects.filter(seller=seller_obj).order_by("key").values_list("key", flat=True).first()
    if shop_key is None:
        raise ValueError(f"Seller {seller_obj.key} has no shops")
    group_shop_key = None
    if group_shops:
        users["group"] = group_user(group_shops)
        group_shop_key = (
            Shop.objects.filter(seller__sellermembership__user=users["group"])
            .order_by("-key")
            .values_list("key", flat=True)
            .first()
        )
    users |= {"creator": creator_user(), "ops": ops_user()}
    specs = page_specs(users, shop_key=shop_key, group_shop_key=group_shop_key)
    if only:
        specs = [spec for spec in specs if only.lower() in spec.name.lower()]
    for path in extra:
        user, _, rest = path.partition(":")
        if not rest.startswith("/") or user not in users:
            user, rest = "seller", path
        if not rest.startswith("/"):
            raise ValueError(f"{path!r} is not a path (/…) or user:path with a user of {sorted(users)}")
        specs.append(PageSpec(rest, user, rest))
    return Plan(users, specs)


def time_pages(planned: Plan, *, repeats: int = 20, warmups: int = 2) -> Iterator[PageTiming]:
    """Each page's timing, page after page (a generator: print them as they come)."""
    clients = {name: signed_in_client(user) for name, user in planned.users.items()}
    with override_settings(ALLOWED_HOSTS=[*settings.ALLOWED_HOSTS, "testserver"]):
        for spec in planned.specs:
            yield time_page(clients[spec.user], spec, repeats=repeats, warmups=warmups)
