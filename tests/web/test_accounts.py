"""Signing in and out, the lock-out, the password reset, two-step sign-in and the saved language."""

import datetime as dt
import re
import time
from urllib.parse import urlencode

import pyotp
import pytest
from django.conf import settings
from django.core import mail
from django.core.exceptions import PermissionDenied
from django.db import connection
from django.db.models import F
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from shops.models import AuditEntry, LoginAttempt, User
from shops.services.auth import OTP_SESSION_KEY, login_locked_until, otp_reset
from tests.conftest import signed_in
from tests.factories import make_user

pytestmark = pytest.mark.django_db

PASSWORD = "pw-123456!"  # tests.factories.make_user's default
LOGIN = "/accounts/login/"
USER_AGENT = "compliance-tests/1.0"


def sign_in(client: Client, email: str, password: str = PASSWORD, *, ip: str = "10.0.0.1", meta=None, **data):
    return client.post(reverse("login"), {"email": email, "password": password, **data}, REMOTE_ADDR=ip, **(meta or {}))


def code(secret: str, steps: int = 0) -> str:
    """The authenticator's code ``steps`` time steps from now (a later step is a code not used yet)."""
    return pyotp.TOTP(secret).at(time.time() + 30 * steps)


def enrolled(user: User, secret: str = "JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP") -> User:
    user.otp_secret = secret
    user.otp_confirmed_at = timezone.now()
    user.save(update_fields=["otp_secret", "otp_confirmed_at"])
    return user


def age_attempts(minutes: int) -> None:
    """Move every recorded attempt ``minutes`` into the past: time passes without sleeping."""
    LoginAttempt.objects.update(at=F("at") - dt.timedelta(minutes=minutes))


def otp_post(client: Client, value: str, *, ip: str = "10.0.0.1", **extra):
    return client.post(reverse("otp_verify"), {"code": value, **extra}, REMOTE_ADDR=ip)


@pytest.fixture
def ops_admin():
    return make_user(email="adam@example.com", role=User.Role.OPS_ADMIN, is_staff=True, is_superuser=True)


# Signing in and out -------------------------------------------------------------------------------


def test_the_sign_in_page_is_a_centred_card_asking_for_email_and_password(client):
    response = client.get(LOGIN)
    html = response.content.decode()
    assert response.status_code == 200
    assert 'class="card auth-card"' in html
    assert 'type="email" name="email"' in html and 'type="password" name="password"' in html
    assert reverse("password_reset") in html


@pytest.mark.parametrize(
    ("persona", "dashboard"),
    [("alice", "portfolio"), ("carol", "creator_home")],
)
def test_a_seller_member_or_creator_signs_in_and_lands_on_their_own_dashboard(client, request, persona, dashboard):
    user = request.getfixturevalue(persona)
    response = sign_in(client, user.email)
    assert response.status_code == 302 and response["Location"] == reverse("home")
    assert client.get(reverse("home"))["Location"] == reverse(dashboard)
    assert client.session["_auth_user_id"] == str(user.pk)


@pytest.mark.parametrize("persona", ["olga", "ops_admin"])
def test_ops_sign_in_with_password_then_code_and_land_on_the_ops_overview(client, request, persona):
    user = enrolled(request.getfixturevalue(persona))
    response = sign_in(client, user.email)
    assert response["Location"] == reverse("otp_verify")
    response = otp_post(client, code(user.otp_secret))
    assert response["Location"] == reverse("home")
    assert client.session[OTP_SESSION_KEY] is True
    assert client.get(reverse("home"))["Location"] == reverse("ops_overview")


def test_the_email_address_is_matched_whatever_its_case(client, alice):
    assert sign_in(client, "  ALICE@Example.COM ")["Location"] == reverse("home")


def test_sign_in_goes_to_a_safe_next_page_and_ignores_another_site(client, alice):
    assert sign_in(client, alice.email, next="/products/?q=serum")["Location"] == "/products/?q=serum"
    client.post(reverse("logout"))
    assert sign_in(client, alice.email, next="https://evil.example/steal")["Location"] == reverse("home")


