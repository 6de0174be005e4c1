"""Words for a notification, in the active language, from the codes and figures it stores.

Notifications keep no text: they keep an ``event``, reason codes and figures, so the inbox and
the e-mail speak the reader's language whenever they are read. What each event's context holds
(every key is optional; the codes are those of ``shops.rules.codes``):

=====================  ===========================================================================
verdict.changed        entity, key, old_status, new_status, reasons, inputs, baseline, ruleset_version
creator_add.refused    product, placement, reasons, details (pps, chr, pps_min, chr_min, category),
                       ruleset_version
appeal.submitted       entity, key, reasons, due_at
appeal.approved        entity, key, reasons, status and expires_at (the override), decision_reason
appeal.rejected        entity, key, reasons, decision_reason
appeal.withdrawn       entity, key, reasons
override.expired       entity, key, status, expires_at, computed_status, reasons
plan.terminated        plan, shop, reasons, products (how many left the plan)
plan.recreated         plan, shop, products (keys in the new plan), skipped (key -> codes)
licence.flagged        licence, count, limit, shops (keys)
shop.unbound           key, licence, rebind_from, plans_terminated, reason
recovery.updated       key, step (opened, letter, documents, exam, passed, failed, rebound),
                       exam_score, pass_score, outstanding (steps), reason
=====================  ===========================================================================

A missing value, an unknown event or an unknown code never fails a render: the reader gets a
plainer message instead, so one odd row cannot stop an inbox page or a mail run.
"""

import contextlib
import datetime as dt
import logging
from collections.abc import Iterable, Mapping
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from typing import NamedTuple

from django.utils import timezone
from django.utils.dateparse import parse_date, parse_datetime
from django.utils.formats import date_format
from django.utils.functional import Promise
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

from shops.models import Notification, RuleSet
from shops.reasons import (
    REASON_MESSAGES,
    STATUS_LABELS,
    STATUS_MESSAGES,
    reason_message,
    reason_next_step,
    status_label,
    status_message,
    status_next_step,
    threshold_params,
)
from shops.rules import codes as c
from shops.rules.eligibility import Thresholds
from shops.selectors import THRESHOLD_FIELDS, ruleset_thresholds

logger = logging.getLogger(__name__)

# Lower case: these names sit in the middle of a sentence.
ENTITY_NOUNS = {"shop": _("shop"), "product": _("product"), "creator": _("creator")}
PLACEMENTS = {"showcase": _("showcase"), "live": _("live session"), "video": _("video")}
RECOVERY_STEPS = {
    "opened": _("opened"),
    "letter": _("explanation letter received"),
    "documents": _("documents received"),
    "exam": _("exam result recorded"),
    "passed": _("passed"),
    "failed": _("not passed"),
    "rebound": _("shop bound again"),
}
RECOVERY_STEP_NAMES = {
    "letter": _("explanation letter"),
    "documents": _("tax proof and shipping documents"),
    "exam": _("certification exam"),
}

# event -> title (the e-mail subject); placeholders are filled from the notification's context.
EVENT_TITLES = {
    "verdict.changed": _("New status for %(entity)s %(key)s: %(status)s"),
    "creator_add.refused": _("Product %(product)s was not added to your %(placement)s"),
    "appeal.submitted": _("Appeal received for %(entity)s %(key)s"),
    "appeal.approved": _("Appeal approved for %(entity)s %(key)s"),
    "appeal.rejected": _("Appeal rejected for %(entity)s %(key)s"),
    "appeal.withdrawn": _("Appeal withdrawn for %(entity)s %(key)s"),
    "override.expired": _("Manual status of %(entity)s %(key)s has ended"),
    "plan.terminated": _("Affiliate plan %(plan)s has ended"),
    "plan.recreated": _("Affiliate plan %(plan)s was created again"),
    "licence.flagged": _("Business licence %(licence)s has %(count)s active shops"),
    "shop.unbound": _("Shop %(key)s was unbound from its business licence"),
    "recovery.updated": _("Recovery review of shop %(key)s: %(step)s"),
}
TITLE_ABOUT = _("Update on %(entity)s %(key)s")
TITLE_GENERIC = _("Compliance Portal update")

