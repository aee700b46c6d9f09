"""Fault injection and key rotation: what a test of the relying party flips at will."""

import json
import threading
import time

import httpx2
import pytest

from tests.devidp.helpers import Pkce, exchange, header, login, verify
from tests.idp import BOB

PATHS = {
    "discovery": ("GET", ".well-known/openid-configuration"),
    "jwks": ("GET", ".well-known/jwks.json"),
    "token": ("POST", "oauth/token"),
    "userinfo": ("GET", "userinfo"),
}


def _call(http, endpoint, **kwargs):
    method, path = PATHS[endpoint]
    return http.request(method, path, **kwargs)


@pytest.mark.parametrize("endpoint", PATHS)
def test_fault_500(idp, http, endpoint):
    idp.fail(endpoint, "500")

    assert _call(http, endpoint).status_code == 500


@pytest.mark.parametrize("endpoint", PATHS)
def test_fault_garbage_is_200_without_json(idp, http, endpoint):
    idp.fail(endpoint, "garbage")

    response = _call(http, endpoint)

    assert response.status_code == 200
    with pytest.raises(json.JSONDecodeError):
        json.loads(response.content)


@pytest.mark.parametrize("endpoint", PATHS)
def test_fault_timeout_outlasts_the_client(idp, endpoint):
    idp.fail(endpoint, "timeout")
    started = time.monotonic()

    with (
        httpx2.Client(base_url=idp.issuer, timeout=0.3) as impatient,
        pytest.raises(httpx2.ReadTimeout),
    ):
        _call(impatient, endpoint)

    assert time.monotonic() - started < 2


def test_healing_a_timeout_releases_the_held_request(idp):
    idp.fail("jwks", "timeout")

    healed_at = time.monotonic() + 0.2
    threading.Timer(0.2, idp.heal, args=("jwks",)).start()

    with httpx2.Client(base_url=idp.issuer, timeout=5) as patient:
        response = _call(patient, "jwks")

    assert response.status_code == 504
    assert time.monotonic() - healed_at < 1


def test_fault_slow_waits_token_delay_then_answers(idp, http):
    idp.token_delay = 0.3
    idp.fail("jwks", "slow")
    started = time.monotonic()

    response = _call(http, "jwks")

    assert response.status_code == 200
    assert response.json()["keys"]
    assert time.monotonic() - started >= 0.3


def test_token_delay_applies_to_every_token_answer_and_nothing_else(idp, http):
    pkce = Pkce.new()
    code = login(http, pkce, BOB)
    idp.token_delay = 0.3

    started = time.monotonic()
    discovery = _call(http, "discovery")
    after_discovery = time.monotonic()
    token = exchange(http, code, pkce.verifier)
    after_token = time.monotonic()

    assert discovery.status_code == token.status_code == 200
    assert after_discovery - started < 0.3
    assert after_token - after_discovery >= 0.3


def test_heal_one_endpoint_or_all(idp, http):
    idp.fail("jwks", "500")
    idp.fail("discovery", "500")

    idp.heal("jwks")
    assert _call(http, "jwks").status_code == 200
    assert _call(http, "discovery").status_code == 500

    idp.heal()
    assert _call(http, "discovery").status_code == 200


@pytest.mark.parametrize(("endpoint", "mode"), [("authorize", "500"), ("jwks", "explode")])
def test_unknown_faults_are_refused(idp, endpoint, mode):
    with pytest.raises(ValueError):
        idp.fail(endpoint, mode)


def test_rotation_keeps_the_old_key_published_and_signs_with_the_new(idp, http):
    old_kid = idp.current_key.kid
    old_token = idp.sign({"sub": BOB})

    new_key = idp.rotate_keys()

    kids = [key["kid"] for key in http.get(".well-known/jwks.json").json()["keys"]]
    assert set(kids) == {old_kid, new_key.kid}
    assert idp.current_key is new_key
    assert verify(http, old_token)["sub"] == BOB
    pkce = Pkce.new()
    id_token = exchange(http, login(http, pkce, BOB), pkce.verifier).json()["id_token"]
    assert header(id_token)["kid"] == new_key.kid


def test_rotation_without_keep_old_retires_the_old_key(idp, http):
    new_key = idp.rotate_keys(keep_old=False)

    kids = [key["kid"] for key in http.get(".well-known/jwks.json").json()["keys"]]
    assert kids == [new_key.kid]


def test_reset_restores_the_first_key(idp):
    first = idp.current_key
    idp.rotate_keys(keep_old=False)

    idp.reset()

    assert idp.keys == [first]
