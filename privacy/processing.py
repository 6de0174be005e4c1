"""The record of processing: what personal data the portal holds, why, who receives it, how
long it is kept, and how automated eligibility decisions are made (policies 000, 003, 004).

The privacy centre pages and the summary in every data export read it from here, so the
words a person is shown and the words in their archive are the same.
"""

from django.utils.translation import gettext_lazy as _

PURPOSES = [
    {
        "name": _("Running your account"),
        "data": _("E-mail address, name, language, role, sign-in times and second-factor settings."),
        "basis": _("Contract: needed to provide the portal."),
    },
    {
        "name": _("Eligibility evaluation"),
        "data": _("Shop, product and creator metrics from the daily feed, verdicts and their inputs."),
        "basis": _("Contract and platform rules: the affiliate eligibility rules apply to every partner."),
    },
    {
        "name": _("Payments and tax"),
        "data": _("Contact e-mail and phone, tax id and bank details of sellers (encrypted at rest)."),
        "basis": _("Legal obligation and contract."),
    },
    {
        "name": _("Security"),
        "data": _("Access log (who, what, when, from which address) and sign-in attempts."),
        "basis": _("Legitimate interest in protecting accounts and data; kept 180 days."),
    },
    {
        "name": _("Marketing e-mail"),
        "data": _("E-mail address and language."),
        "basis": _("Your consent, which you can withdraw at any time."),
    },
    {
        "name": _("Product analytics"),
        "data": _("Which pages of the portal you open and when."),
        "basis": _("Your consent, which you can withdraw at any time."),
    },
    {
        "name": _("Sharing with API clients and webhook receivers"),
        "data": _("Eligibility verdicts, reasons and metrics of your shops, products or creator profile."),
        "basis": _("Your consent, which you can withdraw at any time."),
    },
]

RECIPIENTS = [
    _("API clients authorised by ops for a declared purpose, and their webhook receivers (only with your consent)."),
    _("Ops reviewers of the portal, who handle appeals, reviews and rights requests."),
    _("Our e-mail provider, to deliver notifications and codes."),
    _("Authorities, where the law requires it."),
]

AUTOMATED_DECISIONS = _(
    "Every day the portal evaluates shops, products and creators against the affiliate eligibility "
    "rules: a shop's performance score (SPS) and order count, a product's negative review rate compared "
    "with its leaf category average, and a creator's promotion performance score (PPS) and health "
    "rating (CHR). The verdict (eligible, warning or disqualified) is computed by the rules alone, and "
    "every change is stored with the metrics, the category baseline and the rule-set version it was "
    "computed from. You can appeal a verdict, or ask for a human review of it from the privacy centre: "
    "an ops reviewer then examines the verdict and its inputs and answers within 15 days."
)

RIGHTS = [
    _("See and download a copy of your data."),
    _("Have inaccurate data corrected."),
    _("Have your data deleted, or cancel your account."),
    _("Withdraw a consent at any time; processing based on it stops at once."),
    _("Ask for a human review of an automated eligibility decision."),
]
