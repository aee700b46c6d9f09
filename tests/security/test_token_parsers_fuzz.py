"""Whatever arrives as a token, the answer is a clean refusal: never a 500."""

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from accounts.tokens.access import unverified_claims

JWTISH = st.one_of(
    st.text(max_size=200),
    st.lists(
        st.text(alphabet="ABCDEFabcdef0123456789-_=", max_size=60), min_size=1, max_size=5
    ).map(".".join),
)
FUZZ = settings(max_examples=60, deadline=None, suppress_health_check=list(HealthCheck))


@pytest.fixture(autouse=True)
def _no_rate_limit(settings):
    # every example comes from one address; rate limits have tests of their own
    settings.RATE_LIMIT_TOKEN = "100000/m"


@given(JWTISH)
@FUZZ
def test_unverified_claims_parser_never_raises_unexpectedly(value):
    from accounts.tokens.base import TokenError

    try:
        claims = unverified_claims(value)
    except TokenError:
        return
    assert isinstance(claims, dict)


@pytest.mark.django_db
@given(JWTISH)
@FUZZ
def test_any_bearer_value_is_refused_cleanly(client, value):
    if any(ord(ch) < 0x20 or ord(ch) > 0x7E for ch in value):
        return  # not sendable in an HTTP header
    response = client.get("/api/v1/auth/me", HTTP_AUTHORIZATION=f"Bearer {value}")
    assert response.status_code == 401
    assert response.json()["error"] in {"invalid_token", "not_authenticated"}


@pytest.mark.django_db
@given(st.text(max_size=100), st.one_of(st.none(), st.text(max_size=100)))
@FUZZ
def test_any_login_code_and_verifier_are_refused_cleanly(client, code, verifier):
    body = {"login_code": code}
    if verifier is not None:
        body["handoff_verifier"] = verifier
    response = client.post("/api/v1/auth/token", body, content_type="application/json")
    assert response.status_code == 400
    assert response.json()["error"] in {"invalid_grant", "invalid_request"}


@pytest.mark.django_db
@given(st.text(min_size=1, max_size=100))
@FUZZ
def test_any_refresh_token_is_refused_cleanly(client, value):
    response = client.post(
        "/api/v1/auth/refresh", {"refresh_token": value}, content_type="application/json"
    )
    assert response.status_code == 401
    assert response.json()["error"] == "invalid_token"
