"""Creating portal users: the ``user_create`` service and the ``create_user`` command."""

from io import StringIO

import pytest
from django.contrib.auth import authenticate
from django.core.exceptions import ValidationError
from django.core.management import CommandError, call_command

from shops.models import SellerMembership, User
from shops.services.users import user_create
from tests.factories import make_creator, make_seller, make_user

pytestmark = pytest.mark.django_db

PASSWORD = "violet-harbour-1987"


def run(*args: str) -> str:
    out = StringIO()
    call_command("create_user", *args, stdout=out)
    return out.getvalue()


def errors_of(excinfo: pytest.ExceptionInfo[ValidationError]) -> dict[str, list[str]]:
    return excinfo.value.message_dict


# The service -----------------------------------------------------------------------------


def test_a_seller_user_belongs_to_its_sellers_and_is_not_staff():
    acme, globex = make_seller(key="ACME"), make_seller(key="GLOBEX")
    make_seller(key="OTHER")

    user = user_create(email="alice@acme.test", role="seller", password=PASSWORD, seller_keys=["ACME", "GLOBEX"])

    assert user.role == User.Role.SELLER
    assert set(user.sellers.all()) == {acme, globex}
    assert SellerMembership.objects.filter(user=user).count() == 2
    assert user.creator is None
    assert (user.is_staff, user.is_superuser) == (False, False)


def test_a_seller_given_twice_gets_one_membership():
    make_seller(key="ACME")
    user = user_create(email="alice@acme.test", role="seller", password=PASSWORD, seller_keys=["ACME", " ACME "])
    assert list(user.sellers.values_list("key", flat=True)) == ["ACME"]


def test_a_creator_user_is_linked_to_its_creator():
    creator = make_creator(key="CR42")
    user = user_create(email="cara@creators.test", role="creator", password=PASSWORD, creator_key="CR42")
    assert user.creator == creator
    assert not user.sellers.exists()
    assert (user.is_staff, user.is_superuser) == (False, False)


def test_an_ops_reviewer_is_staff_but_not_superuser():
    user = user_create(email="olga@ops.test", role="ops", password=PASSWORD)
    assert (user.role, user.is_staff, user.is_superuser) == (User.Role.OPS, True, False)


def test_an_ops_admin_is_staff_and_superuser():
    user = user_create(email="oscar@ops.test", role="ops_admin", password=PASSWORD)
    assert (user.role, user.is_staff, user.is_superuser) == (User.Role.OPS_ADMIN, True, True)


def test_the_new_user_can_log_in_with_the_password_and_not_without_it(client):
    make_seller(key="ACME")
    user = user_create(email="alice@acme.test", role="seller", password=PASSWORD, seller_keys=["ACME"])
    assert user.password != PASSWORD
    assert authenticate(email="alice@acme.test", password=PASSWORD) == user
    assert authenticate(email="alice@acme.test", password="wrong-password-1987") is None
    assert client.login(email="alice@acme.test", password=PASSWORD)


def test_the_user_and_its_memberships_are_written_together_or_not_at_all(monkeypatch):
    make_seller(key="ACME")

    def fail(*args, **kwargs):
        raise RuntimeError("database went away")

    monkeypatch.setattr(SellerMembership.objects, "bulk_create", fail)
    with pytest.raises(RuntimeError):
        user_create(email="alice@acme.test", role="seller", password=PASSWORD, seller_keys=["ACME"])
    assert not User.objects.exists()


def test_a_seller_user_without_a_seller_is_refused():
    with pytest.raises(ValidationError) as excinfo:
        user_create(email="alice@acme.test", role="seller", password=PASSWORD)
    assert errors_of(excinfo) == {"sellers": ["A seller user needs at least one seller id."]}
    assert not User.objects.exists()


def test_unknown_sellers_are_all_named_and_nothing_is_created():
    make_seller(key="ACME")
    with pytest.raises(ValidationError) as excinfo:
        user_create(email="alice@acme.test", role="seller", password=PASSWORD, seller_keys=["ACME", "NOPE1", "NOPE2"])
    assert errors_of(excinfo) == {"sellers": ["Unknown seller id(s): NOPE1, NOPE2."]}
    assert not User.objects.exists()
    assert not SellerMembership.objects.exists()


def test_a_creator_user_without_a_creator_is_refused():
    with pytest.raises(ValidationError) as excinfo:
        user_create(email="cara@creators.test", role="creator", password=PASSWORD)
    assert errors_of(excinfo) == {"creator": ["A creator user needs a creator id."]}


def test_an_unknown_creator_is_named():
    with pytest.raises(ValidationError) as excinfo:
        user_create(email="cara@creators.test", role="creator", password=PASSWORD, creator_key="CR404")
    assert errors_of(excinfo) == {"creator": ["Unknown creator id: CR404."]}
    assert not User.objects.exists()


@pytest.mark.parametrize(
    ("role", "extra", "field"),
    [
        pytest.param("ops", {"seller_keys": ["ACME"]}, "sellers", id="ops-with-a-seller"),
        pytest.param("creator", {"seller_keys": ["ACME"], "creator_key": "CR1"}, "sellers", id="creator-with-a-seller"),
        pytest.param("seller", {"seller_keys": ["ACME"], "creator_key": "CR1"}, "creator", id="seller-with-a-creator"),
        pytest.param("ops_admin", {"creator_key": "CR1"}, "creator", id="ops-admin-with-a-creator"),
    ],
)
def test_sellers_and_creators_are_refused_for_roles_that_do_not_have_them(role: str, extra: dict, field: str):
    make_seller(key="ACME")
    make_creator(key="CR1")
    with pytest.raises(ValidationError) as excinfo:
        user_create(email="x@example.test", role=role, password=PASSWORD, **extra)
    assert list(errors_of(excinfo)) == [field]
    assert f"not {role} users" in errors_of(excinfo)[field][0]


