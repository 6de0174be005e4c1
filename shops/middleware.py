"""Rules every web request follows once the user is known: their language, and the second factor."""

from __future__ import annotations

from collections.abc import Callable
from urllib.parse import urlencode, urlparse

from django.conf import settings
from django.contrib.auth.models import AnonymousUser
from django.http import HttpRequest, HttpResponse, HttpResponseForbidden, HttpResponseRedirect
from django.urls import NoReverseMatch, reverse
from django.utils import translation

from shops.models import User
from shops.services.auth import otp_pending

_LANGUAGES = {code for code, _ in settings.LANGUAGES}


class UserLanguageMiddleware:
    """A signed-in user's language follows them.

    Without a language cookie (a new browser, a cleared one) pages use the language saved on the
    user; switching with the top bar's form (Django's ``set_language``) saves the choice on the user,
    so e-mails and the next browser use it too. A cookie, once set, is what the visitor chose last.
    """

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]):
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        user = request.user
        no_cookie = settings.LANGUAGE_COOKIE_NAME not in request.COOKIES
        if no_cookie and user.is_authenticated and user.language in _LANGUAGES:
            translation.activate(user.language)
            request.LANGUAGE_CODE = user.language
        response = self.get_response(request)
        switched = request.method == "POST" and getattr(request.resolver_match, "url_name", None) == "set_language"
        if switched and user.is_authenticated:
            cookie = response.cookies.get(settings.LANGUAGE_COOKIE_NAME)
            # Only what set_language accepted (it sets the cookie) is saved.
            if cookie is not None and cookie.value in _LANGUAGES and cookie.value != user.language:
                User.objects.filter(pk=user.pk).update(language=cookie.value)
                user.language = cookie.value
        return response


def _static_prefix() -> str:
    path = urlparse(settings.STATIC_URL).path
    return path if path.startswith("/") else "/" + path


class SecondFactorMiddleware:
    """Nothing but the second factor until it is passed.

    A user who must give a one-time code (ops always, others once enrolled) and has only given the
    password reaches the code page (or, for ops without an authenticator yet, the enrolment page),
    sign-out, the language switch and static files; every other page, the admin included, sends
    them there. For the API such a session counts as no session, so only tokens work. The admin's
    own login form is replaced by ours, which applies the lock-out.
    """

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]):
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        path = request.path_info
        if path.startswith("/api/"):
            if otp_pending(request):
                request.user = AnonymousUser()
            return self.get_response(request)
        if path.startswith(_static_prefix()):
            return self.get_response(request)
        if path == _path_of("admin:login") and _path_of("login"):
            return HttpResponseRedirect(
                _with_next(_path_of("login"), request.GET.get("next") or _path_of("admin:index"))
            )
        if not otp_pending(request):
            return self.get_response(request)

        target = _path_of("otp_verify") if request.user.otp_enabled else _path_of("account_security")
        if target is None:
            return HttpResponseForbidden()
        if path in {target, _path_of("logout"), _path_of("set_language")}:
            return self.get_response(request)
        # Only a page can be returned to; a form post is not replayed.
        location = _with_next(target, request.get_full_path() if request.method == "GET" else None)
        if request.headers.get("HX-Request"):
            return HttpResponse(status=204, headers={"HX-Redirect": location})
        return HttpResponseRedirect(location)


def _path_of(name: str) -> str | None:
    # None when the URL configuration in use lacks the page (some tests route only their own views).
    try:
        return reverse(name)
    except NoReverseMatch:
        return None


def _with_next(url: str, next_url: str | None) -> str:
    return f"{url}?{urlencode({'next': next_url})}" if next_url else url
