"""The demo web app's tokens in token-handoff mode, bound to a key its browser keeps and
cannot export (DPoP, RFC 9449): the login binds them, a refresh token copied out of the
page is useless to another client, the page's own refresh keeps working, a reload keeps
the key, and a browser without a key store falls back to unbound tokens and says so."""

import base64
import json
import os
import secrets
import subprocess
import sys
import time

import httpx2
import pytest
from joserfc import jwt
from joserfc.jwk import ECKey
from playwright.sync_api import Page, expect

from tests.browser.conftest import (
    FRESH_PROFILE,
    THIRD_PARTY_COOKIES_BLOCKED,
    log_in_by_token_handoff,
)
from tests.e2e.servers import ROOT, base_env

pytestmark = pytest.mark.browser

TOKEN = "/api/v1/auth/token"
REFRESH = "/api/v1/auth/refresh"
ME = "/api/v1/auth/me"
BOUND = "Your tokens are bound to a key this browser keeps and cannot export"

# What a script injected into the page would try: read the key out of IndexedDB and export it.
_EXPORT_THE_PRIVATE_KEY = """() => new Promise((resolve, reject) => {
    const opening = indexedDB.open("demo-dpop");
    opening.onerror = () => reject(opening.error);
    opening.onsuccess = () => {
        const read = opening.result.transaction("keys").objectStore("keys").get("dpop");
        read.onsuccess = () => crypto.subtle.exportKey("jwk", read.result.privateKey)
            .then(() => "exported", (error) => error.name)
            .then(resolve);
    };
})"""

_REFRESH_TOKEN_ROW = """
import json, os
from accounts.models import RefreshToken
from accounts.tokens.base import hash_token
token = RefreshToken.objects.select_related("family").get(
    token_hash=hash_token(os.environ["REFRESH_TOKEN"])
)
print(json.dumps({
    "used": token.used_at is not None,
    "revoked": (token.family.revoked_at or token.revoked_at) is not None,
    "dpop_jkt": token.family.dpop_jkt,
}))
"""


def refresh_token_row(database, refresh_token: str) -> dict:
    """What the API's database holds about `refresh_token`: spent, revoked, bound to."""
    output = subprocess.run(
        [sys.executable, "manage.py", "shell", "-c", _REFRESH_TOKEN_ROW],
        cwd=ROOT,
        env={
            **os.environ,
            **base_env(),
            "DATABASE_URL": database.url,
            "REFRESH_TOKEN": refresh_token,
        },
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    return json.loads(output.strip().splitlines()[-1])


def claims_of(token: str) -> dict:
    payload = token.split(".")[1]
    return json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))


def answers(page: Page, deployment, path: str, method: str = "POST"):
    """Wait for the page's `method` request to the API's `path`; `.value` is its answer."""
    url = deployment.api + path
    return page.expect_response(
        lambda response: response.url == url and response.request.method == method,
        timeout=30_000,
    )


def log_in_with_dpop(page: Page, deployment, steps) -> dict:
    """The token-handoff login; return the pair the redemption answered."""
    with answers(page, deployment, TOKEN) as redemption:
        log_in_by_token_handoff(page, deployment, steps)
    assert redemption.value.ok
    return redemption.value.json()


def foreign_proof(url: str) -> str:
    """A well-formed DPoP proof for POST `url`, signed by a key that is not the page's."""
    key = ECKey.generate_key("P-256")
    header = {"typ": "dpop+jwt", "alg": "ES256", "jwk": key.as_dict(private=False)}
    claims = {"htm": "POST", "htu": url, "iat": int(time.time()), "jti": secrets.token_urlsafe()}
    return jwt.encode(header, claims, key, algorithms=["ES256"])


