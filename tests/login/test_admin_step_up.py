"""The admin needs a recent multi-factor login (ADMIN_MFA_REQUIRED, on by default in
production). One named test per check of the step-up: the provider really did MFA (`amr`
has "mfa", or `acr` is the multi-factor policy) at an `auth_time` within
ADMIN_AUTH_MAX_AGE. Each hostile ID token is served by the provider at its real token
endpoint and must end on the error page, with no session and the admin still closed."""

import time
from urllib.parse import parse_qs, urlsplit

import pytest

from accounts.login.step_up import MFA_POLICY
from accounts.models import AuditEvent, AuditType, Role, User
from organisations.models import Organisation
from tests.logins import authorize, browser_login, path_of, replace_claims, start

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
async def alice_admin(idp):
    """Alice, an organisation admin of Acme (the provider's org_acme)."""
    acme = await Organisation.objects.acreate(
        name="Acme Analytics", slug="acme", auth0_org_id="org_acme"
    )
    return await User.objects.acreate(
        email="alice@acme.example", role=Role.ADMIN, organisation=acme, email_verified=True
    )


async def step_up_login(async_client, next_path="/admin/"):
    return await browser_login(async_client, next=next_path, step_up="mfa")


async def assert_refused(async_client, code: bytes):
    response = await step_up_login(async_client)
    assert response.status_code == 400, response.content
    assert code in response.content
    assert "sessionid" not in response.cookies
    admin = await async_client.get("/admin/")
    assert admin.status_code == 302
    assert admin["Location"] == "/admin/login/?next=/admin/"
    failed = await AuditEvent.objects.filter(type=AuditType.LOGIN_FAILED).alast()
    assert failed.details["reason"] == code.decode()


async def test_a_step_up_asks_the_provider_for_mfa_and_a_max_age(async_client, idp, settings):
    started = await start(async_client, next="/admin/", step_up="mfa")
    query = parse_qs(urlsplit(started["Location"]).query)
    assert query["acr_values"] == [MFA_POLICY]
    assert query["max_age"] == [str(settings.ADMIN_AUTH_MAX_AGE)]


async def test_a_plain_login_asks_for_neither(async_client, idp):
    started = await start(async_client, next="/admin/")
    query = parse_qs(urlsplit(started["Location"]).query)
    assert "acr_values" not in query and "max_age" not in query


async def test_an_unknown_step_up_is_a_bad_request(async_client, idp):
    response = await async_client.get("/auth/login", {"step_up": "password"})
    assert response.status_code == 400
    assert b"step_up must be" in response.content


async def test_an_organisation_admin_is_stepped_up_and_then_admitted(
    async_client, idp, alice_admin
):
    plain = await browser_login(async_client, next="/admin/accounts/user/")
    assert plain["Location"] == "/admin/accounts/user/"
    sent = await async_client.get("/admin/accounts/user/")
    assert sent.status_code == 302
    assert sent["Location"] == "/auth/login?next=%2Fadmin%2Faccounts%2Fuser%2F&step_up=mfa"

    started = await async_client.get(sent["Location"])
    callback = await authorize(started["Location"], "auth0|alice")
    landed = await async_client.get(path_of(callback))
    assert landed["Location"] == "/admin/accounts/user/"
    page = await async_client.get("/admin/accounts/user/")
    assert page.status_code == 200
    assert b"alice@acme.example" in page.content


async def test_a_login_that_already_used_mfa_enters_without_a_second_trip(
    async_client, idp, alice_admin
):
    idp.id_token_hook = replace_claims(amr=["pwd", "mfa"])
    await browser_login(async_client, next="/admin/")
    assert (await async_client.get("/admin/")).status_code == 200


async def test_acr_of_the_multi_factor_policy_is_enough(async_client, idp, alice_admin):
    idp.id_token_hook = replace_claims(amr=None, acr=MFA_POLICY)
    response = await step_up_login(async_client)
    assert response["Location"] == "/admin/"
    assert (await async_client.get("/admin/")).status_code == 200


async def test_a_provider_that_did_not_do_mfa_is_refused(async_client, idp, alice_admin):
    idp.id_token_hook = replace_claims(amr=None, acr=None)
    await assert_refused(async_client, b"mfa_required")


async def test_amr_without_mfa_is_refused(async_client, idp, alice_admin):
    idp.id_token_hook = replace_claims(amr=["pwd", "otp-ish"], acr=None)
    await assert_refused(async_client, b"mfa_required")


async def test_forged_amr_as_a_string_is_refused(async_client, idp, alice_admin):
    # Not the array OIDC defines: the ID token itself is refused.
    idp.id_token_hook = replace_claims(amr="mfa", acr=None)
    await assert_refused(async_client, b"invalid_id_token")


async def test_another_acr_is_refused(async_client, idp, alice_admin):
    idp.id_token_hook = replace_claims(amr=None, acr="http://schemas.openid.net/pape/none")
    await assert_refused(async_client, b"mfa_required")


async def test_stale_auth_time_is_refused(async_client, idp, alice_admin, settings):
    stale = int(time.time()) - settings.ADMIN_AUTH_MAX_AGE - 120
    idp.id_token_hook = replace_claims(auth_time=stale)
    await assert_refused(async_client, b"login_too_old")


async def test_missing_auth_time_is_refused(async_client, idp, alice_admin):
    idp.id_token_hook = replace_claims(auth_time=None)
    await assert_refused(async_client, b"login_too_old")


async def test_auth_time_in_the_future_is_refused(async_client, idp, alice_admin):
    idp.id_token_hook = replace_claims(auth_time=int(time.time()) + 3600)
    await assert_refused(async_client, b"login_too_old")


async def test_auth_time_that_is_not_a_number_is_refused(async_client, idp, alice_admin):
    idp.id_token_hook = replace_claims(auth_time=str(int(time.time())))
    await assert_refused(async_client, b"invalid_id_token")


async def test_a_viewer_who_steps_up_still_gets_the_403_page(async_client, idp):
    response = await step_up_login(async_client)
    assert response["Location"] == "/admin/"
    page = await async_client.get("/admin/")
    assert page.status_code == 403
    assert b"The admin is for organisation admins and super admins" in page.content


async def test_without_admin_mfa_required_a_plain_login_enters(
    async_client, idp, alice_admin, settings
):
    settings.ADMIN_MFA_REQUIRED = False
    await browser_login(async_client, next="/admin/")
    assert (await async_client.get("/admin/")).status_code == 200
