import datetime as dt
from decimal import Decimal

import pytest
from django.core.exceptions import PermissionDenied, ValidationError
from django.core.files.uploadedfile import SimpleUploadedFile
from django.utils import timezone
from django.utils.functional import Promise

from shops.appeal_checklists import CHECKLISTS
from shops.models import Appeal, AuditEntry, Notification, Override, SellerMembership, Shop, StatusHistory, User
from shops.rules import codes as c
from shops.selectors import effective_status, overrides_active
from shops.services.appeals import (
    MAX_EVIDENCE_BYTES,
    appeal_approve,
    appeal_checklist,
    appeal_checklist_for,
    appeal_reject,
    appeal_submit,
    appeal_withdraw,
    appeals_queue,
    override_create,
    override_revoke,
    overrides_expire,
)
from shops.services.evaluation import evaluation_run_inline
from shops.services.notification_render import notification_render
from shops.tasks import overrides_expire_task
from tests.factories import make_product, make_shop, make_user

pytestmark = pytest.mark.django_db

DAY = dt.date(2026, 11, 20)
STATEMENT = "Our score dropped because of a carrier strike; the records show every order shipped."
US = dt.timedelta(microseconds=1)
FILE_HEADS = {
    "pdf": b"%PDF-1.7\n",
    "png": b"\x89PNG\r\n\x1a\n",
    "jpg": b"\xff\xd8\xff\xe0",
    "jpeg": b"\xff\xd8\xff\xe0",
    "xlsx": b"PK\x03\x04",
    "csv": b"order,shipped\n",
    "txt": b"notes\n",
}


