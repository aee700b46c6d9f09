"""X-Request-ID: made for each request, or taken from a trusted proxy when it is sane;
echoed on every answer; on every log record of the request, with the user and the
organisation once known; and sent to the identity provider."""

import asyncio
import json
import re

import pytest
from django.core.cache import cache

from accounts.login.oidc import http, metadata
from tests.idp import ALICE
from tests.logins import browser_login

pytestmark = pytest.mark.django_db(transaction=True)

MADE = re.compile("[0-9a-f]{32}")
DISCOVERY = "/.well-known/openid-configuration"


def _records(json_log) -> list[dict]:
    return [json.loads(line) for line in json_log.getvalue().splitlines()]


def test_each_answer_has_an_id_of_its_own(client):
    answers = [client.get("/healthz"), client.get("/healthz"), client.get("/api/v1/auth/me")]
    identifiers = [answer["X-Request-ID"] for answer in answers]
    assert all(MADE.fullmatch(identifier) for identifier in identifiers)
    assert len(set(identifiers)) == 3
    assert answers[2].status_code == 401


def test_a_trusted_proxy_s_id_is_kept(client, settings):
    settings.TRUSTED_PROXIES = ["127.0.0.0/8"]
    for offered in ("edge-01.abc_DEF", "a" * 128, "f3b1c6a4-2c1e-4f7e-9a57-2b9d5e8c1d00"):
        assert client.get("/healthz", HTTP_X_REQUEST_ID=offered)["X-Request-ID"] == offered


def test_an_id_from_any_other_peer_is_replaced(client, settings):
    settings.TRUSTED_PROXIES = ["10.0.0.0/8"]
    answer = client.get("/healthz", HTTP_X_REQUEST_ID="chosen-by-the-client")
    assert MADE.fullmatch(answer["X-Request-ID"])
    settings.TRUSTED_PROXIES = []
    answer = client.get("/healthz", HTTP_X_REQUEST_ID="chosen-by-the-client")
    assert MADE.fullmatch(answer["X-Request-ID"])


@pytest.mark.parametrize(
    "offered",
    [
        "a" * 129,
        "two words",
        'quote"d',
        "semi;colon",
        "one,two",  # what two X-Request-ID headers become
        "caf\u00e9",
        "{json}",
    ],
)
def test_a_malformed_id_is_replaced_even_from_a_trusted_proxy(client, settings, offered):
    settings.TRUSTED_PROXIES = ["127.0.0.0/8"]
    answer = client.get("/healthz", HTTP_X_REQUEST_ID=offered)
    assert MADE.fullmatch(answer["X-Request-ID"])


async def test_the_request_s_records_and_provider_calls_carry_its_id(
    async_client, recording_idp, json_log, settings
):
    settings.TRUSTED_PROXIES = ["127.0.0.0/8"]
    started = await async_client.get("/auth/login", headers={"X-Request-ID": "edge-42"})
    assert started.status_code == 302
    assert started["X-Request-ID"] == "edge-42"
    assert recording_idp.request_ids(DISCOVERY) == ["edge-42"]
    fetched = [
        record
        for record in _records(json_log)
        if record["logger"] == "httpx2" and DISCOVERY in record["message"]
    ]
    assert [record["request_id"] for record in fetched] == ["edge-42"]

    done = await browser_login(async_client, ALICE)
    assert done.status_code == 302
    callback_id = done["X-Request-ID"]
    assert recording_idp.request_ids("/oauth/token") == [callback_id]
    assert recording_idp.request_ids("/.well-known/jwks.json") == [callback_id]


async def test_records_name_the_user_and_organisation_once_known(browser, recording_idp, json_log):
    from accounts.models import User

    assert (await browser_login(browser, ALICE)).status_code == 302
    user = await User.objects.aget(email="alice@acme.example")
    csrf = (await browser.get("/api/v1/auth/csrf")).json()["csrf_token"]
    cache.clear()  # logging out then reads the provider's discovery again
    metadata._memo.clear()
    logout = await browser.post(
        "/auth/logout", headers={"X-CSRFToken": csrf, "Origin": "http://localhost:5173"}
    )
    assert logout.status_code == 200
    fetched = [
        record
        for record in _records(json_log)
        if record["request_id"] == logout["X-Request-ID"] and record["logger"] == "httpx2"
    ]
    assert fetched
    for record in fetched:
        assert (record["user_id"], record["organisation_id"]) == (user.pk, user.organisation_id)
    assert recording_idp.request_ids(DISCOVERY)[-1] == logout["X-Request-ID"]
    anonymous = [record for record in _records(json_log) if record["request_id"] is None]
    assert all("user_id" not in record for record in anonymous)


def test_a_call_outside_any_request_sends_no_id(recording_idp):
    """auth_doctor and the other commands serve no request: nothing stale is sent."""
    asyncio.run(http.get_json(recording_idp.issuer + ".well-known/jwks.json"))
    assert recording_idp.request_ids("/.well-known/jwks.json") == [None]


def test_the_web_app_may_read_the_id(client):
    answer = client.get("/api/v1/auth/csrf", HTTP_ORIGIN="http://localhost:5173")
    assert "X-Request-ID" in answer["Access-Control-Expose-Headers"].split(", ")
    assert MADE.fullmatch(answer["X-Request-ID"])
