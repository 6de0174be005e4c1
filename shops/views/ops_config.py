"""The ops pages for rule sets (editor with a shadow run), feed imports and the audit log.

Only ops staff (``user.is_ops``) see them; anyone else signed in gets a 404. Creating and
activating a rule-set version is for ops admins only (a 404 for other ops, whose pages say so);
every ops user may start a shadow run. Reads come from ``shops.dashboards.ops_config``; every
write calls its service: ``shops.services.rulesets`` (drafts, shadow runs, activation, audited)
and ``shops.services.feed_jobs`` (the API's feed upload).
"""

from __future__ import annotations

import datetime as dt
import functools
from collections.abc import Callable

from django import forms
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import NON_FIELD_ERRORS, ValidationError
from django.http import Http404, HttpRequest, HttpResponse, StreamingHttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import path
from django.utils import timezone
from django.utils.cache import patch_vary_headers
from django.utils.formats import date_format
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from shops.dashboards import ops_config as board
from shops.models import FeedJob, RuleSet
from shops.selectors import THRESHOLD_FIELDS, rulesets_in_force, thresholds_for_market
from shops.services.feed_jobs import MAX_FILES, MAX_TOTAL_BYTES, FeedUploadRefused, feed_job_submit, feed_jobs_visible
from shops.services.feeds import FILE_ORDER, parse_as_of
from shops.services.rulesets import (
    DRAFT_TTL,
    SHADOW_LISTED,
    DraftNotFound,
    DraftsUnavailable,
    ShadowState,
    ruleset_activate,
    ruleset_draft_create,
    ruleset_draft_get,
    ruleset_drafts,
    ruleset_edit_allowed,
    ruleset_shadow_start,
)


def ops_page(view: Callable) -> Callable:
    """Signed in (else the sign-in page) and ops (else 404); the middleware asks for the second factor."""

    @login_required
    @functools.wraps(view)
    def wrapper(request: HttpRequest, *args, **kwargs) -> HttpResponse:
        if not request.user.is_ops:
            raise Http404
        return view(request, *args, **kwargs)

    return wrapper


def admin_page(view: Callable) -> Callable:
    """Ops admins only: other ops get a 404, as for any page their role does not have."""

    @ops_page
    @functools.wraps(view)
    def wrapper(request: HttpRequest, *args, **kwargs) -> HttpResponse:
        if not ruleset_edit_allowed(user=request.user):
            raise Http404
        return view(request, *args, **kwargs)

    return wrapper


def _htmx_target(request: HttpRequest) -> str | None:
    # A history restore asks for the whole page even though htmx sends it.
    if not request.headers.get("HX-Request") or request.headers.get("HX-History-Restore-Request"):
        return None
    return request.headers.get("HX-Target") or ""


def _render(request: HttpRequest, template: str, context: dict, status: int = 200) -> HttpResponse:
    response = render(request, template, context, status=status)
    patch_vary_headers(response, ["HX-Request", "HX-Target"])
    return response


def _int(value: str | None) -> int | None:
    try:
        return int(value) if value not in (None, "") else None
    except ValueError:
        return None


def _query(request: HttpRequest, *names: str) -> str:
    """The page's filters as a query string, for its pagination links."""
    params = request.GET.copy()
    for name in list(params):
        if name not in names or not params.get(name):
            del params[name]
    return params.urlencode()


# Rule sets ---------------------------------------------------------------------------------------------


class RulesetDraftForm(forms.Form):
    """Renders the editor; every value is checked by the service (the parser of ``evaluate --rules``)."""

    market = forms.CharField(
        label=gettext_lazy("Market"),
        required=False,
        max_length=8,
        help_text=gettext_lazy("A market code such as US or TH; empty for the default that every other market uses."),
        widget=forms.TextInput(attrs={"list": "ruleset-markets", "autocapitalize": "characters", "size": 8}),
    )
    effective_from = forms.CharField(
        label=gettext_lazy("In force from"),
        required=False,
        widget=forms.DateInput(attrs={"type": "date", "required": True}),
        help_text=gettext_lazy("Today or later. Verdicts change at the first evaluation run on or after this day."),
    )
    note = forms.CharField(
        label=gettext_lazy("Why the change"),
        required=False,
        widget=forms.Textarea(attrs={"rows": 3, "required": True}),
        help_text=gettext_lazy("Kept with the version and in the audit log."),
    )

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        for info in board.THRESHOLDS:
            self.fields[info.name] = forms.CharField(
                label=info.label,
                required=False,
                help_text=info.help,
                widget=forms.TextInput(
                    attrs={"inputmode": "numeric" if info.integer else "decimal", "required": True, "size": 8}
                ),
            )

    def threshold_groups(self) -> list[tuple[str, list]]:
        groups: dict[str, list] = {}
        for info in board.THRESHOLDS:
            groups.setdefault(str(info.group), []).append((info, self[info.name]))
        return list(groups.items())