def test_the_handoff_login_binds_the_tokens_to_the_browser_s_key(launch, steps, cross_site):
    context = launch(FRESH_PROFILE)
    page = context.pages[0]
    me_answers = []
    page.on(
        "response",
        lambda response: response.url == cross_site.api + ME and me_answers.append(response),
    )

    pair = log_in_with_dpop(page, cross_site, steps)

    assert pair["token_type"] == "DPoP"
    expect(page.locator("#bound-note")).to_contain_text(BOUND)
    expect(page.locator("#bound-note")).to_contain_text("a copied refresh token is useless")
    expect(page.locator("#unbound-note")).to_be_hidden()
    thumbprint = page.locator("#key-thumbprint").inner_text()
    assert claims_of(pair["access_token"])["cnf"] == {"jkt": thumbprint}
    expect(page.locator("#user-name")).to_have_text("Alice Acme")
    steps.shot(page, "logged-in-bound")
    # /me answered the bound access token, sent as DPoP with a proof.
    me = [answer for answer in me_answers if answer.request.method == "GET"][-1]
    assert me.status == 200
    headers = me.request.all_headers()
    assert headers["authorization"] == f"DPoP {pair['access_token']}"
    assert headers["dpop"].count(".") == 2
    # A script in the page can use the key, but cannot take it away.
    assert page.evaluate(_EXPORT_THE_PRIVATE_KEY) == "InvalidAccessError"


def test_a_refresh_token_copied_out_of_the_page_is_useless_elsewhere(
    launch, steps, cross_site, browser_database
):
    context = launch(FRESH_PROFILE)
    page = context.pages[0]
    log_in_with_dpop(page, cross_site, steps)
    thumbprint = page.locator("#key-thumbprint").inner_text()
    stolen = page.evaluate("() => JSON.parse(sessionStorage.getItem('demo.refresh')).token")
    refresh_url = cross_site.api + REFRESH

    replays = [
        httpx2.post(refresh_url, json={"refresh_token": stolen}),
        httpx2.post(
            refresh_url,
            json={"refresh_token": stolen},
            headers={"DPoP": foreign_proof(refresh_url)},
        ),
    ]

    assert [replay.status_code for replay in replays] == [401, 401]
    assert [replay.json()["error"] for replay in replays] == ["invalid_dpop_proof"] * 2
    for replay in replays:
        assert replay.headers["WWW-Authenticate"].startswith("DPoP ")
        assert 'error="invalid_dpop_proof"' in replay.headers["WWW-Authenticate"]
    assert sum(replay.is_success for replay in replays) == 0
    # The refusals spent nothing: the token is unused, its family live and bound.
    assert refresh_token_row(browser_database, stolen) == {
        "used": False,
        "revoked": False,
        "dpop_jkt": thumbprint,
    }

    first_token = page.locator("#token-id").inner_text()
    with answers(page, cross_site, REFRESH) as refreshed:
        page.click("#refresh")
    expect(page.locator("#message")).to_contain_text("Token refreshed")
    expect(page.locator("#token-id")).not_to_have_text(first_token)
    expect(page.locator("#error")).to_be_hidden()
    assert refreshed.value.status == 200
    assert refreshed.value.json()["token_type"] == "DPoP"
    assert refresh_token_row(browser_database, stolen)["used"] is True
    steps.shot(page, "own-refresh-after-refused-replays")


def test_reloading_keeps_the_key_and_the_login(launch, steps, cross_site):
    context = launch(FRESH_PROFILE)
    page = context.pages[0]
    log_in_with_dpop(page, cross_site, steps)
    thumbprint = page.locator("#key-thumbprint").inner_text()

    with answers(page, cross_site, REFRESH) as resumed:
        page.reload()
    expect(page.locator("#status")).to_have_text("Logged in")
    expect(page.locator("#mode")).to_have_text("Token-handoff mode")
    expect(page.locator("#message")).to_contain_text("resumed your login")
    expect(page.locator("#bound-note")).to_contain_text(BOUND)
    expect(page.locator("#key-thumbprint")).to_have_text(thumbprint)
    assert claims_of(resumed.value.json()["access_token"])["cnf"] == {"jkt": thumbprint}
    steps.shot(page, "reloaded-still-logged-in")

    with answers(page, cross_site, REFRESH) as refreshed:
        page.click("#refresh")
    expect(page.locator("#message")).to_contain_text("Token refreshed")
    expect(page.locator("#error")).to_be_hidden()
    assert refreshed.value.json()["token_type"] == "DPoP"

    page.click("#logout")
    expect(page.locator("#status")).to_have_text("Logged out")
    expect(page.locator("#error")).to_be_hidden()
    assert page.evaluate("() => sessionStorage.getItem('demo.refresh')") is None
    page.reload()
    expect(page.locator("#status")).to_have_text("Logged out")
    steps.shot(page, "logged-out-and-reloaded")


