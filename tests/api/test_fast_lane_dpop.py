"""The fast lane and DPoP (RFC 9449): the lane rotates a refresh with a DPoP proof as
Django does, verifying the proof with Django's own code; it passes on, with nothing
spent, a refresh whose proof is refused (Django refuses it the same way: its jti was not
remembered), a bound family's refresh without a proof by its key, and every ``/me`` with
a DPoP header or a bound access token. A proof the lane verified goes to Django with a
refresh it passes on. The production application (the lane in front of Django) answers
exactly as Django alone does."""

import json
import time

import httpx2
import pytest
from asgiref.sync import sync_to_async

from accounts import keys
from accounts.tokens import access as access_tokens
from accounts.tokens import dpop
from accounts.tokens import refresh as refresh_tokens
from authsite.asgi import django_application
from tests.api.kit import amember
from tests.api.refreshkit import (
    PASSED_ON,
    children_of,
    comparable_headers,
    post,
    row_counts,
)
from tests.dpop.kit import Key

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]

ME = "/api/v1/auth/me"
REFRESH = "/api/v1/auth/refresh"


async def apair(user, key=None) -> dict:
    """A new family of ``user`` and its first pair, bound to ``key`` when given."""
    grant = await sync_to_async(refresh_tokens.issue_grant)(user, dpop_jkt=key.jkt if key else "")
    return access_tokens.pair(grant, issuer="http://testserver", signer=await keys.asigner())


async def get_me(app, headers):
    transport = httpx2.ASGITransport(app=app, client=("127.0.0.1", 50000))
    async with httpx2.AsyncClient(transport=transport, base_url="http://testserver") as http:
        return await http.get(ME, headers=headers)


def refresh_body(pair) -> bytes:
    return json.dumps({"refresh_token": pair["refresh_token"]}).encode()


# --- what the lane answers, and what it passes on ------------------------------------------


def proved(key):
    return {"DPoP": key.proof("POST", REFRESH)}


@pytest.mark.parametrize("bound", [True, False], ids=["bound family", "unbound family"])
async def test_the_lane_rotates_with_a_proof_exactly_as_django_does(lane, bound):
    key = Key()
    user = await amember()
    first, second = [await apair(user, key if bound else None) for _ in range(2)]
    answer = await post(lane, refresh_body(first), headers=proved(key))
    assert answer.status_code == 200, answer.content
    django = await post(django_application, refresh_body(second), headers=proved(key))
    assert django.status_code == 200
    assert answer.json()["token_type"] == django.json()["token_type"]
    assert answer.json()["token_type"] == ("DPoP" if bound else "Bearer")
    claims = access_tokens.unverified_claims(answer.json()["access_token"])
    assert claims.get("cnf") == ({"jkt": key.jkt} if bound else None)
    assert comparable_headers(answer) == comparable_headers(django)
    assert len(await children_of(first["refresh_token"])) == 1


async def test_a_refresh_with_a_refused_proof_is_passed_on_unspent_then_refused_alike(
    lane, full_stack
):
    pair = await apair(await amember(), Key())
    key = Key()
    proof = {"DPoP": key.proof("GET", REFRESH)}
    before = await row_counts()
    answer = await post(lane, refresh_body(pair), headers=proof)
    assert (answer.status_code, answer.content) == (PASSED_ON, refresh_body(pair))
    assert await row_counts() == before
    refused = await post(full_stack, refresh_body(pair), headers=proof)
    assert refused.json()["error"] == "invalid_dpop_proof"
    assert "htm" in refused.json()["detail"]  # not refused as a replay


async def test_a_proof_the_lane_verified_goes_to_django_with_the_refresh(full_stack):
    """A second presentation within the grace: the lane verifies its proof, loses the
    rotation and passes it on; Django answers the sibling pair with that proof instead
    of refusing it as used."""
    key = Key()
    pair = await apair(await amember(), key)
    assert (await post(full_stack, refresh_body(pair), headers=proved(key))).status_code == 200
    retried = await post(full_stack, refresh_body(pair), headers=proved(key))
    assert retried.status_code == 200, retried.content
    assert retried.json()["token_type"] == "DPoP"