@pytest.fixture(autouse=True)
def media_root(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path
    return tmp_path


def upload(name="proof.pdf", content=None, size=None):
    extension = name.rsplit(".", 1)[-1].lower()
    content = content if content is not None else FILE_HEADS.get(extension, b"data") + b"content"
    if size is not None:
        content = content + b"0" * (size - len(content))
    return SimpleUploadedFile(name, content)


def evidence_for(*codes, skip=()):
    return [(item.key, upload(f"{item.key}.pdf")) for item in appeal_checklist_for(codes) if item.key not in skip]


def member_of(seller, **kw):
    user = make_user(**kw)
    SellerMembership.objects.create(user=user, seller=seller)
    return user


def verdict_of(entity):
    kind = "shop" if isinstance(entity, Shop) else "product"
    return StatusHistory.objects.filter(entity=kind, entity_id=entity.pk).order_by("-id").first()


def submit(user, entity, *, now=None, evidence=None, statement=STATEMENT):
    kind = "shop" if isinstance(entity, Shop) else "product"
    if evidence is None:
        evidence = evidence_for(*verdict_of(entity).new_reasons)
    return appeal_submit(user=user, entity=kind, entity_id=entity.pk, statement=statement, evidence=evidence, now=now)


@pytest.fixture
def restricted():
    """A restricted shop (SPS_BELOW_ELIGIBLE) after a run, with its latest verdict."""
    shop = make_shop(sps=Decimal("3.2"))
    evaluation_run_inline(as_of=DAY)
    shop.refresh_from_db()
    assert (shop.status, shop.reasons) == (c.RESTRICTED, [c.SPS_BELOW_ELIGIBLE])
    return shop


@pytest.fixture
def owner(restricted):
    return member_of(restricted.seller)


@pytest.fixture
def partner(restricted):
    return member_of(restricted.seller)


@pytest.fixture
def outsider():
    return member_of(make_shop().seller)


@pytest.fixture
def ops():
    return make_user(role=User.Role.OPS)


def notifications(dedupe_key):
    return Notification.objects.filter(dedupe_key=dedupe_key)


def audits(action, object_id):
    return AuditEntry.objects.filter(action=action, object_id=str(object_id))


# Checklists ------------------------------------------------------------------------------------


@pytest.mark.parametrize("code", sorted(set(c.SHOP_CODES + c.PRODUCT_CODES)))
def test_every_shop_and_product_code_has_a_checklist_with_translatable_labels(code):
    items = appeal_checklist(code)
    assert code in CHECKLISTS
    assert all(isinstance(item.label, Promise) and item.key for item in items)


@pytest.mark.parametrize(
    ("code", "keys"),
    [
        (c.SPS_BELOW_ELIGIBLE, ["order_fulfilment_records", "customer_service_logs"]),
        (c.SPS_BELOW_DISQUALIFY, ["order_fulfilment_records", "customer_service_logs"]),
        (c.NRR_ABOVE_WARNING, ["review_export", "product_quality_report", "supplier_certificate"]),
        (c.NRR_ABOVE_DISQUALIFY, ["review_export", "product_quality_report", "supplier_certificate"]),
        (c.IP_VIOLATION, ["ip_rights_proof"]),
        (c.FAIR_TRADE_VIOLATION, ["pricing_promotion_records"]),
        (c.REVIEW_VIOLATION, ["review_solicitation_records"]),
        (c.COUNTERFEIT_FLAG, ["brand_purchase_invoices", "authenticity_certificate"]),
        (c.LISTING_DELISTED, ["listing_correction_proof"]),
        (c.LISTING_FROZEN, ["listing_correction_proof"]),
        (c.APPEAL_FAILED, ["penalty_decision", "new_evidence"]),
        (c.ACCOUNT_SUSPENDED, ["suspension_lift_notice"]),
        (c.SHOP_DISQUALIFIED, []),
        (c.SHOP_UNBOUND, []),
    ],
)
def test_each_reason_code_asks_for_its_own_evidence(code, keys):
    assert [item.key for item in appeal_checklist(code)] == keys


def test_codes_that_share_evidence_ask_for_it_once():
    keys = [item.key for item in appeal_checklist_for([c.LISTING_FROZEN, c.COUNTERFEIT_FLAG, c.LISTING_DELISTED])]
    assert keys == ["listing_correction_proof", "brand_purchase_invoices", "authenticity_certificate"]


def test_creator_codes_have_no_appeal_checklist():
    with pytest.raises(ValueError, match="PPS_BELOW_MIN"):
        appeal_checklist(c.PPS_BELOW_MIN)


# Submitting ------------------------------------------------------------------------------------


def test_a_member_appeals_a_restricted_shop_and_every_member_is_told(restricted, owner, partner, media_root):
    verdict = verdict_of(restricted)
    now = verdict.created_at + dt.timedelta(days=2)

    appeal = submit(owner, restricted, now=now)

    appeal.refresh_from_db()
    assert (appeal.entity, appeal.entity_id, appeal.entity_key) == ("shop", restricted.pk, restricted.key)
    assert (appeal.verdict, appeal.seller, appeal.attempt) == (verdict, restricted.seller, 1)
    assert (appeal.state, appeal.reason_codes, appeal.statement) == ("submitted", [c.SPS_BELOW_ELIGIBLE], STATEMENT)
    assert appeal.submitted_at == now and appeal.due_at == now + dt.timedelta(days=7)
    evidence = list(appeal.evidence.order_by("item"))
    assert [e.item for e in evidence] == ["customer_service_logs", "order_fulfilment_records"]
    assert evidence[0].original_name == "customer_service_logs.pdf" and evidence[0].size == 16
    assert (media_root / evidence[0].file.name).read_bytes().startswith(b"%PDF-")
    sent = notifications(f"appeal:{appeal.pk}:submitted")
    assert sorted(sent.values_list("user_id", flat=True)) == sorted([owner.pk, partner.pk])
    note = sent.first()
    assert (note.kind, note.subject) == ("appeal", f"shop:{restricted.key}")
    assert note.context["event"] == "appeal.submitted" and note.context["reasons"] == [c.SPS_BELOW_ELIGIBLE]
    assert restricted.key in notification_render(note).title
    entry = audits("appeal.submit", appeal.pk).get()
    assert entry.actor == owner and entry.reason == STATEMENT
    assert entry.details["evidence"] == ["order_fulfilment_records", "customer_service_logs"]


def test_the_review_deadline_follows_the_setting(restricted, owner, settings):
    settings.APPEAL_REVIEW_DAYS = 3
    now = verdict_of(restricted).created_at
    assert submit(owner, restricted, now=now).due_at == now + dt.timedelta(days=3)


def test_the_first_appeal_is_allowed_up_to_30_days_after_the_verdict_and_refused_after(restricted, owner):
    deadline = verdict_of(restricted).created_at + dt.timedelta(days=30)
    for late in (deadline + US, deadline + dt.timedelta(days=1)):
        with pytest.raises(ValidationError) as refused:
            submit(owner, restricted, now=late)
        assert refused.value.code == "window_closed"
    assert not Appeal.objects.exists()

    assert submit(owner, restricted, now=deadline).attempt == 1


def rejected_first(shop, owner, ops, *, rejected_after=dt.timedelta(days=5)):
    verdict_time = verdict_of(shop).created_at
    appeal = submit(owner, shop, now=verdict_time + dt.timedelta(days=1))
    return appeal_reject(appeal=appeal, user=ops, reason="Records incomplete", now=verdict_time + rejected_after)


def test_a_second_appeal_is_allowed_up_to_15_days_after_the_rejection_and_refused_after(restricted, owner, ops):
    # Rejected on day 25: the second window (to day 40) outlives the first one (to day 30).
    first = rejected_first(restricted, owner, ops, rejected_after=dt.timedelta(days=25))
    deadline = first.decided_at + dt.timedelta(days=15)
    with pytest.raises(ValidationError) as refused:
        submit(owner, restricted, now=deadline + US)
    assert refused.value.code == "window_closed"

    second = submit(owner, restricted, now=deadline)
    assert (second.attempt, second.verdict_id) == (2, first.verdict_id)


def test_a_third_appeal_is_refused(restricted, owner, ops):
    first = rejected_first(restricted, owner, ops)
    second = submit(owner, restricted, now=first.decided_at + dt.timedelta(days=1))
    appeal_reject(appeal=second, user=ops, reason="Still incomplete", now=first.decided_at + dt.timedelta(days=2))

    with pytest.raises(ValidationError) as refused:
        submit(owner, restricted, now=first.decided_at + dt.timedelta(days=3))
    assert refused.value.code == "appeal_limit"
    assert Appeal.objects.count() == 2


def test_a_second_appeal_needs_the_first_to_be_rejected(restricted, owner):
    now = verdict_of(restricted).created_at
    first = submit(owner, restricted, now=now)
    with pytest.raises(ValidationError) as open_refused:
        submit(owner, restricted, now=now + dt.timedelta(days=1))
    assert open_refused.value.code == "appeal_open"

    appeal_withdraw(appeal=first, user=owner, now=now + dt.timedelta(days=2))
    with pytest.raises(ValidationError) as withdrawn_refused:
        submit(owner, restricted, now=now + dt.timedelta(days=3))
    assert withdrawn_refused.value.code == "second_appeal_needs_rejection"


def test_an_approved_appeal_cannot_be_followed_by_another(restricted, owner, ops):
    now = verdict_of(restricted).created_at
    appeal_approve(appeal=submit(owner, restricted, now=now), user=ops, reason="Carrier strike proven", now=now)
    with pytest.raises(ValidationError) as refused:
        submit(owner, restricted, now=now + dt.timedelta(days=1))
    assert refused.value.code == "already_approved"


def test_only_members_of_the_seller_can_appeal(restricted, outsider, ops):
    for user in (outsider, ops):
        with pytest.raises(PermissionDenied):
            submit(user, restricted)
    assert not Appeal.objects.exists()


def test_an_inactive_member_cannot_appeal(restricted, owner):
    owner.is_active = False
    owner.save()
    with pytest.raises(PermissionDenied):
        submit(owner, restricted)


def test_missing_checklist_evidence_is_refused_naming_each_missing_item():
    product = make_product(counterfeit_flag=True, listing_status="frozen")
    evaluation_run_inline(as_of=DAY)
    owner = member_of(product.shop.seller)
    codes = verdict_of(product).new_reasons
    assert codes == [c.COUNTERFEIT_FLAG, c.LISTING_FROZEN]

    with pytest.raises(ValidationError) as refused:
        submit(
            owner, product, evidence=evidence_for(*codes, skip={"brand_purchase_invoices", "listing_correction_proof"})
        )

    assert refused.value.code == "evidence_missing"
    message = refused.value.messages[0]
    assert "Purchase invoices from the brand or an authorised distributor (brand_purchase_invoices)" in message
    assert "Proof that the listing was corrected (listing_correction_proof)" in message
    assert "authenticity_certificate" not in message
    assert not Appeal.objects.exists()

    appeal = submit(owner, product, evidence=evidence_for(*codes))
    assert (appeal.entity, appeal.reason_codes) == ("product", codes)


def test_evidence_for_an_item_not_on_the_checklist_is_refused(restricted, owner):
    evidence = evidence_for(c.SPS_BELOW_ELIGIBLE) + [("ip_rights_proof", upload())]
    with pytest.raises(ValidationError) as refused:
        submit(owner, restricted, evidence=evidence)
    assert refused.value.code == "evidence_unknown_item"


@pytest.mark.parametrize(
    ("name", "content", "size", "code"),
    [
        ("proof.exe", b"MZ", None, "file_type"),
        ("proof.docx", b"PK\x03\x04", None, "file_type"),
        ("proof", b"%PDF-", None, "file_type"),
        ("proof.pdf", b"\x89PNG\r\n\x1a\nnot a pdf", None, "file_content"),
        ("photo.png", b"%PDF-1.7 not a png", None, "file_content"),
        ("photo.jpg", b"GIF89a", None, "file_content"),
        ("sheet.xlsx", b"plain text", None, "file_content"),
        ("log.txt", b"MZ\x00\x00binary", None, "file_content"),
        ("proof.pdf", b"", None, "file_empty"),
        ("proof.pdf", None, MAX_EVIDENCE_BYTES + 1, "file_too_large"),
    ],
)
def test_a_bad_evidence_file_is_refused(restricted, owner, media_root, name, content, size, code):
    evidence = evidence_for(c.SPS_BELOW_ELIGIBLE, skip={"customer_service_logs"})
    evidence.append(("customer_service_logs", upload(name, content, size)))
    with pytest.raises(ValidationError) as refused:
        submit(owner, restricted, evidence=evidence)
    assert refused.value.code == code
    assert not Appeal.objects.exists()
    assert not any(path.is_file() for path in media_root.rglob("*"))


@pytest.mark.parametrize("extension", ["pdf", "PNG", "jpg", "jpeg", "xlsx", "csv", "txt"])
def test_every_accepted_file_type_passes(restricted, owner, extension):
    evidence = [("order_fulfilment_records", upload(f"orders.{extension}"))]
    evidence.append(("customer_service_logs", upload("logs.pdf", size=MAX_EVIDENCE_BYTES)))
    appeal = submit(owner, restricted, evidence=evidence)
    stored = appeal.evidence.get(item="order_fulfilment_records")
    assert stored.original_name == f"orders.{extension}"
    assert stored.file.name.startswith("appeals/") and stored.file.name.endswith(f".{extension.lower()}")
    assert appeal.evidence.get(item="customer_service_logs").size == MAX_EVIDENCE_BYTES


def test_the_statement_needs_20_characters(restricted, owner):
    with pytest.raises(ValidationError) as refused:
        submit(owner, restricted, statement="   too short, sorry  ")
    assert refused.value.code == "statement_too_short"
    assert submit(owner, restricted, statement="x" * 20).statement == "x" * 20


def test_an_eligible_verdict_cannot_be_appealed():
    shop = make_shop()
    evaluation_run_inline(as_of=DAY)
    with pytest.raises(ValidationError) as refused:
        submit(member_of(shop.seller), shop, evidence=[])
    assert refused.value.code == "not_appealable"


def test_an_entity_without_a_verdict_cannot_be_appealed():
    shop = make_shop(sps=Decimal("3.2"))
    with pytest.raises(ValidationError) as refused:
        appeal_submit(user=member_of(shop.seller), entity="shop", entity_id=shop.pk, statement=STATEMENT, evidence=[])
    assert refused.value.code == "no_verdict"


def test_a_product_of_a_disqualified_shop_is_appealed_through_its_shop():
    product = make_product(shop=make_shop(sps=Decimal("2.5")), counterfeit_flag=True)
    evaluation_run_inline(as_of=DAY)
    owner = member_of(product.shop.seller)
    with pytest.raises(ValidationError) as refused:
        submit(owner, product)
    assert refused.value.code == "not_appealable"
    assert "appeal the shop" in refused.value.messages[0]
    assert submit(owner, product.shop).reason_codes == [c.SPS_BELOW_DISQUALIFY]


def test_an_appeal_is_against_the_latest_verdict(restricted, owner):
    Shop.objects.filter(pk=restricted.pk).update(sps=Decimal("2.5"))
    evaluation_run_inline(as_of=DAY + dt.timedelta(days=1))
    appeal = submit(owner, restricted)
    assert appeal.verdict == verdict_of(restricted)
    assert appeal.reason_codes == [c.SPS_BELOW_DISQUALIFY]


# The ops queue ---------------------------------------------------------------------------------


def test_the_queue_lists_open_appeals_by_deadline_in_two_queries(django_assert_num_queries, settings, ops):
    shops = [make_shop(sps=Decimal("3.2")) for _ in range(3)]
    product = make_product(shop=shops[0], listing_status="delisted")
    evaluation_run_inline(as_of=DAY)
    start = verdict_of(shops[0]).created_at
    owners = [member_of(shop.seller) for shop in shops]
    late = submit(owners[0], shops[0], now=start + dt.timedelta(days=3))
    early = submit(owners[1], shops[1], now=start + dt.timedelta(days=1))
    settings.APPEAL_REVIEW_DAYS = 9  # submitted first, due last
    last = submit(owners[2], shops[2], now=start)
    settings.APPEAL_REVIEW_DAYS = 7
    same_deadline = submit(owners[0], product, now=start + dt.timedelta(days=3))
    closed = appeal_reject(appeal=early, user=ops, reason="Not convincing")
    assert closed.state == "rejected"

    with django_assert_num_queries(2):
        queue = appeals_queue()
        seen = [
            (q.appeal.pk, q.appeal.seller.key, q.appeal.verdict.new_status, q.appeal.submitted_by.email) for q in queue
        ]
        evidence = [sorted(e.item for e in q.appeal.evidence.all()) for q in queue]

    # Due: last on day 9, late and same_deadline on day 10 (by id); early was decided.
    assert [pk for pk, *_ in seen] == [last.pk, late.pk, same_deadline.pk]
    assert [item.key for item in queue[0].checklist] == ["order_fulfilment_records", "customer_service_logs"]
    assert [item.key for item in queue[2].checklist] == ["listing_correction_proof"]
    assert evidence == [["customer_service_logs", "order_fulfilment_records"]] * 2 + [["listing_correction_proof"]]


# Decisions -------------------------------------------------------------------------------------


def test_approving_overlays_an_override_and_leaves_the_verdict_and_its_history_alone(
    restricted, owner, ops, monkeypatch
):
    verdict_time = verdict_of(restricted).created_at
    appeal = submit(owner, restricted, now=verdict_time)
    history_before = list(StatusHistory.objects.values())
    expires_at = verdict_time + dt.timedelta(days=10)

    approved = appeal_approve(
        appeal=appeal, user=ops, reason="Carrier strike proven", expires_at=expires_at, now=verdict_time
    )

    assert (approved.state, approved.decided_by, approved.decided_at) == ("approved", ops, verdict_time)
    assert approved.decision_reason == "Carrier strike proven"
    override = Override.objects.get(appeal=appeal)
    assert (override.entity, override.entity_id, override.entity_key) == ("shop", restricted.pk, restricted.key)
    assert (override.status, override.reason, override.expires_at) == (c.ELIGIBLE, "Carrier strike proven", expires_at)
    assert override.created_by == ops and override.created_at == verdict_time
    context = notifications(f"appeal:{appeal.pk}:approved").get().context
    assert (context["event"], context["status"], context["expires_at"]) == (
        "appeal.approved",
        c.ELIGIBLE,
        expires_at.isoformat(),
    )
    assert context["decision_reason"] == "Carrier strike proven" and context["override"] == override.pk
    shop = Shop.objects.get(pk=restricted.pk)
    assert (shop.status, shop.reasons, shop.status_changed_at) == (
        restricted.status,
        restricted.reasons,
        restricted.status_changed_at,
    )
    assert list(StatusHistory.objects.values()) == history_before

    for at, expected in [
        (expires_at - US, c.ELIGIBLE),
        (expires_at, c.RESTRICTED),
        (expires_at + dt.timedelta(days=1), c.RESTRICTED),
    ]:
        monkeypatch.setattr(timezone, "now", lambda at=at: at)
        assert effective_status(entity="shop", entity_id=shop.pk, computed=shop.status) == expected
        assert (shop.pk in overrides_active(entity="shop", entity_ids=[shop.pk], at=at)) is (expected == c.ELIGIBLE)


def test_approving_can_grant_another_status(ops):
    product = make_product(counterfeit_flag=True)
    evaluation_run_inline(as_of=DAY)
    appeal = submit(member_of(product.shop.seller), product)
    appeal_approve(appeal=appeal, user=ops, reason="Invoices check out; reviews still poor", status=c.WARNING)
    assert effective_status(entity="product", entity_id=product.pk, computed=c.DISQUALIFIED) == c.WARNING


def test_approving_refuses_a_status_the_entity_cannot_have(restricted, owner, ops):
    appeal = submit(owner, restricted)
    with pytest.raises(ValidationError) as refused:
        appeal_approve(appeal=appeal, user=ops, reason="ok", status=c.WARNING)
    assert refused.value.code == "invalid_status"
    assert Appeal.objects.get().state == "submitted" and not Override.objects.exists()


def test_a_rejection_reason_reaches_the_seller(restricted, owner, partner, ops):
    appeal = submit(owner, restricted)

    rejected = appeal_reject(appeal=appeal, user=ops, reason="The fulfilment records end in August.")

    assert (rejected.state, rejected.decided_by) == ("rejected", ops)
    assert Appeal.objects.get().decision_reason == "The fulfilment records end in August."
    sent = notifications(f"appeal:{appeal.pk}:rejected")
    assert sorted(sent.values_list("user_id", flat=True)) == sorted([owner.pk, partner.pk])
    rendered = notification_render(sent.first())
    assert restricted.key in rendered.title
    assert "The fulfilment records end in August." in rendered.note
    assert sent.first().context["decision_reason"] == "The fulfilment records end in August."
    assert sent.first().context["reasons"] == [c.SPS_BELOW_ELIGIBLE]
    assert not Override.objects.exists()


def test_a_member_withdraws_an_open_appeal(restricted, owner, partner, outsider, ops):
    appeal = submit(owner, restricted)
    for stranger in (outsider, ops):
        with pytest.raises(PermissionDenied):
            appeal_withdraw(appeal=appeal, user=stranger)

    withdrawn = appeal_withdraw(appeal=appeal, user=partner)

    assert (withdrawn.state, withdrawn.decided_by) == ("withdrawn", partner)
    assert notifications(f"appeal:{appeal.pk}:withdrawn").count() == 2
    assert audits("appeal.withdraw", appeal.pk).get().actor == partner
    with pytest.raises(ValidationError) as closed:
        appeal_approve(appeal=appeal, user=ops, reason="too late")
    assert closed.value.code == "appeal_closed"


@pytest.mark.parametrize("role", [User.Role.SELLER, User.Role.CREATOR])
def test_only_ops_can_decide_appeals(restricted, owner, role):
    appeal = submit(owner, restricted)
    user = owner if role == User.Role.SELLER else make_user(role=role)
    with pytest.raises(PermissionDenied):
        appeal_approve(appeal=appeal, user=user, reason="Looks fine to me")
    with pytest.raises(PermissionDenied):
        appeal_reject(appeal=appeal, user=user, reason="No")
    assert Appeal.objects.get().state == "submitted" and not Override.objects.exists()


@pytest.mark.parametrize("role", [User.Role.OPS, User.Role.OPS_ADMIN])
def test_ops_reviewers_and_admins_can_decide(restricted, owner, role):
    approved = appeal_approve(appeal=submit(owner, restricted), user=make_user(role=role), reason="Proven")
    assert approved.state == "approved"


def test_a_decision_needs_a_reason(restricted, owner, ops):
    appeal = submit(owner, restricted)
    for decide in (appeal_approve, appeal_reject):
        with pytest.raises(ValidationError) as refused:
            decide(appeal=appeal, user=ops, reason="   ")
        assert refused.value.code == "reason_required"
    assert Appeal.objects.get().state == "submitted"


def test_each_state_change_notifies_once_and_a_repeat_changes_nothing(restricted, owner, partner, ops):
    appeal = submit(owner, restricted)
    appeal_approve(appeal=appeal, user=ops, reason="Proven")
    assert notifications(f"appeal:{appeal.pk}:submitted").count() == 2
    assert notifications(f"appeal:{appeal.pk}:approved").count() == 2
    total = Notification.objects.count()

    for decide in (appeal_approve, appeal_reject):
        with pytest.raises(ValidationError) as closed:
            decide(appeal=appeal, user=ops, reason="again")
        assert closed.value.code == "appeal_closed"

    assert Notification.objects.count() == total
    assert Override.objects.count() == 1
    assert audits("appeal.approve", appeal.pk).count() == 1


def test_every_action_is_audited_with_its_actor_and_reason(restricted, owner, ops):
    appeal = submit(owner, restricted)
    appeal_reject(appeal=appeal, user=ops, reason="Incomplete")
    second = submit(owner, restricted)
    appeal_approve(appeal=second, user=ops, reason="Complete now")
    override = Override.objects.get()

    assert audits("appeal.submit", appeal.pk).get().actor == owner
    assert audits("appeal.submit", second.pk).get().details["attempt"] == 2
    rejected = audits("appeal.reject", appeal.pk).get()
    assert (rejected.actor, rejected.reason, rejected.details["state"]) == (ops, "Incomplete", "rejected")
    approved = audits("appeal.approve", second.pk).get()
    assert (approved.actor, approved.reason, approved.details["override"]) == (ops, "Complete now", override.pk)
    created = audits("override.create", override.pk).get()
    assert (created.actor, created.details["appeal"]) == (ops, second.pk)


# Overrides -------------------------------------------------------------------------------------


def test_ops_override_a_verdict_by_hand_and_revoke_it(restricted, owner, ops):
    with pytest.raises(PermissionDenied):
        override_create(entity="shop", entity_id=restricted.pk, status=c.ELIGIBLE, reason="no", user=owner)

    override = override_create(entity="shop", entity_id=restricted.pk, status=c.ELIGIBLE, reason="Audit", user=ops)
    assert effective_status(entity="shop", entity_id=restricted.pk, computed=restricted.status) == c.ELIGIBLE
    assert override.appeal is None and override.entity_key == restricted.key

    with pytest.raises(PermissionDenied):
        override_revoke(override=override, user=owner, reason="mine")
    revoked = override_revoke(override=override, user=ops, reason="Audit finished")
    assert revoked.revoked_by == ops and revoked.revoked_at is not None
    assert effective_status(entity="shop", entity_id=restricted.pk, computed=restricted.status) == c.RESTRICTED
    assert audits("override.revoke", override.pk).get().reason == "Audit finished"
    with pytest.raises(ValidationError) as again:
        override_revoke(override=override, user=ops, reason="twice")
    assert again.value.code == "already_revoked"


def test_an_override_must_expire_in_the_future(restricted, ops):
    now = timezone.now()
    with pytest.raises(ValidationError) as refused:
        override_create(
            entity="shop", entity_id=restricted.pk, status=c.ELIGIBLE, reason="x", user=ops, expires_at=now, now=now
        )
    assert refused.value.code == "expires_in_past"


def test_an_expired_override_is_announced_once_to_every_member(restricted, owner, partner, ops):
    now = timezone.now()
    expires_at = now + dt.timedelta(days=3)
    override = override_create(
        entity="shop", entity_id=restricted.pk, status=c.ELIGIBLE, reason="Audit", user=ops, expires_at=expires_at
    )
    key = f"override:{override.pk}:expired"

    assert overrides_expire(now=expires_at - US) == 0
    assert not notifications(key).exists()

    assert overrides_expire(now=expires_at) == 1
    assert overrides_expire(now=expires_at + dt.timedelta(days=1)) == 0
    assert overrides_expire_task() == 0

    sent = notifications(key)
    assert sorted(sent.values_list("user_id", flat=True)) == sorted([owner.pk, partner.pk])
    context = sent.first().context
    assert (context["event"], context["key"], context["computed_status"]) == (
        "override.expired",
        restricted.key,
        c.RESTRICTED,
    )
    assert (context["status"], context["expires_at"]) == (c.ELIGIBLE, expires_at.isoformat())
    assert restricted.key in notification_render(sent.first()).title
    entry = audits("override.expire", override.pk).get()
    assert entry.actor is None and entry.details["status"] == c.ELIGIBLE
    override.refresh_from_db()
    assert override.revoked_at is None and override.expires_at == expires_at


def test_a_revoked_override_never_expires_and_a_product_override_reaches_the_shop_members(ops):
    product = make_product(listing_status="delisted")
    evaluation_run_inline(as_of=DAY)
    owner = member_of(product.shop.seller)
    now = timezone.now()
    revoked = override_create(
        entity="product", entity_id=product.pk, status=c.ELIGIBLE, reason="a", user=ops, expires_at=now + US, now=now
    )
    override_revoke(override=revoked, user=ops, reason="mistake", now=now)
    expiring = override_create(
        entity="product", entity_id=product.pk, status=c.WARNING, reason="b", user=ops, expires_at=now + 2 * US, now=now
    )

    assert overrides_expire_task.apply().get() == 1

    assert not notifications(f"override:{revoked.pk}:expired").exists()
    assert notifications(f"override:{expiring.pk}:expired").get().user == owner
