"""Refresh tokens: rotation, expiry, the reuse grace, reuse detection, the refresh
cookie and its CSRF rules, and revocation."""

import hashlib
from datetime import timedelta

import pytest
from asgiref.sync import async_to_sync
from django.conf import settings
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from accounts.api.bearer import authenticate_bearer
from accounts.models import AuditEvent, AuditType, RefreshToken, TokenFamily
from accounts.tokens import access as access_tokens
from accounts.tokens import base as token_base
from accounts.tokens import rotation
from tests.asgi_client import sync_client_class

from .kit import FRONTEND, bearer, csrf_client, issue_pair, post_json, refresh_cookie

# Transactional: on PostgreSQL the fast lane, on connections of its own, sees the rows.
pytestmark = pytest.mark.django_db(transaction=True)


def refresh(client, refresh_token, **extra):
    return post_json(client, "/api/v1/auth/refresh", {"refresh_token": refresh_token}, **extra)


def row(refresh_token) -> RefreshToken:
    return RefreshToken.objects.get(token_hash=token_base.hash_token(refresh_token))


def family_of(access_token) -> str:
    return access_tokens.unverified_claims(access_token)["fam"]


def assert_valid_pair(body, family_id, user):
    assert set(body) == {"access_token", "token_type", "expires_in", "refresh_token"}
    principal, _ = async_to_sync(authenticate_bearer)(body["access_token"])
    assert principal.user == user
    assert principal.family_id == str(family_id)
    assert row(body["refresh_token"]).family_id == family_id
    assert row(body["refresh_token"]).used_at is None


@pytest.fixture
def pair(user):
    return issue_pair(user)


def test_refresh_rotates_the_token(client, user, pair):
    response = refresh(client, pair["refresh_token"])
    assert response.status_code == 200
    body = response.json()
    assert body["refresh_token"] != pair["refresh_token"]
    spent, child = row(pair["refresh_token"]), row(body["refresh_token"])
    assert spent.used_at is not None
    assert child.parent_id == spent.pk and child.family_id == spent.family_id
    assert_valid_pair(body, spent.family_id, user)
    assert (
        response["Cache-Control"].startswith("max-age=0") or "no-store" in response["Cache-Control"]
    )
    assert AuditEvent.objects.filter(type=AuditType.TOKEN_REFRESHED, user=user).count() == 1


def test_rotation_chains(client, user, pair):
    current = pair["refresh_token"]
    for _ in range(3):
        response = refresh(client, current)
        assert response.status_code == 200
        current = response.json()["refresh_token"]
    assert RefreshToken.objects.filter(family=row(current).family).count() == 4


def test_refresh_tokens_are_stored_only_as_sha256(pair):
    stored = row(pair["refresh_token"])
    assert stored.token_hash == hashlib.sha256(pair["refresh_token"].encode()).hexdigest()
    assert len(pair["refresh_token"]) >= 43  # 256 bits, base64url
    values = RefreshToken.objects.values_list("token_hash", flat=True)
    assert pair["refresh_token"] not in values


def test_expired_refresh_token_is_refused(client, pair):
    RefreshToken.objects.update(expires_at=timezone.now() - timedelta(seconds=1))
    response = refresh(client, pair["refresh_token"])
    assert response.status_code == 401
    assert response.json()["error"] == "token_expired"


def test_unknown_refresh_token_is_refused(client, db):
    response = refresh(client, "not-a-token-we-issued")
    assert response.status_code == 401
    assert response.json()["error"] == "invalid_token"


@pytest.mark.parametrize("body", [{"refresh_token": ""}, {"refresh_token": 42}])
def test_malformed_refresh_token_is_a_bad_request(client, db, body):
    response = post_json(client, "/api/v1/auth/refresh", body)
    assert response.status_code == 400
    assert response.json()["error"] == "invalid_request"


@pytest.mark.parametrize("body", [None, {}])
def test_no_refresh_token_at_all_cannot_authenticate(client, db, body):
    response = post_json(client, "/api/v1/auth/refresh", body)
    assert response.status_code == 401
    assert response.json()["error"] == "invalid_token"


