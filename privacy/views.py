"""The privacy centre pages: for every user (policy, consents, my data, who accessed it, rights
requests) and for ops (the rights request queue, retention, policy versions).

Views are thin: they read through ``privacy.selectors`` and write through ``privacy.services``.
A request of someone else, and any ops page for a non-ops user, answers 404.
"""

import json
from functools import wraps

from django.contrib import messages
from django.contrib.auth import login
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied, ValidationError
from django.core.paginator import Paginator
from django.db.models import Prefetch
from django.http import Http404, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.http import url_has_allowed_host_and_scheme
from django.utils.safestring import mark_safe
from django.utils.translation import get_language
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST
from markdown_it import MarkdownIt

from affiliate.models import Creator
from privacy import processing
from privacy.forms import (
    CodeForm,
    CompleteForm,
    ConsentForm,
    ExtendForm,
    PasswordForm,
    PolicyAcceptForm,
    PolicyPublishForm,
    RefuseForm,
    RegistrationForm,
    RetentionForm,
    RightsRequestForm,
)
from privacy.models import (
    AcceptanceSource,
    ConsentSource,
    DataClass,
    DataExport,
    ErasureReceipt,
    PolicyAcceptance,
    RightsRequest,
    RightsRequestEvent,
)
from privacy.selectors import (
    access_log_about,
    days_left,
    deadline_state,
    export_for_token,
    policy_acceptance_required,
    policy_current,
    policy_versions,
    retention_policies,
    retention_runs,
    rights_queue,
    rights_requests_of,
)
from privacy.services.access_log import access_log_record
from privacy.services.consent import consents_set
from privacy.services.exports import export_download, export_start, export_token_hash
from privacy.services.identity import IdentityNotVerified
from privacy.services.policies import policy_accept, policy_publish
from privacy.services.registration import user_register
from privacy.services.retention import retention_policies_ensure, retention_policy_update
from privacy.services.rights import (
    rights_request_complete,
    rights_request_extend,
    rights_request_file,
    rights_request_refuse,
    rights_request_resend_code,
    rights_request_start,
    rights_request_verify,
    rights_request_withdraw,
)
from privacy.signals import REACCEPT_SESSION_KEY
from shops.models import Entity, Seller, StatusHistory, User
from shops.visibility import products_visible_to, shops_visible_to

PAGE_SIZE = 25
_markdown = MarkdownIt("commonmark", {"html": False, "linkify": False})


def _render_markdown(text: str) -> str:
    # html=False: the policy text cannot carry markup of its own, only Markdown.
    return mark_safe(_markdown.render(text))  # noqa: S308 - escaped by markdown-it  # nosec B308 B703 # markdown-it with html=False escapes all markup in the text


def ops_required(view):
    """Ops pages: anonymous users sign in, other roles get 404 (the page does not exist for them)."""

    @wraps(view)
    @login_required
    def wrapper(request, *args, **kwargs):
        if not request.user.is_ops:
            raise Http404
        return view(request, *args, **kwargs)

    return wrapper


def _errors_to_form(form, error: ValidationError) -> None:
    if hasattr(error, "error_dict"):
        for field, errors in error.error_dict.items():
            form.add_error(field if field in form.fields else None, errors)
    else:
        form.add_error(None, error)


def _safe_next(request, candidate: str | None) -> str:
    if candidate and url_has_allowed_host_and_scheme(candidate, {request.get_host()}, request.is_secure()):
        return candidate
    return reverse("home")


# Policy ------------------------------------------------------------------------------------------


def policy_list(request):
    """The current policy in the reader's language and every earlier version (public page)."""
    versions = list(policy_versions())
    current = next((v for v in versions if v.effective_from <= timezone.localdate()), None)
    return render(request, "privacy/policy.html", _policy_context(current, versions, current=current))


def policy_detail(request, version: int):
    versions = list(policy_versions())
    shown = next((v for v in versions if v.version == version), None)
    if shown is None:
        raise Http404
    current = next((v for v in versions if v.effective_from <= timezone.localdate()), None)
    return render(request, "privacy/policy.html", _policy_context(shown, versions, current=current))


def _policy_context(shown, versions, *, current) -> dict:
    title, summary, body = shown.text(get_language()) if shown else ("", "", "")
    return {
        "shown": shown,
        "current": current,
        "versions": versions,
        "title": title,
        "summary": summary,
        "body": _render_markdown(body),
    }