# Each figure is one row, label and value; a threshold gets its own row beside the value.
FIGURE_LABELS = {
    "sps": _("Shop Performance Score"),
    "sps_thresholds": _("Score thresholds"),
    "sps_counts_from": _("A score counts from"),
    "orders": _("Orders in the last %(days)s days"),
    "reviews": _("Reviews in the last %(days)s days"),
    "negative_reviews": _("Negative reviews in the last %(days)s days"),
    "nrr": _("Negative review rate"),
    "category_average": _("Leaf category average negative review rate"),
    "nrr_multiple": _("Times the leaf category average"),
    "nrr_thresholds": _("Negative review rate thresholds"),
    "pps": _("Promotion performance score (PPS)"),
    "pps_min": _("Minimum PPS for gated categories"),
    "chr": _("Creator health rating (CHR)"),
    "chr_min": _("Minimum CHR for gated categories"),
}

DASH = "—"
MAX_VALUE_LENGTH = 200


class Rendered(NamedTuple):
    notification: Notification
    title: str
    # One sentence on what this means for the reader; may be empty.
    summary: str
    reasons: list[str]
    figures: list[tuple[str, str]]
    next_steps: list[str]
    note: str


class _Params(dict):
    """Values for a message; a missing one reads as a dash rather than failing the render."""

    def __missing__(self, key: str) -> str:
        return DASH


def _fill(template: str | Promise, params: Mapping[str, object]) -> str:
    try:
        return str(template) % params
    except (TypeError, ValueError):
        logger.warning("Cannot fill message %r", str(template))
        return str(template)


def _text(value: object) -> str:
    """A context value as one short line: no newline can reach an e-mail header."""
    return " ".join(str(value).split())[:MAX_VALUE_LENGTH]


def _list(values: Iterable[object]) -> str:
    # A comma in English, an enumeration comma in Chinese.
    return _text(gettext(", ").join(str(value) for value in values))


def _decimal(value: object) -> Decimal | None:
    if value is None or isinstance(value, bool):
        return None
    try:
        number = Decimal(str(value))
    except (InvalidOperation, ValueError):
        return None
    # Figures are scores, counts and ratios: anything huge is a broken value, not a figure.
    return number if number.is_finite() and number.adjusted() < 30 else None


def _number(value: Decimal) -> str:
    """A measured or threshold value exactly as recorded: 3.5, 150, 2.95 (no trailing zeros, no exponent)."""
    return format(value.normalize(), "f")


def _ratio(value: Decimal, *, near: Iterable[Decimal] = ()) -> str:
    """A computed ratio to two decimals, with more where two decimals would land on a threshold.

    2.996 times the average is not "3" when the rule is "above 3 times".
    """
    rounded = value
    for places in (2, 4, 6):
        with contextlib.suppress(InvalidOperation):  # too large to round: keep it whole
            rounded = value.quantize(Decimal(1).scaleb(-places), rounding=ROUND_HALF_UP)
        if rounded == value or rounded not in set(near):
            break
    return _number(rounded)


def _shown(value: object) -> str:
    number = _decimal(value)
    return _number(number) if number is not None else _text(value)


def _percent(ratio: Decimal) -> str:
    return _ratio(ratio * 100) + "%"


def _when(value: object) -> str | None:
    """An ISO date or datetime from a context, in the reader's format and time zone."""
    if not value:
        return None
    text = str(value)
    try:
        day = parse_date(text)
        if day is not None:
            return date_format(day, "DATE_FORMAT")
        moment = parse_datetime(text)
    except ValueError:
        moment = None
    if moment is None:
        return _text(text)
    if timezone.is_aware(moment):
        moment = timezone.localtime(moment)
    # A deadline at midnight is a day.
    return date_format(moment, "DATE_FORMAT" if moment.time() == dt.time.min else "DATETIME_FORMAT")


def _int(value: object) -> int | None:
    if isinstance(value, bool) or not isinstance(value, int | str):
        return None
    try:
        return int(value)
    except ValueError:
        return None


# Context values used as names (dictionary keys, codes): anything but a string is made one.
NAME_KEYS = ("event", "entity", "key", "old_status", "new_status", "status", "computed_status", "placement", "step")


def _context(notification: Notification) -> dict:
    context = notification.context if isinstance(notification.context, dict) else {}
    odd = {name: _text(context[name]) for name in NAME_KEYS if context.get(name) is not None}
    return context | {name: value for name, value in odd.items() if value != context[name]}


def _mapping(value: object) -> dict:
    return value if isinstance(value, dict) else {}


def _codes(value: object) -> list[str]:
    if not isinstance(value, list | tuple):
        return []
    return [str(code) for code in value]