def test_without_a_key_store_the_tokens_are_unbound_and_kept_in_memory_only(
    launch, steps, cross_site
):
    """A browser without IndexedDB here (and with the explicit "block third-party cookies"
    preference): the page logs in with unbound Bearer tokens, says so, keeps them in
    memory only, and a reload forgets them."""
    context = launch(THIRD_PARTY_COOKIES_BLOCKED)
    context.add_init_script("Object.defineProperty(window, 'indexedDB', {value: undefined})")
    page = context.pages[0]

    pair = log_in_with_dpop(page, cross_site, steps)

    assert pair["token_type"] == "Bearer"
    note = page.locator("#unbound-note")
    expect(note).to_contain_text("not bound to a key")
    expect(note).to_contain_text("reloading logs you out of this tab")
    expect(page.locator("#bound-note")).to_be_hidden()
    expect(page.locator("#user-name")).to_have_text("Alice Acme")
    assert page.evaluate("() => Object.keys(sessionStorage)") == ["demo.api"]
    steps.shot(page, "logged-in-unbound")

    page.reload()
    expect(page.locator("#status")).to_have_text("Logged out")
    expect(page.locator("#profile")).to_be_hidden()
    expect(page.locator("#login")).to_be_enabled()
    steps.shot(page, "reloaded-logged-out")


def test_where_the_api_asks_for_nonces_the_page_retries_once_with_the_one_it_sent(
    launch, steps, cross_site_with_dpop_nonces
):
    """DPOP_NONCE=true: the redemption's first proof has no nonce and is refused with
    use_dpop_nonce; the page retries it once with the API's DPoP-Nonce, and every later
    proof carries the latest nonce, so nothing else is refused."""
    deployment = cross_site_with_dpop_nonces
    context = launch(FRESH_PROFILE)
    page = context.pages[0]
    api_answers = []
    page.on(
        "response",
        lambda response: (
            response.url.startswith(deployment.api + "/api/")
            and response.request.method != "OPTIONS"
            and api_answers.append(response)
        ),
    )

    log_in_by_token_handoff(page, deployment, steps)
    with answers(page, deployment, REFRESH) as refreshed:
        page.click("#refresh")
    expect(page.locator("#message")).to_contain_text("Token refreshed")

    expect(page.locator("#bound-note")).to_contain_text(BOUND)
    expect(page.locator("#error")).to_be_hidden()
    assert refreshed.value.status == 200
    with_proofs = [a for a in api_answers if "dpop" in a.request.all_headers()]
    first, retried, *later = with_proofs
    assert (first.url, first.status, first.json()["error"]) == (
        deployment.api + TOKEN,
        401,
        "use_dpop_nonce",
    )
    assert (retried.url, retried.status) == (deployment.api + TOKEN, 200)
    assert retried.json()["token_type"] == "DPoP"
    assert {answer.url for answer in later} >= {deployment.api + ME, deployment.api + REFRESH}
    assert [answer.status for answer in later if not answer.ok] == []
    nonces = [claims_of(a.request.all_headers()["dpop"]).get("nonce") for a in with_proofs]
    assert nonces[0] is None
    assert all(nonces[1:])
    steps.shot(page, "logged-in-with-nonces")