@login_required
def policy_accept_view(request):
    version = policy_current()
    if version is None:
        return redirect("home")
    form = PolicyAcceptForm(request.POST or None, initial={"next": request.GET.get("next", "")})
    if request.method == "POST" and form.is_valid():
        source = (
            AcceptanceSource.SIGN_IN if request.session.get(REACCEPT_SESSION_KEY) else AcceptanceSource.PRIVACY_CENTRE
        )
        policy_accept(user=request.user, version=version, source=source)
        request.session.pop(REACCEPT_SESSION_KEY, None)
        messages.success(
            request, _("Thank you: you accepted version %(v)s of the privacy policy.") % {"v": version.version}
        )
        return redirect(_safe_next(request, form.cleaned_data.get("next")))
    title, summary, body = version.text(get_language())
    return render(
        request,
        "privacy/policy_accept.html",
        {"version": version, "title": title, "summary": summary, "body": _render_markdown(body), "form": form},
    )


# The privacy centre ---------------------------------------------------------------------------


@login_required
def centre(request):
    user = request.user
    required = policy_acceptance_required(user=user)
    current = policy_current()
    accepted = PolicyAcceptance.objects.filter(user=user, version=current).exists() if current is not None else False
    requests = list(rights_requests_of(user=user)[:10])
    for item in requests:
        item.days_left = days_left(item)
    return render(
        request,
        "privacy/centre.html",
        {
            "current": current,
            "accepted": accepted,
            "required": required,
            "consent_form": ConsentForm(initial={name: getattr(user, name) for name in ConsentForm.PURPOSES}),
            "requests": requests,
            "processing": processing,
        },
    )


@login_required
@require_POST
def consents_update(request):
    form = ConsentForm(request.POST)
    if form.is_valid():
        changed = consents_set(user=request.user, answers=form.answers(), source=ConsentSource.PRIVACY_CENTRE)
        if changed:
            messages.success(request, _("Your consent choices were saved and apply from now on."))
        else:
            messages.info(request, _("Nothing changed."))
    else:
        messages.error(request, _("Your consent choices could not be saved."))
    return redirect("privacy_centre")


@login_required
def my_data(request):
    """The personal data held about the user; viewing it is itself logged."""
    user = request.user
    sellers = list(Seller.objects.filter(members=user).order_by("key"))
    creator = Creator.objects.filter(pk=user.creator_id).first() if user.creator_id else None
    access_log_record(
        request=request,
        actor=user,
        channel="web",
        view_name="privacy_my_data",
        subjects=[
            ("user", user.pk),
            *[("seller", s.pk) for s in sellers],
            *([("creator", creator.pk)] if creator else []),
        ],
        status_code=200,
    )
    return render(request, "privacy/my_data.html", {"sellers": sellers, "creator": creator})


@login_required
def access_log(request):
    page = Paginator(access_log_about(user=request.user), PAGE_SIZE).get_page(request.GET.get("page"))
    template = "privacy/_access_table.html" if request.headers.get("HX-Request") else "privacy/access_log.html"
    return render(request, template, {"page": page})


# Rights requests (requester) --------------------------------------------------------------------


def _decision_choices(user: User) -> list[tuple[int, str]]:
    """The user's latest verdicts (own shops, products, creator) to pick one for review."""
    shops = shops_visible_to(user).values("pk") if not user.is_ops else []
    products = products_visible_to(user).values("pk") if not user.is_ops else []
    rows = StatusHistory.objects.none()
    if not user.is_ops:
        rows = StatusHistory.objects.filter(entity=Entity.SHOP, entity_id__in=shops) | StatusHistory.objects.filter(
            entity=Entity.PRODUCT, entity_id__in=products
        )
        if user.creator_id:
            rows = rows | StatusHistory.objects.filter(entity=Entity.CREATOR, entity_id=user.creator_id)
    return [
        (h.pk, f"{h.entity} {h.entity_key}: {h.new_status} ({h.as_of.isoformat()})") for h in rows.order_by("-id")[:50]
    ]


@login_required
def request_new(request):
    user = request.user
    sellers = list(Seller.objects.filter(members=user).order_by("key"))
    decisions = _decision_choices(user)
    initial = {"kind": request.GET.get("kind")} if request.GET.get("kind") in RightsRequest.Kind.values else {}
    form = RightsRequestForm(request.POST or None, sellers=sellers, decisions=decisions, initial=initial)
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        try:
            filed = rights_request_file(
                user=user,
                kind=data["kind"],
                password=data["password"],
                details=data["details"],
                correction={
                    "field": data["correction_field"],
                    "target": data["correction_target"],
                    "value": data["correction_value"],
                },
                purposes=data["purposes"],
                decision_id=data["decision"],
            )
        except ValidationError as error:
            _errors_to_form(form, error)
        else:
            messages.success(request, _("We e-mailed you a code: enter it below to confirm your request."))
            return redirect("privacy_request_detail", reference=filed.reference)
    return render(request, "privacy/request_new.html", {"form": form, "has_sellers": bool(sellers)})


