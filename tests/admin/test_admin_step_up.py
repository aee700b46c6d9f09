"""Inside the admin, every page and every change needs a multi-factor login no older
than ADMIN_AUTH_MAX_AGE; changes are audited with the amr and acr of that login."""

import time

import pytest
from django.urls import reverse

from accounts.login.step_up import MFA_POLICY
from accounts.models import AuditEvent, AuditType, Role
from tests.admin.kit import sign_in

from .formdata import change_form_data

pytestmark = pytest.mark.django_db


def step_up_location(path):
    return reverse("login") + "?" + f"next={path.replace('/', '%2F')}&step_up=mfa"


@pytest.mark.parametrize(
    "login",
    [
        {"amr": ()},
        {"amr": ("pwd",)},
        {"amr": (), "acr": "urn:other"},
        {"auth_time": int(time.time()) - 43200 - 60},
    ],
    ids=["no-amr", "password-only", "other-acr", "too-old"],
)
def test_a_login_without_recent_mfa_is_sent_through_the_step_up(client, admin_a, login):
    sign_in(client, admin_a, **login)
    for path in ("/admin/", "/admin/accounts/user/", f"/admin/accounts/user/{admin_a.pk}/change/"):
        response = client.get(path)
        assert response.status_code == 302, path
        assert response["Location"] == step_up_location(path)


def test_acr_alone_admits(client, admin_a):
    sign_in(client, admin_a, amr=(), acr=MFA_POLICY)
    assert client.get("/admin/").status_code == 200


def test_a_change_with_a_stale_login_is_refused_and_not_made(client, admin_a, member_a):
    sign_in(client, admin_a)
    url = reverse("admin:accounts_user_change", args=[member_a.pk])
    form = change_form_data(client.get(url), role=Role.ANALYST)
    session = client.session
    session["login_auth"] = {**session["login_auth"], "auth_time": int(time.time()) - 43300}
    session.save()
    response = client.post(url, form)
    assert response.status_code == 302
    assert response["Location"] == step_up_location(url)
    member_a.refresh_from_db()
    assert member_a.role == Role.VIEWER
    assert not AuditEvent.objects.filter(type=AuditType.ROLE_CHANGED).exists()


def test_admin_auth_max_age_is_the_limit(client, admin_a, settings):
    settings.ADMIN_AUTH_MAX_AGE = 300
    sign_in(client, admin_a, auth_time=int(time.time()) - 200)
    assert client.get("/admin/").status_code == 200
    sign_in(client, admin_a, auth_time=int(time.time()) - 400)
    assert client.get("/admin/").status_code == 302


def test_without_admin_mfa_required_any_login_of_an_admin_enters(client, admin_a, settings):
    settings.ADMIN_MFA_REQUIRED = False
    client.force_login(admin_a)
    assert client.get("/admin/").status_code == 200


def test_a_role_change_is_audited_with_the_operator_s_amr_and_acr(client, admin_a, member_a):
    sign_in(client, admin_a, amr=("pwd", "mfa"), acr=MFA_POLICY)
    url = reverse("admin:accounts_user_change", args=[member_a.pk])
    response = client.post(url, change_form_data(client.get(url), role=Role.ANALYST))
    assert response.status_code == 302
    event = AuditEvent.objects.get(type=AuditType.ROLE_CHANGED)
    assert event.details["operator_id"] == admin_a.pk
    assert event.details["operator_amr"] == ["pwd", "mfa"]
    assert event.details["operator_acr"] == MFA_POLICY