def test_the_next_page_survives_the_second_factor(client, olga):
    enrolled(olga)
    response = sign_in(client, olga.email, next="/ops/appeals/")
    assert response["Location"] == reverse("otp_verify") + "?next=%2Fops%2Fappeals%2F"
    response = otp_post(client, code(olga.otp_secret), next="/ops/appeals/")
    assert response["Location"] == "/ops/appeals/"


def test_sign_out_is_a_post_that_ends_the_session_and_returns_to_sign_in(client, alice):
    signed_in(client, alice)
    assert client.get(reverse("logout")).status_code == 405
    response = client.post(reverse("logout"))
    assert response["Location"] == reverse("login")
    assert "_auth_user_id" not in client.session
    assert client.get(reverse("account_security"))["Location"].startswith(LOGIN)
    assert "You have signed out." in client.get(LOGIN).content.decode()


def test_a_wrong_password_and_an_unknown_address_get_the_same_answer_and_both_are_recorded(client, alice):
    wrong = sign_in(client, alice.email, "not-the-password")
    unknown = sign_in(client, "nobody@example.com", "not-the-password")
    assert wrong.status_code == unknown.status_code == 200
    message = "The e-mail address or the password is not right."
    assert message in wrong.content.decode() and message in unknown.content.decode()
    assert "_auth_user_id" not in client.session
    rows = set(LoginAttempt.objects.values_list("email", "ip", "succeeded"))
    assert rows == {("alice@example.com", "10.0.0.1", False), ("nobody@example.com", "10.0.0.1", False)}


def test_a_successful_sign_in_is_recorded_too(client, alice):
    sign_in(client, alice.email, ip="192.0.2.7")
    assert list(LoginAttempt.objects.values_list("email", "ip", "succeeded")) == [
        ("alice@example.com", "192.0.2.7", True)
    ]


def test_csrf_is_enforced_on_the_sign_in_form(alice):
    client = Client(enforce_csrf_checks=True)
    assert sign_in(client, alice.email).status_code == 403
    assert "_auth_user_id" not in client.session
    token = client.get(LOGIN).cookies[settings.CSRF_COOKIE_NAME].value
    response = sign_in(client, alice.email, csrfmiddlewaretoken=token)
    assert response.status_code == 302 and response["Location"] == reverse("home")


def test_the_sign_in_page_runs_a_fixed_number_of_queries_however_many_attempts_are_stored(
    client, alice, django_assert_num_queries
):
    for size in (2, 300):
        LoginAttempt.objects.all().delete()
        LoginAttempt.objects.bulk_create(
            LoginAttempt(email=f"x{i}@example.com", ip="10.9.9.9", succeeded=False, at=timezone.now())
            for i in range(size)
        )
        with django_assert_num_queries(0):
            assert client.get(LOGIN).status_code == 200
        # lock check, user look-up, authenticate, record, lock check again (this failure may lock)
        with django_assert_num_queries(5):
            assert sign_in(client, alice.email, "wrong", ip="10.1.1.1").status_code == 200


# Lock-out -----------------------------------------------------------------------------------------


def test_five_failures_lock_the_account_and_even_the_right_password_is_refused(client, alice):
    for _ in range(4):
        assert "not right" in sign_in(client, alice.email, "wrong").content.decode()
    fifth = sign_in(client, alice.email, "wrong").content.decode()
    assert "Too many failed sign-in attempts" in fifth
    refused = sign_in(client, alice.email, ip="10.0.0.2")
    assert refused.status_code == 200
    html = refused.content.decode()
    assert "Too many failed sign-in attempts" in html and "Sign-in is paused until" in html
    assert "_auth_user_id" not in client.session
    # The refused attempt is recorded as a failure as well.
    assert LoginAttempt.objects.filter(email=alice.email, succeeded=False).count() == 6


def test_the_lock_message_names_the_time_to_try_again(client, alice):
    for _ in range(5):
        sign_in(client, alice.email, "wrong")
    until = login_locked_until(email=alice.email, ip=None)
    expected = timezone.localtime(until).strftime("%H:%M")
    assert f"until {expected} UTC (in 15 minutes)" in sign_in(client, alice.email).content.decode()


def test_the_lock_ends_after_its_duration_and_the_right_password_works_again(client, alice):
    for _ in range(5):
        sign_in(client, alice.email, "wrong")
    age_attempts(14)
    assert "Too many failed" in sign_in(client, alice.email).content.decode()
    # The refused attempt just now restarted the pause; let it run out.
    age_attempts(16)
    response = sign_in(client, alice.email)
    assert response.status_code == 302 and response["Location"] == reverse("home")


