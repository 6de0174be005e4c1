"""Every status and reason code reads well in English and in Simplified Chinese."""

import ast
import re
from decimal import Decimal
from fractions import Fraction
from pathlib import Path

import pytest
from django.conf import settings
from django.utils import translation

from shops import reasons
from shops.rules import codes as c
from shops.rules.eligibility import Thresholds

PO_PATH = Path(settings.BASE_DIR) / "locale" / "zh_Hans" / "LC_MESSAGES" / "django.po"
ALL_STATUSES = tuple(dict.fromkeys(c.SHOP_STATUSES + c.PRODUCT_STATUSES + c.CREATOR_STATUSES))
PLACEHOLDER = re.compile(r"%\((\w+)\)s")
CJK = re.compile(r"[\u4e00-\u9fff]")


def texts(kind: str, key: str) -> dict[str, str]:
    render = {
        "message": reasons.reason_message,
        "next step": reasons.reason_next_step,
        "status label": reasons.status_label,
        "status message": reasons.status_message,
        "status next step": reasons.status_next_step,
    }[kind]
    rendered = {}
    for language in ("en", "zh-hans"):
        with translation.override(language):
            rendered[language] = render(key)
    return rendered


CASES = [pytest.param(kind, code, id=f"{code}-{kind}") for code in c.ALL_CODES for kind in ("message", "next step")]
CASES += [
    pytest.param(kind, status, id=f"{status}-{kind}")
    for status in ALL_STATUSES
    for kind in ("status label", "status message", "status next step")
]


@pytest.mark.parametrize(("kind", "key"), CASES)
def test_every_code_and_status_has_an_english_text_and_a_chinese_translation(kind: str, key: str):
    rendered = texts(kind, key)
    assert rendered["en"].strip()
    assert not CJK.search(rendered["en"])
    assert rendered["zh-hans"] != rendered["en"]
    assert CJK.search(rendered["zh-hans"])
    # Every placeholder was filled in both languages.
    assert "%(" not in rendered["en"]
    assert "%(" not in rendered["zh-hans"]


def test_the_messages_cover_exactly_the_codes_and_statuses_of_the_rules():
    from affiliate import rules as affiliate_rules

    operation_codes = {
        v for k, v in vars(affiliate_rules).items() if k.isupper() and isinstance(v, str) and v.isupper()
    }
    assert set(reasons.OPERATION_MESSAGES) == operation_codes
    assert set(reasons.REASON_MESSAGES) == set(c.ALL_CODES) | operation_codes
    assert set(reasons.STATUS_LABELS) == set(ALL_STATUSES)
    assert set(reasons.STATUS_MESSAGES) == set(ALL_STATUSES)


def test_an_unknown_code_is_refused_rather_than_shown_blank():
    with pytest.raises(KeyError):
        reasons.reason_message("NOT_A_CODE")
    with pytest.raises(KeyError):
        reasons.status_label("MAYBE")


@pytest.mark.parametrize(
    ("code", "words"),
    [
        pytest.param(c.SPS_BELOW_ELIGIBLE, ["店铺体验分", "联盟营销", "现有合作不会受到影响"], id="sps-restricted"),
        pytest.param(c.SPS_BELOW_DISQUALIFY, ["店铺体验分", "取消联盟营销资格"], id="sps-disqualified"),
        pytest.param(c.ACCOUNT_SUSPENDED, ["永久取消联盟营销资格"], id="suspended"),
        pytest.param(c.IP_VIOLATION, ["知识产权"], id="ip"),
        pytest.param(c.FAIR_TRADE_VIOLATION, ["公平交易"], id="fair-trade"),
        pytest.param(c.REVIEW_VIOLATION, ["买家评价"], id="review"),
        pytest.param(c.NRR_ABOVE_WARNING, ["差评率", "叶子类目"], id="nrr-warning"),
        pytest.param(c.NRR_ABOVE_DISQUALIFY, ["差评率", "叶子类目", "取消联盟营销资格"], id="nrr-disqualified"),
        pytest.param(c.COUNTERFEIT_FLAG, ["非正品或非原创"], id="counterfeit"),
        pytest.param(c.LISTING_DELISTED, ["下架"], id="delisted"),
        pytest.param(c.LISTING_FROZEN, ["冻结"], id="frozen"),
        pytest.param(c.APPEAL_FAILED, ["申诉"], id="appeal-failed"),
        pytest.param(c.PPS_BELOW_MIN, ["达人带货分"], id="pps-low"),
        pytest.param(c.PPS_MISSING, ["达人带货分"], id="pps-missing"),
        pytest.param(c.CHR_BELOW_MIN, ["达人健康分"], id="chr-low"),
        pytest.param(c.CHR_MISSING, ["达人健康分"], id="chr-missing"),
    ],
)
def test_chinese_messages_use_the_vocabulary_of_the_source_rules(code: str, words: list[str]):
    with translation.override("zh-hans"):
        message = reasons.reason_message(code)
    for word in words:
        assert word in message


@pytest.mark.parametrize(
    ("code", "english", "chinese"),
    [
        pytest.param(c.SPS_BELOW_ELIGIBLE, "below 3.5", "低于3.5分", id="sps-eligible"),
        pytest.param(c.SPS_BELOW_DISQUALIFY, "below 3", "低于3分", id="sps-disqualify"),
        pytest.param(c.NRR_ABOVE_WARNING, "at least 2 times", "2倍或以上", id="nrr-warning"),
        pytest.param(c.NRR_ABOVE_DISQUALIFY, "more than 3 times", "3倍以上", id="nrr-disqualify"),
        pytest.param(c.NRR_ABOVE_WARNING, "last 30 days", "近30天", id="nrr-window"),
        pytest.param(c.PPS_BELOW_MIN, "below 3.5", "低于3.5分", id="pps"),
        pytest.param(c.CHR_BELOW_MIN, "below 150", "低于150分", id="chr"),
    ],
)
def test_without_params_messages_show_the_default_thresholds_of_the_spec(code: str, english: str, chinese: str):
    rendered = texts("message", code)
    assert english in rendered["en"]
    assert chinese in rendered["zh-hans"]


