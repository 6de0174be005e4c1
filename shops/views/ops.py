"""The ops pages: overview, disqualification review, appeals, overrides, forced unbinding, recovery.

Only ops staff (``user.is_ops``) see them; anyone else signed in gets a 404, as for an object
they may not see. Reads come from ``shops.dashboards.ops``; every write calls its service
(which audits and notifies) and a refusal is shown next to the form that caused it.
"""

from __future__ import annotations

import datetime as dt
import functools
from collections.abc import Callable
from decimal import Decimal

from django import forms
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.http import FileResponse, Http404, HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import path
from django.utils import timezone
from django.utils.cache import patch_vary_headers
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from shops.api.eligibility_serializers import reasons_rendered
from shops.dashboards import ops as board
from shops.eligibility import eligibility_attach
from shops.models import AppealEvidence, Entity, Override, RecoveryReview, ShopUnbinding
from shops.reasons import STATUS_LABELS
from shops.rules import codes as c
from shops.services.appeals import appeal_approve, appeal_reject, appeals_queue, override_create, override_revoke
from shops.services.integrity import (
    EXAM_PASS_SCORE,
    recovery_decide,
    recovery_record_exam,
    recovery_review_open,
    recovery_submit_documents,
    recovery_submit_letter,
    shop_force_unbind,
)
from shops.visibility import appeals_visible_to, products_visible_to, shops_visible_to

ENTITY_CHOICES = [(Entity.SHOP, gettext_lazy("Shop")), (Entity.PRODUCT, gettext_lazy("Product"))]
STATUS_CHOICES = [(status, STATUS_LABELS[status]) for status in dict.fromkeys(c.SHOP_STATUSES + c.PRODUCT_STATUSES)]
RECOVERY_FILES = ("letter", "tax_proof", "shipping_documents")
# A hint for the file picker only: the service checks each file's type, size and first bytes.
ACCEPT = {"accept": ".pdf,.png,.jpg,.jpeg"}


def ops_only(view: Callable) -> Callable:
    """Signed in (else the sign-in page) and ops (else 404); the second factor is the middleware's."""

    @login_required
    @functools.wraps(view)
    def wrapper(request: HttpRequest, *args, **kwargs) -> HttpResponse:
        if not request.user.is_ops:
            raise Http404
        return view(request, *args, **kwargs)

    return wrapper


def _is_partial(request: HttpRequest) -> bool:
    # A history restore asks for the whole page even though htmx sends it.
    return bool(request.headers.get("HX-Request")) and not request.headers.get("HX-History-Restore-Request")


def _render_list(request: HttpRequest, page: str, partial: str, context: dict, status: int = 200) -> HttpResponse:
    response = render(request, partial if _is_partial(request) else page, context, status=status)
    patch_vary_headers(response, ["HX-Request"])
    return response


def _errors(form: forms.Form, exc: ValidationError) -> None:
    for message in exc.messages:
        form.add_error(None, message)


def _query(request: HttpRequest, *names: str) -> str:
    """The page's filters as a query string (without the page number), for pagination links."""
    params = request.GET.copy()
    for name in list(params):
        if name not in names or not params.get(name):
            del params[name]
    return params.urlencode()


# Forms ------------------------------------------------------------------------------------------


class ReasonForm(forms.Form):
    reason = forms.CharField(
        label=gettext_lazy("Reason"), widget=forms.Textarea(attrs={"rows": 3}), strip=True, max_length=2000
    )


class ApproveForm(ReasonForm):
    status = forms.ChoiceField(label=gettext_lazy("Status shown over the verdict"), choices=STATUS_CHOICES)
    expires_at = forms.DateTimeField(
        label=gettext_lazy("Override expires"),
        required=False,
        widget=forms.DateTimeInput(attrs={"type": "datetime-local"}, format="%Y-%m-%dT%H:%M"),
        help_text=gettext_lazy("Leave empty to keep the override until it is revoked."),
    )

    def __init__(self, *args, statuses: tuple[str, ...] = (), **kwargs):
        super().__init__(*args, **kwargs)
        if statuses:
            self.fields["status"].choices = [(status, STATUS_LABELS[status]) for status in statuses]


class OverrideForm(ReasonForm):
    entity = forms.ChoiceField(label=gettext_lazy("Type"), choices=ENTITY_CHOICES)
    key = forms.CharField(label=gettext_lazy("Shop or product ID"), max_length=64, strip=True)
    status = forms.ChoiceField(label=gettext_lazy("Status to show"), choices=STATUS_CHOICES, initial=c.ELIGIBLE)
    expires_at = forms.DateTimeField(
        label=gettext_lazy("Expires"),
        widget=forms.DateTimeInput(attrs={"type": "datetime-local"}, format="%Y-%m-%dT%H:%M"),
    )
    field_order = ["entity", "key", "status", "expires_at", "reason"]