def test_refresh_is_post_only(client, db):
    assert client.get("/api/v1/auth/refresh").status_code == 405


def test_reuse_within_the_grace_yields_a_valid_pair_of_the_same_family(client, user, pair):
    family_id = row(pair["refresh_token"]).family_id
    first = refresh(client, pair["refresh_token"])
    second = refresh(client, pair["refresh_token"])
    assert first.status_code == second.status_code == 200
    assert_valid_pair(first.json(), family_id, user)
    assert_valid_pair(second.json(), family_id, user)
    assert first.json()["refresh_token"] != second.json()["refresh_token"]
    spent = row(pair["refresh_token"])
    assert RefreshToken.objects.filter(parent=spent).count() == 1
    assert TokenFamily.objects.get(pk=family_id).revoked_at is None
    events = AuditEvent.objects.filter(type=AuditType.TOKEN_REFRESHED).order_by("pk")
    assert [event.details["grace"] for event in events] == [False, True]


def test_django_s_rotation_writes_each_successor_s_event_and_lists_the_applications(user, pair):
    # rotate_refresh_token itself: what Django's path runs whenever the lane declines.
    presented = row(pair["refresh_token"])
    won = rotation.rotate_refresh_token(pair["refresh_token"])
    sibling = rotation.rotate_refresh_token(pair["refresh_token"])  # within the grace
    assert row(won.refresh_token).parent_id == presented.pk
    assert row(sibling.refresh_token).parent_id is None  # the child slot is the winner's
    for grant, grace in ((won, False), (sibling, True)):
        successor = row(grant.refresh_token)
        event = AuditEvent.objects.get(type=AuditType.TOKEN_REFRESHED, details__token=successor.pk)
        assert event.user == user and event.organisation_id == user.organisation_id
        assert event.details == {
            "family": str(presented.family_id),
            "token": successor.pk,
            "presented": presented.pk,
            "grace": grace,
        }
        assert grant.apps == ["tokens-test-tool"]
        assert grant.family_id == presented.family_id


@pytest.mark.postgres
def test_django_s_rotation_is_three_statements_in_one_transaction(pair):
    with CaptureQueriesContext(connection) as queries:
        rotation.rotate_refresh_token(pair["refresh_token"])
    # The presented token with the applications, the conditional update that spends it,
    # and its successor with the successor's audit event.
    statements = [query["sql"] for query in queries]
    assert statements[0] == "BEGIN" and statements[-1] == "COMMIT", statements
    assert len(statements) == 5, statements


def test_reuse_after_the_grace_revokes_the_family(client, user, pair):
    family_id = row(pair["refresh_token"]).family_id
    legitimate = refresh(client, pair["refresh_token"]).json()
    # The spent token shows up again, well after the grace: theft.
    RefreshToken.objects.filter(token_hash=token_base.hash_token(pair["refresh_token"])).update(
        used_at=timezone.now() - timedelta(seconds=settings.REFRESH_REUSE_GRACE + 1)
    )
    response = refresh(client, pair["refresh_token"])
    assert response.status_code == 401
    assert response.json()["error"] == "token_reused"
    family = TokenFamily.objects.get(pk=family_id)
    assert family.revoked_at is not None and family.revoke_reason == "reuse"
    event = AuditEvent.objects.get(type=AuditType.TOKEN_REUSED)
    assert event.user == user and event.details["family"] == str(family_id)
    # The legitimate holder's newer tokens die with the family.
    next_refresh = refresh(client, legitimate["refresh_token"])
    assert next_refresh.status_code == 401
    assert next_refresh.json()["error"] == "invalid_token"
    response = post_json(client, "/api/v1/auth/token", **bearer(legitimate["access_token"]))
    assert response.status_code == 401


def test_zero_grace_treats_any_second_presentation_as_reuse(client, pair, settings):
    settings.REFRESH_REUSE_GRACE = 0
    assert refresh(client, pair["refresh_token"]).status_code == 200
    RefreshToken.objects.filter(token_hash=token_base.hash_token(pair["refresh_token"])).update(
        used_at=timezone.now() - timedelta(milliseconds=5)
    )
    assert refresh(client, pair["refresh_token"]).json()["error"] == "token_reused"