def test_an_email_already_taken_in_another_case_is_refused():
    make_user(email="Alice@Acme.test", role="ops")
    with pytest.raises(ValidationError) as excinfo:
        user_create(email="alice@ACME.TEST", role="ops", password=PASSWORD)
    assert errors_of(excinfo) == {"email": ["A user with email alice@acme.test already exists."]}
    assert User.objects.count() == 1


@pytest.mark.parametrize("email", ["", "not-an-email", "alice@"])
def test_an_invalid_email_is_refused(email: str):
    with pytest.raises(ValidationError) as excinfo:
        user_create(email=email, role="ops", password=PASSWORD)
    assert list(errors_of(excinfo)) == ["email"]


@pytest.mark.parametrize(
    ("password", "complaint"),
    [
        pytest.param("Xy7!", "too short", id="too-short"),
        pytest.param("password123", "too common", id="common"),
        pytest.param("83749201746", "entirely numeric", id="numeric"),
        pytest.param("alice.harbour@acme.test", "too similar", id="like-the-email"),
    ],
)
def test_a_weak_password_is_refused_with_the_validator_message(password: str, complaint: str):
    with pytest.raises(ValidationError) as excinfo:
        user_create(email="alice.harbour@acme.test", role="ops", password=password)
    messages = errors_of(excinfo)["password"]
    assert any(complaint in message for message in messages), messages
    assert not User.objects.exists()


def test_an_unknown_role_is_refused():
    with pytest.raises(ValidationError) as excinfo:
        user_create(email="x@example.test", role="superhero", password=PASSWORD)
    assert errors_of(excinfo) == {"role": ["Unknown role 'superhero': use one of seller, creator, ops, ops_admin."]}


def test_every_problem_is_reported_at_once():
    make_user(email="taken@example.test")
    with pytest.raises(ValidationError) as excinfo:
        user_create(email="taken@example.test", role="seller", password="123", seller_keys=["NOPE"])
    assert set(errors_of(excinfo)) == {"email", "sellers", "password"}


# The command -----------------------------------------------------------------------------


def test_the_command_creates_a_seller_user_with_repeated_and_comma_separated_sellers():
    for key in ("ACME", "GLOBEX", "INITECH"):
        make_seller(key=key)

    out = run(
        "alice@acme.test", "--role", "seller", "--seller", "ACME,GLOBEX", "--seller", "INITECH", "--password", PASSWORD
    )

    assert out.strip() == "Created seller user alice@acme.test (sellers: ACME, GLOBEX, INITECH)"
    user = User.objects.get(email="alice@acme.test")
    assert sorted(user.sellers.values_list("key", flat=True)) == ["ACME", "GLOBEX", "INITECH"]
    assert authenticate(email="alice@acme.test", password=PASSWORD) == user


def test_the_command_creates_a_creator_user():
    make_creator(key="CR42")
    out = run("cara@creators.test", "--role", "creator", "--creator", "CR42", "--password", PASSWORD)
    assert out.strip() == "Created creator user cara@creators.test (creator: CR42)"
    assert User.objects.get(email="cara@creators.test").creator.key == "CR42"


@pytest.mark.parametrize(("role", "superuser"), [("ops", False), ("ops_admin", True)])
def test_the_command_creates_ops_users(role: str, superuser: bool):
    out = run(f"{role}@ops.test", "--role", role, "--password", PASSWORD)
    assert out.strip() == f"Created {role} user {role}@ops.test"
    user = User.objects.get(email=f"{role}@ops.test")
    assert (user.is_staff, user.is_superuser) == (True, superuser)


@pytest.mark.parametrize(
    ("args", "message"),
    [
        pytest.param(["--role", "seller"], "sellers: A seller user needs at least one seller id.", id="no-seller"),
        pytest.param(
            ["--role", "seller", "--seller", "NOPE"], "sellers: Unknown seller id(s): NOPE.", id="unknown-seller"
        ),
        pytest.param(
            ["--role", "creator", "--creator", "CR404"], "creator: Unknown creator id: CR404.", id="unknown-creator"
        ),
        pytest.param(["--role", "wizard"], "role: Unknown role 'wizard'", id="bad-role"),
    ],
)
def test_the_command_turns_validation_errors_into_a_command_error(args: list[str], message: str):
    with pytest.raises(CommandError) as excinfo:
        run("x@example.test", *args, "--password", PASSWORD)
    assert message in str(excinfo.value)
    assert not User.objects.exists()


def test_the_command_reports_a_duplicate_email_and_a_weak_password_together():
    make_user(email="Taken@Example.test", role="ops")
    with pytest.raises(CommandError) as excinfo:
        run("taken@example.TEST", "--role", "ops", "--password", "short")
    lines = str(excinfo.value).splitlines()
    assert "email: A user with email taken@example.test already exists." in lines
    assert any(line.startswith("password: This password is too short") for line in lines)
