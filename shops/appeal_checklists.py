"""The evidence a seller must upload to appeal each shop or product reason code.

Data, not logic: ``shops.services.appeals`` reads it. Item keys are stored with each evidence
file (``AppealEvidence.item``), so keep them stable; labels are translated. Codes that share a
key (both SPS codes, both NRR codes, both listing codes) are answered by the same files.
"""

from typing import NamedTuple

from django.utils.functional import Promise
from django.utils.translation import gettext_lazy as _

from shops.rules import codes as c


class ChecklistItem(NamedTuple):
    key: str
    label: Promise


ORDER_FULFILMENT = ChecklistItem("order_fulfilment_records", _("Recent order fulfilment records"))
CUSTOMER_SERVICE = ChecklistItem("customer_service_logs", _("Customer service logs"))
REVIEW_EXPORT = ChecklistItem("review_export", _("Export of the product's reviews"))
QUALITY_REPORT = ChecklistItem("product_quality_report", _("Product quality report"))
SUPPLIER_CERTIFICATE = ChecklistItem("supplier_certificate", _("Supplier certificate"))
IP_RIGHTS = ChecklistItem("ip_rights_proof", _("Trademark registration or licence from the rights holder"))
PRICING_RECORDS = ChecklistItem("pricing_promotion_records", _("Pricing and promotion records"))
REVIEW_SOLICITATION = ChecklistItem("review_solicitation_records", _("Review solicitation records"))
BRAND_INVOICES = ChecklistItem(
    "brand_purchase_invoices", _("Purchase invoices from the brand or an authorised distributor")
)
AUTHENTICITY_CERTIFICATE = ChecklistItem("authenticity_certificate", _("Authenticity certificate"))
LISTING_CORRECTION = ChecklistItem("listing_correction_proof", _("Proof that the listing was corrected"))
PENALTY_DECISION = ChecklistItem("penalty_decision", _("The original penalty decision"))
NEW_EVIDENCE = ChecklistItem("new_evidence", _("New evidence not considered in the failed appeal"))
SUSPENSION_LIFTED = ChecklistItem("suspension_lift_notice", _("The platform's notice lifting the suspension"))

CHECKLISTS: dict[str, tuple[ChecklistItem, ...]] = {
    c.SPS_BELOW_ELIGIBLE: (ORDER_FULFILMENT, CUSTOMER_SERVICE),
    c.SPS_BELOW_DISQUALIFY: (ORDER_FULFILMENT, CUSTOMER_SERVICE),
    c.NRR_ABOVE_WARNING: (REVIEW_EXPORT, QUALITY_REPORT, SUPPLIER_CERTIFICATE),
    c.NRR_ABOVE_DISQUALIFY: (REVIEW_EXPORT, QUALITY_REPORT, SUPPLIER_CERTIFICATE),
    c.IP_VIOLATION: (IP_RIGHTS,),
    c.FAIR_TRADE_VIOLATION: (PRICING_RECORDS,),
    c.REVIEW_VIOLATION: (REVIEW_SOLICITATION,),
    c.COUNTERFEIT_FLAG: (BRAND_INVOICES, AUTHENTICITY_CERTIFICATE),
    c.LISTING_DELISTED: (LISTING_CORRECTION,),
    c.LISTING_FROZEN: (LISTING_CORRECTION,),
    c.APPEAL_FAILED: (PENALTY_DECISION, NEW_EVIDENCE),
    c.ACCOUNT_SUSPENDED: (SUSPENSION_LIFTED,),
    c.SHOP_DISQUALIFIED: (),
    c.SHOP_UNBOUND: (),
}

# Codes whose verdict cannot be appealed here, and where the seller should go instead.
NOT_APPEALABLE: dict[str, Promise] = {
    c.SHOP_DISQUALIFIED: _(
        "The product is disqualified because its shop is: appeal the shop's verdict instead of the product's."
    ),
    c.SHOP_UNBOUND: _(
        "An unbound shop is handled by the recovery review after the unbinding; it cannot be appealed here."
    ),
}