def test_messages_show_the_thresholds_of_the_rule_set_in_force():
    thresholds = Thresholds(
        version=7,
        sps_eligible=Decimal("3.8000"),
        nrr_warning_multiple=Fraction(5, 2),
        chr_min=Decimal("200.0000"),
    )
    params = reasons.threshold_params(thresholds)
    for language, sps, nrr, chr_ in (
        ("en", "below 3.8", "2.5 times", "below 200"),
        ("zh-hans", "3.8分", "2.5倍", "200分"),
    ):
        with translation.override(language):
            assert sps in reasons.reason_message(c.SPS_BELOW_ELIGIBLE, params)
            assert "3.5" not in reasons.reason_message(c.SPS_BELOW_ELIGIBLE, params)
            assert nrr in reasons.reason_message(c.NRR_ABOVE_WARNING, params)
            assert nrr in reasons.reason_next_step(c.NRR_ABOVE_DISQUALIFY, params)
            assert chr_ in reasons.reason_message(c.CHR_BELOW_MIN, params)


def test_a_partial_params_dict_keeps_the_other_defaults():
    params = {"sps_eligible": Decimal("4")}
    assert "below 3: the shop is disqualified" in reasons.reason_message(c.SPS_BELOW_DISQUALIFY, params)
    assert "Score to 4 or above" in reasons.reason_next_step(c.SPS_BELOW_DISQUALIFY, params)


def test_threshold_params_print_numbers_without_trailing_zeros_or_exponents():
    params = reasons.threshold_params(
        Thresholds(version=1, sps_eligible=Decimal("3.5000"), chr_min=Decimal("150.0000"), pps_min=Decimal("1E+1"))
    )
    assert params["sps_eligible"] == "3.5"
    assert params["chr_min"] == "150"
    assert params["pps_min"] == "10"
    assert params["nrr_warning_multiple"] == "2"
    assert (
        reasons.threshold_params(Thresholds(version=1, nrr_warning_multiple=Fraction(5, 2)))["nrr_warning_multiple"]
        == "2.5"
    )


# The catalogue itself ---------------------------------------------------------------------


def parse_po(path: Path) -> list[dict[str, object]]:
    """Entries of a .po file: flags, msgctxt, msgid and every msgstr (plural forms included)."""
    entries: list[dict[str, object]] = []
    entry: dict[str, object] | None = None
    field = None
    for line in path.read_text(encoding="utf-8").splitlines():
        if not line.strip():
            continue
        keyword = re.match(r"^(msgctxt|msgid_plural|msgid|msgstr(?:\[\d+\])?) ", line)
        if entry is None or (field and field.startswith("msgstr") and (line.startswith("#") or keyword)):
            entry = {"flags": set(), "msgctxt": None, "msgstr": {}}
            entries.append(entry)
            field = None
        if line.startswith("#,"):
            entry["flags"] |= {flag.strip() for flag in line[2:].split(",")}
        elif line.startswith("#"):
            continue
        elif keyword:
            field = keyword.group(1)
            value = ast.literal_eval(line[len(field) + 1 :])
            if field.startswith("msgstr"):
                entry["msgstr"][field] = value
            else:
                entry[field] = value
        else:
            value = ast.literal_eval(line)
            if field.startswith("msgstr"):
                entry["msgstr"][field] += value
            else:
                entry[field] += value
    return entries


@pytest.fixture(scope="module")
def po_entries() -> list[dict[str, object]]:
    entries = parse_po(PO_PATH)
    assert entries[0]["msgid"] == "", "the .po starts with its header"
    return entries[1:]


def test_the_po_catalogue_has_every_message_translated(po_entries):
    assert len(po_entries) >= len(c.ALL_CODES) * 2
    untranslated = [entry["msgid"] for entry in po_entries if not all(entry["msgstr"].values())]
    fuzzy = [entry["msgid"] for entry in po_entries if "fuzzy" in entry["flags"]]
    assert untranslated == []
    assert fuzzy == []


def test_the_po_translations_keep_every_placeholder(po_entries):
    for entry in po_entries:
        for translated in entry["msgstr"].values():
            assert set(PLACEHOLDER.findall(translated)) == set(PLACEHOLDER.findall(entry["msgid"])), entry["msgid"]


def test_the_compiled_catalogue_matches_the_po_file(po_entries):
    """A .po edited without running compilemessages would leave the product untranslated."""
    with translation.override("zh-hans"):
        for entry in po_entries:
            if "msgid_plural" in entry:
                continue
            if entry["msgctxt"] is not None:
                served = translation.pgettext(entry["msgctxt"], entry["msgid"])
            else:
                served = translation.gettext(entry["msgid"])
            assert served == entry["msgstr"]["msgstr"], entry["msgid"]


def test_the_po_catalogue_holds_model_labels_and_language_names(po_entries):
    msgids = {entry["msgid"] for entry in po_entries}
    assert {"Seller member", "Ops admin", "seller id", "creator id", "Simplified Chinese", "Terminated"} <= msgids