def test_failures_spread_wider_than_the_window_do_not_lock(client, alice):
    for _ in range(4):
        sign_in(client, alice.email, "wrong")
    age_attempts(16)
    sign_in(client, alice.email, "wrong")
    assert sign_in(client, alice.email)["Location"] == reverse("home")


def test_a_success_does_not_reset_the_count(client, alice):
    for _ in range(4):
        sign_in(client, alice.email, "wrong")
    assert sign_in(client, alice.email).status_code == 302
    client.post(reverse("logout"))
    assert "Too many failed" in sign_in(client, alice.email, "wrong").content.decode()
    assert "Too many failed" in sign_in(client, alice.email).content.decode()


def test_an_unknown_address_is_locked_the_same_way_so_the_lock_reveals_nothing(client):
    for _ in range(5):
        sign_in(client, "nobody@example.com", "wrong")
    assert "Too many failed sign-in attempts" in sign_in(client, "nobody@example.com").content.decode()


def test_one_account_locked_leaves_other_accounts_open(client, alice, bob):
    for _ in range(5):
        sign_in(client, alice.email, "wrong")
    assert sign_in(client, bob.email)["Location"] == reverse("home")


def test_many_failures_from_one_address_lock_that_address_for_every_account(client, alice):
    for i in range(20):
        sign_in(client, f"guess{i}@example.com", "wrong", ip="203.0.113.9")
    refused = sign_in(client, alice.email, ip="203.0.113.9")
    assert refused.status_code == 200 and "Too many failed" in refused.content.decode()
    assert sign_in(client, alice.email, ip="198.51.100.4")["Location"] == reverse("home")


def test_nineteen_failures_from_one_address_do_not_lock_it(client, alice):
    for i in range(19):
        sign_in(client, f"guess{i}@example.com", "wrong", ip="203.0.113.9")
    assert sign_in(client, alice.email, ip="203.0.113.9")["Location"] == reverse("home")


def test_the_lock_out_settings_come_from_settings(client, alice, settings):
    settings.AUTH_LOCKOUT_ACCOUNT_FAILURES = 2
    sign_in(client, alice.email, "wrong")
    assert "Too many failed" in sign_in(client, alice.email, "wrong").content.decode()


def test_behind_a_trusted_proxy_the_forwarded_address_is_counted(client, alice, settings):
    settings.AUTH_TRUSTED_PROXIES = 1
    sign_in(client, alice.email, "wrong", ip="10.0.0.254", meta={"HTTP_X_FORWARDED_FOR": "6.6.6.6, 198.51.100.20"})
    assert LoginAttempt.objects.get().ip == "198.51.100.20"


def test_the_admin_login_form_is_replaced_by_the_portal_sign_in(client):
    response = client.get("/admin/login/?next=/admin/shops/shop/")
    assert response["Location"] == LOGIN + "?next=%2Fadmin%2Fshops%2Fshop%2F"
    # Its form cannot be used to get around the lock-out either.
    assert client.post("/admin/login/", {"username": "x", "password": "y"}).status_code == 302


# Password reset -----------------------------------------------------------------------------------


def without_tokens(content: bytes) -> str:
    return re.sub(r'(csrfmiddlewaretoken" value=|X-CSRFToken": )"[^"]+"', "", content.decode())


def reset_link(message) -> str:
    return re.search(r"https?://[^/\s]+(/accounts/reset/\S+/)", message.body).group(1)


def test_a_forgotten_password_is_reset_through_an_emailed_link(client, alice):
    response = client.post(reverse("password_reset"), {"email": "Alice@example.com"})
    assert response["Location"] == reverse("password_reset_done")
    assert len(mail.outbox) == 1
    message = mail.outbox[0]
    assert message.to == ["alice@example.com"]
    assert message.subject == "Reset your Compliance Portal password"
    assert "http://testserver/accounts/reset/" in message.body
    html, mimetype = message.alternatives[0]
    assert mimetype == "text/html" and reset_link(message) in html

    link = client.get(reset_link(message))
    assert link.status_code == 302  # Django hides the token from the address bar
    form = client.get(link["Location"])
    assert "new_password1" in form.content.decode()
    done = client.post(link["Location"], {"new_password1": "Fresh-harbour-27", "new_password2": "Fresh-harbour-27"})
    assert done["Location"] == reverse("password_reset_complete")

    assert "not right" in sign_in(client, alice.email).content.decode()
    assert sign_in(client, alice.email, "Fresh-harbour-27")["Location"] == reverse("home")
    # The link works once.
    assert "This link no longer works" in client.get(reset_link(message), follow=True).content.decode()


