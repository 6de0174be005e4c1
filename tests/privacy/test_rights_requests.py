"""Rights requests: identity verified first (password, e-mailed code, limited attempts, checked
again at every state change), receipt acknowledged at once, answer due 15 days after receipt,
ops alerted before it lapses, extensions and refusals only with a reason told in time."""

import datetime as dt

import pytest
from django.core import mail
from django.core.exceptions import PermissionDenied, ValidationError
from django.utils import timezone

from privacy.models import Purpose, RightsRequest
from privacy.selectors import days_left, deadline_state, rights_queue
from privacy.services.identity import IdentityNotVerified
from privacy.services.rights import (
    rights_deadlines_alert,
    rights_request_complete,
    rights_request_extend,
    rights_request_file,
    rights_request_refuse,
    rights_request_start,
    rights_request_verify,
)
from tests.privacy.conftest import PASSWORD, file_verified, last_code

pytestmark = pytest.mark.django_db
Kind, State = RightsRequest.Kind, RightsRequest.State


def test_a_wrong_password_files_nothing(alice):
    with pytest.raises(ValidationError) as caught:
        rights_request_file(user=alice, kind=Kind.CORRECTION, password="wrong")

    assert "password" in caught.value.message_dict
    assert not RightsRequest.objects.exists()
    assert mail.outbox == []


def test_a_filed_request_waits_for_the_e_mailed_code_before_it_is_received(alice):
    request = rights_request_file(user=alice, kind=Kind.DELETION, password=PASSWORD, details="Delete everything")

    assert request.state == State.UNVERIFIED
    assert request.due_at is None
    assert mail.outbox[-1].to == ["alice@example.com"]
    assert request not in rights_queue()


def test_the_code_confirms_the_request_and_the_receipt_is_acknowledged_at_once(alice):
    before = timezone.now()
    request = file_verified(alice, Kind.DELETION)

    assert request.state == State.RECEIVED
    assert before <= request.received_at <= timezone.now()
    acknowledgement = mail.outbox[-1]
    assert acknowledgement.to == ["alice@example.com"]
    assert request.reference in acknowledgement.subject
    assert "15 days" in acknowledgement.body
    assert [e.action for e in request.events.all()][-2:] == ["received", "acknowledged"]


def test_the_answer_is_due_15_days_after_receipt(alice):
    request = file_verified(alice, Kind.DELETION)

    assert request.due_at - request.received_at == dt.timedelta(days=15)
    assert days_left(request, now=request.received_at) == 15
    assert days_left(request, now=request.received_at + dt.timedelta(days=15, seconds=1)) == -1


def test_wrong_codes_are_limited_and_then_a_new_code_needs_the_password_again(alice, settings):
    settings.PRIVACY_CODE_MAX_ATTEMPTS = 3
    request = rights_request_file(user=alice, kind=Kind.DELETION, password=PASSWORD)
    code = last_code()
    for _ in range(3):
        with pytest.raises(ValidationError, match="not correct"):
            rights_request_verify(request=request, user=alice, code="000000" if code != "000000" else "111111")

    with pytest.raises(ValidationError, match="Too many wrong codes"):
        rights_request_verify(request=request, user=alice, code=code)
    request.refresh_from_db()
    assert request.state == State.UNVERIFIED


def test_an_expired_code_is_refused(alice, settings):
    request = rights_request_file(user=alice, kind=Kind.DELETION, password=PASSWORD)
    RightsRequest.objects.filter(pk=request.pk).update(
        code_sent_at=timezone.now() - dt.timedelta(minutes=settings.PRIVACY_CODE_MINUTES + 1)
    )
    request.refresh_from_db()

    with pytest.raises(ValidationError, match="expired"):
        rights_request_verify(request=request, user=alice, code=last_code())


def test_only_the_requester_can_confirm_a_request(alice, bob):
    request = rights_request_file(user=alice, kind=Kind.DELETION, password=PASSWORD)

    with pytest.raises(PermissionDenied):
        rights_request_verify(request=request, user=bob, code=last_code())


def test_identity_is_checked_again_at_every_state_change(alice, olga):
    request = file_verified(alice, Kind.CORRECTION, correction={"field": "user.first_name", "value": "Alice"})
    alice.set_password("a-new-password-2026")
    alice.save()

    with pytest.raises(IdentityNotVerified, match="verify their identity again"):
        rights_request_start(request=request, actor=olga)
    with pytest.raises(IdentityNotVerified):
        rights_request_refuse(request=request, actor=olga, reason="No")
    request.refresh_from_db()
    assert request.state == State.RECEIVED


def test_verifying_again_after_a_password_change_lets_ops_go_on(alice, olga):
    from privacy.services.rights import rights_request_resend_code

    request = file_verified(alice, Kind.CORRECTION, correction={"field": "user.first_name", "value": "Alice"})
    alice.set_password("a-new-password-2026")
    alice.save()
    rights_request_resend_code(request=request, user=alice, password="a-new-password-2026")
    rights_request_verify(request=request, user=alice, code=last_code())

    started = rights_request_start(request=request, actor=olga)

    assert started.state == State.IN_PROGRESS
    assert started.due_at == request.due_at  # the deadline counts from the first receipt


