"""The seller's appeals: the list, a new appeal against a verdict, one appeal, and withdrawing it.

Every write goes through ``shops.services.appeals`` (``appeal_submit``, ``appeal_withdraw``),
which checks the window, the attempts and the files; the page only puts its refusals next to
the field they concern. Appeals and verdicts come from what the user may see: anything else,
including another seller's verdict, is a 404.
"""

from collections.abc import Sequence

from django import forms
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.core.files.uploadedfile import UploadedFile
from django.core.paginator import Paginator
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import path
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.http import require_http_methods, require_POST

from shops.api.eligibility_serializers import reasons_rendered
from shops.appeal_checklists import ChecklistItem
from shops.eligibility import thresholds_by_version
from shops.models import Appeal, Entity, StatusHistory, User
from shops.services.appeals import (
    EVIDENCE_TYPES,
    MAX_EVIDENCE_BYTES,
    STATEMENT_MIN_LENGTH,
    appeal_checklist_for,
    appeal_deadline,
    appeal_refusal,
    appeal_submit,
    appeal_withdraw,
)
from shops.visibility import appeals_visible_to, products_visible_to, shops_visible_to

PAGE_SIZE = 25
FILE_ERRORS = frozenset({"file_type", "file_empty", "file_too_large", "file_content"})


def _require_not_creator(user: User) -> None:
    # Appeals are the seller's; a creator has none to see (ops decide them on their own pages).
    if user.role == User.Role.CREATOR:
        raise Http404


# The list ---------------------------------------------------------------------------------------


@login_required
@require_http_methods(["GET"])
def appeal_list(request: HttpRequest) -> HttpResponse:
    _require_not_creator(request.user)
    state = request.GET.get("state") or ""
    appeals = appeals_visible_to(request.user).order_by("-submitted_at", "-id")
    if state in Appeal.State.values:
        appeals = appeals.filter(state=state)
    else:
        state = ""
    page = Paginator(appeals, PAGE_SIZE).get_page(request.GET.get("page"))
    context = {"page": page, "state": state, "states": Appeal.State.choices}
    return render(request, "shops/appeal_list.html", context)


# A new appeal ------------------------------------------------------------------------------------


class MultipleFileInput(forms.FileInput):
    allow_multiple_selected = True


class MultipleFileField(forms.FileField):
    """Several files in one field; each is checked by the appeals service, not here."""

    def __init__(self, *args, **kwargs):
        kwargs.setdefault("widget", MultipleFileInput())
        super().__init__(*args, **kwargs)

    def clean(self, data, initial=None):
        if isinstance(data, list | tuple):
            return [super(MultipleFileField, self).clean(item, initial) for item in data if item]
        return [super().clean(data, initial)] if data else []


def _evidence_field(item: ChecklistItem) -> str:
    return f"evidence_{item.key}"


class AppealForm(forms.Form):
    statement = forms.CharField(
        label=gettext_lazy("Why is the verdict wrong?"),
        required=False,
        widget=forms.Textarea(attrs={"rows": 6, "minlength": STATEMENT_MIN_LENGTH}),
    )

    def __init__(self, *args, checklist: Sequence[ChecklistItem], **kwargs):
        super().__init__(*args, **kwargs)
        self.checklist = list(checklist)
        self.fields["statement"].help_text = _(
            "At least %(min)s characters: what happened, and what the files show."
        ) % {"min": STATEMENT_MIN_LENGTH}
        accept = ",".join(f".{extension}" for extension in EVIDENCE_TYPES)
        for item in self.checklist:
            self.fields[_evidence_field(item)] = MultipleFileField(
                label=item.label,
                required=False,
                widget=MultipleFileInput(attrs={"accept": accept}),
            )

    def evidence(self) -> list[tuple[str, UploadedFile]]:
        return [(item.key, upload) for item in self.checklist for upload in self.cleaned_data[_evidence_field(item)]]

    def evidence_fields(self) -> list[forms.BoundField]:
        return [self[_evidence_field(item)] for item in self.checklist]

    def add_refusal(self, refusal: ValidationError, evidence: list[tuple[str, UploadedFile]]) -> None:
        """Put the service's refusal next to the field it is about (or above the form)."""
        code = getattr(refusal, "code", None)
        if code == "statement_too_short":
            self.add_error("statement", refusal)
            return
        if code == "evidence_missing":
            given = {key for key, _upload in evidence}
            for item in self.checklist:
                if item.key not in given:
                    self.add_error(_evidence_field(item), _("Add at least one file for this item."))
            self.add_error(None, refusal)
            return
        if code in FILE_ERRORS:
            name = (refusal.params or {}).get("what")
            for key, upload in evidence:
                if upload.name == name:
                    self.add_error(f"evidence_{key}", refusal)
                    return
        self.add_error(None, refusal)


def _visible_target(user: User, verdict: StatusHistory):
    """The shop or product the verdict is about, if the user may see it (else a 404)."""
    if verdict.entity == Entity.PRODUCT:
        return get_object_or_404(products_visible_to(user).select_related("shop"), pk=verdict.entity_id)
    return get_object_or_404(shops_visible_to(user), pk=verdict.entity_id)