class ExamForm(forms.Form):
    score = forms.DecimalField(
        label=gettext_lazy("Exam score (%)"), min_value=Decimal(0), max_value=Decimal(100), decimal_places=2
    )


class LetterForm(forms.Form):
    letter = forms.FileField(label=gettext_lazy("Explanation letter"), widget=forms.FileInput(attrs=ACCEPT))


class DocumentsForm(forms.Form):
    tax_proof = forms.FileField(label=gettext_lazy("Tax proof (last 3 months)"), widget=forms.FileInput(attrs=ACCEPT))
    shipping_documents = forms.FileField(
        label=gettext_lazy("Shipping documents (last 3 months)"), widget=forms.FileInput(attrs=ACCEPT)
    )


# Overview ---------------------------------------------------------------------------------------


@ops_only
@require_GET
def ops_overview(request: HttpRequest) -> HttpResponse:
    data = board.overview(timezone.now())
    return render(request, "ops/overview.html", {"data": data})


@ops_only
@require_GET
def ops_overview_runs(request: HttpRequest) -> HttpResponse:
    """The runs card alone: polled by htmx every 5 s while a run is running."""
    if not _is_partial(request):
        return redirect("ops_overview")
    runs = board.runs_recent(timezone.now())
    response = render(request, "ops/_runs.html", {"runs": runs, "running": any(r.running for r in runs)})
    patch_vary_headers(response, ["HX-Request"])
    return response


# Disqualification review queue ------------------------------------------------------------------


@ops_only
@require_GET
def ops_review_queue(request: HttpRequest) -> HttpResponse:
    entity = request.GET.get("entity", "")
    q = request.GET.get("q", "").strip()[:64]
    market = request.GET.get("market", "")[:8]
    now = timezone.now()
    page = board.review_page(entity=entity, q=q, market=market, page=request.GET.get("page"))
    context = {
        "page": page,
        "rows": board.review_rows(page.object_list, now),
        "markets": board.shop_markets(),
        "filters": {"entity": entity, "q": q, "market": market},
        "query": _query(request, "entity", "q", "market"),
    }
    return _render_list(request, "ops/review_queue.html", "ops/_review_table.html", context)


# Appeals ----------------------------------------------------------------------------------------


@ops_only
@require_GET
def ops_appeals(request: HttpRequest) -> HttpResponse:
    now = timezone.now()
    queued = appeals_queue()
    page = board.paginate(queued, request.GET.get("page"))
    context = {
        "page": page,
        "rows": board.appeal_queue_rows(page.object_list, now),
        "overdue": sum(1 for item in queued if item.appeal.due_at < now),
        "query": "",
    }
    return _render_list(request, "ops/appeals.html", "ops/_appeals_table.html", context)


def _appeal(request: HttpRequest, pk: int):
    appeals = appeals_visible_to(request.user).select_related("submitted_by", "decided_by")
    return get_object_or_404(appeals, pk=pk)


def _appeal_page(request: HttpRequest, appeal, *, approve=None, reject=None, status: int = 200) -> HttpResponse:
    review = board.appeal_review(appeal, timezone.now())
    context = {
        "review": review,
        "appeal": appeal,
        "approve_form": approve or ApproveForm(statuses=review.statuses, initial={"status": c.ELIGIBLE}),
        "reject_form": reject or ReasonForm(prefix="reject"),
    }
    return render(request, "ops/appeal_detail.html", context, status=status)


@ops_only
@require_GET
def ops_appeal_detail(request: HttpRequest, pk: int) -> HttpResponse:
    return _appeal_page(request, _appeal(request, pk))


@ops_only
@require_POST
def ops_appeal_approve(request: HttpRequest, pk: int) -> HttpResponse:
    appeal = _appeal(request, pk)
    form = ApproveForm(request.POST, statuses=board.STATUSES.get(appeal.entity, ()))
    if form.is_valid():
        try:
            appeal_approve(
                appeal=appeal,
                user=request.user,
                reason=form.cleaned_data["reason"],
                status=form.cleaned_data["status"],
                expires_at=form.cleaned_data["expires_at"],
            )
        except ValidationError as exc:
            _errors(form, exc)
        else:
            messages.success(
                request,
                _("Appeal #%(id)s approved: %(key)s now shows %(status)s.")
                % {"id": appeal.pk, "key": appeal.entity_key, "status": STATUS_LABELS[form.cleaned_data["status"]]},
            )
            return redirect("ops_appeal_detail", pk=appeal.pk)
    return _appeal_page(request, appeal, approve=form, status=400)


