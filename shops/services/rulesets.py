"""Rule sets: versioned thresholds per market, candidates for dry runs, and the editor's drafts.

Read side: ``ruleset_candidate`` (the ``evaluate --dry-run --rules FILE`` parser) puts candidate
thresholds over the rules in force. Write side, for the rule-set page:

- A **draft** is a proposed version: market, effective date, every threshold and a note. It is not
  a ``RuleSet`` row, because a row is in force from its effective date as soon as it exists and
  nothing may change before activation. Drafts and their shadow runs live in a cache with an
  expiry (``DRAFT_TTL``): Redis at ``settings.REDIS_URL`` when set, which the web processes and
  the Celery workers share, else Django's default cache (local runs, tasks in-process). So no
  table and no migration, and a forgotten draft goes away by itself.
- A **shadow run** evaluates every entity with the draft's thresholds through
  ``evaluation_dry_run`` (the path of ``evaluate --dry-run --rules``), writes no verdict, and
  keeps the counts per transition and the first ``SHADOW_LISTED`` changed entities of each.
- **Activation** (ops admins, after a finished shadow run) creates the ``RuleSet`` row, in force
  from its effective date, and its audit entry in one transaction.
"""

import datetime as dt
import functools
import json
import logging
import re
import time
import uuid
from collections.abc import Mapping
from decimal import Decimal, InvalidOperation
from pathlib import Path

from django.conf import settings
from django.core.cache import BaseCache, caches
from django.core.exceptions import NON_FIELD_ERRORS, PermissionDenied, ValidationError
from django.db import IntegrityError, transaction
from django.db.models import Max
from django.utils import timezone
from django.utils.translation import gettext as _

from shops.models import Entity, RuleSet, User
from shops.rules import Thresholds
from shops.selectors import THRESHOLD_FIELDS, rulesets_in_force, thresholds_for_market, thresholds_from_values
from shops.services.access import require_ops
from shops.services.audit import audit_record

logger = logging.getLogger(__name__)

INTEGER_FIELDS = {"sps_min_orders", "sps_window_days", "nrr_window_days"}
CANDIDATE_VERSION = 0


def _parse_threshold(name: str, raw) -> Decimal | int:
    try:
        value = Decimal(str(raw).strip())
    except InvalidOperation:
        raise ValidationError(_("%(field)s: %(value)s is not a number") % {"field": name, "value": repr(raw)}) from None
    if not value.is_finite() or value < 0:
        raise ValidationError(
            _("%(field)s: %(value)s must be a finite number >= 0") % {"field": name, "value": repr(raw)}
        )
    if name in INTEGER_FIELDS:
        if value != value.to_integral_value():
            message = _("%(field)s: %(value)s must be a whole number")
            raise ValidationError(message % {"field": name, "value": repr(raw)})
        return int(value)
    return value


def ruleset_values(data: Mapping, *, base: Mapping) -> dict:
    """``base`` with each threshold key of ``data`` parsed, checked for consistency.

    Every problem is reported at once, by field: a ``ValidationError`` with a dict whose messages
    start with the field's key (``exc.messages`` joins them for the command line).
    """
    errors: dict[str, list[str]] = {}
    values = dict(base)
    for name in THRESHOLD_FIELDS:
        if name in data:
            try:
                values[name] = _parse_threshold(name, data[name])
            except ValidationError as exc:
                errors[name] = exc.messages
    if not errors:
        if {"sps_disqualify", "sps_eligible"} <= values.keys() and values["sps_disqualify"] > values["sps_eligible"]:
            errors["sps_disqualify"] = [_("sps_disqualify must not be above sps_eligible")]
        multiples = {"nrr_warning_multiple", "nrr_disqualify_multiple"}
        if multiples <= values.keys() and values["nrr_warning_multiple"] > values["nrr_disqualify_multiple"]:
            errors["nrr_warning_multiple"] = [_("nrr_warning_multiple must not be above nrr_disqualify_multiple")]
    if errors:
        raise ValidationError(errors)
    return values


def ruleset_candidate(*, as_of: dt.date, data: dict) -> dict[str, Thresholds]:
    """The rules in force on ``as_of`` with one market's (or the default's) thresholds replaced.

    ``data`` holds any threshold keys of the spec and optionally ``market`` ('' or absent for
    the default). Unknown keys and inconsistent thresholds are refused.
    """
    if not isinstance(data, dict):
        raise ValidationError(_("A rule set must be a JSON object of threshold keys"))
    unknown = sorted(set(data) - set(THRESHOLD_FIELDS) - {"market", "note"})
    if unknown:
        raise ValidationError(
            _("Unknown rule-set keys: %(unknown)s (known: %(known)s, market)")
            % {"unknown": ", ".join(unknown), "known": ", ".join(THRESHOLD_FIELDS)}
        )
    market = str(data.get("market") or "").upper()
    rules = rulesets_in_force(as_of=as_of)
    values = ruleset_values(data, base=thresholds_for_market(rules, market)._asdict())
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