# Thresholds -----------------------------------------------------------------------------------


def notification_thresholds(notifications: Iterable[Notification]) -> dict[int, Thresholds]:
    """The rule sets the notifications were decided with, by version, in one query."""
    versions = {_int(_context(n).get("ruleset_version")) for n in notifications} - {None}
    if not versions:
        return {}
    return {ruleset.version: ruleset_thresholds(ruleset) for ruleset in RuleSet.objects.filter(version__in=versions)}


def _threshold_params(context: dict, rulesets: Mapping[int, Thresholds]) -> dict[str, str]:
    """The thresholds behind this notification; figures the sender recorded win over its rule set."""
    version = _int(context.get("ruleset_version"))
    thresholds = rulesets.get(version) if version is not None else None
    params = threshold_params(thresholds or Thresholds(version=0))
    details = _mapping(context.get("details"))
    for name in THRESHOLD_FIELDS:
        number = _decimal(details.get(name))
        if number is not None:
            params[name] = _number(number)
    return params


# Figures --------------------------------------------------------------------------------------


def _label(name: str, days: str | None = None) -> str:
    return _fill(FIGURE_LABELS[name], {"days": days})


def _shop_figures(inputs: dict, th: dict[str, str]) -> list[tuple[str, str]]:
    if "sps" not in inputs and "orders_90d" not in inputs:
        return []
    sps = _decimal(inputs.get("sps"))
    figures = [(_label("sps"), _number(sps) if sps is not None else gettext("no score"))]
    figures.append(
        (
            _label("sps_thresholds"),
            _fill(
                _("fully eligible from %(eligible)s; disqualified below %(disqualify)s"),
                {"eligible": th["sps_eligible"], "disqualify": th["sps_disqualify"]},
            ),
        )
    )
    if inputs.get("orders_90d") is not None:
        figures.append((_label("orders", th["sps_window_days"]), _shown(inputs["orders_90d"])))
    if inputs.get("has_sps") is False:
        # S1: too few orders, and the score does not count at all.
        value = _fill(
            _("%(orders)s orders in %(days)s days"), {"orders": th["sps_min_orders"], "days": th["sps_window_days"]}
        )
        figures.append((_label("sps_counts_from"), value))
    return figures


def _product_figures(inputs: dict, baseline: dict, th: dict[str, str]) -> list[tuple[str, str]]:
    figures = []
    days = th["nrr_window_days"]
    if inputs.get("reviews_30d") is not None:
        figures.append((_label("reviews", days), _shown(inputs["reviews_30d"])))
    if inputs.get("negative_reviews_30d") is not None:
        figures.append((_label("negative_reviews", days), _shown(inputs["negative_reviews_30d"])))
    nrr = _decimal(inputs.get("nrr"))
    average = _decimal(baseline.get("value"))
    if nrr is not None:
        figures.append((_label("nrr"), _percent(nrr)))
    if average is not None:
        value = _percent(average)
        if baseline.get("source") == "benchmark":
            value = _fill(_("%(rate)s (platform benchmark)"), {"rate": value})
        figures.append((_label("category_average"), value))
    if nrr is not None and average:
        multiples = (Decimal(th["nrr_warning_multiple"]), Decimal(th["nrr_disqualify_multiple"]))
        figures.append((_label("nrr_multiple"), _ratio(nrr / average, near=multiples)))
        value = _fill(
            _("warning at %(warning)s times the average or more; disqualified above %(disqualify)s times"),
            {"warning": th["nrr_warning_multiple"], "disqualify": th["nrr_disqualify_multiple"]},
        )
        figures.append((_label("nrr_thresholds"), value))
    return figures


def _creator_figures(inputs: dict, th: dict[str, str]) -> list[tuple[str, str]]:
    figures = []
    for score in ("pps", "chr"):
        if score in inputs:
            value = _decimal(inputs[score])
            figures.append((_label(score), _number(value) if value is not None else gettext("none yet")))
            figures.append((_label(f"{score}_min"), th[f"{score}_min"]))
    return figures


def _figures(context: dict, th: dict[str, str]) -> list[tuple[str, str]]:
    """The measured values behind the reasons, each beside the threshold it was held to."""
    inputs = _mapping(context.get("inputs")) | _mapping(context.get("details"))
    return (
        _shop_figures(inputs, th)
        + _product_figures(inputs, _mapping(context.get("baseline")), th)
        + _creator_figures(inputs, th)
    )