def test_a_correction_is_applied_when_ops_complete_it(alice, olga, seller_a):
    request = file_verified(
        alice,
        Kind.CORRECTION,
        correction={"field": "seller.contact_phone", "target": "SEL-A", "value": "+44 20 7946 0000"},
    )

    rights_request_complete(request=request, actor=olga)

    seller_a.refresh_from_db()
    assert seller_a.contact_phone == "+44 20 7946 0000"
    request.refresh_from_db()
    assert request.state == State.COMPLETED
    assert request.closed_by == olga


def test_a_refusal_needs_a_reason_which_the_requester_is_told(alice, olga):
    request = file_verified(alice, Kind.DELETION)

    with pytest.raises(ValidationError, match="reason"):
        rights_request_refuse(request=request, actor=olga, reason="  ")
    refused = rights_request_refuse(request=request, actor=olga, reason="An appeal about this shop is open.")

    assert refused.state == State.REFUSED
    assert refused.response == "An appeal about this shop is open."
    assert "An appeal about this shop is open." in mail.outbox[-1].body
    assert "refused" in mail.outbox[-1].subject


def test_an_extension_needs_a_reason_told_to_the_requester_before_the_deadline(alice, olga):
    request = file_verified(alice, Kind.DELETION)
    due = request.due_at

    with pytest.raises(ValidationError, match="reason"):
        rights_request_extend(request=request, actor=olga, reason="", days=10)
    extended = rights_request_extend(
        request=request, actor=olga, reason="We are checking your shops' records.", days=10
    )

    assert extended.due_at == due + dt.timedelta(days=10)
    assert "We are checking your shops' records." in mail.outbox[-1].body
    with pytest.raises(ValidationError, match="already extended"):
        rights_request_extend(request=request, actor=olga, reason="Again", days=5)


def test_no_extension_once_the_deadline_has_passed(alice, olga):
    request = file_verified(alice, Kind.DELETION)
    RightsRequest.objects.filter(pk=request.pk).update(due_at=timezone.now() - dt.timedelta(minutes=1))

    with pytest.raises(ValidationError, match="deadline has passed"):
        rights_request_extend(request=request, actor=olga, reason="Too late", days=5)


def test_ops_are_alerted_once_before_the_deadline_lapses_and_once_when_it_has(alice, bob, olga, settings):
    settings.PRIVACY_ALERT_DAYS_BEFORE = 3
    settings.PRIVACY_TEAM_EMAIL = "privacy@portal.test"
    far = file_verified(alice, Kind.DELETION)
    near = file_verified(bob, Kind.DELETION)
    now = timezone.now()
    RightsRequest.objects.filter(pk=near.pk).update(due_at=now + dt.timedelta(days=2))
    mail.outbox.clear()

    assert rights_deadlines_alert(now=now) == {"overdue": 0, "due_soon": 1}
    assert mail.outbox[0].to == ["privacy@portal.test", "olga@example.com"]
    assert near.reference in mail.outbox[0].body and far.reference not in mail.outbox[0].body
    assert rights_deadlines_alert(now=now) == {"overdue": 0, "due_soon": 0}  # idempotent

    later = now + dt.timedelta(days=2, minutes=1)
    assert rights_deadlines_alert(now=later) == {"overdue": 1, "due_soon": 0}
    assert "Overdue" in mail.outbox[-1].body and near.reference in mail.outbox[-1].body
    near.refresh_from_db()
    assert deadline_state(near, now=later) == "overdue"
    assert [e.action for e in near.events.all()][-2:] == ["alert_due_soon", "alert_overdue"]


def test_the_queue_is_ordered_by_deadline_and_shows_the_countdown(alice, bob):
    first = file_verified(bob, Kind.DELETION)
    second = file_verified(alice, Kind.DELETION)
    RightsRequest.objects.filter(pk=second.pk).update(due_at=first.due_at - dt.timedelta(days=1))

    assert list(rights_queue()) == [second, first]


def test_a_withdrawal_of_consent_is_applied_on_receipt(alice):
    alice.consent_marketing_email = True
    alice.save()

    request = file_verified(alice, Kind.CONSENT_WITHDRAWAL, purposes=[Purpose.MARKETING_EMAIL])

    alice.refresh_from_db()
    assert alice.consent_marketing_email is False
    assert request.state == State.COMPLETED


def test_a_second_open_request_of_the_same_kind_is_refused(alice):
    file_verified(alice, Kind.DELETION)

    with pytest.raises(ValidationError, match="already have an open request"):
        rights_request_file(user=alice, kind=Kind.DELETION, password=PASSWORD)
