"""Privacy middleware: the forbidden-field guard at the door, re-acceptance of a significant
policy version, and the access log (with product analytics for those who consent).

None of them adds a database query to a request: the guard reads the request, the policy
check reads a session flag set at sign-in, and log entries go to the Redis buffer.
"""

import re
from urllib.parse import quote

from django.http import JsonResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.functional import empty

from privacy.guard import forbidden_in, forbidden_messages
from privacy.services.access_log import access_log_record, analytics_record
from privacy.signals import REACCEPT_SESSION_KEY
from shops.services.auth import otp_pending

API_PREFIX = "/api/"
# API views whose responses name shops, products or creators by key: whose data was read.
API_REFS = {
    "shop": {"shop-list", "shop-detail", "shop-history", "shop-blast-radius", "shop-recreate-plans"},
    "product": {"product-list", "product-detail", "product-history", "product-blast-radius"},
    "creator": {"creator-list", "creator-detail", "creator-history"},
}
# Admin pages that show a person's data: /admin/<app>/<model>/<id>/change/.
ADMIN_PERSONAL = re.compile(r"^/admin/(?P<model>shops/user|shops/seller|affiliate/creator)/(?P<pk>\d+)/change/$")
ADMIN_SUBJECT = {"shops/user": "user", "shops/seller": "seller", "affiliate/creator": "creator"}
MAX_REFS = 500


def _forbidden_response(request, names: list[str]):
    messages = forbidden_messages(names)
    if request.path.startswith(API_PREFIX):
        body = {
            "error": {
                "code": "forbidden_field",
                "message": "; ".join(m[0] for m in messages.values()),
                "details": messages,
            }
        }
        return JsonResponse(body, status=400)
    return render(request, "privacy/forbidden_field.html", {"fields": names}, status=400)


class ForbiddenFieldsMiddleware:
    """Refuses a query string (any request) or a submitted form (web pages) naming a forbidden field.

    API bodies are checked by the parsers of ``privacy/api/parsers.py``: reading them here
    would consume the stream before DRF.
    """

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        names = forbidden_in(request.GET.keys())
        if not names and request.method == "POST" and not request.path.startswith(API_PREFIX):
            names = forbidden_in(request.POST.keys())
        if names:
            return _forbidden_response(request, names)
        return self.get_response(request)


class PolicyAcceptanceMiddleware:
    """Sends a signed-in user who must accept a significant policy version to the acceptance page."""

    EXEMPT_PREFIXES = (API_PREFIX, "/static/", "/i18n/", "/healthz", "/livez", "/media/")

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        if self._must_accept(request):
            target = reverse("privacy_policy_accept")
            return redirect(f"{target}?next={quote(request.get_full_path())}")
        return self.get_response(request)

    def _must_accept(self, request) -> bool:
        path = request.path
        if path.startswith(self.EXEMPT_PREFIXES) or not hasattr(request, "session"):
            return False
        if not request.session.get(REACCEPT_SESSION_KEY):
            return False
        exempt = {reverse("privacy_policy_accept"), reverse("logout")}
        if path in exempt or path.startswith(reverse("privacy_policy_list")):
            return False
        # The second factor comes first: its pages must not be sent to the policy page.
        return request.user.is_authenticated and not otp_pending(request)


class AccessLogMiddleware:
    """Logs every API call and every admin view of a person's record; records page views of
    users who consent to product analytics."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        response = self.get_response(request)
        path = request.path
        if path.startswith(API_PREFIX):
            self._log_api(request, response)
        elif request.method == "GET":
            match = ADMIN_PERSONAL.match(path)
            if match and response.status_code == 200:
                access_log_record(
                    request=request,
                    actor=request.user,
                    channel="admin",
                    view_name=f"admin:{match['model'].replace('/', '_')}_change",
                    subjects=[(ADMIN_SUBJECT[match["model"]], int(match["pk"]))],
                    status_code=response.status_code,
                )
            self._analytics(request, response)
        return response

    def _log_api(self, request, response) -> None:
        user = getattr(request, "user", None)
        token = getattr(request, "auth", None)
        match = getattr(request, "resolver_match", None)
        url_name = match.url_name if match else ""
        refs: dict[str, list[str]] = {}
        for kind, names in API_REFS.items():
            if url_name in names and response.status_code < 400:
                refs[kind] = self._keys(match.kwargs.get("key"), getattr(response, "data", None))
        access_log_record(
            request=request,
            actor=user if user is not None and user.is_authenticated else None,
            channel="api",
            view_name=match.view_name if match else "",
            refs=refs,
            status_code=response.status_code,
            token_prefix=getattr(token, "prefix", "") or "",
        )

    @staticmethod
    def _keys(key: str | None, data) -> list[str]:
        keys = [key] if key else []
        if isinstance(data, dict):
            items = data.get("results") if isinstance(data.get("results"), list) else [data]
            keys += [str(item["id"]) for item in items[:MAX_REFS] if isinstance(item, dict) and item.get("id")]
        return list(dict.fromkeys(keys))

    @staticmethod
    def _analytics(request, response) -> None:
        user = getattr(request, "user", None)
        # Only a user already loaded by the page is looked at: no query for anyone else.
        if user is None or getattr(user, "_wrapped", None) is empty:
            return
        if not user.is_authenticated or not getattr(user, "consent_product_analytics", False):
            return
        match = getattr(request, "resolver_match", None)
        if response.status_code == 200 and match and match.view_name and not request.path.startswith("/admin/"):
            analytics_record(user=user, name=match.view_name)