@ops_only
@require_POST
def ops_appeal_reject(request: HttpRequest, pk: int) -> HttpResponse:
    appeal = _appeal(request, pk)
    form = ReasonForm(request.POST, prefix="reject")
    if form.is_valid():
        try:
            appeal_reject(appeal=appeal, user=request.user, reason=form.cleaned_data["reason"])
        except ValidationError as exc:
            _errors(form, exc)
        else:
            messages.success(request, _("Appeal #%(id)s rejected; the seller sees your reason.") % {"id": appeal.pk})
            return redirect("ops_appeal_detail", pk=appeal.pk)
    return _appeal_page(request, appeal, reject=form, status=400)


@login_required
@require_GET
def appeal_evidence_download(request: HttpRequest, pk: int) -> HttpResponse:
    """An evidence file, streamed only to ops and to the members of the appeal's seller."""
    visible = appeals_visible_to(request.user).order_by().values("id")
    evidence = get_object_or_404(AppealEvidence.objects.filter(appeal_id__in=visible), pk=pk)
    return _stream(evidence.file, evidence.original_name)


def _stream(file, name: str) -> FileResponse:
    try:
        handle = file.open("rb")
    except (FileNotFoundError, ValueError):
        raise Http404 from None
    # Always a download, never shown inline: the portal's origin never renders uploaded content.
    return FileResponse(handle, as_attachment=True, filename=name)


# Overrides --------------------------------------------------------------------------------------


@ops_only
@require_GET
def ops_overrides(request: HttpRequest) -> HttpResponse:
    entity = request.GET.get("entity", "")
    q = request.GET.get("q", "").strip()[:64]
    page = board.paginate(board.overrides_in_force(timezone.now(), entity=entity, q=q), request.GET.get("page"))
    context = {
        "page": page,
        "revoke_form": ReasonForm(),
        "filters": {"entity": entity, "q": q},
        "query": _query(request, "entity", "q"),
    }
    return _render_list(request, "ops/overrides.html", "ops/_overrides_table.html", context)


def _override_target(user, entity: str, key: str):
    """The shop or product named by the form, with its verdict attached, or None."""
    visible = shops_visible_to(user) if entity == Entity.SHOP else products_visible_to(user)
    target = visible.filter(key=key).first() if key else None
    if target is not None:
        eligibility_attach(entity, [target])
    return target


@ops_only
@require_http_methods(["GET", "POST"])
def ops_override_create(request: HttpRequest) -> HttpResponse:
    if request.method == "POST":
        form = OverrideForm(request.POST)
        entity, key = request.POST.get("entity", ""), request.POST.get("key", "").strip()
    else:
        entity = request.GET.get("entity", Entity.SHOP)
        key = request.GET.get("key", "").strip()[:64]
        expires = timezone.localtime() + dt.timedelta(days=30)
        form = OverrideForm(initial={"entity": entity, "key": key, "expires_at": expires.replace(second=0)})
    target = _override_target(request.user, entity, key) if entity in (Entity.SHOP, Entity.PRODUCT) else None
    if request.method == "POST" and form.is_valid():
        if target is None:
            missing = _("No product has this ID.") if entity == Entity.PRODUCT else _("No shop has this ID.")
            form.add_error("key", missing)
        else:
            try:
                override_create(
                    entity=entity,
                    entity_id=target.pk,
                    status=form.cleaned_data["status"],
                    reason=form.cleaned_data["reason"],
                    user=request.user,
                    expires_at=form.cleaned_data["expires_at"],
                )
            except ValidationError as exc:
                _errors(form, exc)
            else:
                messages.success(
                    request,
                    _("Override created: %(key)s shows %(status)s.")
                    % {"key": target.key, "status": STATUS_LABELS[form.cleaned_data["status"]]},
                )
                return redirect("ops_overrides")
    status = 400 if request.method == "POST" else 200
    reasons = reasons_rendered(target.reasons, target.eligibility.thresholds) if target is not None else []
    context = {"form": form, "target": target, "entity": entity, "key": key, "reasons": reasons}
    return render(request, "ops/overrides_new.html", context, status=status)


