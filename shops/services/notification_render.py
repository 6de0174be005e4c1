"""Words for a notification, in the active language, from the codes and figures it stores.

Notifications keep no text: they keep an ``event``, reason codes and figures, so the inbox and
the e-mail speak the reader's language, whenever they are read.
"""

from typing import NamedTuple

from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

from shops.models import Notification, RuleSet
from shops.reasons import reason_message, reason_next_step, status_label, threshold_params
from shops.selectors import ruleset_thresholds

ENTITY_LABELS = {"shop": _("Shop"), "product": _("Product"), "creator": _("Creator")}

# event -> title; placeholders are filled from the notification's context.
EVENT_TITLES = {
    "verdict.changed": _("%(entity)s %(key)s is now %(status)s"),
    "creator_add.refused": _("Adding product %(product)s to your %(placement)s was refused"),
    "appeal.submitted": _("Appeal received for %(entity)s %(key)s"),
    "appeal.approved": _("Appeal approved for %(entity)s %(key)s"),
    "appeal.rejected": _("Appeal rejected for %(entity)s %(key)s"),
    "appeal.withdrawn": _("Appeal withdrawn for %(entity)s %(key)s"),
    "override.expired": _("The override on %(entity)s %(key)s has expired"),
    "plan.terminated": _("Affiliate plan %(plan)s has ended"),
    "plan.recreated": _("Affiliate plan %(plan)s was created again"),
    "licence.flagged": _("Business licence %(licence)s has %(count)s active shops"),
    "shop.unbound": _("Shop %(key)s was unbound from its business licence"),
    "recovery.updated": _("Recovery review of shop %(key)s: %(step)s"),
}

FIGURE_LABELS = {
    "sps": _("Shop Performance Score"),
    "orders_90d": _("Orders in the last 90 days"),
    "reviews_30d": _("Reviews in the last 30 days"),
    "negative_reviews_30d": _("Negative reviews in the last 30 days"),
    "nrr": _("Negative review rate"),
    "category_average": _("Category average negative review rate"),
    "pps": _("Promotion performance score (PPS)"),
    "chr": _("Creator health rating (CHR)"),
}


class Rendered(NamedTuple):
    notification: Notification
    title: str
    reasons: list[str]
    figures: list[tuple[str, str]]
    next_steps: list[str]
    note: str


def _fill(template, params: dict) -> str:
    try:
        return str(template) % params
    except (KeyError, TypeError, ValueError):
        return str(template)


def notification_render(notification: Notification) -> Rendered:
    context = notification.context
    event = context.get("event", "verdict.changed")
    params = {k: v for k, v in context.items() if isinstance(v, str | int | float)}
    params["entity"] = str(ENTITY_LABELS.get(context.get("entity"), context.get("entity", "")))
    if context.get("new_status"):
        params["status"] = str(status_label(context["new_status"]))
    if "placement" in context:
        params["placement"] = gettext(context["placement"])
    title = _fill(EVENT_TITLES.get(event, _("Compliance Portal update")), params)

    codes = context.get("reasons", [])
    thresholds = _threshold_params(context.get("ruleset_version"))
    reasons = [reason_message(code, thresholds) for code in codes if _known(code)]
    next_steps = list(dict.fromkeys(reason_next_step(code, thresholds) for code in codes if _known(code)))
    figures = []
    inputs = dict(context.get("inputs") or {}) | dict(context.get("details") or {})
    baseline = context.get("baseline") or {}
    if baseline.get("value") is not None:
        inputs["category_average"] = baseline["value"]
    for name, label in FIGURE_LABELS.items():
        if inputs.get(name) not in (None, ""):
            figures.append((str(label), str(inputs[name])))
    return Rendered(notification, title, reasons, figures, next_steps, context.get("note", ""))


def _threshold_params(version: int | None) -> dict[str, str] | None:
    """The thresholds of the rule set the verdict was made with, for the message wording."""
    if not version:
        return None
    ruleset = RuleSet.objects.filter(version=version).first()
    return threshold_params(ruleset_thresholds(ruleset)) if ruleset else None


def _known(code: str) -> bool:
    from shops.reasons import REASON_MESSAGES

    return code in REASON_MESSAGES