# Drafts, shadow runs and activation --------------------------------------------------------------

DRAFT_TTL = dt.timedelta(days=7)
DRAFTS_KEPT = 30
# Changed entities kept per (entity type, transition); the counts are always complete.
SHADOW_LISTED = 1000
SHADOW_PAGE_SIZE = 50
# A shadow run that has reported nothing for this long lost its worker and may be started again.
SHADOW_STALE_AFTER = dt.timedelta(minutes=30)
SHADOW_PROGRESS_SECONDS = 1.0
MARKET_PATTERN = re.compile(r"[A-Z]{2,8}")
_PREFIX = "ruleset-draft:"
_INDEX_KEY = _PREFIX + "index"


class ShadowState:
    QUEUED, RUNNING, SUCCEEDED, FAILED = "queued", "running", "succeeded", "failed"
    ACTIVE = (QUEUED, RUNNING)


class DraftNotFound(LookupError):
    """No such draft, or it expired."""


def ruleset_edit_allowed(*, user: User) -> bool:
    """Only ops admins create and activate rule-set versions; every ops user may shadow-run."""
    return bool(user.is_authenticated and user.is_active and user.role == User.Role.OPS_ADMIN)


def _require_admin(user: User) -> None:
    if not ruleset_edit_allowed(user=user):
        raise PermissionDenied(_("Only ops admins can edit and activate rule sets."))


class DraftsUnavailable(ValidationError):
    """The store of drafts (Redis) does not answer: drafts can be neither read nor written now."""

    def __init__(self):
        message = _("Rule-set drafts are unavailable: their store (Redis) does not answer. Try again shortly.")
        super().__init__({NON_FIELD_ERRORS: [message]})


class _AnsweringStore:
    """The drafts' cache, failing in under a second with ``DraftsUnavailable`` when Redis is down."""

    def __init__(self, cache: BaseCache):
        self._cache = cache

    def __getattr__(self, name):
        call = getattr(self._cache, name)

        def guarded(*args, **kwargs):
            from redis.exceptions import RedisError

            try:
                return call(*args, **kwargs)
            except RedisError as exc:
                raise DraftsUnavailable from exc

        return guarded


@functools.cache
def _redis_store(url: str) -> _AnsweringStore:
    from django.core.cache.backends.redis import RedisCache

    options = {"socket_connect_timeout": 0.5, "socket_timeout": 1}
    cache = RedisCache(url, {"KEY_PREFIX": "cp", "TIMEOUT": int(DRAFT_TTL.total_seconds()), "OPTIONS": options})
    return _AnsweringStore(cache)


def ruleset_draft_store() -> BaseCache | _AnsweringStore:
    """Where drafts live: Redis shared by web and workers, or the default cache without Redis."""
    url = getattr(settings, "REDIS_URL", None)
    return _redis_store(url) if url else caches["default"]


def _ttl() -> int:
    return int(DRAFT_TTL.total_seconds())


def _draft_key(draft_id: str) -> str:
    return f"{_PREFIX}{draft_id}"


def _shadow_key(draft_id: str) -> str:
    return f"{_PREFIX}{draft_id}:shadow"


def _page_key(draft_id: str, token: str, entity: str, transition: str, page: int) -> str:
    return f"{_PREFIX}{draft_id}:{token}:{entity}:{transition}:{page}"


def _now() -> str:
    return timezone.now().isoformat()


def _text(value: Decimal | int) -> str:
    return format(value.normalize(), "f") if isinstance(value, Decimal) else str(value)


def _fits_column(name: str, value: Decimal | int) -> str | None:
    """The RuleSet column must hold the value exactly: what was shadow-run is what is activated."""
    field = RuleSet._meta.get_field(name)
    if isinstance(value, int):
        too_large = value > 2_147_483_647
        return _("%(field)s: %(value)s is too large") % {"field": name, "value": value} if too_large else None
    _sign, digits, exponent = value.normalize().as_tuple()
    places = max(0, -exponent)
    whole = max(0, len(digits) + exponent)
    if places > field.decimal_places:
        return _("%(field)s: at most %(places)s decimal places") % {"field": name, "places": field.decimal_places}
    if whole > field.max_digits - field.decimal_places:
        limit = field.max_digits - field.decimal_places
        return _("%(field)s: at most %(digits)s digits before the decimal point") % {"field": name, "digits": limit}
    return None