@ops_only
@require_POST
def ops_override_revoke(request: HttpRequest, pk: int) -> HttpResponse:
    override = get_object_or_404(Override, pk=pk)
    form = ReasonForm(request.POST)
    if form.is_valid():
        try:
            override_revoke(override=override, user=request.user, reason=form.cleaned_data["reason"])
        except ValidationError as exc:
            messages.error(request, " ".join(exc.messages))
        else:
            messages.success(request, _("Override on %(key)s revoked.") % {"key": override.entity_key})
    else:
        messages.error(request, _("Give a reason to revoke the override on %(key)s.") % {"key": override.entity_key})
    return redirect("ops_overrides")


# Force-unbind -----------------------------------------------------------------------------------


@ops_only
@require_GET
def ops_unbind(request: HttpRequest) -> HttpResponse:
    q = request.GET.get("q", "").strip()[:64]
    page = board.paginate(board.unbindings_recent(), request.GET.get("page"))
    context = {
        "q": q,
        "results": board.shops_search(shops_visible_to(request.user), q),
        "page": page,
        "rows": board.unbinding_rows(page.object_list),
        "query": _query(request, "q"),
    }
    return _render_list(request, "ops/unbind.html", "ops/_unbindings_table.html", context)


@ops_only
@require_http_methods(["GET", "POST"])
def ops_unbind_confirm(request: HttpRequest, pk: int) -> HttpResponse:
    shop = get_object_or_404(shops_visible_to(request.user).select_related("seller"), pk=pk)
    form = ReasonForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            shop_force_unbind(shop=shop, user=request.user, reason=form.cleaned_data["reason"])
        except ValidationError as exc:
            _errors(form, exc)
        else:
            messages.success(request, _("Shop %(key)s was unbound from its licence.") % {"key": shop.key})
            return redirect("ops_unbind")
    context = {"preview": board.unbind_preview(shop, timezone.localdate()), "form": form}
    return render(request, "ops/unbind_confirm.html", context, status=400 if request.method == "POST" else 200)


@ops_only
@require_POST
def ops_recovery_open(request: HttpRequest, pk: int) -> HttpResponse:
    unbinding = get_object_or_404(ShopUnbinding.objects.select_related("shop"), pk=pk)
    try:
        review = recovery_review_open(unbinding=unbinding, user=request.user)
    except ValidationError as exc:
        messages.error(request, " ".join(exc.messages))
        return redirect("ops_unbind")
    messages.success(request, _("Recovery review opened for shop %(key)s.") % {"key": unbinding.shop.key})
    return redirect("ops_recovery_detail", pk=review.pk)


# Recovery reviews -------------------------------------------------------------------------------


@ops_only
@require_GET
def ops_recovery(request: HttpRequest) -> HttpResponse:
    state = request.GET.get("state", RecoveryReview.State.OPEN)
    if state not in RecoveryReview.State.values and state != "all":
        state = RecoveryReview.State.OPEN
    page = board.paginate(board.recovery_reviews(state), request.GET.get("page"))
    context = {
        "page": page,
        "rows": [board.recovery_row(review) for review in page.object_list],
        "state": state,
        "states": RecoveryReview.State.choices,
        "query": _query(request, "state"),
        "pass_score": EXAM_PASS_SCORE,
    }
    return _render_list(request, "ops/recovery.html", "ops/_recovery_table.html", context)


def _review(pk: int) -> RecoveryReview:
    reviews = RecoveryReview.objects.select_related("unbinding__shop__seller", "unbinding__created_by", "decided_by")
    return get_object_or_404(reviews, pk=pk)


def _recovery_page(request: HttpRequest, review: RecoveryReview, status: int = 200, **forms_) -> HttpResponse:
    context = {
        "row": board.recovery_row(review),
        "review": review,
        "pass_score": EXAM_PASS_SCORE,
        "letter_form": forms_.get("letter") or LetterForm(),
        "documents_form": forms_.get("documents") or DocumentsForm(),
        "exam_form": forms_.get("exam") or ExamForm(),
        "decide_errors": forms_.get("decide", []),
    }
    return render(request, "ops/recovery_detail.html", context, status=status)


@ops_only
@require_GET
def ops_recovery_detail(request: HttpRequest, pk: int) -> HttpResponse:
    return _recovery_page(request, _review(pk))


