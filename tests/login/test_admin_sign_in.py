"""Signing in to the admin through the identity provider: the admin's login page offers
"Continue with …", and the login lands back on the admin page that was asked for."""

import pytest
from django.utils.html import escape

from organisations.models import Organisation
from tests.logins import browser_login

pytestmark = pytest.mark.django_db(transaction=True)


def test_the_admin_login_page_continues_with_a_multi_factor_login(client):
    page = client.get("/admin/login/", {"next": "/admin/accounts/user/"})
    assert page.status_code == 200
    link = escape("/auth/login?next=%2Fadmin%2Faccounts%2Fuser%2F&step_up=mfa")
    assert f'{link}">Continue with Auth0</a>' in page.content.decode()


def test_without_admin_mfa_required_the_page_continues_with_a_plain_login(client, settings):
    settings.ADMIN_MFA_REQUIRED = False
    page = client.get("/admin/login/", {"next": "/admin/accounts/user/"})
    link = '/auth/login?next=%2Fadmin%2Faccounts%2Fuser%2F">Continue with Auth0</a>'
    assert link in page.content.decode()


def test_the_admin_login_page_keeps_the_organisation(client):
    page = client.get("/admin/login/", {"next": "/admin/", "organization": "org_acme"})
    link = escape("/auth/login?next=%2Fadmin%2F&step_up=mfa&organization=org_acme")
    assert link in page.content.decode()


async def test_a_login_for_the_admin_lands_on_this_server_s_admin(async_client, idp):
    response = await browser_login(async_client, next="/admin/accounts/user/?q=acme")
    assert response.status_code == 302
    assert response["Location"] == "/admin/accounts/user/?q=acme"


@pytest.mark.parametrize(
    "next_value",
    [
        "/admin/../reports",
        "/admin//evil.example/",
        "/admin/./x/",
        "/admin/%2E%2e/reports",
        "/admin/..",
        "//evil.example/admin/",
    ],
)
async def test_admin_paths_a_browser_would_resolve_elsewhere_go_to_the_web_app(
    async_client, idp, next_value
):
    response = await browser_login(async_client, next=next_value)
    assert response.status_code == 302
    assert response["Location"].startswith("http://localhost:5173/")


def test_under_make_run_the_page_names_the_development_provider(client, settings):
    settings.DEBUG = True
    settings.AUTH0_ISSUER = settings.DEVIDP_URL
    page = client.get("/admin/login/")
    assert "Continue with the development identity provider" in page.content.decode()


@pytest.fixture
def operator(django_user_model):
    return django_user_model.objects.create_superuser("root@operators.example", "a-long-password")


def test_without_admin_password_login_the_password_form_is_gone_and_refused(client, operator):
    page = client.get("/admin/login/")
    assert 'id="login-form"' not in page.content.decode()
    refused = client.post(
        "/admin/login/", {"username": operator.email, "password": "a-long-password"}
    )
    assert refused.status_code == 200
    assert "Password sign-in is off here; continue with Auth0." in refused.content.decode()
    assert client.get("/admin/").status_code == 302


def test_with_admin_password_login_a_break_glass_operator_signs_in(client, operator, settings):
    # Break-glass: both switched on purpose, since a password is a single factor.
    settings.ADMIN_PASSWORD_LOGIN = True
    settings.ADMIN_MFA_REQUIRED = False
    page = client.get("/admin/login/")
    assert 'id="login-form"' in page.content.decode()
    assert "Continue with Auth0" in page.content.decode()
    signed_in = client.post(
        "/admin/login/?next=/admin/", {"username": operator.email, "password": "a-long-password"}
    )
    assert signed_in.status_code == 302
    assert client.get("/admin/").status_code == 200


def test_a_password_sign_in_is_not_a_multi_factor_login(client, operator, settings):
    settings.ADMIN_PASSWORD_LOGIN = True
    signed_in = client.post(
        "/admin/login/?next=/admin/", {"username": operator.email, "password": "a-long-password"}
    )
    assert signed_in.status_code == 302
    stepped_up = client.get("/admin/")
    assert stepped_up.status_code == 302
    assert stepped_up["Location"] == "/auth/login?next=%2Fadmin%2F&step_up=mfa"


def test_the_password_form_refuses_a_person_whose_role_is_not_admin(
    client, django_user_model, settings
):
    settings.ADMIN_PASSWORD_LOGIN = True
    settings.ADMIN_MFA_REQUIRED = False
    analyst = django_user_model.objects.create_user(
        "analyst@acme.example",
        "a-long-password",
        role="analyst",
        organisation=Organisation.objects.create(name="Acme", slug="acme"),
    )
    refused = client.post(
        "/admin/login/?next=/admin/", {"username": analyst.email, "password": "a-long-password"}
    )
    assert refused.status_code == 200
    assert "the correct email and password for a staff account" in refused.content.decode()
    assert "_auth_user_id" not in client.session