def ruleset_draft_create(*, user: User, data: Mapping[str, object], today: dt.date | None = None) -> dict:
    """Check a proposed version and keep it as a draft; nothing is written to the database.

    ``data``: ``market`` ('' for the default), ``effective_from`` (a date, today or later), every
    threshold key and a ``note`` saying why. Raises ``ValidationError`` with errors by field.
    """
    _require_admin(user)
    today = today or timezone.localdate()
    errors: dict[str, list[str]] = {}
    market = str(data.get("market") or "").strip().upper()
    if market and not MARKET_PATTERN.fullmatch(market):
        errors["market"] = [_("market: use the market's code, 2 to 8 letters (e.g. US), or leave it empty")]
    effective_from = data.get("effective_from")
    if isinstance(effective_from, str):
        try:
            effective_from = dt.date.fromisoformat(effective_from.strip())
        except ValueError:
            effective_from = None
    if not isinstance(effective_from, dt.date):
        errors["effective_from"] = [_("effective_from: give a date as YYYY-MM-DD")]
    elif effective_from < today:
        errors["effective_from"] = [_("effective_from: the date must be today or later; past verdicts stay")]
    elif "market" not in errors and RuleSet.objects.filter(market=market, effective_from=effective_from).exists():
        errors["effective_from"] = [_("effective_from: this market already has a version from that day")]
    note = str(data.get("note") or "").strip()
    if not note:
        errors["note"] = [_("note: say why the thresholds change (it goes into the audit log)")]
    missing = [name for name in THRESHOLD_FIELDS if data.get(name) is None or str(data.get(name)).strip() == ""]
    for name in missing:
        errors[name] = [_("%(field)s: required") % {"field": name}]
    given = {name: data[name] for name in THRESHOLD_FIELDS if name not in missing}
    values: dict = {}
    try:
        values = ruleset_values(given, base={})
    except ValidationError as exc:
        for name, messages in exc.message_dict.items():
            errors.setdefault(name, []).extend(messages)
    # Each value that parsed must also fit its column, even when another one is wrong.
    for name, raw in given.items():
        problem = None if name in errors else _fits_column(name, _parse_threshold(name, raw))
        if problem:
            errors[name] = [problem]
    if errors:
        raise ValidationError(errors)

    base = thresholds_for_market(rulesets_in_force(as_of=today), market)
    draft = {
        "id": uuid.uuid4().hex,
        "market": market,
        "effective_from": effective_from.isoformat(),
        "values": {name: _text(values[name]) for name in THRESHOLD_FIELDS},
        "base_version": base.version,
        "base_values": {name: _text_any(getattr(base, name)) for name in THRESHOLD_FIELDS},
        "note": note,
        "created_by": user.email,
        "created_by_id": user.pk,
        "created_at": _now(),
        "activated": None,
    }
    store = ruleset_draft_store()
    store.set(_draft_key(draft["id"]), draft, _ttl())
    _index_add(store, draft["id"])
    logger.info("Rule-set draft %s for %r from %s by %s", draft["id"], market, effective_from, user)
    return draft


def _text_any(value) -> str:
    """A threshold as text; the NRR multiples are fractions with a decimal form."""
    if isinstance(value, Decimal | int):
        return _text(value)
    return _text(Decimal(value.numerator) / value.denominator)


def _index_add(store: BaseCache, draft_id: str) -> None:
    ids = [draft_id, *[i for i in store.get(_INDEX_KEY, []) if i != draft_id]]
    for old in ids[DRAFTS_KEPT:]:
        store.delete_many([_draft_key(old), _shadow_key(old)])
    store.set(_INDEX_KEY, ids[:DRAFTS_KEPT], _ttl())


def ruleset_draft_get(draft_id: str) -> dict | None:
    """The draft with its shadow run (``draft["shadow"]``, None before the first), or None."""
    store = ruleset_draft_store()
    found = store.get_many([_draft_key(draft_id), _shadow_key(draft_id)])
    draft = found.get(_draft_key(draft_id))
    if draft is None:
        return None
    return draft | {"shadow": found.get(_shadow_key(draft_id))}