def _recovery_step(request: HttpRequest, pk: int, name: str, form: forms.Form, action: Callable, done: str):
    """Run one recovery step's service with the form's data; errors go back to the same form."""
    review = _review(pk)
    if form.is_valid():
        try:
            action(review, form.cleaned_data)
        except ValidationError as exc:
            _errors(form, exc)
        else:
            messages.success(request, done)
            return redirect("ops_recovery_detail", pk=review.pk)
    return _recovery_page(request, review, status=400, **{name: form})


@ops_only
@require_POST
def ops_recovery_letter(request: HttpRequest, pk: int) -> HttpResponse:
    def action(review, data):
        recovery_submit_letter(review=review, user=request.user, file=data["letter"])

    form = LetterForm(request.POST, request.FILES)
    return _recovery_step(request, pk, "letter", form, action, _("The explanation letter was recorded."))


@ops_only
@require_POST
def ops_recovery_documents(request: HttpRequest, pk: int) -> HttpResponse:
    def action(review, data):
        recovery_submit_documents(
            review=review,
            user=request.user,
            tax_proof=data["tax_proof"],
            shipping_documents=data["shipping_documents"],
        )

    form = DocumentsForm(request.POST, request.FILES)
    return _recovery_step(request, pk, "documents", form, action, _("The documents were recorded."))


@ops_only
@require_POST
def ops_recovery_exam(request: HttpRequest, pk: int) -> HttpResponse:
    def action(review, data):
        recovery_record_exam(review=review, user=request.user, score=data["score"])

    form = ExamForm(request.POST)
    return _recovery_step(request, pk, "exam", form, action, _("The exam score was recorded."))


@ops_only
@require_POST
def ops_recovery_decide(request: HttpRequest, pk: int) -> HttpResponse:
    review = _review(pk)
    try:
        review = recovery_decide(review=review, user=request.user)
    except ValidationError as exc:
        return _recovery_page(request, review, status=400, decide=exc.messages)
    if review.state == RecoveryReview.State.PASSED:
        messages.success(request, _("The recovery review passed."))
    else:
        messages.warning(
            request, _("The recovery review failed: steps were missing or the exam was below the pass mark.")
        )
    return redirect("ops_recovery_detail", pk=review.pk)


@ops_only
@require_GET
def ops_recovery_file(request: HttpRequest, pk: int, field: str) -> HttpResponse:
    if field not in RECOVERY_FILES:
        raise Http404
    review = _review(pk)
    file = getattr(review, field)
    if not file:
        raise Http404
    extension = file.name.rsplit(".", 1)[-1] if "." in file.name else "pdf"
    return _stream(file, f"{review.unbinding.shop.key}-{field}.{extension}")


urlpatterns = [
    path("ops/", ops_overview, name="ops_overview"),
    path("ops/runs/", ops_overview_runs, name="ops_overview_runs"),
    path("ops/review/", ops_review_queue, name="ops_review_queue"),
    path("ops/appeals/", ops_appeals, name="ops_appeals"),
    path("ops/appeals/<int:pk>/", ops_appeal_detail, name="ops_appeal_detail"),
    path("ops/appeals/<int:pk>/approve/", ops_appeal_approve, name="ops_appeal_approve"),
    path("ops/appeals/<int:pk>/reject/", ops_appeal_reject, name="ops_appeal_reject"),
    path("appeals/evidence/<int:pk>/", appeal_evidence_download, name="appeal_evidence_download"),
    path("ops/overrides/", ops_overrides, name="ops_overrides"),
    path("ops/overrides/new/", ops_override_create, name="ops_override_create"),
    path("ops/overrides/<int:pk>/revoke/", ops_override_revoke, name="ops_override_revoke"),
    path("ops/unbind/", ops_unbind, name="ops_unbind"),
    path("ops/unbind/<int:pk>/", ops_unbind_confirm, name="ops_unbind_confirm"),
    path("ops/unbindings/<int:pk>/recovery/", ops_recovery_open, name="ops_recovery_open"),
    path("ops/recovery/", ops_recovery, name="ops_recovery"),
    path("ops/recovery/<int:pk>/", ops_recovery_detail, name="ops_recovery_detail"),
    path("ops/recovery/<int:pk>/letter/", ops_recovery_letter, name="ops_recovery_letter"),
    path("ops/recovery/<int:pk>/documents/", ops_recovery_documents, name="ops_recovery_documents"),
    path("ops/recovery/<int:pk>/exam/", ops_recovery_exam, name="ops_recovery_exam"),
    path("ops/recovery/<int:pk>/decide/", ops_recovery_decide, name="ops_recovery_decide"),
    path("ops/recovery/<int:pk>/files/<str:field>/", ops_recovery_file, name="ops_recovery_file"),
]
