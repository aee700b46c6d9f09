"""The fast lane and DPoP (RFC 9449): the lane verifies no proof, so it passes on, with
nothing spent, every request with a DPoP header, an access token bound to a DPoP key
presented as Bearer, and the refresh of a bound family; Django then answers, and the
production application (the lane in front of Django) answers exactly as Django alone
does."""

import json

import httpx2
import pytest
from asgiref.sync import sync_to_async

from accounts import keys
from accounts.tokens import access as access_tokens
from accounts.tokens import refresh as refresh_tokens
from authsite.asgi import django_application
from tests.api.kit import amember
from tests.api.refreshkit import PASSED_ON, comparable_headers, post, row_counts, token_row
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


# --- what the lane passes on -------------------------------------------------------------


async def test_a_refresh_with_a_dpop_header_is_passed_on_unspent(lane):
    """Even for an unbound family, whose rotation the lane could answer: a proof sent is
    a proof Django verifies."""
    pair = await apair(await amember())
    body = refresh_body(pair)
    before = await row_counts()
    answer = await post(lane, body, headers={"DPoP": Key().proof("POST", REFRESH)})
    assert (answer.status_code, answer.content) == (PASSED_ON, body)
    assert await row_counts() == before
    assert (await token_row(pair["refresh_token"])).used_at is None


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
