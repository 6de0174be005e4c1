"""What statuses and reason codes mean to a person, in English and Simplified Chinese.

The codes of ``shops.rules.codes`` are the public interface; this module only words them.
Thresholds are placeholders (``%(sps_eligible)s``...) named after the ``Thresholds`` keys and
filled from the rule set in force, so changing a threshold never needs a new translation.
"""

from collections.abc import Mapping
from decimal import Decimal
from fractions import Fraction
from typing import NamedTuple

from django.utils.functional import Promise
from django.utils.translation import gettext_lazy as _
from django.utils.translation import pgettext_lazy

from shops.rules import codes as c
from shops.rules.eligibility import Thresholds


class Wording(NamedTuple):
    message: Promise
    next_step: Promise


REASON_MESSAGES: dict[str, Wording] = {
    # Shop (S3, S4, S5, S6)
    c.ACCOUNT_SUSPENDED: Wording(
        _(
            "Your seller account was suspended for breaking platform rules, so the shop is permanently "
            "disqualified from affiliate marketing. The disqualification stays after the suspension ends."
        ),
        _(
            "Resolve the account suspension with the platform first (appeal it if you believe it is wrong). "
            "Then contact the operations team: only they can lift the disqualification."
        ),
    ),
    c.SHOP_UNBOUND: Wording(
        _(
            "The operations team unbound this shop from its business licence, so it is disqualified from "
            "affiliate marketing and its plans have ended. Its history is kept."
        ),
        _(
            "Complete the 3-step recovery review (explanation letter; 3 months of tax proof and shipping "
            "documents; certification exam scored at 85 percent or more). "
            "The licence cannot bind a new shop for 90 days."
        ),
    ),
    c.SPS_BELOW_ELIGIBLE: Wording(
        _(
            "Shop Performance Score is below %(sps_eligible)s: you cannot add new products to affiliate plans; "
            "existing collaborations continue."
        ),
        _(
            "Raise your Shop Performance Score to %(sps_eligible)s or above. The restriction ends at the first "
            "daily evaluation that finds the score there."
        ),
    ),
    c.SPS_BELOW_DISQUALIFY: Wording(
        _(
            "Shop Performance Score is below %(sps_disqualify)s: the shop is disqualified from affiliate "
            "marketing, all its ongoing affiliate collaborations have ended and no new plan can be created."
        ),
        _(
            "Raise your Shop Performance Score to %(sps_eligible)s or above to be fully eligible again. Ended "
            "plans are not restored: you will need to create new ones."
        ),
    ),
    # Shop without a score (S5) and product (P2)
    c.IP_VIOLATION: Wording(
        _(
            "An intellectual-property infringement was recorded: a shop without a Shop Performance Score cannot "
            "add new products to affiliate plans, and an infringing product is disqualified from affiliate "
            "marketing."
        ),
        _(
            "Remove or correct the infringing listing or content. If you believe the finding is wrong, appeal "
            "the penalty. Eligibility is checked again every day."
        ),
    ),
    c.FAIR_TRADE_VIOLATION: Wording(
        _(
            "A fair-trading violation was recorded: a shop without a Shop Performance Score cannot add new "
            "products to affiliate plans, and a product concerned is disqualified from affiliate marketing."
        ),
        _(
            "Correct the practice named in the penalty notice (for example pricing or promotion terms). If you "
            "believe the finding is wrong, appeal the penalty. Eligibility is checked again every day."
        ),
    ),
    c.REVIEW_VIOLATION: Wording(
        _(
            "A buyer-review violation was recorded (for example manipulated or incentivised reviews): a shop "
            "without a Shop Performance Score cannot add new products to affiliate plans, and a product "
            "concerned is disqualified from affiliate marketing."
        ),
        _(
            "Stop the practice named in the penalty notice and do not offer anything in exchange for reviews. "
            "If you believe the finding is wrong, appeal the penalty."
        ),
    ),
    # Product (P0, P1, P3, P4)
    c.SHOP_DISQUALIFIED: Wording(
        _("The shop is disqualified from affiliate marketing, so none of its products can take part."),
        _(
            "Resolve the shop's own reasons first. Once the shop is eligible again, its products are evaluated "
            "again; add them to new plans by hand."
        ),
    ),
    c.NRR_ABOVE_WARNING: Wording(
        _(
            "The product's negative review rate over the last %(nrr_window_days)s days is at least "
            "%(nrr_warning_multiple)s times the average of its leaf category: it cannot be added to affiliate "
            "plans; existing collaborations continue."
        ),
        _(
            "Reduce negative reviews: check quality, the accuracy of the description and after-sales service. "
            "The product is eligible again when its rate is below %(nrr_warning_multiple)s times the category "
            "average."
        ),
    ),
    c.NRR_ABOVE_DISQUALIFY: Wording(
        _(
            "The product's negative review rate over the last %(nrr_window_days)s days is more than "
            "%(nrr_disqualify_multiple)s times the average of its leaf category: it is disqualified from "
            "affiliate marketing and has left every affiliate plan."
        ),
        _(
            "Reduce negative reviews: check quality, the accuracy of the description and after-sales service. "
            "When the rate is below %(nrr_warning_multiple)s times the category average the product is eligible "
            "again, but you must add it to a plan again by hand."
        ),
    ),
    c.COUNTERFEIT_FLAG: Wording(
        _("Buyers flagged the product as not genuine or not original: it is disqualified from affiliate marketing."),
        _(
            "Check the product's authenticity and keep the proof (brand authorisation, purchase invoices). If "
            "the flag is wrong, appeal with that proof."
        ),
    ),
    c.LISTING_DELISTED: Wording(
        _("The product was delisted: it is disqualified from affiliate marketing."),
        _("Fix the issue that caused the delisting and list the product again. Then add it to a plan again by hand."),
    ),
    c.LISTING_FROZEN: Wording(
        _("The product is frozen: it is disqualified from affiliate marketing."),
        _(
            "Read the notice that came with the freeze, then fix the issue or appeal. Once the product is "
            "unfrozen and eligible, add it to a plan again by hand."
        ),
    ),
    c.APPEAL_FAILED: Wording(
        _(
            "The product was penalised for breaking platform rules and the appeal failed: it is disqualified "
            "from affiliate marketing."
        ),
        _("Fix the issue named in the penalty decision. The seller penalty rules explain what remains possible."),
    ),
    # Creator (C1)
    c.PPS_BELOW_MIN: Wording(
        _(
            "Your promotion performance score (PPS) is below %(pps_min)s: you cannot add products of gated "
            "categories to your showcase, live sessions or videos."
        ),
        _(
            "Raise your PPS to %(pps_min)s or above. Products of other categories, and products you already "
            "promote, are not affected."
        ),
    ),
    c.CHR_BELOW_MIN: Wording(
        _(
            "Your creator health rating (CHR) is below %(chr_min)s: you cannot add products of gated categories "
            "to your showcase, live sessions or videos."
        ),
        _(
            "Follow the platform rules to raise your CHR to %(chr_min)s or above. Products of other categories, "
            "and products you already promote, are not affected."
        ),
    ),
    c.PPS_MISSING: Wording(
        _(
            "You have no promotion performance score (PPS) yet: products of gated categories need a PPS of at "
            "least %(pps_min)s."
        ),
        _(
            "Promote products of other categories to build up your score; once your PPS reaches %(pps_min)s you "
            "can add products of gated categories."
        ),
    ),
    c.CHR_MISSING: Wording(
        _(
            "You have no creator health rating (CHR) yet: products of gated categories need a CHR of at least "
            "%(chr_min)s."
        ),
        _(
            "Your CHR appears once the platform has rated your account. Until then you can promote products of "
            "other categories."
        ),
    ),
}