async def test_with_dpop_nonce_the_lane_sends_a_fresh_nonce_as_django_does(lane, settings):
    settings.DPOP_NONCE = True
    key = Key()
    user = await amember()
    first, second = [await apair(user, key) for _ in range(2)]
    nonce = dpop.new_nonce()

    def headers():
        return {"DPoP": key.proof("POST", REFRESH, nonce=nonce)}

    answer = await post(lane, refresh_body(first), headers=headers())
    django = await post(django_application, refresh_body(second), headers=headers())
    assert answer.status_code == django.status_code == 200
    assert comparable_headers(answer).keys() == comparable_headers(django).keys()
    for fresh in (answer.headers["DPoP-Nonce"], django.headers["DPoP-Nonce"]):
        assert dpop.is_live_nonce(fresh, time.time())


async def test_without_the_nonce_asked_for_the_refresh_is_passed_on(lane, settings):
    settings.DPOP_NONCE = True
    key = Key()
    answer = await post(lane, refresh_body(await apair(await amember(), key)), headers=proved(key))
    assert answer.status_code == PASSED_ON


async def test_the_refresh_of_a_bound_family_without_a_proof_is_passed_on_unspent(lane):
    pair = await apair(await amember(), Key())
    before = await row_counts()
    answer = await post(lane, refresh_body(pair))
    assert answer.status_code == PASSED_ON
    assert await row_counts() == before


@pytest.mark.parametrize("scheme", ["Bearer", "DPoP"])
async def test_a_bound_access_token_is_passed_on_under_either_scheme(lane, scheme):
    key = Key()
    access = (await apair(await amember(), key))["access_token"]
    answer = await get_me(
        lane,
        {"Authorization": f"{scheme} {access}", "DPoP": key.proof("GET", ME, access_token=access)},
    )
    assert answer.status_code == PASSED_ON


# --- the production application answers as Django does ------------------------------------


def assert_same_refusal(application_answer, django_answer, error):
    assert application_answer.status_code == django_answer.status_code == 401
    assert application_answer.json() == django_answer.json()
    assert application_answer.json()["error"] == error
    assert comparable_headers(application_answer) == comparable_headers(django_answer)


async def test_a_bound_access_token_as_bearer_is_refused_on_both_paths(full_stack):
    access = (await apair(await amember(), Key()))["access_token"]
    headers = {"Authorization": f"Bearer {access}"}
    assert_same_refusal(
        await get_me(full_stack, headers),
        await get_me(django_application, headers),
        "invalid_dpop_proof",
    )


async def test_a_bound_access_token_with_its_proof_reads_me_on_both_paths(full_stack):
    key = Key()
    access = (await apair(await amember(), key))["access_token"]

    def headers():
        proof = key.proof("GET", ME, access_token=access)
        return {"Authorization": f"DPoP {access}", "DPoP": proof}

    application_answer = await get_me(full_stack, headers())
    django_answer = await get_me(django_application, headers())
    assert application_answer.status_code == django_answer.status_code == 200
    assert application_answer.json() == django_answer.json()
    assert comparable_headers(application_answer) == comparable_headers(django_answer)


async def test_the_refresh_of_a_bound_family_without_a_proof_is_refused_on_both_paths(full_stack):
    pair = await apair(await amember(), Key())
    before = await row_counts()
    assert_same_refusal(
        await post(full_stack, refresh_body(pair)),
        await post(django_application, refresh_body(pair)),
        "invalid_dpop_proof",
    )
    assert await row_counts() == before


async def test_a_refresh_with_a_bad_proof_is_refused_on_both_paths(full_stack):
    """An unbound family's token, which the lane would rotate without the header."""
    pair = await apair(await amember())
    key = Key()

    def proof():
        return key.proof("POST", REFRESH, htm="GET")

    before = await row_counts()
    assert_same_refusal(
        await post(full_stack, refresh_body(pair), headers={"DPoP": proof()}),
        await post(django_application, refresh_body(pair), headers={"DPoP": proof()}),
        "invalid_dpop_proof",
    )
    assert await row_counts() == before


async def test_the_refresh_of_a_bound_family_with_its_proof_rotates_on_both_paths(full_stack):
    key = Key()
    user = await amember()
    first, second = await apair(user, key), await apair(user, key)
    headers = {"DPoP": key.proof("POST", REFRESH)}
    application_answer = await post(full_stack, refresh_body(first), headers=headers)
    headers = {"DPoP": key.proof("POST", REFRESH)}
    django_answer = await post(django_application, refresh_body(second), headers=headers)
    assert application_answer.status_code == django_answer.status_code == 200
    assert application_answer.json()["token_type"] == django_answer.json()["token_type"] == "DPoP"
    assert sorted(application_answer.json()) == sorted(django_answer.json())
    assert comparable_headers(application_answer) == comparable_headers(django_answer)
