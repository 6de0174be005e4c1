"""Rule sets: versioned thresholds per market, and candidates for dry runs."""

import datetime as dt
import json
from decimal import Decimal, InvalidOperation
from pathlib import Path

from django.core.exceptions import ValidationError

from shops.rules import Thresholds
from shops.selectors import THRESHOLD_FIELDS, rulesets_in_force, thresholds_for_market, thresholds_from_values

INTEGER_FIELDS = {"sps_min_orders", "sps_window_days", "nrr_window_days"}
CANDIDATE_VERSION = 0


def _parse_threshold(name: str, raw) -> Decimal | int:
    try:
        value = Decimal(str(raw))
    except InvalidOperation:
        raise ValidationError(f"{name}: {raw!r} is not a number") from None
    if not value.is_finite() or value < 0:
        raise ValidationError(f"{name}: {raw!r} must be a finite number >= 0")
    if name in INTEGER_FIELDS:
        if value != value.to_integral_value():
            raise ValidationError(f"{name}: {raw!r} must be a whole number")
        return int(value)
    return value


def ruleset_candidate(*, as_of: dt.date, data: dict) -> dict[str, Thresholds]:
    """The rules in force on ``as_of`` with one market's (or the default's) thresholds replaced.

    ``data`` holds any threshold keys of the spec and optionally ``market`` ('' or absent for
    the default). Unknown keys and inconsistent thresholds are refused.
    """
    if not isinstance(data, dict):
        raise ValidationError("A rule set must be a JSON object of threshold keys")
    unknown = sorted(set(data) - set(THRESHOLD_FIELDS) - {"market", "note"})
    if unknown:
        raise ValidationError(
            f"Unknown rule-set keys: {', '.join(unknown)} (known: {', '.join(THRESHOLD_FIELDS)}, market)"
        )
    market = str(data.get("market") or "").upper()
    rules = rulesets_in_force(as_of=as_of)
    base = thresholds_for_market(rules, market)._asdict()
    values = base | {name: _parse_threshold(name, data[name]) for name in THRESHOLD_FIELDS if name in data}
    if values["sps_disqualify"] > values["sps_eligible"]:
        raise ValidationError("sps_disqualify must not be above sps_eligible")
    if values["nrr_warning_multiple"] > values["nrr_disqualify_multiple"]:
        raise ValidationError("nrr_warning_multiple must not be above nrr_disqualify_multiple")
    candidate = thresholds_from_values(version=CANDIDATE_VERSION, values=values)
    return rules | {market: candidate}


def ruleset_candidate_from_file(*, as_of: dt.date, path: Path) -> dict[str, Thresholds]:
    try:
        data = json.loads(Path(path).read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ValidationError(f"{path}: no such file") from None
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise ValidationError(f"{path}: not valid JSON ({exc})") from None
    return ruleset_candidate(as_of=as_of, data=data)
