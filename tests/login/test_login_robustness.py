"""A login is never lost and never misreported: the login state outlives any number of
other logins in flight, LOGIN_SUCCEEDED is written only with the session it reports, a
login that fails after the upsert records LOGIN_FAILED instead and leaves no session
record, and access a failed login could not grant is granted at the next."""

import base64
import hashlib
import secrets

import pytest
from asgiref.sync import sync_to_async
from django.contrib.sessions.models import Session
from django.db import connection

from accounts.models import AuditEvent, AuditType, HandoffCode, LoginSession, User
from organisations.models import UserApplicationAccess
from tests.logins import authorize, browser_login, path_of, start

pytestmark = pytest.mark.django_db(transaction=True)

OTHER_LOGINS = 1500


async def _a_login_outlives_other_logins_in_flight(client, settings):
    settings.RATE_LIMIT_LOGIN = "100000/m"
    first = await start(client)
    for _ in range(OTHER_LOGINS):
        await start(client)
    callback = await authorize(first["Location"], "auth0|alice")
    response = await client.get(path_of(callback))
    assert response.status_code == 302, response.content
    assert response["Location"] == "http://localhost:5173/"


async def test_a_login_in_flight_survives_many_other_logins_in_flight(async_client, idp, settings):
    """Django's local-memory cache culled a third of 300 entries, live or not."""
    await _a_login_outlives_other_logins_in_flight(async_client, settings)


async def test_with_redis_a_login_in_flight_survives_many_other_logins_in_flight(
    async_client, idp, settings, redis_cache
):
    await _a_login_outlives_other_logins_in_flight(async_client, settings)


def _token_mode() -> tuple[str, dict]:
    """Return a handoff verifier and the login parameters of token mode with its challenge."""
    verifier = secrets.token_urlsafe(32)
    challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest())
    return verifier, {"mode": "token", "handoff_challenge": challenge.decode()[:43]}


async def test_one_login_succeeded_event_per_login_in_token_mode(async_client, idp):
    verifier, token_mode = _token_mode()
    started = await start(async_client, **token_mode)
    callback = await authorize(started["Location"], "auth0|alice")
    response = await async_client.get(path_of(callback))
    assert response.status_code == 302 and "#login_code=" in response["Location"]
    login_code = response["Location"].split("#login_code=")[1]
    async_client.cookies.clear()  # the web app on another site calls without cookies
    redeemed = await async_client.post(
        "/api/v1/auth/token",
        {"login_code": login_code, "handoff_verifier": verifier},
        content_type="application/json",
    )
    assert redeemed.status_code == 200
    events = AuditEvent.objects.filter(type=AuditType.LOGIN_SUCCEEDED)
    assert await events.acount() == 1


@sync_to_async
def _refuse_inserts(table: str):
    """A database fault on one table: every INSERT into it fails (a trigger)."""
    with connection.cursor() as cursor:
        cursor.execute(
            "CREATE OR REPLACE FUNCTION refuse_insert() RETURNS trigger AS $$ "
            "BEGIN RAISE EXCEPTION 'injected fault'; END $$ LANGUAGE plpgsql"
        )
        cursor.execute(
            f"CREATE TRIGGER refuse_insert BEFORE INSERT ON {table} "
            "FOR EACH ROW EXECUTE FUNCTION refuse_insert()"
        )


@sync_to_async
def _accept_inserts(table: str):
    with connection.cursor() as cursor:
        cursor.execute(f"DROP TRIGGER refuse_insert ON {table}")


