"""POST /api/v1/auth/token with a Bearer app access token: the pair is issued in the
same thread hop as the family's lookup, after the request is counted, and a request
that is refused writes nothing."""

import pytest

from accounts.models import AuditEvent, AuditType, RefreshToken, TokenFamily
from accounts.tokens import access as access_tokens
from accounts.tokens import refresh as refresh_tokens

from .kit import bearer, issue_pair, post_json

TOKEN = "/api/v1/auth/token"


@pytest.fixture
def pair(user):
    return issue_pair(user)


@pytest.fixture
def family_id(pair):
    return access_tokens.unverified_claims(pair["access_token"])["fam"]


def issued_events(family_id):
    return list(
        AuditEvent.objects.filter(
            type=AuditType.TOKEN_ISSUED, details__family=str(family_id)
        ).order_by("pk")
    )


def test_the_pair_is_issued_in_the_family_s_lookup_with_its_event(
    client, user, pair, family_id, monkeypatch
):
    def second_hop(*args, **kwargs):
        raise AssertionError("a Bearer caller's pair is issued in its family's lookup")

    monkeypatch.setattr(refresh_tokens, "aissue_grant", second_hop)
    response = post_json(client, TOKEN, **bearer(pair["access_token"]))
    assert response.status_code == 200
    body = response.json()
    claims = access_tokens.unverified_claims(body["access_token"])
    assert claims["fam"] == family_id and claims["sub"] == str(user.pk)
    assert claims["apps"] == ["tokens-test-tool"]
    new = RefreshToken.objects.get(token_hash=refresh_tokens.hash_token(body["refresh_token"]))
    assert str(new.family_id) == family_id
    [*_, event] = issued_events(family_id)
    assert event.user == user and event.organisation_id == user.organisation_id
    assert event.details == {"family": family_id, "token": new.pk, "grant": "api"}


def test_a_request_past_the_limit_is_refused_before_anything_is_written(
    client, pair, family_id, settings
):
    settings.RATE_LIMIT_TOKEN = "1/h"
    assert post_json(client, TOKEN, **bearer(pair["access_token"])).status_code == 200
    tokens, events = (
        RefreshToken.objects.filter(family_id=family_id).count(),
        issued_events(family_id),
    )
    limited = post_json(client, TOKEN, **bearer(pair["access_token"]))
    assert limited.status_code == 429 and limited.json()["error"] == "rate_limited"
    assert int(limited["Retry-After"]) >= 1
    assert RefreshToken.objects.filter(family_id=family_id).count() == tokens
    assert issued_events(family_id) == events


def test_a_revoked_family_is_refused_and_nothing_is_written(client, pair, family_id):
    TokenFamily.objects.filter(pk=family_id).update(revoked_at="2026-01-01T00:00:00Z")
    response = post_json(client, TOKEN, **bearer(pair["access_token"]))
    assert response.status_code == 401 and response.json()["error"] == "invalid_token"
    assert RefreshToken.objects.filter(family_id=family_id).count() == 1
    assert len(issued_events(family_id)) == 1


@pytest.mark.django_db(transaction=True)
def test_a_failed_write_leaves_nothing_half_written(client, pair, family_id, monkeypatch):
    # The event fails in the database, after the token's row (a NOT NULL column left
    # empty), with the request's writes committed as in production.
    event_of = refresh_tokens.audit_event

    def unwritable_event(*args, **kwargs):
        event = event_of(*args, **kwargs)
        event.type = None
        return event

    monkeypatch.setattr(refresh_tokens, "audit_event", unwritable_event)
    response = post_json(client, TOKEN, **bearer(pair["access_token"]))
    assert response.status_code == 503
    assert RefreshToken.objects.filter(family_id=family_id).count() == 1
    assert len(issued_events(family_id)) == 1
