"""DPoP across two server processes on one PostgreSQL database and one Redis: every
forged proof is refused by both, and a proof used on one is refused as a replay on the
other (the jti memory lives in the shared cache)."""

import base64
import json
import os
import time
from urllib.parse import urlencode

import httpx2
import pytest

from tests.e2e.conftest import auth0_env
from tests.e2e.servers import E2EDatabase, Server

from .kit import Key, unsigned

pytestmark = pytest.mark.postgres

FRONTEND = "http://localhost:5173"
TOKEN = "/api/v1/auth/token"
REFRESH = "/api/v1/auth/refresh"
ME = "/api/v1/auth/me"


@pytest.fixture(scope="module")
def servers(redis_url, idp_server):
    database = E2EDatabase(f"authsite_dpop_{os.getpid()}")
    env = auth0_env(idp_server, CACHE_URL=redis_url, COOKIE_SAMESITE="Lax", COOKIE_SECURE="false")
    pair = Server(database, env), Server(database, env)
    yield pair
    for server in pair:
        server.stop()
        server.assert_clean_log()
    database.drop()


def bound_pair(server, key) -> dict:
    """Log in through ``server`` and redeem the session for a pair bound to ``key``."""
    with httpx2.Client(base_url=server.url) as http:
        started = http.get("/auth/login")
        approved = http.get(
            started.headers["location"] + "&" + urlencode({"login_hint": "auth0|alice"})
        )
        assert http.get(approved.headers["location"]).status_code == 302
        csrf = http.get("/api/v1/auth/csrf").json()["csrf_token"]
        proof = key.proof("POST", server.url + TOKEN)
        headers = {"X-CSRFToken": csrf, "Origin": FRONTEND, "DPoP": proof}
        response = http.post(TOKEN, headers=headers)
    assert response.status_code == 200, response.text
    assert response.json()["token_type"] == "DPoP"
    return response.json()


def refresh(server, pair, proof=None):
    headers = {"DPoP": proof} if proof is not None else {}
    body = {"refresh_token": pair["refresh_token"]}
    return httpx2.post(server.url + REFRESH, json=body, headers=headers)


def forgeries(key, thief, url):
    """Each kind of forged proof for a POST to ``url``, made by whoever stole a token."""

    def made(**claims):
        return key.claims("POST", url, **claims)

    return {
        "typ": key.sign(key.header(typ="jwt"), made()),
        "alg none": unsigned(key.header(alg="none"), made()),
        "signed by another key": thief.sign(key.header(), made()),
        "private jwk": key.sign(key.header(jwk=key.private.as_dict(private=True)), made()),
        "htm": key.proof("GET", url),
        "htu": key.proof("POST", url.replace("127.0.0.1", "localhost")),
        "iat too old": key.proof("POST", url, iat=int(time.time()) - 3600),
        "iat in the future": key.proof("POST", url, iat=int(time.time()) + 3600),
        "no jti": key.proof("POST", url, jti=None),
        "the thief's own key": thief.proof("POST", url),
        "no proof": None,
    }


@pytest.mark.parametrize("which", [0, 1], ids=["first server", "second server"])
def test_every_forged_proof_is_refused_by_both_servers(servers, which):
    key, thief = Key(), Key()
    server = servers[which]
    pair = bound_pair(servers[1 - which], key)
    for kind, proof in forgeries(key, thief, server.url + REFRESH).items():
        answer = refresh(server, pair, proof)
        assert (answer.status_code, answer.json()["error"]) == (401, "invalid_dpop_proof"), kind
    assert refresh(server, pair, key.proof("POST", server.url + REFRESH)).status_code == 200


@pytest.mark.parametrize("which", [0, 1], ids=["first server", "second server"])
def test_a_stolen_bound_access_token_is_refused_by_both_servers(servers, which):
    key, thief = Key(), Key()
    server = servers[which]
    access = bound_pair(servers[1 - which], key)["access_token"]
    url = server.url + ME

    def me(scheme, proof):
        headers = {"Authorization": f"{scheme} {access}"}
        if proof is not None:
            headers["DPoP"] = proof
        return httpx2.get(url, headers=headers)

    refusals = {
        "as Bearer": me("Bearer", None),
        "without a proof": me("DPoP", None),
        "with the thief's key": me("DPoP", thief.proof("GET", url, access_token=access)),
        "ath of another token": me("DPoP", key.proof("GET", url, access_token="other")),
    }
    for kind, answer in refusals.items():
        assert (answer.status_code, answer.json()["error"]) == (401, "invalid_dpop_proof"), kind
    assert me("DPoP", key.proof("GET", url, access_token=access)).status_code == 200


def test_a_proof_used_on_one_server_is_refused_as_a_replay_on_the_other(servers):
    first, second = servers
    key = Key()
    pair = bound_pair(first, key)
    proof = key.proof("POST", first.url + REFRESH)
    successor = refresh(first, pair, proof)
    assert successor.status_code == 200
    replayed = refresh(first, successor.json(), proof)
    assert (replayed.status_code, replayed.json()["error"]) == (401, "invalid_dpop_proof")
    # Signed again for the second server's URL, the same jti: still a replay.
    again = key.sign(key.header(), _claims_of(proof) | {"htu": second.url + REFRESH})
    replayed = refresh(second, successor.json(), again)
    assert (replayed.status_code, replayed.json()["error"]) == (401, "invalid_dpop_proof")
    assert "used before" in replayed.json()["detail"]
    fresh = refresh(second, successor.json(), key.proof("POST", second.url + REFRESH))
    assert fresh.status_code == 200


def _claims_of(proof: str) -> dict:
    payload = proof.split(".")[1]
    return json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