# Events ---------------------------------------------------------------------------------------


class _Body(NamedTuple):
    summary: str = ""
    figures: tuple[tuple[str, str], ...] = ()
    # Steps shown instead of the reasons' own (None: the reasons' steps).
    steps: tuple[str, ...] | None = None
    extra_steps: tuple[str, ...] = ()
    # False when the reasons no longer apply (an approved appeal).
    show_reasons: bool = True


def _verdict_changed(context: dict, codes: list[str], th: dict[str, str]) -> _Body:
    new, old = context.get("new_status"), context.get("old_status")
    summary = status_message(new, th) if new in STATUS_MESSAGES else ""
    known = any(code in REASON_MESSAGES for code in codes)
    steps, extra = None, ()
    if old == c.DISQUALIFIED and new != c.DISQUALIFIED:
        # Recovery restores eligibility, never the plans that ended (S8, P5).
        extra = (gettext("Affiliate plans and collaborations that ended are not restored: set them up again by hand."),)
        steps = None if known else ()
    elif not known and new in STATUS_MESSAGES:
        steps = (status_next_step(new, th),)
    return _Body(summary, steps=steps, extra_steps=extra)


def _creator_add_refused(context: dict, codes: list[str], th: dict[str, str]) -> _Body:
    # The product's own problems are the seller's to fix; the creator can only pick another one.
    steps = tuple(reason_next_step(code, th) for code in codes if code in c.CREATOR_CODES)
    if any(code not in c.CREATOR_CODES for code in codes) or not steps:
        steps += (gettext("This product cannot be promoted at the moment: choose another product."),)
    summary = gettext("The product was not added. Products you already promote are not affected.")
    details = _mapping(context.get("details"))
    figures = ()
    if details.get("category"):
        category = _text(details["category"])
        if details.get("gated"):
            category = _fill(_("%(category)s (a gated category)"), {"category": category})
        figures = ((gettext("Category"), category),)
    return _Body(summary, figures=figures, steps=tuple(dict.fromkeys(steps)))


def _appeal_submitted(context: dict, codes: list[str], th: dict[str, str]) -> _Body:
    due = _when(context.get("due_at"))
    return _Body(
        gettext("The operations team reviews your appeal."),
        figures=((gettext("Answer due by"), due),) if due else (),
        steps=(
            gettext("Nothing to do now: you will be notified of the decision. Until then the status stays as it is."),
        ),
    )


def _appeal_approved(context: dict, codes: list[str], th: dict[str, str]) -> _Body:
    figures = []
    status = context.get("status")
    if status in STATUS_LABELS:
        figures.append((gettext("Status set by the operations team"), status_label(status)))
    until = _when(context.get("expires_at"))
    if until:
        figures.append((gettext("Valid until"), until))
    return _Body(
        gettext("The operations team accepted your appeal."),
        figures=tuple(figures),
        steps=(gettext("Nothing to do. Eligibility is still checked every day; a new problem is notified again."),),
        show_reasons=False,
    )


def _appeal_rejected(context: dict, codes: list[str], th: dict[str, str]) -> _Body:
    return _Body(
        gettext("The operations team rejected your appeal: the status stays as it is."),
        extra_steps=(gettext("If you have new evidence, check in Compliance Portal whether you can appeal again."),),
    )


def _appeal_withdrawn(context: dict, codes: list[str], th: dict[str, str]) -> _Body:
    return _Body(gettext("The appeal was withdrawn: the status stays as it is."))


def _override_expired(context: dict, codes: list[str], th: dict[str, str]) -> _Body:
    figures = []
    status = context.get("status")
    if status in STATUS_LABELS:
        figures.append((gettext("Status set by the operations team"), status_label(status)))
    ended = _when(context.get("expires_at"))
    if ended:
        figures.append((gettext("Ended on"), ended))
    computed = context.get("computed_status")
    if computed in STATUS_LABELS:
        figures.append((gettext("Status from the daily evaluation"), status_label(computed)))
    return _Body(
        gettext(
            "The status set by the operations team no longer applies: "
            "the status from the daily evaluation counts again."
        ),
        figures=tuple(figures),
        steps=(gettext("Check the current status and its reasons in Compliance Portal."),),
    )