def test_an_unknown_address_gets_the_same_sent_page_and_no_email(client, alice):
    known = client.post(reverse("password_reset"), {"email": alice.email}, follow=True)
    unknown = client.post(reverse("password_reset"), {"email": "nobody@example.com"}, follow=True)
    assert without_tokens(known.content) == without_tokens(unknown.content)
    assert "Check your e-mail" in unknown.content.decode()
    assert len(mail.outbox) == 1


def test_the_reset_email_uses_the_configured_domain_and_the_users_language(client, alice, settings):
    settings.AUTH_PASSWORD_RESET_DOMAIN = "portal.example.com"
    alice.language = "zh-hans"
    alice.save(update_fields=["language"])
    client.post(reverse("password_reset"), {"email": alice.email})
    message = mail.outbox[0]
    assert "://portal.example.com/accounts/reset/" in message.body
    assert '<html lang="zh-hans">' in message.alternatives[0][0]


# Two-step sign-in ---------------------------------------------------------------------------------


def test_a_seller_enrols_with_the_qr_code_and_then_signing_in_asks_for_a_code(client, alice):
    signed_in(client, alice)
    page = client.get(reverse("account_security")).content.decode()
    alice.refresh_from_db()
    secret = alice.otp_secret
    assert "<svg" in page and "otp-qr" in page
    assert secret[:4] in page and len(secret) == 32
    # The secret is stored encrypted.
    with connection.cursor() as cursor:
        cursor.execute("SELECT otp_secret FROM shops_user WHERE id = %s", [alice.pk])
        assert secret not in cursor.fetchone()[0]

    response = client.post(reverse("account_security"), {"action": "enable", "code": code(secret)})
    assert response["Location"] == reverse("account_security")
    alice.refresh_from_db()
    assert alice.otp_enabled
    assert AuditEntry.objects.filter(actor=alice, action="user.otp_enable").exists()

    client.post(reverse("logout"))
    assert sign_in(client, alice.email)["Location"] == reverse("otp_verify")
    assert (
        client.get(reverse("portfolio"))["Location"]
        == f"{reverse('otp_verify')}?{urlencode({'next': reverse('portfolio')})}"
    )
    assert otp_post(client, code(secret, steps=1))["Location"] == reverse("home")
    assert client.get(reverse("account_security")).status_code == 200


def test_enrolment_with_a_wrong_code_leaves_two_step_sign_in_off_and_counts_as_a_failure(client, alice):
    signed_in(client, alice)
    client.get(reverse("account_security"))
    response = client.post(reverse("account_security"), {"action": "enable", "code": "000000"}, REMOTE_ADDR="10.0.0.3")
    assert response.status_code == 200
    assert "That code is not right" in response.content.decode()
    alice.refresh_from_db()
    assert not alice.otp_enabled
    assert LoginAttempt.objects.filter(email=alice.email, ip="10.0.0.3", succeeded=False).count() == 1


def test_reloading_the_enrolment_page_keeps_the_same_secret(client, alice):
    signed_in(client, alice)
    client.get(reverse("account_security"))
    first = User.objects.get(pk=alice.pk).otp_secret
    client.get(reverse("account_security"))
    assert User.objects.get(pk=alice.pk).otp_secret == first


def test_a_seller_turns_two_step_sign_in_off_with_a_current_code(client, alice):
    enrolled(alice)
    signed_in(client, alice)
    assert "Turn off two-step sign-in" in client.get(reverse("account_security")).content.decode()
    wrong = client.post(reverse("account_security"), {"action": "disable", "code": "123456"})
    assert "That code is not right" in wrong.content.decode()
    client.post(reverse("account_security"), {"action": "disable", "code": code(alice.otp_secret)})
    alice.refresh_from_db()
    assert (alice.otp_enabled, alice.otp_secret) == (False, "")
    assert AuditEntry.objects.filter(actor=alice, action="user.otp_disable").exists()