@require_GET
@ops_page
def rulesets(request: HttpRequest) -> HttpResponse:
    today = timezone.localdate()
    markets = board.rulesets_by_market(today=today)
    try:
        drafts = [board.draft_view(draft) for draft in ruleset_drafts()]
    except DraftsUnavailable as exc:
        drafts = []
        messages.error(request, exc.messages[0])
    context = {
        "markets": markets,
        "drafts": drafts,
        "today": today,
        "can_edit": ruleset_edit_allowed(user=request.user),
        "draft_days": DRAFT_TTL.days,
    }
    return _render(request, "ops/rulesets.html", context)


@require_GET
@ops_page
def ruleset_detail(request: HttpRequest, pk: int) -> HttpResponse:
    detail = board.ruleset_detail(pk=pk, today=timezone.localdate())
    if detail is None:
        raise Http404
    context = {"detail": detail, "ruleset": detail.ruleset, "can_edit": ruleset_edit_allowed(user=request.user)}
    return _render(request, "ops/ruleset_detail.html", context)


@require_http_methods(["GET", "POST"])
@admin_page
def ruleset_new(request: HttpRequest) -> HttpResponse:
    """A new version from the current one: prefilled from ``?from=<pk>`` or the market's rules in force."""
    today = timezone.localdate()
    if request.method == "POST":
        form = RulesetDraftForm(request.POST)
        form.is_valid()
        try:
            draft = ruleset_draft_create(user=request.user, data=request.POST.dict(), today=today)
        except ValidationError as exc:
            for field, errors in exc.message_dict.items():
                form.add_error(None if field == NON_FIELD_ERRORS or field not in form.fields else field, errors)
            return _render(request, "ops/ruleset_new.html", _new_context(form, None), status=400)
        try:
            ruleset_shadow_start(user=request.user, draft_id=draft["id"])
        except ValidationError as exc:
            messages.error(request, " ".join(exc.messages))
        return redirect("ops_ruleset_draft", draft_id=draft["id"])

    source = None
    source_pk = _int(request.GET.get("from"))
    if source_pk is not None:
        source = get_object_or_404(RuleSet, pk=source_pk)
        market, values = source.market, board.ruleset_values_of(source)
    else:
        market = (request.GET.get("market") or "").strip().upper()[:8]
        in_force = thresholds_for_market(rulesets_in_force(as_of=today), market)
        values = {name: getattr(in_force, name) for name in THRESHOLD_FIELDS}
    initial = {name: board.threshold_text(value) for name, value in values.items()}
    initial |= {"market": market, "effective_from": (today + dt.timedelta(days=1)).isoformat()}
    return _render(request, "ops/ruleset_new.html", _new_context(RulesetDraftForm(initial=initial), source))


def _new_context(form: RulesetDraftForm, source: RuleSet | None) -> dict:
    markets = sorted({m for m in RuleSet.objects.values_list("market", flat=True) if m})
    return {"form": form, "source": source, "markets": markets, "today": timezone.localdate()}