def ruleset_drafts() -> list[dict]:
    """The drafts that have not expired, newest first, each with its shadow run."""
    store = ruleset_draft_store()
    ids = store.get(_INDEX_KEY, [])
    if not ids:
        return []
    found = store.get_many([key for i in ids for key in (_draft_key(i), _shadow_key(i))])
    return [found[_draft_key(i)] | {"shadow": found.get(_shadow_key(i))} for i in ids if _draft_key(i) in found]


def _shadow_is_stale(shadow: dict) -> bool:
    moved = dt.datetime.fromisoformat(shadow.get("updated_at") or shadow["queued_at"])
    return timezone.now() - moved > SHADOW_STALE_AFTER


def ruleset_shadow_start(*, user: User, draft_id: str, as_of: dt.date | None = None) -> dict:
    """Queue a shadow run of the draft (any ops user); with tasks in-process it has run on return."""
    require_ops(user, _("run a shadow run"))
    draft = ruleset_draft_get(draft_id)
    if draft is None:
        raise DraftNotFound(draft_id)
    if draft["activated"]:
        raise ValidationError(_("This draft has been activated; make a new draft to try other thresholds."))
    shadow = draft["shadow"]
    if shadow and shadow["state"] in ShadowState.ACTIVE and not _shadow_is_stale(shadow):
        raise ValidationError(_("A shadow run of this draft is already under way."))
    token = uuid.uuid4().hex
    shadow = {
        "token": token,
        "state": ShadowState.QUEUED,
        "as_of": (as_of or timezone.localdate()).isoformat(),
        "requested_by": user.email,
        "queued_at": _now(),
        "updated_at": _now(),
        "started_at": None,
        "finished_at": None,
        "totals": {},
        "progress": {},
        "evaluated": {},
        "transitions": {},
        "listed": {},
        "error": "",
    }
    ruleset_draft_store().set(_shadow_key(draft_id), shadow, _ttl())
    from shops.tasks import ruleset_shadow_task

    try:
        ruleset_shadow_task.delay(draft_id, token)
    except Exception as exc:  # the broker is down: say so on the page instead of waiting for ever
        logger.exception("Shadow run of rule-set draft %s could not be queued", draft_id)
        shadow |= {"state": ShadowState.FAILED, "error": f"Not queued ({type(exc).__name__}: {exc})"[:1000]}
        _shadow_save(draft_id, shadow)
    return ruleset_draft_get(draft_id) or draft


def _shadow_save(draft_id: str, shadow: dict) -> bool:
    """Store the run's state unless a newer shadow run of the draft replaced it."""
    store = ruleset_draft_store()
    current = store.get(_shadow_key(draft_id))
    if current is None or current["token"] != shadow["token"]:
        return False
    shadow["updated_at"] = _now()
    store.set(_shadow_key(draft_id), shadow, _ttl())
    return True


