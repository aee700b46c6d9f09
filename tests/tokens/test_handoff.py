"""The token handoff: a one-time, S256-bound login code exchanged at
POST /api/v1/auth/token without cookies or CSRF."""

import secrets
from datetime import timedelta

import pytest
from asgiref.sync import async_to_sync
from django.conf import settings
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from accounts.api.bearer import authenticate_bearer
from accounts.models import AuditEvent, AuditType, HandoffCode, RefreshToken, TokenFamily
from accounts.tokens import base as token_base
from accounts.tokens import handoff as handoff_codes
from tests.asgi_client import sync_client_class

from .kit import post_json


@pytest.fixture
def verifier():
    return secrets.token_urlsafe(48)


@pytest.fixture
def code(user, verifier):
    return handoff_codes.create_handoff_code(
        user, handoff_codes.s256(verifier), session_key="browser-session"
    )


def redeem(code, verifier, client=None):
    # A cross-site web app: no cookies, no CSRF token, an Origin of its own.
    client = client or sync_client_class()(enforce_csrf_checks=True)
    return post_json(
        client,
        "/api/v1/auth/token",
        {"login_code": code, "handoff_verifier": verifier},
        HTTP_ORIGIN="http://localhost:5173",
    )


def refusal_reasons():
    return list(
        AuditEvent.objects.filter(type=AuditType.HANDOFF_REFUSED)
        .order_by("pk")
        .values_list("details__reason", flat=True)
    )


def test_redeem_success(user, code, verifier):
    response = redeem(code, verifier)
    assert response.status_code == 200
    body = response.json()
    assert set(body) == {"access_token", "token_type", "expires_in", "refresh_token"}
    assert settings.REFRESH_COOKIE_NAME not in response.cookies
    principal, _ = async_to_sync(authenticate_bearer)(body["access_token"])
    assert principal.user == user
    family = TokenFamily.objects.get(pk=principal.family_id)
    # Logging out of the browser session that logged in revokes it.
    assert family.session_key == "browser-session"
    assert HandoffCode.objects.get().used_at is not None
    issued = AuditEvent.objects.get(type=AuditType.TOKEN_ISSUED, user=user)
    token = RefreshToken.objects.get(token_hash=token_base.hash_token(body["refresh_token"]))
    assert issued.details == {"family": str(family.pk), "token": token.pk, "grant": "handoff"}
    assert refusal_reasons() == []


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_redeeming_is_four_statements_in_one_transaction(code, verifier):
    with CaptureQueriesContext(connection) as queries:
        handoff_codes.redeem_handoff_code(code, verifier)
    # The code with its user, the update that burns it, the new family, and its first
    # refresh token with its audit event and the user's applications.
    statements = [query["sql"] for query in queries]
    assert statements[0] == "BEGIN" and statements[-1] == "COMMIT", statements
    assert len(statements) == 6, statements


def test_only_the_hash_of_the_code_is_stored(code):
    stored = HandoffCode.objects.get()
    assert stored.code_hash == token_base.hash_token(code)
    assert (stored.expires_at - stored.created_at) <= timedelta(seconds=61)


def test_replay_is_refused(code, verifier):
    assert redeem(code, verifier).status_code == 200
    response = redeem(code, verifier)
    assert response.status_code == 400
    assert response.json()["error"] == "invalid_grant"
    assert refusal_reasons() == ["replay"]


def test_wrong_verifier_is_refused_and_burns_the_code(code, verifier):
    response = redeem(code, secrets.token_urlsafe(48))
    assert response.status_code == 400
    assert response.json()["error"] == "invalid_grant"
    # Single use: even the right verifier cannot use it now.
    assert redeem(code, verifier).status_code == 400
    assert refusal_reasons() == ["wrong_verifier", "replay"]
    assert not TokenFamily.objects.exists()


def test_missing_verifier_is_a_wrong_verifier(code):
    response = post_json(sync_client_class()(), "/api/v1/auth/token", {"login_code": code})
    assert response.json()["error"] == "invalid_grant"
    assert refusal_reasons() == ["wrong_verifier"]


def test_the_challenge_itself_is_not_a_verifier(user, code, verifier):
    response = redeem(code, handoff_codes.s256(verifier))
    assert response.json()["error"] == "invalid_grant"


def test_expired_code_is_refused(code, verifier):
    HandoffCode.objects.update(expires_at=timezone.now() - timedelta(seconds=1))
    response = redeem(code, verifier)
    assert response.status_code == 400
    assert response.json()["error"] == "invalid_grant"
    assert refusal_reasons() == ["expired"]


def test_unknown_code_is_refused(db, verifier):
    response = redeem(secrets.token_urlsafe(32), verifier)
    assert response.status_code == 400
    assert response.json()["error"] == "invalid_grant"
    assert refusal_reasons() == ["unknown"]


def test_deactivated_user_cannot_redeem(user, code, verifier):
    user.is_active = False
    user.save(update_fields=["is_active"])
    assert redeem(code, verifier).json()["error"] == "invalid_grant"
    assert refusal_reasons() == ["user_inactive"]


@pytest.mark.parametrize("login_code", ["", 42, None])
def test_malformed_login_code_is_a_bad_request(db, login_code):
    response = redeem(login_code, "verifier")
    assert response.status_code == 400
    assert response.json()["error"] == "invalid_request"


@pytest.mark.parametrize("challenge", ["", "short", "x" * 44, "a+b/" * 11])
def test_malformed_challenge_cannot_make_a_code(user, challenge):
    assert not handoff_codes.is_valid_challenge(challenge)
    with pytest.raises(ValueError):
        handoff_codes.create_handoff_code(user, challenge)