STATUS_LABELS: dict[str, Promise] = {
    c.ELIGIBLE: pgettext_lazy("eligibility status", "Eligible"),
    c.RESTRICTED: pgettext_lazy("eligibility status", "Restricted"),
    c.WARNING: pgettext_lazy("eligibility status", "Warning"),
    c.DISQUALIFIED: pgettext_lazy("eligibility status", "Disqualified"),
    c.QUALIFIED: pgettext_lazy("eligibility status", "Qualified"),
    c.NOT_QUALIFIED: pgettext_lazy("eligibility status", "Not qualified"),
}

STATUS_MESSAGES: dict[str, Wording] = {
    c.ELIGIBLE: Wording(
        _("Meets the affiliate marketing eligibility criteria."),
        _("Nothing to do. Eligibility is checked again every day."),
    ),
    c.RESTRICTED: Wording(
        _("The shop cannot add new products to affiliate plans; existing collaborations continue."),
        _(
            "Fix each reason listed. The restriction ends by itself at the first daily evaluation that finds "
            "the criteria met."
        ),
    ),
    c.WARNING: Wording(
        _("The product cannot be added to affiliate plans; existing collaborations continue."),
        _("Fix the reason listed soon, before the product is disqualified from affiliate marketing."),
    ),
    c.DISQUALIFIED: Wording(
        _(
            "Disqualified from affiliate marketing: its affiliate collaborations have ended and no new plan "
            "can include it."
        ),
        _("Fix each reason listed. Ended plans are not restored: when eligibility returns, create new plans by hand."),
    ),
    c.QUALIFIED: Wording(
        _("Meets the entry thresholds: you may promote products of gated categories."),
        _("Nothing to do. Keep your PPS and CHR at or above the thresholds."),
    ),
    c.NOT_QUALIFIED: Wording(
        _(
            "Does not meet the entry thresholds: products of gated categories cannot be added to your "
            "showcase, live sessions or videos. Other categories are not affected."
        ),
        _("Fix each reason listed. Products you already promote are not removed."),
    ),
}


