"""Template helpers of the web pages: status badges, reason messages and chart data."""

from django import template
from django.utils.translation import gettext_lazy as _

from shops.rules import codes as c

register = template.Library()

# Each status has a colour and a symbol, and its badge always spells the status out, so it
# reads without colour too.
STATUS_STYLE = {
    c.ELIGIBLE: ("ok", "✓", _("Eligible")),
    c.QUALIFIED: ("ok", "✓", _("Qualified")),
    c.WARNING: ("warn", "!", _("Warning")),
    c.RESTRICTED: ("warn", "!", _("Restricted")),
    c.NOT_QUALIFIED: ("bad", "✕", _("Not qualified")),
    c.DISQUALIFIED: ("bad", "✕", _("Disqualified")),
}


@register.inclusion_tag("partials/_status.html")
def status_badge(status, *, small=False):
    tone, symbol, label = STATUS_STYLE.get(status, ("none", "–", _("Not evaluated")))
    return {"tone": tone, "symbol": symbol, "label": label, "status": status or "", "small": small}


@register.filter
def status_label(status) -> str:
    return STATUS_STYLE.get(status, (None, None, _("Not evaluated")))[2]


@register.filter
def status_tone(status) -> str:
    return STATUS_STYLE.get(status, ("none",))[0]
