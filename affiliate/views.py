"""The creator's web pages: a creator's own qualification page, and the ops creator search.

- ``/creator/``: a creator's own page; ops get a search over every creator; anyone else a 404.
- ``/creators/<key>/``: one creator's page, for that creator and for ops. Another creator's
  key, or any key for a seller, is a 404 (``creators_visible_to`` decides; existence is never
  confirmed).

The page's two tables (refused adds and plans) page independently; with htmx a page link
swaps only its own table (the ``HX-Target`` names it), without JavaScript the whole page loads.
"""

from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, render
from django.urls import path
from django.utils import timezone
from django.views.decorators.http import require_GET

from affiliate import dashboards
from affiliate.models import Creator
from shops.rules import codes as c
from shops.selectors import rulesets_in_force
from shops.visibility import creators_visible_to

# The ids of the swappable regions of the page (also the HX-Target of their links).
REFUSALS_TARGET = "creator-refusals"
PLANS_TARGET = "creator-plans"
SEARCH_TARGET = "creator-results"


@require_GET
@login_required
def creator_home(request: HttpRequest) -> HttpResponse:
    user = request.user
    if user.is_ops:
        return _creator_search(request)
    if user.creator_id is None:
        raise Http404("No creator page for this account.")
    return _creator_page(request, get_object_or_404(creators_visible_to(user), pk=user.creator_id))


@require_GET
@login_required
def creator_detail(request: HttpRequest, key: str) -> HttpResponse:
    return _creator_page(request, get_object_or_404(creators_visible_to(request.user), key=key))


def _creator_page(request: HttpRequest, creator: Creator) -> HttpResponse:
    today = timezone.localdate()
    rulesets = rulesets_in_force(as_of=today)
    refusals_page = request.GET.get("refusals", 1)
    plans_page = request.GET.get("plans", 1)
    target = request.headers.get("HX-Target") if request.headers.get("HX-Request") else None
    context = {"creator": creator, "own_page": request.user.creator_id == creator.pk}
    # An htmx page link needs only its own table: nothing else is loaded.
    if target == REFUSALS_TARGET:
        context["refusals"] = dashboards.creator_refusals_page(
            request.user, creator, rulesets=rulesets, page=refusals_page
        )
        return render(request, "affiliate/_creator_refusals.html", context)
    if target == PLANS_TARGET:
        context["plans"] = dashboards.creator_plans_page(request.user, creator, rulesets=rulesets, page=plans_page)
        return render(request, "affiliate/_creator_plans.html", context)
    summary = dashboards.creator_summary(creator, today=today, rulesets=rulesets)
    context |= {
        "summary": summary,
        "refusals": dashboards.creator_refusals_page(request.user, creator, rulesets=rulesets, page=refusals_page),
        "plans": dashboards.creator_plans_page(
            request.user, creator, rulesets=rulesets, page=plans_page, verdict=summary.verdict
        ),
    }
    return render(request, "affiliate/creator_detail.html", context)


def _creator_search(request: HttpRequest) -> HttpResponse:
    query = request.GET.get("q", "").strip()[:100]
    status = request.GET.get("status", "")
    context = {
        "creators": dashboards.creators_page(request.user, query=query, status=status, page=request.GET.get("page", 1)),
        "query": query,
        "status": status,
        "statuses": [(c.QUALIFIED, c.QUALIFIED), (c.NOT_QUALIFIED, c.NOT_QUALIFIED), ("none", None)],
    }
    if request.headers.get("HX-Request") and request.headers.get("HX-Target") == SEARCH_TARGET:
        return render(request, "affiliate/_creator_results.html", context)
    return render(request, "affiliate/creator_search.html", context)


urlpatterns = [
    path("creator/", creator_home, name="creator_home"),
    path("creators/<str:key>/", creator_detail, name="creator_detail"),
]