def _own_request(request, reference: str) -> RightsRequest:
    queryset = RightsRequest.objects.filter(requester=request.user).select_related("export", "requester")
    return get_object_or_404(queryset, reference=reference)


@login_required
def request_detail(request, reference: str):
    item = _own_request(request, reference)
    events = list(RightsRequestEvent.objects.filter(request=item).order_by("at", "id"))
    receipt = ErasureReceipt.objects.filter(request=item).first()
    needs_code = item.state == RightsRequest.State.UNVERIFIED
    return render(
        request,
        "privacy/request_detail.html",
        {
            "item": item,
            "events": events,
            "receipt": receipt,
            "export": getattr(item, "export", None),
            "needs_code": needs_code,
            "code_form": CodeForm(),
            "password_form": PasswordForm(),
            "days_left": days_left(item),
            "deadline": deadline_state(item),
            "now": timezone.now(),
        },
    )


def _say_form_errors(request, form) -> None:
    """A form posted to a page that redirects: its errors go with the next page, named by field."""
    for name, errors in form.errors.items():
        label = form.fields[name].label if name in form.fields else ""
        for message in errors:
            messages.error(request, f"{label}: {message}" if label else message)


@login_required
@require_POST
def request_verify(request, reference: str):
    item = _own_request(request, reference)
    form = CodeForm(request.POST)
    if form.is_valid():
        try:
            rights_request_verify(request=item, user=request.user, code=form.cleaned_data["code"])
        except ValidationError as error:
            for message in error.messages:
                messages.error(request, message)
        else:
            messages.success(request, _("Your identity is verified and your request is received."))
    else:
        _say_form_errors(request, form)
    return redirect("privacy_request_detail", reference=reference)


@login_required
@require_POST
def request_resend(request, reference: str):
    item = _own_request(request, reference)
    form = PasswordForm(request.POST)
    if form.is_valid():
        try:
            rights_request_resend_code(request=item, user=request.user, password=form.cleaned_data["password"])
        except ValidationError as error:
            for message in error.messages:
                messages.error(request, message)
        else:
            messages.success(request, _("We e-mailed you a new code."))
    else:
        _say_form_errors(request, form)
    return redirect("privacy_request_detail", reference=reference)


@login_required
@require_POST
def request_withdraw(request, reference: str):
    item = _own_request(request, reference)
    try:
        rights_request_withdraw(request=item, user=request.user)
    except ValidationError as error:
        messages.error(request, " ".join(error.messages))
    else:
        messages.success(request, _("Your request was withdrawn."))
    return redirect("privacy_request_detail", reference=reference)


def _archive_response(content: bytes, filename: str) -> HttpResponse:
    response = HttpResponse(content, content_type="application/zip")
    response["Content-Disposition"] = f'attachment; filename="{filename}"'
    response["Cache-Control"] = "no-store"
    return response


@login_required
def request_export(request, reference: str):
    item = _own_request(request, reference)
    export = getattr(item, "export", None)
    if export is None:
        raise Http404
    try:
        content, filename = export_download(export=export, user=request.user, http_request=request)
    except ValidationError as error:
        messages.error(request, " ".join(error.messages))
        return redirect("privacy_request_detail", reference=reference)
    return _archive_response(content, filename)


@login_required
def export_link(request, token: str):
    """The link e-mailed when an export is ready: only its requester, signed in, can use it."""
    export = export_for_token(token_hash=export_token_hash(token))
    if export is None or export.request.requester_id != request.user.pk:
        raise Http404
    try:
        content, filename = export_download(export=export, user=request.user, http_request=request)
    except (ValidationError, PermissionDenied) as error:
        messages.error(request, " ".join(getattr(error, "messages", [str(error)])))
        return redirect("privacy_request_detail", reference=export.request.reference)
    return _archive_response(content, filename)


# Registration ---------------------------------------------------------------------------------


def register(request):
    if request.user.is_authenticated:
        return redirect("home")
    current = policy_current()
    form = RegistrationForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        try:
            user = user_register(
                email=data["email"],
                password=data["password"],
                role=data["role"],
                birth_date=data["birth_date"],
                accept_policy=data["accept_policy"],
                consents=form.consents(),
                seller_key=data["seller_key"],
                creator_key=data["creator_key"],
            )
        except ValidationError as error:
            # user_create names its fields sellers/creator; show them at the id inputs.
            if hasattr(error, "error_dict"):
                renamed = {
                    {"sellers": "seller_key", "creator": "creator_key"}.get(k, k): v
                    for k, v in error.error_dict.items()
                }
                error = ValidationError(renamed)
            _errors_to_form(form, error)
        else:
            login(request, user, backend="django.contrib.auth.backends.ModelBackend")
            messages.success(request, _("Welcome! Your account is ready."))
            return redirect("home")
    return render(request, "privacy/register.html", {"form": form, "current": current})


