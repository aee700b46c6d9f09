"""The sync ASGI test client (tests/asgi_client.py): on PostgreSQL, pytest-django's
``client`` fixture sends its requests through ``authsite.asgi.application``, fast lane
in front, from the test's thread, and closes the lane's pool after each request.
Django's ``request_started`` signal tells who answered (tests/api/test_asgi_client.py)."""

import time

import pytest
from asgiref.sync import async_to_sync
from django.db import connection

from authsite.handler import ASGIHandler
from tests.api.kit import member
from tests.asgi_client import SyncASGIClient, SyncASGIClientHandler
from tests.tokens.kit import aissue_token_pair

from .test_asgi_client import FRONTEND, _django_answers

pytestmark = pytest.mark.postgres

LANE_CONNECTIONS = """
    SELECT count(*) FROM pg_stat_activity
    WHERE application_name = 'authsite fast lane' AND datname = current_database()
"""


def _bearer(user) -> dict:
    """The Authorization header of a new access token for ``user``."""
    pair = async_to_sync(aissue_token_pair)(user, issuer="http://testserver")
    return {"Authorization": f"Bearer {pair['access_token']}"}


def _lane_connections() -> int:
    """How many connections the fast lane has open to the test database, once those it
    closed are gone (a server process exits shortly after its client leaves)."""
    deadline = time.monotonic() + 5
    with connection.cursor() as cursor:
        while True:
            cursor.execute(LANE_CONNECTIONS)
            (count,) = cursor.fetchone()
            if count == 0 or time.monotonic() > deadline:
                return count
            time.sleep(0.05)


def test_the_client_fixtures_are_sync_asgi_clients(client, new_client):
    assert isinstance(client, SyncASGIClient) and not client.handler.enforce_csrf_checks
    enforcing = new_client(enforce_csrf_checks=True)
    assert isinstance(enforcing, SyncASGIClient) and enforcing.handler.enforce_csrf_checks


@pytest.mark.django_db(transaction=True)
def test_a_bearer_me_is_answered_by_the_lane_other_paths_by_django(client):
    user = member()
    bearer = _bearer(user)
    with _django_answers() as senders:
        me = client.get("/api/v1/auth/me", headers=bearer)
    assert me.status_code == 200 and me.json()["id"] == user.pk and senders == []
    with _django_answers() as senders:
        features = client.get("/api/v1/features", headers=bearer)
    assert features.status_code == 200 and senders == [ASGIHandler]


@pytest.mark.django_db(transaction=True)
def test_the_lane_keeps_no_connection_open_between_requests(client):
    bearer = _bearer(member())
    with _django_answers() as senders:
        answers = [client.get("/api/v1/auth/me", headers=bearer) for _ in range(50)]
    assert {answer.status_code for answer in answers} == {200} and senders == []
    assert _lane_connections() == 0


@pytest.mark.django_db(transaction=True)
def test_a_refresh_in_the_body_is_answered_by_the_lane(client):
    pair = async_to_sync(aissue_token_pair)(member(), issuer="http://testserver")
    body = {"refresh_token": pair["refresh_token"]}
    with _django_answers() as senders:
        refreshed = client.post("/api/v1/auth/refresh", body, content_type="application/json")
    assert refreshed.status_code == 200 and senders == []
    assert refreshed.json()["refresh_token"] != pair["refresh_token"]


@pytest.mark.django_db
def test_django_answers_on_the_test_s_connection_inside_its_transaction(client):
    # The lane reads on connections of its own, which cannot see the test's rows:
    # it declines, and Django answers from the rows the test wrote.
    user = member()
    with _django_answers() as senders:
        me = client.get("/api/v1/auth/me", headers=_bearer(user))
    assert me.status_code == 200 and me.json()["id"] == user.pk
    assert senders == [ASGIHandler]


@pytest.mark.django_db
def test_only_requests_that_need_the_csrf_bypass_skip_the_application(client, new_client):
    user = member()
    enforcing = new_client(enforce_csrf_checks=True)
    for each in (client, enforcing):
        each.force_login(user)
    with _django_answers() as senders:
        refused = enforcing.post("/auth/logout", headers={"Origin": FRONTEND})
        bypassed = client.post("/auth/logout", headers={"Origin": FRONTEND})
        backchannel = client.post("/auth/backchannel-logout", {"logout_token": "x"})
    assert refused.status_code == 403 and refused.json()["error"] == "csrf_failed"
    assert bypassed.status_code == 200 and backchannel.status_code == 400
    assert senders == [ASGIHandler, SyncASGIClientHandler, ASGIHandler]


def test_django_s_middleware_is_built_again_when_a_setting_changes(client, settings):
    settings.SECURE_HSTS_SECONDS = 600
    assert client.get("/healthz", secure=True)["Strict-Transport-Security"] == "max-age=600"
    settings.SECURE_HSTS_SECONDS = 60
    assert client.get("/healthz", secure=True)["Strict-Transport-Security"] == "max-age=60"