# Refusals of affiliate operations (plans, creator adds); codes of ``affiliate.rules``.
OPERATION_MESSAGES: dict[str, Wording] = {
    "NOT_EVALUATED": Wording(
        _("Not evaluated yet: eligibility is decided at the next daily evaluation."),
        _("Wait for the next daily evaluation after the metrics feed has arrived."),
    ),
    "OPS_OVERRIDE": Wording(
        _("The operations team set this status by hand."),
        _("Read the reason given by the operations team, or contact them."),
    ),
    "COMMISSION_OUT_OF_RANGE": Wording(
        _("The commission rate must be between 1%% and 80%%."),
        _("Enter a rate from 1 to 80."),
    ),
    "COMMISSION_ABOVE_TIER_CAP": Wording(
        _("The commission rate is above the maximum of the shop's tier."),
        _("Lower the rate to the tier's maximum (Bronze 20, Silver 25, Gold 30, Platinum 40)."),
    ),
    "PLAN_NOT_ACTIVE": Wording(_("The plan has ended and cannot be changed."), _("Create a new plan.")),
    "PLAN_NOT_TARGETED": Wording(
        _("Only a targeted plan invites creators."), _("Create a targeted plan for the creators you want.")
    ),
    "PLAN_WITHOUT_PRODUCTS": Wording(_("A plan needs at least one product."), _("Add an eligible product.")),
    "PLAN_ALREADY_RECREATED": Wording(
        _("This ended plan was already created again."), _("Manage the new plan instead.")
    ),
    "PLAN_NOT_TERMINATED": Wording(
        _("Only a plan ended by a disqualification of this shop can be created again."), _("Create a new plan.")
    ),
    "PRODUCT_NOT_IN_SHOP": Wording(
        _("The product belongs to another shop."), _("Add products of the plan's shop only.")
    ),
    "PRODUCT_ALREADY_IN_PLAN": Wording(_("The product is already in this plan."), _("Nothing to do.")),
    "PRODUCT_NOT_IN_PLAN": Wording(_("The product is not in this plan."), _("Nothing to do.")),
    "SHOP_WIDE_SINGLE_RATE": Wording(
        _("A shop-wide plan has one commission rate for every product."), _("Use the plan's rate.")
    ),
}
REASON_MESSAGES |= OPERATION_MESSAGES


def _number(value: object) -> str:
    """3.5, 150, 2.5: no trailing zeros, no exponent, exact for fractions that have a decimal form."""
    if isinstance(value, Fraction):
        value = Decimal(value.numerator) / value.denominator
    if isinstance(value, Decimal):
        return format(value.normalize(), "f")
    return str(value)


def threshold_params(thresholds: Thresholds) -> dict[str, str]:
    """The placeholders of the messages, from one rule set's thresholds."""
    return {key: _number(value) for key, value in thresholds._asdict().items()}


DEFAULT_PARAMS = threshold_params(Thresholds(version=0))


def _render(text: Promise, params: Mapping[str, object] | None) -> str:
    values = DEFAULT_PARAMS | {key: _number(value) for key, value in (params or {}).items()}
    return str(text) % values


def reason_message(code: str, params: Mapping[str, object] | None = None) -> str:
    """What ``code`` means, in the active language; ``params`` override default thresholds."""
    return _render(REASON_MESSAGES[code].message, params)


def reason_next_step(code: str, params: Mapping[str, object] | None = None) -> str:
    """What the seller or creator can do about ``code``, in the active language."""
    return _render(REASON_MESSAGES[code].next_step, params)


def status_label(status: str) -> str:
    return str(STATUS_LABELS[status])


def status_message(status: str, params: Mapping[str, object] | None = None) -> str:
    return _render(STATUS_MESSAGES[status].message, params)


def status_next_step(status: str, params: Mapping[str, object] | None = None) -> str:
    return _render(STATUS_MESSAGES[status].next_step, params)