@pytest.mark.parametrize("deactivate", ["user", "organisation"])
def test_inactive_account_cannot_refresh(client, user, pair, deactivate):
    target = user if deactivate == "user" else user.organisation
    target.is_active = False
    target.save(update_fields=["is_active"])
    response = refresh(client, pair["refresh_token"])
    assert response.status_code == 401
    assert response.json()["error"] == "user_inactive"
    assert row(pair["refresh_token"]).used_at is None


def test_super_admin_without_organisation_can_refresh(client, db):
    from accounts.models import User

    admin = User.objects.create_user("root@example.com", role="super_admin")
    pair = issue_pair(admin)
    assert refresh(client, pair["refresh_token"]).status_code == 200


def test_bearer_header_does_not_replace_the_refresh_token(client, pair):
    response = post_json(client, "/api/v1/auth/refresh", {}, **bearer(pair["access_token"]))
    assert response.status_code == 401
    assert response.json()["error"] == "invalid_token"


# --- revocation -----------------------------------------------------------------------


def test_revoke_ends_the_family(client, user, pair):
    response = post_json(client, "/api/v1/auth/revoke", {"refresh_token": pair["refresh_token"]})
    assert response.status_code == 200
    assert response.json() == {}
    assert refresh(client, pair["refresh_token"]).json()["error"] == "invalid_token"
    response = post_json(client, "/api/v1/auth/token", **bearer(pair["access_token"]))
    assert response.status_code == 401
    assert AuditEvent.objects.filter(type=AuditType.TOKEN_REVOKED, user=user).count() == 1


def test_revoke_answers_the_same_for_unknown_tokens(client, db):
    response = post_json(client, "/api/v1/auth/revoke", {"refresh_token": "never-issued"})
    assert response.status_code == 200
    assert response.json() == {}


@pytest.mark.parametrize("body", [None, {}, {"refresh_token": ""}])
def test_revoke_without_the_parameter_is_a_bad_request(client, db, body):
    response = post_json(client, "/api/v1/auth/revoke", body)
    assert response.status_code == 400
    assert response.json()["error"] == "invalid_request"


# --- the refresh cookie ---------------------------------------------------------------


@pytest.fixture
def cookie_login(user):
    """A browser logged in by session cookie that has called /api/v1/auth/token."""
    client, headers = csrf_client()
    client.force_login(user)
    response = post_json(client, "/api/v1/auth/token", **headers)
    assert response.status_code == 200
    return client, headers, response


def test_session_caller_gets_the_refresh_token_as_a_cookie(cookie_login, user):
    client, _, response = cookie_login
    cookie = refresh_cookie(response)
    assert cookie.value == response.json()["refresh_token"]
    assert cookie["httponly"] is True
    assert cookie["path"] == "/api/v1/auth/"
    assert cookie["samesite"] == "None"
    assert cookie["secure"] is True
    assert cookie["max-age"] == settings.REFRESH_TOKEN_TTL
    family = row(cookie.value).family
    assert family.session_key == client.session.session_key
    assert AuditEvent.objects.filter(type=AuditType.TOKEN_ISSUED, user=user).count() == 1


def test_refresh_cookie_follows_the_cookie_policy(user, settings):
    settings.COOKIE_SAMESITE = "Lax"
    settings.COOKIE_SECURE = False
    client = sync_client_class()()
    client.force_login(user)
    cookie = refresh_cookie(post_json(client, "/api/v1/auth/token", HTTP_ORIGIN=FRONTEND))
    assert cookie["samesite"] == "Lax"
    assert not cookie["secure"]


def test_anonymous_token_request_is_not_authenticated(db):
    client, headers = csrf_client()
    response = post_json(client, "/api/v1/auth/token", **headers)
    assert response.status_code == 401
    assert response.json()["error"] == "not_authenticated"


