"""Who may see which shops, products and creators: the one place that answers it.

The API, the web pages and exports all start from these querysets, so that an object a user
may not see is simply absent (the API answers 404, never 403: it does not confirm that the
object exists).

- Ops staff (``ops``, ``ops_admin``) see everything.
- A seller member sees the shops of the sellers they belong to and those shops' products.
- A creator sees their own creator record only.

**Decision:** creators see no shop and no product here. The issue says "a creator's [token
sees] only its own"; a product's eligibility record carries the seller's review counts, the
category baseline and the shop's verdict, which are the seller's business data. What a
creator needs about a product (may I promote it, and why not) is answered by the creator
pre-check of the affiliate operations, which shows exactly that and nothing more.
Memberships and the creator link decide, whatever the role; an inactive user sees nothing.
"""

from django.db.models import QuerySet

from affiliate.models import Creator
from shops.models import Product, SellerMembership, Shop, User


def _seller_ids(user: User) -> QuerySet:
    # A subquery, not a join through the members: a shop can never appear twice.
    return SellerMembership.objects.filter(user_id=user.pk).values("seller_id")


def shops_visible_to(user: User) -> QuerySet[Shop]:
    if not (user.is_authenticated and user.is_active):
        return Shop.objects.none()
    if user.is_ops:
        return Shop.objects.all()
    return Shop.objects.filter(seller_id__in=_seller_ids(user))


def products_visible_to(user: User) -> QuerySet[Product]:
    if not (user.is_authenticated and user.is_active):
        return Product.objects.none()
    if user.is_ops:
        return Product.objects.all()
    return Product.objects.filter(shop__seller_id__in=_seller_ids(user))


def creators_visible_to(user: User) -> QuerySet[Creator]:
    if not (user.is_authenticated and user.is_active):
        return Creator.objects.none()
    if user.is_ops:
        return Creator.objects.all()
    if user.creator_id is None:
        return Creator.objects.none()
    return Creator.objects.filter(pk=user.creator_id)