def _plan_terminated(context: dict, codes: list[str], th: dict[str, str]) -> _Body:
    figures = []
    if context.get("shop"):
        figures.append((gettext("Shop"), _text(context["shop"])))
    if context.get("products") is not None:
        figures.append((gettext("Products that left the plan"), _shown(context["products"])))
    return _Body(
        gettext("The plan has ended and its products have left it. Ended plans are not restored."),
        figures=tuple(figures),
        # The reasons' own steps already say how to come back; without them, say it here.
        extra_steps=()
        if any(code in REASON_MESSAGES for code in codes)
        else (gettext("When the shop is eligible again, create a new plan by hand."),),
    )


def _plan_recreated(context: dict, codes: list[str], th: dict[str, str]) -> _Body:
    figures = []
    if context.get("shop"):
        figures.append((gettext("Shop"), _text(context["shop"])))
    products, skipped = context.get("products"), context.get("skipped")
    if isinstance(products, list):
        figures.append((gettext("Products in the new plan"), str(len(products))))
    steps = [gettext("Check the plan's products and commission rates in Compliance Portal.")]
    if isinstance(skipped, dict | list) and skipped:
        figures.append((gettext("Products left out (not eligible now)"), _list(skipped)))
        steps.append(gettext("Products left out can be added by hand once they are eligible again."))
    return _Body(
        gettext(
            "A new plan copies the ended one: its invited creators, and the products that may take part now "
            "at their old commission rates (capped by the shop tier)."
        ),
        figures=tuple(figures),
        steps=tuple(steps),
    )


def _licence_flagged(context: dict, codes: list[str], th: dict[str, str]) -> _Body:
    figures = []
    if context.get("count") is not None:
        figures.append((gettext("Active shops"), _shown(context["count"])))
    shops = context.get("shops")
    if isinstance(shops, list) and shops:
        figures.append((gettext("Shops"), _list(shops)))
    limit = _int(context.get("limit")) or 3
    return _Body(
        _fill(_("A business licence may have at most %(limit)s active shops."), {"limit": limit}),
        figures=tuple(figures),
        steps=(gettext("Review the flag: unbind the shops above the limit, or resolve the flag with a reason."),),
    )


def _shop_unbound(context: dict, codes: list[str], th: dict[str, str]) -> _Body:
    figures = []
    if context.get("licence"):
        figures.append((gettext("Business licence"), _text(context["licence"])))
    rebind = _when(context.get("rebind_from"))
    if rebind:
        figures.append((gettext("The licence can bind a new shop from"), rebind))
    if context.get("plans_terminated") is not None:
        figures.append((gettext("Affiliate plans ended"), _shown(context["plans_terminated"])))
    steps = () if c.SHOP_UNBOUND in codes else (reason_next_step(c.SHOP_UNBOUND, th),)
    return _Body(reason_message(c.SHOP_UNBOUND, th), figures=tuple(figures), extra_steps=steps)


RECOVERY_SUMMARIES = {
    "opened": _("A recovery review was opened for the shop."),
    "letter": _("The explanation letter was received."),
    "documents": _("The tax proof and shipping documents were received."),
    "exam": _("The certification exam result was recorded."),
    "passed": _("The recovery review passed."),
    "failed": _("The recovery review did not pass."),
    "rebound": _("The shop is bound to its business licence again."),
}
RECOVERY_NEXT_STEPS = {
    "opened": _(
        "Submit the explanation letter, then 3 months of tax proof and the shipping documents, then take the "
        "certification exam."
    ),
    "letter": _("Next, upload 3 months of tax proof and the shipping documents."),
    "documents": _("Next, take the certification exam: a score of %(pass_score)s or more passes."),
    "exam": _("The operations team now decides on the review; you will be notified."),
    "passed": _("The operations team can now bind the shop to its business licence again."),
    "failed": _("Open a new recovery review and complete the steps listed."),
    "rebound": _(
        "The shop is evaluated again at the next daily evaluation. Ended plans are not restored: recreate them by hand."
    ),
}


def _recovery_updated(context: dict, codes: list[str], th: dict[str, str]) -> _Body:
    step = context.get("step")
    pass_score = _shown(context.get("pass_score") or 85)
    figures = []
    if context.get("exam_score") is not None:
        figures.append((gettext("Exam score"), _shown(context["exam_score"])))
        figures.append((gettext("Pass mark"), pass_score))
    outstanding = context.get("outstanding")
    if isinstance(outstanding, list) and outstanding:
        names = [str(RECOVERY_STEP_NAMES.get(name, _text(name))) for name in outstanding]
        figures.append((gettext("Steps missing or not passed"), _list(names)))
    return _Body(
        str(RECOVERY_SUMMARIES.get(step, "")),
        figures=tuple(figures),
        steps=(_fill(RECOVERY_NEXT_STEPS[step], {"pass_score": pass_score}),) if step in RECOVERY_NEXT_STEPS else None,
    )