def test_ops_cannot_turn_two_step_sign_in_off(client, olga):
    enrolled(olga)
    signed_in(client, olga)
    page = client.get(reverse("account_security")).content.decode()
    assert "cannot be turned off" in page and 'value="disable"' not in page
    response = client.post(reverse("account_security"), {"action": "disable", "code": code(olga.otp_secret)})
    assert response.status_code == 403
    olga.refresh_from_db()
    assert olga.otp_enabled


def test_ops_without_an_authenticator_must_enrol_before_reaching_any_page(client, olga):
    response = sign_in(client, olga.email)
    assert response["Location"] == reverse("account_security")
    for path in (reverse("home"), reverse("ops_overview"), reverse("notifications"), "/admin/", reverse("otp_verify")):
        assert client.get(path)["Location"].startswith(reverse("account_security")), path
    page = client.get(reverse("account_security")).content.decode()
    assert "Set up two-step sign-in" in page
    assert reverse("ops_overview") not in page  # no navigation until it is done
    # Sign-out, the language switch and static files stay open.
    assert client.get("/static/portal/portal.css").status_code == 200
    assert client.post(reverse("set_language"), {"language": "en", "next": "/"}).status_code == 302

    olga.refresh_from_db()
    response = client.post(reverse("account_security"), {"action": "enable", "code": code(olga.otp_secret)})
    assert response["Location"] == reverse("home")
    assert client.get("/admin/").status_code == 200


def test_ops_with_an_authenticator_must_enter_a_code_before_any_page_including_the_admin(client, ops_admin):
    enrolled(ops_admin)
    sign_in(client, ops_admin.email)
    for path in ("/admin/", "/admin/shops/user/", reverse("ops_overview"), reverse("account_security")):
        assert client.get(path)["Location"].startswith(reverse("otp_verify")), path
    page = client.get(reverse("otp_verify")).content.decode()
    assert "Enter your code" in page and 'autocomplete="one-time-code"' in page
    otp_post(client, code(ops_admin.otp_secret))
    assert client.get("/admin/shops/user/").status_code == 200


def test_a_half_signed_in_session_is_no_session_for_the_api(client, olga):
    enrolled(olga)
    sign_in(client, olga.email)
    assert client.get("/api/v1/shops/", HTTP_USER_AGENT=USER_AGENT).status_code in (401, 403)
    otp_post(client, code(olga.otp_secret))
    assert client.get("/api/v1/shops/", HTTP_USER_AGENT=USER_AGENT).status_code == 200


def test_an_htmx_request_before_the_code_is_told_to_go_to_the_code_page(client, olga):
    enrolled(olga)
    sign_in(client, olga.email)
    response = client.get(reverse("ops_overview"), HTTP_HX_REQUEST="true")
    assert response["HX-Redirect"].startswith(reverse("otp_verify"))


def test_a_wrong_code_counts_as_a_failed_attempt_and_five_lock_the_account(client, olga):
    enrolled(olga)
    sign_in(client, olga.email)
    for _ in range(4):
        assert "That code is not right" in otp_post(client, "000000").content.decode()
    assert "Too many failed" in otp_post(client, "000000").content.decode()
    assert "Too many failed" in otp_post(client, code(olga.otp_secret)).content.decode()
    assert not client.session.get(OTP_SESSION_KEY)
    # The password sign-in is locked as well.
    assert "Too many failed" in sign_in(Client(), olga.email).content.decode()


def test_a_code_is_accepted_once_even_from_another_session(olga):
    enrolled(olga)
    value = code(olga.otp_secret)
    first, second = Client(), Client()
    sign_in(first, olga.email)
    sign_in(second, olga.email)
    assert otp_post(first, value)["Location"] == reverse("home")
    assert "That code is not right" in otp_post(second, value).content.decode()
    assert otp_post(second, code(olga.otp_secret, steps=1))["Location"] == reverse("home")


def test_a_code_from_long_ago_is_refused(client, olga):
    enrolled(olga)
    sign_in(client, olga.email)
    assert "That code is not right" in otp_post(client, code(olga.otp_secret, steps=-4)).content.decode()