def _latest_verdict_id(verdict: StatusHistory) -> int | None:
    # The same "latest" as appeal_submit: an appeal always contests the entity's newest verdict.
    return (
        StatusHistory.objects.filter(entity=verdict.entity, entity_id=verdict.entity_id)
        .order_by("-created_at", "-id")
        .values_list("pk", flat=True)
        .first()
    )


@login_required
@require_http_methods(["GET", "POST"])
def appeal_create(request: HttpRequest, history_id: int) -> HttpResponse:
    user = request.user
    if user.role != User.Role.SELLER:
        raise Http404  # only seller members appeal; ops decide appeals, creators have none
    verdict = get_object_or_404(StatusHistory.objects.filter(entity__in=(Entity.SHOP, Entity.PRODUCT)), pk=history_id)
    target = _visible_target(user, verdict)
    latest_id = _latest_verdict_id(verdict)
    refusal, until = None, None
    if latest_id != verdict.pk:
        refusal = _("A newer verdict replaced this one: appeal the current verdict instead.")
    else:
        appeals = list(verdict.appeals.all())
        if (error := appeal_refusal(verdict=verdict, appeals=appeals)) is not None:
            refusal = " ".join(error.messages)
        else:
            until = appeal_deadline(verdict=verdict, appeals=appeals)
    checklist = appeal_checklist_for(verdict.new_reasons) if refusal is None else []
    form = AppealForm(checklist=checklist)
    if request.method == "POST" and refusal is None:
        form = AppealForm(request.POST, request.FILES, checklist=checklist)
        if form.is_valid():
            evidence = form.evidence()
            try:
                appeal = appeal_submit(
                    user=user,
                    entity=verdict.entity,
                    entity_id=verdict.entity_id,
                    statement=form.cleaned_data["statement"],
                    evidence=evidence,
                )
            except ValidationError as exc:
                form.add_refusal(exc, evidence)
            else:
                messages.success(request, _("Your appeal was sent. The operations team answers by the deadline shown."))
                return redirect("appeal_detail", pk=appeal.pk)
    thresholds = thresholds_by_version([verdict.ruleset_version]).get(verdict.ruleset_version)
    context = {
        "verdict": verdict,
        "target": target,
        "is_product": verdict.entity == Entity.PRODUCT,
        "reasons": reasons_rendered(verdict.new_reasons, thresholds),
        "refusal": refusal,
        "appeal_until": until,
        "latest_id": latest_id,
        "form": form,
        "evidence_types": ", ".join(extension.upper() for extension in EVIDENCE_TYPES if extension != "jpeg"),
        "max_megabytes": MAX_EVIDENCE_BYTES // (1024 * 1024),
    }
    return render(request, "shops/appeal_create.html", context, status=400 if form.errors else 200)


# One appeal ----------------------------------------------------------------------------------------


@login_required
@require_http_methods(["GET"])
def appeal_detail(request: HttpRequest, pk: int) -> HttpResponse:
    _require_not_creator(request.user)
    appeal = get_object_or_404(appeals_visible_to(request.user).select_related("submitted_by"), pk=pk)
    verdict = appeal.verdict
    thresholds = thresholds_by_version([verdict.ruleset_version]).get(verdict.ruleset_version)
    files: dict[str, list] = {}
    for evidence in appeal.evidence.all():
        files.setdefault(evidence.item, []).append(evidence)
    items = appeal_checklist_for(appeal.reason_codes)
    checklist = [(item, files.pop(item.key, [])) for item in items]
    # Files of an item no longer on the checklist (it changed since) are still the seller's to see.
    unlisted = [evidence for rest in files.values() for evidence in rest]
    # A second appeal is offered only while the service would accept one (rejected, within 15 days).
    appeal_again = None
    if (
        appeal.state == Appeal.State.REJECTED
        and request.user.role == User.Role.SELLER
        and _latest_verdict_id(verdict) == verdict.pk
        and appeal_refusal(verdict=verdict, appeals=verdict.appeals.all()) is None
    ):
        appeal_again = verdict.pk
    context = {
        "appeal": appeal,
        "verdict": verdict,
        "reasons": reasons_rendered(appeal.reason_codes, thresholds),
        "checklist": checklist,
        "unlisted": unlisted,
        "override": appeal.override if appeal.state == Appeal.State.APPROVED else None,
        "can_withdraw": appeal.state == Appeal.State.SUBMITTED and request.user.role == User.Role.SELLER,
        "appeal_again": appeal_again,
    }
    return render(request, "shops/appeal_detail.html", context)


@login_required
@require_POST
def appeal_withdraw_view(request: HttpRequest, pk: int) -> HttpResponse:
    if request.user.role != User.Role.SELLER:
        raise Http404
    appeal = get_object_or_404(appeals_visible_to(request.user), pk=pk)
    try:
        appeal_withdraw(appeal=appeal, user=request.user)
    except ValidationError as exc:
        messages.error(request, " ".join(exc.messages))
    else:
        messages.success(
            request, _("The appeal was withdrawn. It still counts towards the two appeals of the verdict.")
        )
    return redirect("appeal_detail", pk=appeal.pk)


urlpatterns = [
    path("appeals/", appeal_list, name="appeal_list"),
    path("appeals/new/<int:history_id>/", appeal_create, name="appeal_create"),
    path("appeals/<int:pk>/", appeal_detail, name="appeal_detail"),
    path("appeals/<int:pk>/withdraw/", appeal_withdraw_view, name="appeal_withdraw"),
]
