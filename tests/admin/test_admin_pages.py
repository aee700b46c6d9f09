"""Every admin page an operator can reach renders, on the seeded demo: the changelist,
the add form and the change form of each registered model, for a super admin and for an
organisation admin (who gets pages or a refusal, never an error)."""

from io import StringIO

import pytest
from django.contrib import admin
from django.core.management import call_command
from django.test import Client
from django.urls import reverse

from accounts.models import AuditEvent, AuditType, ExternalIdentity, User
from tests.admin.kit import sign_in

pytestmark = pytest.mark.django_db


@pytest.fixture
def demo(db):
    call_command("seed_demo", "--force", stdout=StringIO())
    anna = User.objects.get(email="anna@acme.example")
    ExternalIdentity.objects.create(user=anna, issuer="https://idp.example/", subject="anna")
    AuditEvent.objects.create(
        type=AuditType.LOGIN_SUCCEEDED, user=anna, organisation=anna.organisation
    )


def pages():
    for model in admin.site._registry:
        name = f"admin:{model._meta.app_label}_{model._meta.model_name}"
        yield model, name


def client_for(email):
    return sign_in(Client(), User.objects.get(email=email))


@pytest.mark.parametrize(
    ("email", "allowed"),
    [("sam@operators.example", {200}), ("alice@acme.example", {200, 403})],
)
def test_every_admin_page_renders(demo, email, allowed):
    client = client_for(email)
    assert client.get(reverse("admin:index")).status_code == 200
    for model, name in pages():
        response = client.get(reverse(f"{name}_changelist"))
        assert response.status_code in allowed, name
        assert client.get(reverse(f"{name}_add")).status_code in allowed | {403}, name
        if response.status_code != 200:
            continue
        for obj in response.context["cl"].result_list[:3]:
            page = client.get(reverse(f"{name}_change", args=[obj.pk]))
            assert page.status_code == 200, (name, obj.pk)


def test_super_admin_sets_an_operator_password(demo):
    client = client_for("sam@operators.example")
    gus = User.objects.get(email="gus@globex.example")
    url = reverse("admin:auth_user_password_change", args=[gus.pk])
    assert client.get(url).status_code == 200
    response = client.post(
        url,
        {
            "usable_password": "true",
            "password1": "another-long-passphrase-7",
            "password2": "another-long-passphrase-7",
        },
    )
    assert response.status_code == 302
    gus.refresh_from_db()
    assert gus.check_password("another-long-passphrase-7")
