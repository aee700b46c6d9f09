"""`manage.py seed_demo`: the demo a new user sees, idempotent, and never by accident in
production."""

from io import StringIO

import pytest
from django.apps import apps
from django.core.management import CommandError, call_command
from django.test import Client

from accounts.devidp.demo import DEMO_FLAGS, DEMO_OPERATOR, DEMO_ORGANISATIONS, DEMO_PEOPLE
from accounts.models import Role, User
from organisations.models import (
    FeatureFlag,
    Organisation,
    OrganisationDomain,
    OrganisationToolAccess,
    Tool,
    UserApplicationAccess,
)
from tests.admin.kit import sign_in

pytestmark = pytest.mark.django_db

SEEDED_APPS = ("accounts", "organisations", "auth")


def row_counts():
    return {
        model._meta.label: model.objects.count()
        for app_label in SEEDED_APPS
        for model in apps.get_app_config(app_label).get_models()
    } | {"auth.User_groups": User.groups.through.objects.count()}


def seed():
    out = StringIO()
    call_command("seed_demo", "--force", stdout=out)
    return out.getvalue()


@pytest.fixture
def default_tools(db):
    for code in ("market_edge", "causal_edge", "value_edge"):
        Tool.objects.update_or_create(
            code=code, defaults={"name": code, "is_active": True, "is_default": True}
        )
    return Tool.objects.filter(is_active=True, is_default=True).count()


def test_refuses_without_force_when_debug_is_off(settings):
    settings.DEBUG = False
    with pytest.raises(CommandError, match="DEBUG off"):
        call_command("seed_demo", stdout=StringIO())
    assert not Organisation.objects.exists()
    assert not User.objects.exists()


def test_runs_without_force_in_debug(settings, default_tools):
    settings.DEBUG = True
    call_command("seed_demo", stdout=StringIO())
    assert Organisation.objects.count() == len(DEMO_ORGANISATIONS)


def test_seeds_the_demo(default_tools):
    output = seed()

    for spec in DEMO_ORGANISATIONS:
        organisation = Organisation.objects.get(slug=spec["slug"])
        assert organisation.auth0_org_id == spec["auth0_org_id"]
        assert organisation.subscription_plan == spec["subscription_plan"]
        domain = OrganisationDomain.objects.get(domain=spec["domain"])
        assert (domain.organisation, domain.verified) == (organisation, True)
        assert OrganisationToolAccess.objects.filter(organisation=organisation).count() == (
            default_tools
        )

    for spec in DEMO_PEOPLE:
        person = User.objects.get(email=spec["email"])
        assert person.role == spec["role"]
        assert person.organisation == (
            Organisation.objects.get(slug=spec["organisation"]) if spec["organisation"] else None
        )
        assert person.email_verified
        assert not person.has_usable_password()
        assert person.is_staff == (spec["role"] in (Role.SUPER_ADMIN, Role.ADMIN))
        assert person.is_superuser == (spec["role"] == Role.SUPER_ADMIN)
        if spec["organisation"]:
            assert UserApplicationAccess.objects.filter(user=person).count() == default_tools

    for spec in DEMO_FLAGS:
        flag = FeatureFlag.objects.get(key=spec["key"])
        assert (flag.enabled, flag.rollout_percentage) == (
            spec["enabled"],
            spec["rollout_percentage"],
        )

    operator = User.objects.get(email=DEMO_OPERATOR["email"])
    assert operator.check_password(DEMO_OPERATOR["password"])
    assert (operator.role, operator.is_staff, operator.is_superuser) == (
        Role.SUPER_ADMIN,
        True,
        True,
    )
    assert DEMO_OPERATOR["email"] in output
    assert DEMO_OPERATOR["password"] in output
    assert "http://127.0.0.1:8000/admin/" in output


def test_second_run_changes_nothing(default_tools):
    seed()
    before = row_counts()
    passwords = dict(User.objects.values_list("email", "password"))
    updated = dict(User.objects.values_list("email", "updated_at"))

    output = seed()

    assert row_counts() == before
    assert dict(User.objects.values_list("email", "password")) == passwords
    assert dict(User.objects.values_list("email", "updated_at")) == updated
    assert "0 row(s) created, 0 updated" in output


def test_rerun_restores_demo_values(default_tools):
    seed()
    alice = User.objects.get(email="alice@acme.example")
    User.objects.filter(pk=alice.pk).update(role=Role.VIEWER)
    seed()
    assert User.objects.get(pk=alice.pk).role == Role.ADMIN
    assert User.objects.filter(email__iexact="alice@acme.example").count() == 1


def test_operator_can_log_into_the_admin(default_tools, settings):
    # As under make run (DEBUG): password sign-in on, multi-factor login not required.
    settings.ADMIN_PASSWORD_LOGIN = True
    settings.ADMIN_MFA_REQUIRED = False
    seed()
    client = Client()
    response = client.post(
        "/admin/login/?next=/admin/",
        {"username": DEMO_OPERATOR["email"], "password": DEMO_OPERATOR["password"]},
    )
    assert response.status_code == 302
    assert client.get("/admin/").status_code == 200


def test_seeded_organisation_admin_sees_only_their_organisation(default_tools):
    seed()
    alice = User.objects.get(email="alice@acme.example")
    assert not alice.groups.exists() and not alice.user_permissions.exists()
    client = sign_in(Client(), alice)
    response = client.get("/admin/accounts/user/")
    assert response.status_code == 200
    listed = {user.email for user in response.context["cl"].result_list}
    assert listed == {spec["email"] for spec in DEMO_PEOPLE if spec["organisation"] == "acme"}
    assert client.get("/admin/organisations/userapplicationaccess/add/").status_code == 200
