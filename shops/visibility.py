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

Plans, appeals, creator adds and API tokens follow the same rule: a seller member sees its
sellers' plans and appeals, a creator the plans it is invited to plus the running open and
shop-wide plans (any creator may promote those) and its own adds, every user its own tokens.

API clients (``*_shared_with``) see less: a creator whose person withdrew the consent to
sharing eligibility data (privacy centre, ``User.consent_data_sharing``) is left out of what
anybody but that creator reads through the API (docs/privacy.md, "API clients").
"""

from django.db.models import Exists, OuterRef, Prefetch, Q, QuerySet

from affiliate import rules
from affiliate.models import AffiliatePlan, Creator, CreatorAdd, PlanInvitation, PlanProduct
from shops.models import ApiToken, Appeal, Product, SellerMembership, Shop, User


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


# Affiliate operations and API clients ---------------------------------------------------------


def plans_visible_to(user: User) -> QuerySet[AffiliatePlan]:
    """Plans with their active products and invitations, in three queries for any page.

    A creator sees the plans it is invited to and the running open and shop-wide plans (any
    creator may promote those), and of the invitations only its own.
    """
    plans = AffiliatePlan.objects.select_related("shop")
    invitations = PlanInvitation.objects.select_related("creator").order_by("creator__key")
    if not user.is_ops:
        visible = Q(shop__seller_id__in=_seller_ids(user))
        if user.creator_id:
            invited = PlanInvitation.objects.filter(plan_id=OuterRef("pk"), creator_id=user.creator_id)
            public = Q(status=AffiliatePlan.Status.ACTIVE, kind__in=[rules.OPEN, rules.SHOP_WIDE])
            visible |= Q(Exists(invited)) | public
        plans = plans.filter(visible)
    if user.role == User.Role.CREATOR:
        invitations = invitations.filter(creator_id=user.creator_id)
    active = PlanProduct.objects.filter(removed_at__isnull=True).select_related("product").order_by("product__key")
    return plans.prefetch_related(
        Prefetch("memberships", queryset=active, to_attr="active_memberships"),
        Prefetch("planinvitation_set", queryset=invitations, to_attr="visible_invitations"),
    )


def appeals_visible_to(user: User) -> QuerySet[Appeal]:
    appeals = Appeal.objects.select_related("seller", "verdict", "override").prefetch_related("evidence")
    return appeals if user.is_ops else appeals.filter(seller_id__in=_seller_ids(user))


def creator_adds_visible_to(user: User) -> QuerySet[CreatorAdd]:
    """A creator's own adds; ops see all. A seller sees none: the figures are the creator's."""
    adds = CreatorAdd.objects.select_related("creator", "product__shop")
    if user.is_ops:
        return adds
    return adds.filter(creator_id=user.creator_id) if user.creator_id else adds.none()


def tokens_visible_to(user: User) -> QuerySet[ApiToken]:
    tokens = ApiToken.objects.select_related("user", "created_by")
    return tokens if user.is_ops else tokens.filter(user_id=user.pk)


# What API clients may read (consent to sharing) ---------------------------------------------------


def _creators_sharing_withdrawn() -> QuerySet:
    # One subquery in the reader's query: the withdrawal counts from its commit on, with no N+1.
    return User.objects.filter(consent_data_sharing=False, creator_id__isnull=False).values("creator_id")


def creators_shared_with(user: User, creators: QuerySet[Creator] | None = None) -> QuerySet[Creator]:
    """``creators`` (default: those visible to ``user``) that an API client of ``user`` may read:
    a creator always reads its own record; anybody else only creators still consenting to sharing."""
    creators = creators_visible_to(user) if creators is None else creators
    withdrawn = Q(pk__in=_creators_sharing_withdrawn())
    if own := getattr(user, "creator_id", None):  # an anonymous user (the schema view) has none
        withdrawn &= ~Q(pk=own)
    return creators.exclude(withdrawn)


def creator_adds_shared_with(user: User) -> QuerySet[CreatorAdd]:
    """The creator adds an API client of ``user`` may read (their details carry the creator's scores)."""
    adds = creator_adds_visible_to(user)
    withdrawn = Q(creator_id__in=_creators_sharing_withdrawn())
    if own := getattr(user, "creator_id", None):
        withdrawn &= ~Q(creator_id=own)
    return adds.exclude(withdrawn)