def test_session_token_request_without_csrf_is_forbidden(user):
    client = sync_client_class()(enforce_csrf_checks=True)
    client.force_login(user)
    response = post_json(client, "/api/v1/auth/token", HTTP_ORIGIN=FRONTEND)
    assert response.status_code == 403
    assert not TokenFamily.objects.exists()


def test_cookie_refresh_with_csrf_rotates_and_sets_the_new_cookie(cookie_login, user):
    client, headers, first = cookie_login
    old = refresh_cookie(first).value
    response = post_json(client, "/api/v1/auth/refresh", **headers)
    assert response.status_code == 200
    new = refresh_cookie(response)
    assert new.value == response.json()["refresh_token"] != old
    assert new["path"] == "/api/v1/auth/" and new["httponly"] is True
    assert row(old).used_at is not None


def test_cookie_refresh_without_csrf_token_and_origin_is_forbidden(cookie_login):
    client, _, first = cookie_login
    response = post_json(client, "/api/v1/auth/refresh")
    assert response.status_code == 403
    assert response.json()["error"] == "csrf_failed"
    assert row(refresh_cookie(first).value).used_at is None


def test_cookie_refresh_from_an_untrusted_origin_is_forbidden(cookie_login):
    client, headers, first = cookie_login
    response = post_json(
        client, "/api/v1/auth/refresh", **{**headers, "HTTP_ORIGIN": "https://evil.example"}
    )
    assert response.status_code == 403
    assert row(refresh_cookie(first).value).used_at is None


def test_refresh_cookie_alone_still_needs_csrf(user):
    # No session cookie at all: the refresh cookie is a credential by itself.
    pair = issue_pair(user)
    client = sync_client_class()(enforce_csrf_checks=True)
    client.cookies[settings.REFRESH_COOKIE_NAME] = pair["refresh_token"]
    response = post_json(client, "/api/v1/auth/refresh", HTTP_ORIGIN=FRONTEND)
    assert response.status_code == 403
    assert row(pair["refresh_token"]).used_at is None


def test_body_refresh_without_cookies_needs_no_csrf(user, pair):
    client = sync_client_class()(enforce_csrf_checks=True)
    response = refresh(client, pair["refresh_token"], HTTP_ORIGIN="https://other-site.example")
    assert response.status_code == 200
    assert settings.REFRESH_COOKIE_NAME not in response.cookies


def test_losing_a_race_never_deletes_the_cookie(cookie_login, user):
    client, headers, first = cookie_login
    stale = refresh_cookie(first).value
    winner = post_json(client, "/api/v1/auth/refresh", **headers)
    # The slower tab still sends the token the winner just spent.
    client.cookies[settings.REFRESH_COOKIE_NAME] = stale
    loser = post_json(client, "/api/v1/auth/refresh", **headers)
    assert loser.status_code == 200
    cookie = refresh_cookie(loser)
    assert cookie.value and cookie["max-age"] == settings.REFRESH_TOKEN_TTL
    family_id = row(stale).family_id
    assert_valid_pair(loser.json(), family_id, user)
    assert_valid_pair(winner.json(), family_id, user)


def test_definitive_cookie_refusal_deletes_the_cookie(cookie_login):
    client, headers, _ = cookie_login
    RefreshToken.objects.update(expires_at=timezone.now() - timedelta(seconds=1))
    response = post_json(client, "/api/v1/auth/refresh", **headers)
    assert response.status_code == 401
    assert response.json()["error"] == "token_expired"
    cookie = refresh_cookie(response)
    assert cookie.value == "" and cookie["max-age"] == 0
    assert cookie["path"] == "/api/v1/auth/"


def test_revoke_with_the_cookie_token_deletes_the_cookie(cookie_login):
    client, headers, first = cookie_login
    token = refresh_cookie(first).value
    response = post_json(client, "/api/v1/auth/revoke", {"refresh_token": token}, **headers)
    assert response.status_code == 200
    assert refresh_cookie(response)["max-age"] == 0
    assert row(token).family.revoked_at is not None