@require_GET
@ops_page
def ruleset_draft(request: HttpRequest, draft_id: str) -> HttpResponse:
    try:
        draft = ruleset_draft_get(draft_id)
    except DraftsUnavailable as exc:
        messages.error(request, exc.messages[0])
        return redirect("ops_rulesets")
    if draft is None:
        raise Http404
    view = board.draft_view(draft)
    summary = view.summary
    changed = None
    if summary is not None and summary.state == ShadowState.SUCCEEDED:
        changed = board.shadow_changed_page(
            draft,
            summary,
            entity=request.GET.get("entity", ""),
            transition=request.GET.get("transition", ""),
            page=_int(request.GET.get("page")) or 1,
        )
    context = {
        "view": view,
        "draft": draft,
        "summary": summary,
        "changed": changed,
        "rows": board.threshold_rows(draft["values"], draft["base_values"]),
        "can_edit": ruleset_edit_allowed(user=request.user),
        "next_version": board.next_version() if not draft["activated"] else None,
        "listed_cap": SHADOW_LISTED,
        "draft_days": DRAFT_TTL.days,
        "today": timezone.localdate(),
    }
    target = _htmx_target(request)
    if target == "shadow-region":
        return _render(request, "ops/_ruleset_shadow.html", context)
    if target == "changed-list":
        return _render(request, "ops/_ruleset_changes.html", context)
    return _render(request, "ops/ruleset_draft.html", context)


@require_POST
@ops_page
def ruleset_shadow(request: HttpRequest, draft_id: str) -> HttpResponse:
    try:
        ruleset_shadow_start(user=request.user, draft_id=draft_id)
    except DraftNotFound:
        raise Http404 from None
    except ValidationError as exc:
        messages.error(request, " ".join(exc.messages))
    return redirect("ops_ruleset_draft", draft_id=draft_id)


@require_POST
@admin_page
def ruleset_activate_view(request: HttpRequest, draft_id: str) -> HttpResponse:
    if not request.POST.get("confirm"):
        messages.error(request, _("Tick the box to confirm that you reviewed the shadow run, then activate."))
        return redirect("ops_ruleset_draft", draft_id=draft_id)
    try:
        ruleset = ruleset_activate(user=request.user, draft_id=draft_id)
    except DraftNotFound:
        raise Http404 from None
    except ValidationError as exc:
        messages.error(request, " ".join(exc.messages))
        return redirect("ops_ruleset_draft", draft_id=draft_id)
    messages.success(
        request,
        _("Version %(version)s is active: in force from %(date)s. Verdicts change at the next evaluation run.")
        % {"version": ruleset.version, "date": date_format(ruleset.effective_from, "DATE_FORMAT")},
    )
    return redirect("ops_ruleset_detail", pk=ruleset.pk)


# Feeds ----------------------------------------------------------------------------------------------------


def _feeds_context(request: HttpRequest, *, upload_errors: list[str] | None = None) -> dict:
    state = request.GET.get("state", "")
    if state not in FeedJob.State.values:
        state = ""
    page = board.feed_jobs_page(
        user=request.user, state=state, before=_int(request.GET.get("before")), after=_int(request.GET.get("after"))
    )
    return {
        "page": page,
        "state": state,
        "states": FeedJob.State.choices,
        "query": _query(request, "state"),
        "file_names": FILE_ORDER,
        "max_files": MAX_FILES,
        "max_megabytes": MAX_TOTAL_BYTES // (1024 * 1024),
        "upload_errors": upload_errors or [],
        "today": timezone.localdate(),
    }


@require_GET
@ops_page
def feeds(request: HttpRequest) -> HttpResponse:
    context = _feeds_context(request)
    if _htmx_target(request) == "feed-jobs":
        return _render(request, "ops/_feeds_table.html", context)
    return _render(request, "ops/feeds.html", context)


@require_POST
@ops_page
def feed_upload(request: HttpRequest) -> HttpResponse:
    """The API's upload through the same service: checked at once, imported by a task."""
    as_of = None
    raw_as_of = request.POST.get("as_of", "").strip()
    problems = []
    if raw_as_of:
        try:
            as_of = parse_as_of(raw_as_of)
        except ValueError as exc:
            problems.append(str(exc))
    uploads = [(upload.name, upload) for upload in request.FILES.getlist("files")]
    if not problems:
        try:
            job = feed_job_submit(user=request.user, files=uploads, as_of=as_of)
        except FeedUploadRefused as exc:
            problems = exc.problems
        else:
            return redirect("ops_feed_detail", pk=job.pk)
    return _render(request, "ops/feeds.html", _feeds_context(request, upload_errors=problems), status=400)