# Ops ----------------------------------------------------------------------------------------------


@ops_required
def ops_queue(request):
    state = request.GET.get("state") or "open"
    kind = request.GET.get("kind") or None
    if state not in {"open", "all", *RightsRequest.State.values}:
        state = "open"
    if kind not in RightsRequest.Kind.values:
        kind = None
    page = Paginator(rights_queue(state=state, kind=kind), PAGE_SIZE).get_page(request.GET.get("page"))
    now = timezone.now()
    for item in page.object_list:
        item.days_left, item.deadline = days_left(item, now=now), deadline_state(item, now=now)
    context = {
        "page": page,
        "state": state,
        "kind": kind or "",
        "states": RightsRequest.State.choices,
        "kinds": RightsRequest.Kind.choices,
    }
    template = "privacy/_ops_queue_table.html" if request.headers.get("HX-Request") else "privacy/ops_queue.html"
    return render(request, template, context)


def _ops_request(reference: str) -> RightsRequest:
    queryset = RightsRequest.objects.select_related("requester", "assigned_to", "decision").prefetch_related(
        Prefetch("events", queryset=RightsRequestEvent.objects.select_related("actor").order_by("at", "id"))
    )
    return get_object_or_404(queryset, reference=reference)


@ops_required
def ops_request(request, reference: str):
    item = _ops_request(reference)
    export = DataExport.objects.filter(request=item).first()
    receipt = ErasureReceipt.objects.filter(request=item).prefetch_related("notices").first()
    correction = json.loads(item.correction) if item.correction else {}
    access_log_record(
        request=request,
        actor=request.user,
        channel="web",
        view_name="privacy_ops_request",
        subjects=[("user", item.requester_id)],
        status_code=200,
    )
    return render(
        request,
        "privacy/ops_request.html",
        {
            "item": item,
            "export": export,
            "receipt": receipt,
            "correction": correction,
            "days_left": days_left(item),
            "deadline": deadline_state(item),
            "extend_form": ExtendForm(),
            "refuse_form": RefuseForm(),
            "complete_form": CompleteForm(),
        },
    )


@ops_required
@require_POST
def ops_request_action(request, reference: str, action: str):
    item = _ops_request(reference)
    actor = request.user
    forms = {"extend": ExtendForm, "refuse": RefuseForm, "complete": CompleteForm}
    form = forms[action](request.POST) if action in forms else None
    if form is not None and not form.is_valid():
        _say_form_errors(request, form)
        return redirect("privacy_ops_request", reference=reference)
    try:
        if action == "start":
            rights_request_start(request=item, actor=actor)
        elif action == "extend":
            rights_request_extend(
                request=item, actor=actor, reason=form.cleaned_data["reason"], days=form.cleaned_data["days"]
            )
        elif action == "refuse":
            rights_request_refuse(request=item, actor=actor, reason=form.cleaned_data["reason"])
        elif action == "complete":
            rights_request_complete(request=item, actor=actor, response=form.cleaned_data["response"])
        elif action == "rebuild_export":
            export_start(request=item)
        else:
            raise Http404
    except (ValidationError, IdentityNotVerified) as error:
        for message in error.messages:
            messages.error(request, message)
    else:
        messages.success(request, _("Done."))
    return redirect("privacy_ops_request", reference=reference)


@ops_required
def ops_retention(request):
    if request.method == "POST":
        form = RetentionForm(request.POST)
        if form.is_valid():
            try:
                retention_policy_update(
                    actor=request.user,
                    data_class=form.cleaned_data["data_class"],
                    days=form.cleaned_data["days"],
                    enabled=form.cleaned_data["enabled"],
                )
            except ValidationError as error:
                for message in error.messages:
                    messages.error(request, message)
            else:
                messages.success(request, _("The retention policy was saved."))
        else:
            messages.error(request, _("Enter a number of days."))
        return redirect("privacy_ops_retention")
    retention_policies_ensure()
    policies = list(retention_policies())
    return render(
        request,
        "privacy/ops_retention.html",
        {"policies": policies, "runs": retention_runs(limit=10), "labels": dict(DataClass.choices)},
    )


@ops_required
def ops_policy_new(request):
    if request.user.role != User.Role.OPS_ADMIN:
        raise Http404
    form = PolicyPublishForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            version = policy_publish(actor=request.user, **form.cleaned_data)
        except ValidationError as error:
            _errors_to_form(form, error)
        else:
            messages.success(request, _("Version %(v)s was published.") % {"v": version.version})
            return redirect("privacy_policy_detail", version=version.version)
    return render(request, "privacy/ops_policy_new.html", {"form": form, "latest": policy_versions().first()})