def ruleset_shadow_run(*, draft_id: str, token: str) -> None:
    """The shadow run itself (the Celery task's body): a dry run with the draft's thresholds.

    Nothing is written to the database; the outcome goes to the draft store, also when the
    run fails, so that the page never waits for ever.
    """
    from shops.models import Product, Shop
    from shops.services.evaluation import evaluation_dry_run

    draft = ruleset_draft_get(draft_id)
    shadow = draft["shadow"] if draft else None
    if shadow is None or shadow["token"] != token or shadow["state"] not in ShadowState.ACTIVE:
        return  # expired, replaced by a newer run, or a re-delivered task of a finished run
    from affiliate.models import Creator

    models = {Entity.SHOP: Shop, Entity.PRODUCT: Product, Entity.CREATOR: Creator}
    shadow |= {
        "state": ShadowState.RUNNING,
        "started_at": _now(),
        "totals": {str(entity): model.objects.count() for entity, model in models.items()},
        "progress": {str(entity): 0 for entity in models},
    }
    if not _shadow_save(draft_id, shadow):
        return
    last_write = time.monotonic()

    def progress(entity: str, evaluated: int) -> None:
        nonlocal last_write
        shadow["progress"][str(entity)] = evaluated
        if time.monotonic() - last_write >= SHADOW_PROGRESS_SECONDS:
            last_write = time.monotonic()
            _shadow_save(draft_id, shadow)

    as_of = dt.date.fromisoformat(shadow["as_of"])
    try:
        rules = ruleset_candidate(as_of=as_of, data={**draft["values"], "market": draft["market"]})
        report = evaluation_dry_run(as_of=as_of, rules=rules, examples=SHADOW_LISTED, progress=progress)
    except Exception as exc:
        logger.exception("Shadow run of rule-set draft %s failed", draft_id)
        shadow |= {"state": ShadowState.FAILED, "error": f"{type(exc).__name__}: {exc}"[:1000], "finished_at": _now()}
        _shadow_save(draft_id, shadow)
        return

    store = ruleset_draft_store()
    pages: dict[str, list] = {}
    listed: dict[str, dict[str, int]] = {}
    for (entity, transition), changes in report.examples.items():
        rows = [[ch.key, ch.old_status, ch.new_status, ch.old_reasons, list(ch.new_reasons)] for ch in changes]
        listed.setdefault(str(entity), {})[transition] = len(rows)
        for start in range(0, len(rows), SHADOW_PAGE_SIZE):
            key = _page_key(draft_id, token, entity, transition, start // SHADOW_PAGE_SIZE + 1)
            pages[key] = rows[start : start + SHADOW_PAGE_SIZE]
    store.set_many(pages, _ttl())
    shadow |= {
        "state": ShadowState.SUCCEEDED,
        "finished_at": _now(),
        "progress": {str(entity): report.evaluated.get(entity, 0) for entity in models},
        "evaluated": {str(entity): report.evaluated.get(entity, 0) for entity in models},
        "transitions": {str(entity): dict(counts) for entity, counts in report.transitions.items() if counts},
        "listed": listed,
    }
    _shadow_save(draft_id, shadow)


def ruleset_shadow_changes(*, draft: dict, entity: str, transition: str, page: int) -> list[dict]:
    """One page of the changed entities of one transition, in id order."""
    shadow = draft.get("shadow")
    if not shadow or shadow["state"] != ShadowState.SUCCEEDED:
        return []
    rows = ruleset_draft_store().get(_page_key(draft["id"], shadow["token"], entity, transition, page)) or []
    return [
        {"key": key, "old_status": old, "new_status": new, "old_reasons": old_reasons, "new_reasons": new_reasons}
        for key, old, new, old_reasons, new_reasons in rows
    ]


def ruleset_activate(*, user: User, draft_id: str, today: dt.date | None = None) -> RuleSet:
    """Make the draft the version in force from its effective date (ops admins), audited.

    Only a draft whose shadow run finished can be activated, so nobody activates thresholds
    without having seen what they change.
    """
    _require_admin(user)
    today = today or timezone.localdate()
    draft = ruleset_draft_get(draft_id)
    if draft is None:
        raise DraftNotFound(draft_id)
    if draft["activated"]:
        raise ValidationError(_("This draft is already active as version %(version)s.") % draft["activated"])
    shadow = draft["shadow"]
    if not shadow or shadow["state"] != ShadowState.SUCCEEDED:
        raise ValidationError(_("Run the shadow run to the end first: see what would change before activating."))
    effective_from = dt.date.fromisoformat(draft["effective_from"])
    if effective_from < today:
        raise ValidationError(_("The draft's effective date has passed; make a new draft with a date from today."))
    values = ruleset_values(draft["values"], base={})
    try:
        with transaction.atomic():
            version = (RuleSet.objects.aggregate(top=Max("version"))["top"] or 0) + 1
            ruleset = RuleSet.objects.create(
                version=version,
                market=draft["market"],
                effective_from=effective_from,
                note=draft["note"],
                created_by=user,
                **values,
            )
            audit_record(
                actor=user,
                action="ruleset.activate",
                object_type="ruleset",
                object_id=str(version),
                reason=draft["note"],
                details={
                    "ruleset_id": ruleset.pk,
                    "market": draft["market"],
                    "effective_from": draft["effective_from"],
                    "thresholds": draft["values"],
                    "previous_version": draft["base_version"],
                    "previous_thresholds": draft["base_values"],
                    "drafted_by": draft["created_by"],
                    "shadow_run": {
                        "as_of": shadow["as_of"],
                        "evaluated": shadow["evaluated"],
                        "transitions": shadow["transitions"],
                    },
                },
            )
    except IntegrityError:
        raise ValidationError(
            _("Another version for this market and day was activated meanwhile; reload the rule sets and try again.")
        ) from None
    store = ruleset_draft_store()
    draft.pop("shadow", None)
    draft["activated"] = {"version": version, "pk": ruleset.pk, "by": user.email, "at": _now()}
    store.set(_draft_key(draft_id), draft, _ttl())
    logger.info("Rule set v%s for %r from %s activated by %s", version, ruleset.market, effective_from, user)
    return ruleset