def test_each_password_sign_in_asks_for_the_code_again(client, olga):
    enrolled(olga)
    signed_in(client, olga)
    assert sign_in(client, olga.email)["Location"] == reverse("otp_verify")
    assert not client.session.get(OTP_SESSION_KEY)


def test_anonymous_visitors_of_the_security_and_code_pages_are_sent_to_sign_in(client):
    assert client.get(reverse("account_security"))["Location"].startswith(LOGIN)
    assert client.get(reverse("otp_verify"))["Location"].startswith(LOGIN)


def test_someone_without_a_pending_code_is_sent_on_from_the_code_page(client, alice):
    signed_in(client, alice)
    assert client.get(reverse("otp_verify"))["Location"] == reverse("home")


def test_the_password_is_changed_on_the_security_page_and_the_session_stays(client, alice):
    signed_in(client, alice)
    response = client.post(
        reverse("account_security"),
        {
            "action": "password",
            "old_password": PASSWORD,
            "new_password1": "Quiet-lantern-58",
            "new_password2": "Quiet-lantern-58",
        },
    )
    assert response["Location"] == reverse("account_security")
    alice.refresh_from_db()
    assert alice.check_password("Quiet-lantern-58")
    assert client.get(reverse("account_security")).status_code == 200


def test_the_security_page_runs_a_fixed_number_of_queries(client, alice, django_assert_num_queries):
    enrolled(alice)
    signed_in(client, alice)
    for size in (2, 40):
        LoginAttempt.objects.bulk_create(
            LoginAttempt(email=alice.email, ip="10.0.0.1", succeeded=True, at=timezone.now()) for _ in range(size)
        )
        # session, user, unread-notifications count
        with django_assert_num_queries(3):
            assert client.get(reverse("account_security")).status_code == 200


# Language -----------------------------------------------------------------------------------------


def test_switching_language_is_saved_on_the_user_and_follows_them_to_a_new_browser(client, alice):
    signed_in(client, alice)
    response = client.post(reverse("set_language"), {"language": "zh-hans", "next": reverse("account_security")})
    assert response.status_code == 302
    alice.refresh_from_db()
    assert alice.language == "zh-hans"

    fresh = Client()  # no language cookie
    sign_in(fresh, alice.email)
    page = fresh.get(reverse("account_security")).content.decode()
    assert '<html lang="zh-hans">' in page
    assert "商家成员" in page  # "Seller member", the role under the account menu


def test_a_language_cookie_wins_over_the_saved_language(client, alice):
    alice.language = "zh-hans"
    alice.save(update_fields=["language"])
    client.cookies[settings.LANGUAGE_COOKIE_NAME] = "en"
    signed_in(client, alice)
    assert '<html lang="en">' in client.get(reverse("account_security")).content.decode()


def test_switching_language_while_signed_out_changes_no_user(client, alice):
    response = client.post(reverse("set_language"), {"language": "zh-hans", "next": LOGIN})
    assert response.status_code == 302
    assert '<html lang="zh-hans">' in client.get(LOGIN).content.decode()
    alice.refresh_from_db()
    assert alice.language == "en"


# Lost phone ---------------------------------------------------------------------------------------


def test_an_ops_admin_resets_a_lost_authenticator_in_the_admin_and_the_user_enrols_again(client, ops_admin, olga):
    enrolled(olga)
    signed_in(client, ops_admin)
    response = client.post(
        reverse("admin:shops_user_changelist"), {"action": "user_otp_reset", "_selected_action": [olga.pk]}
    )
    assert response.status_code == 302
    olga.refresh_from_db()
    assert (olga.otp_enabled, olga.otp_secret) == (False, "")
    assert AuditEntry.objects.filter(actor=ops_admin, action="user.otp_reset", object_id=str(olga.pk)).exists()
    assert sign_in(Client(), olga.email)["Location"] == reverse("account_security")


def test_an_ops_reviewer_cannot_reset_someone_elses_authenticator(olga, alice):
    enrolled(alice)
    with pytest.raises(PermissionDenied):
        otp_reset(actor=olga, user=alice)
    alice.refresh_from_db()
    assert alice.otp_enabled