@require_GET
@ops_page
def feed_detail(request: HttpRequest, pk: int) -> HttpResponse:
    job = get_object_or_404(feed_jobs_visible(user=request.user), pk=pk)
    detail = board.feed_detail(job, error_page=_int(request.GET.get("page")) or 1)
    context = {"detail": detail, "job": job}
    if _htmx_target(request) == "feed-job":
        return _render(request, "ops/_feed_job.html", context)
    return _render(request, "ops/feed_detail.html", context)


@require_GET
@ops_page
def feed_errors(request: HttpRequest, pk: int) -> HttpResponse:
    """The whole error report as plain text, one ``file:line: column: message`` per line."""
    job = get_object_or_404(feed_jobs_visible(user=request.user), pk=pk)
    response = StreamingHttpResponse(board.feed_error_lines(job), content_type="text/plain; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="feed-job-{job.pk}-errors.txt"'
    return response


# Audit log ------------------------------------------------------------------------------------------------


class AuditFilterForm(forms.Form):
    actor = forms.CharField(label=gettext_lazy("Actor e-mail"), required=False, max_length=254)
    action = forms.CharField(
        label=gettext_lazy("Action"),
        required=False,
        max_length=64,
        help_text=gettext_lazy("One action, or a prefix ending in a dot (appeal.)."),
    )
    object_type = forms.CharField(label=gettext_lazy("Object type"), required=False, max_length=32)
    object_id = forms.CharField(label=gettext_lazy("Object ID"), required=False, max_length=64)
    date_from = forms.DateField(
        label=gettext_lazy("From"), required=False, widget=forms.DateInput(attrs={"type": "date"})
    )
    date_to = forms.DateField(label=gettext_lazy("To"), required=False, widget=forms.DateInput(attrs={"type": "date"}))

    def clean(self):
        data = super().clean()
        if data.get("date_from") and data.get("date_to") and data["date_from"] > data["date_to"]:
            self.add_error(None, _("The start date is after the end date."))
            del data["date_from"], data["date_to"]
        return data

    def filters(self) -> board.AuditFilters:
        """The filters that are valid; a wrong one is left out (and its error shown)."""
        self.is_valid()
        data = self.cleaned_data
        return board.AuditFilters(
            actor=(data.get("actor") or "").strip(),
            action=(data.get("action") or "").strip(),
            object_type=(data.get("object_type") or "").strip(),
            object_id=(data.get("object_id") or "").strip(),
            date_from=data.get("date_from"),
            date_to=data.get("date_to"),
        )


@require_GET
@ops_page
def audit(request: HttpRequest) -> HttpResponse:
    form = AuditFilterForm(request.GET)
    filters = form.filters()
    page = board.audit_page(filters, before=_int(request.GET.get("before")), after=_int(request.GET.get("after")))
    actions, object_types = board.audit_suggestions()
    context = {
        "form": form,
        "filters": filters,
        "page": page,
        "actions": actions,
        "object_types": object_types,
        "query": _query(request, "actor", "action", "object_type", "object_id", "date_from", "date_to"),
    }
    if _htmx_target(request) == "audit-table":
        return _render(request, "ops/_audit_table.html", context)
    return _render(request, "ops/audit.html", context)


urlpatterns = [
    path("ops/rulesets/", rulesets, name="ops_rulesets"),
    path("ops/rulesets/new/", ruleset_new, name="ops_ruleset_new"),
    path("ops/rulesets/<int:pk>/", ruleset_detail, name="ops_ruleset_detail"),
    path("ops/rulesets/drafts/<slug:draft_id>/", ruleset_draft, name="ops_ruleset_draft"),
    path("ops/rulesets/drafts/<slug:draft_id>/shadow/", ruleset_shadow, name="ops_ruleset_shadow"),
    path("ops/rulesets/drafts/<slug:draft_id>/activate/", ruleset_activate_view, name="ops_ruleset_activate"),
    path("ops/feeds/", feeds, name="ops_feeds"),
    path("ops/feeds/upload/", feed_upload, name="ops_feed_upload"),
    path("ops/feeds/<int:pk>/", feed_detail, name="ops_feed_detail"),
    path("ops/feeds/<int:pk>/errors.txt", feed_errors, name="ops_feed_errors"),
    path("ops/audit/", audit, name="ops_audit"),
]
