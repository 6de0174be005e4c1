"""The products a seller can see: the table (filters, sort, keyset pages, CSV export) and one product.

The data is assembled by ``shops.dashboards.products``; these views only read the request,
pick the template and answer 404 for what the user may not see. With htmx the table is
swapped in place (``_product_table.html``); without it every control is a plain link or form.
"""

import csv
from collections.abc import Iterator

from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseBadRequest, StreamingHttpResponse
from django.shortcuts import get_object_or_404, render
from django.urls import path, reverse
from django.utils import timezone
from django.utils.cache import patch_vary_headers
from django.utils.http import urlencode
from django.utils.translation import get_language
from django.views.decorators.http import require_GET

from shops.dashboards import products as dash
from shops.models import Shop, User
from shops.visibility import products_visible_to

# A spreadsheet runs a cell that starts with one of these as a formula (CSV injection).
FORMULA_PREFIXES = ("=", "+", "-", "@", "\t", "\r")


def _require_seller_side(user: User) -> None:
    # Creators have their own pages; products are the seller's business data (see shops.visibility).
    if user.role == User.Role.CREATOR:
        raise Http404


def _is_partial(request: HttpRequest) -> bool:
    # A history restore after a cache miss needs the whole page, not the fragment.
    return bool(request.headers.get("HX-Request")) and not request.headers.get("HX-History-Restore-Request")


def _link(params: dict[str, str], name: str = "product_list") -> str:
    base = reverse(name)
    return f"{base}?{urlencode(params)}" if params else base


def _shops_chosen(request: HttpRequest) -> list[Shop]:
    # ?shop=<key> (the shop page links here): a shop the user may not see is a 404, as its page is.
    try:
        return dash.shops_chosen(user=request.user, params=request.GET)
    except Shop.DoesNotExist:
        raise Http404 from None


@login_required
@require_GET
def product_list(request: HttpRequest) -> HttpResponse:
    _require_seller_side(request.user)
    shops = _shops_chosen(request)
    errors: dict[str, list[str]] = {}
    page = None
    try:
        page = dash.products_page(user=request.user, params=request.GET)
    except ValidationError as exc:
        errors = exc.message_dict
    query = dash.visible_query(request.GET)
    ordering = page.ordering if page else dash.ordering_parse(query.get("sort"), dash.default_sort(request.user))
    filters = {name: value for name, value in query.items() if name != "sort"}
    sort_links = {name: _link(filters | {"sort": ordering.toggled_param(name)}) for name in dash.SORTS}
    context = {
        "page": page,
        "errors": errors,
        "query": query,
        "ordering": ordering,
        "sort_links": sort_links,
        "next_link": _link(query | {"after": page.next_cursor}) if page and page.next_cursor else None,
        "previous_link": _link(query | {"before": page.previous_cursor}) if page and page.previous_cursor else None,
        "first_link": _link(query) if page and not page.is_first else None,
        "export_link": _link(query, "product_export"),
        "filtered": bool(filters),
        "shops_chosen": shops,
        "all_shops_link": _link({name: value for name, value in query.items() if name != "shop"}) if shops else None,
        "sort_options": dash.SORT_OPTIONS,
    }
    if _is_partial(request):
        context["partial"] = True
        response = render(request, "shops/_product_table.html", context)
    else:
        context["choices"] = dash.filter_choices(user=request.user, language=get_language() or "en")
        response = render(request, "shops/product_list.html", context)
    patch_vary_headers(response, ("HX-Request",))
    return response


class _Echo:
    """A file-like object whose ``write`` returns the line: csv.writer feeds a streaming response."""

    def write(self, value: str) -> str:
        return value


def _safe(cell):
    if isinstance(cell, str) and cell.startswith(FORMULA_PREFIXES):
        return "'" + cell
    return cell


def _csv_lines(rows: Iterator[list]) -> Iterator[str]:
    writer = csv.writer(_Echo())
    # The byte order mark lets spreadsheet programs read Chinese titles as UTF-8.
    yield "\ufeff" + writer.writerow(dash.EXPORT_FIELDS)
    for row in rows:
        yield writer.writerow([_safe(cell) for cell in row])


@login_required
@require_GET
def product_export(request: HttpRequest) -> HttpResponse:
    _require_seller_side(request.user)
    _shops_chosen(request)
    try:
        rows = dash.products_export(user=request.user, params=request.GET)
    except ValidationError as exc:
        lines = [f"{name}: {' '.join(messages)}" for name, messages in exc.message_dict.items()]
        return HttpResponseBadRequest("\n".join(lines), content_type="text/plain; charset=utf-8")
    response = StreamingHttpResponse(_csv_lines(rows), content_type="text/csv; charset=utf-8")
    filename = f"products-{timezone.localdate():%Y-%m-%d}.csv"
    response["Content-Disposition"] = f'attachment; filename="{filename}"'
    response["Cache-Control"] = "private, no-store"
    return response


@login_required
@require_GET
def product_detail(request: HttpRequest, key: str) -> HttpResponse:
    _require_seller_side(request.user)
    visible = products_visible_to(request.user).select_related("shop", "shop__seller", "category")
    product = get_object_or_404(visible, key=key)
    detail = dash.product_detail(user=request.user, product=product)
    return render(request, "shops/product_detail.html", {"detail": detail, "product": detail.product})


urlpatterns = [
    path("products/", product_list, name="product_list"),
    path("products/export.csv", product_export, name="product_export"),
    path("products/<str:key>/", product_detail, name="product_detail"),
]
