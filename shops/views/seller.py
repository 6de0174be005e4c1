"""The seller's pages: the portfolio of shops, a shop, and an affiliate plan.

Views only find the object among what the user may see (``shops.visibility``: anything else is
a 404, never a 403) and render what ``shops.dashboards.seller`` assembles. Tables update in
place with htmx (a partial template when ``HX-Request`` is set) and work as plain links too.
"""

import datetime as dt

from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import path, reverse
from django.utils import timezone
from django.utils.dateparse import parse_datetime
from django.views.decorators.http import require_GET

from shops.dashboards.seller import (
    PortfolioFilters,
    plan_page,
    seller_portfolio,
    shop_history,
    shop_page,
    with_seller_label,
)
from shops.models import User
from shops.visibility import plans_visible_to, shops_visible_to

# A visit is a run of portfolio requests less than this apart: "changed since your last visit"
# keeps comparing with the same moment while the seller pages through or opens a shop and returns.
VISIT_GAP = dt.timedelta(minutes=30)
VISIT_SESSION_KEY = "portfolio_visit"


def _is_htmx(request: HttpRequest) -> bool:
    return request.headers.get("HX-Request") == "true"


def _visit_since(request: HttpRequest, now: dt.datetime) -> dt.datetime | None:
    """The previous visit's time for this visit; the session remembers it between requests."""
    visit = request.session.get(VISIT_SESSION_KEY) or {}
    last = parse_datetime(visit.get("last") or "")
    if last is not None and now - last < VISIT_GAP:
        since = parse_datetime(visit.get("since") or "")
    else:
        since = request.user.portfolio_seen_at
    request.session[VISIT_SESSION_KEY] = {"since": since.isoformat() if since else None, "last": now.isoformat()}
    return since


@require_GET
@login_required
def portfolio(request: HttpRequest) -> HttpResponse:
    user = request.user
    if user.role == User.Role.CREATOR:
        raise Http404  # creators have no shops; their home is their own eligibility
    now = timezone.now()
    since = _visit_since(request, now)
    partial = _is_htmx(request)
    data = seller_portfolio(
        user,
        filters=PortfolioFilters.from_params(request.GET),
        page_number=request.GET.get("page"),
        since=since,
        summary=not partial,
    )
    # Marked after the list is computed: this visit still shows what changed before it.
    User.objects.filter(pk=user.pk).update(portfolio_seen_at=now)
    template = "shops/_portfolio_results.html" if partial else "shops/portfolio.html"
    return render(request, template, {"portfolio": data})


@require_GET
@login_required
def shop_detail(request: HttpRequest, key: str) -> HttpResponse:
    shop = get_object_or_404(with_seller_label(shops_visible_to(request.user)), key=key)
    page = shop_page(request.user, shop, today=timezone.localdate(), history_page=request.GET.get("history_page"))
    return render(request, "shops/shop_detail.html", {"page": page, "shop": shop})


@require_GET
@login_required
def shop_history_part(request: HttpRequest, key: str) -> HttpResponse:
    """The verdict history table alone, for htmx paging; a plain request goes to the shop page."""
    shop = get_object_or_404(shops_visible_to(request.user), key=key)
    number = request.GET.get("history_page") or "1"
    if not _is_htmx(request):
        return redirect(f"{reverse('shop_detail', args=[shop.key])}?history_page={number}#history")
    history = shop_history(request.user, shop, page_number=number)
    return render(request, "shops/_shop_history.html", {"history": history, "shop": shop})


@require_GET
@login_required
def plan_detail(request: HttpRequest, pk: int) -> HttpResponse:
    plan = get_object_or_404(plans_visible_to(request.user), pk=pk)
    return render(request, "shops/plan_detail.html", {"page": plan_page(request.user, plan), "plan": plan})


urlpatterns = [
    path("shops/", portfolio, name="portfolio"),
    path("shops/<str:key>/", shop_detail, name="shop_detail"),
    path("shops/<str:key>/history/", shop_history_part, name="shop_history"),
    path("plans/<int:pk>/", plan_detail, name="plan_detail"),
]