EVENT_BODIES = {
    "verdict.changed": _verdict_changed,
    "creator_add.refused": _creator_add_refused,
    "appeal.submitted": _appeal_submitted,
    "appeal.approved": _appeal_approved,
    "appeal.rejected": _appeal_rejected,
    "appeal.withdrawn": _appeal_withdrawn,
    "override.expired": _override_expired,
    "plan.terminated": _plan_terminated,
    "plan.recreated": _plan_recreated,
    "licence.flagged": _licence_flagged,
    "shop.unbound": _shop_unbound,
    "recovery.updated": _recovery_updated,
}


# Rendering ------------------------------------------------------------------------------------


def _title_params(notification: Notification, context: dict) -> _Params:
    params = _Params(
        (name, _text(value))
        for name, value in context.items()
        if isinstance(value, str | int | float | Decimal) and not isinstance(value, bool)
    )
    # The subject ("shop:SHOP-1") names the entity when the context does not.
    subject_entity, _sep, subject_key = (notification.subject or "").partition(":")
    entity = context.get("entity") or subject_entity
    params["entity"] = _text(ENTITY_NOUNS.get(entity, entity)) or DASH
    params["key"] = _text(context.get("key") or subject_key) or DASH
    status = context.get("new_status") or context.get("status")
    if status:
        params["status"] = status_label(status) if status in STATUS_LABELS else _text(status)
    placement = context.get("placement")
    if placement:
        params["placement"] = str(PLACEMENTS.get(placement, _text(placement)))
    step = context.get("step")
    if step:
        params["step"] = str(RECOVERY_STEPS.get(step, _text(step)))
    return params


def _title(notification: Notification, context: dict, event: object) -> str:
    params = _title_params(notification, context)
    if event in EVENT_TITLES:
        return _fill(EVENT_TITLES[event], params)
    if params["key"] != DASH:
        return _fill(TITLE_ABOUT, params)
    return str(TITLE_GENERIC)


def _reason(code: str, th: dict[str, str]) -> str:
    if code in REASON_MESSAGES:
        return reason_message(code, th)
    logger.warning("Notification names an unknown reason code %r", code)
    return _fill(_("Another reason (code %(code)s): the operations team can tell you more."), {"code": _text(code)})


def _note(context: dict) -> str:
    from_ops = context.get("decision_reason") or context.get("reason")
    if from_ops:
        return _fill(_("Note from the operations team: %(text)s"), {"text": str(from_ops).strip()})
    return str(context.get("note") or "").strip()


def notification_render(notification: Notification, *, rulesets: Mapping[int, Thresholds] | None = None) -> Rendered:
    """One notification in the active language; pass ``rulesets`` to render many without a query each."""
    context = _context(notification)
    if rulesets is None:
        rulesets = notification_thresholds([notification])
    event = context.get("event", "verdict.changed")
    th = _threshold_params(context, rulesets)
    codes = _codes(context.get("reasons"))

    builder = EVENT_BODIES.get(event) if isinstance(event, str) else None
    if builder is None:
        logger.warning("Notification #%s has an unknown event %r", notification.pk, event)
    body = builder(context, codes, th) if builder else _Body()

    if body.steps is None:
        steps = [reason_next_step(code, th) for code in codes if code in REASON_MESSAGES]
    else:
        steps = list(body.steps)
    return Rendered(
        notification=notification,
        title=_title(notification, context, event),
        summary=body.summary,
        reasons=list(dict.fromkeys(_reason(code, th) for code in codes)) if body.show_reasons else [],
        figures=_figures(context, th) + list(body.figures),
        next_steps=list(dict.fromkeys(steps + list(body.extra_steps))),
        note=_note(context),
    )


def notifications_render(notifications: Iterable[Notification]) -> list[Rendered]:
    """Many notifications in the active language, with one query for all their rule sets."""
    notifications = list(notifications)
    rulesets = notification_thresholds(notifications)
    return [notification_render(n, rulesets=rulesets) for n in notifications]