@pytest.mark.postgres
async def test_a_login_that_fails_after_the_upsert_is_audited_as_failed_with_no_session(
    async_client, idp
):
    started = await start(async_client)
    callback = await authorize(started["Location"], "auth0|alice")
    await _refuse_inserts(LoginSession._meta.db_table)
    try:
        response = await async_client.get(path_of(callback))
    finally:
        await _accept_inserts(LoginSession._meta.db_table)
    assert response.status_code == 503
    assert b"service_unavailable" in response.content
    assert "sessionid" not in response.cookies or not response.cookies["sessionid"].value
    user = await User.objects.aget(email="alice@acme.example")
    assert not await Session.objects.aexists()
    assert not await AuditEvent.objects.filter(type=AuditType.LOGIN_SUCCEEDED).aexists()
    failed = await AuditEvent.objects.aget(type=AuditType.LOGIN_FAILED)
    assert failed.details["reason"] == "service_unavailable"
    assert failed.details["sub"] == "auth0|alice"
    me = await async_client.get("/api/v1/auth/me")
    assert me.status_code == 401
    # The person tries again and gets in.
    started = await start(async_client)
    callback = await authorize(started["Location"], "auth0|alice")
    response = await async_client.get(path_of(callback))
    assert response.status_code == 302
    assert await AuditEvent.objects.filter(type=AuditType.LOGIN_SUCCEEDED, user=user).acount() == 1


@pytest.mark.postgres
@pytest.mark.parametrize(
    "refused, mode", [(AuditEvent, "cookie"), (HandoffCode, "token")], ids=["event", "code"]
)
async def test_a_login_that_fails_after_its_session_record_leaves_no_record(
    async_client, idp, refused, mode
):
    params = _token_mode()[1] if mode == "token" else {}
    started = await start(async_client, **params)
    callback = await authorize(started["Location"], "auth0|alice")
    await _refuse_inserts(refused._meta.db_table)
    try:
        response = await async_client.get(path_of(callback))
    finally:
        await _accept_inserts(refused._meta.db_table)
    assert response.status_code == 503
    assert not await LoginSession.objects.aexists()
    assert not await Session.objects.aexists()
    assert not await AuditEvent.objects.filter(type=AuditType.LOGIN_SUCCEEDED).aexists()
    assert (await async_client.get("/api/v1/auth/me")).status_code == 401
    response = await browser_login(async_client, **params)
    assert response.status_code == 302
    assert await LoginSession.objects.acount() == 1


@pytest.mark.postgres
async def test_access_a_failed_login_could_not_grant_is_granted_at_the_next_login(
    async_client, idp
):
    started = await start(async_client)
    callback = await authorize(started["Location"], "auth0|alice")
    await _refuse_inserts(UserApplicationAccess._meta.db_table)
    try:
        response = await async_client.get(path_of(callback))
    finally:
        await _accept_inserts(UserApplicationAccess._meta.db_table)
    assert response.status_code == 503
    assert not await LoginSession.objects.aexists()
    user = await User.objects.aget(email="alice@acme.example")
    assert user.access_pending
    assert not await UserApplicationAccess.objects.filter(user=user).aexists()
    response = await browser_login(async_client)
    assert response.status_code == 302
    me = await async_client.get("/api/v1/auth/me")
    assert [app["code"] for app in me.json()["applications"]] == [
        "causal_edge",
        "market_edge",
        "value_edge",
    ]
    assert not (await User.objects.aget(pk=user.pk)).access_pending


@pytest.mark.postgres
async def test_a_back_channel_logout_that_failed_is_accepted_when_the_provider_retries(
    async_client, idp
):
    response = await browser_login(async_client)
    assert response.status_code == 302
    logout_token = idp.logout_token(sid=idp.logins[-1]["sid"])
    await _refuse_inserts(AuditEvent._meta.db_table)
    try:
        failed = await async_client.post("/auth/backchannel-logout", {"logout_token": logout_token})
    finally:
        await _accept_inserts(AuditEvent._meta.db_table)
    assert failed.status_code == 503
    assert failed.json()["error"] == "service_unavailable"
    assert (await async_client.get("/api/v1/auth/me")).status_code == 200
    retried = await async_client.post("/auth/backchannel-logout", {"logout_token": logout_token})
    assert retried.status_code == 200
    assert (await async_client.get("/api/v1/auth/me")).status_code == 401
    replayed = await async_client.post("/auth/backchannel-logout", {"logout_token": logout_token})
    assert replayed.status_code == 400
