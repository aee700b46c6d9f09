"""Races settled by PostgreSQL: each racer is a thread with its own connection running
the real flow (the same code the views await), released together by a barrier."""

import secrets
import threading
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta

import pytest
from asgiref.sync import async_to_sync
from django.db import connection
from django.utils import timezone

from accounts import keys
from accounts.api.base import ApiError
from accounts.api.bearer import authenticate_bearer
from accounts.flows import refresh as refresh_flow
from accounts.flows import token as token_flow
from accounts.models import AuditEvent, AuditType, RefreshToken, SigningKey, TokenFamily
from accounts.tokens import base as token_base
from accounts.tokens import handoff as handoff_codes
from accounts.upsert import RequestMeta

from .kit import ISSUER, issue_pair

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]


def race(count, work):
    """Run ``work()`` in ``count`` threads started at once; each result is the return
    value or the ApiError raised."""
    barrier = threading.Barrier(count)

    def racer():
        try:
            barrier.wait()
            return work()
        except ApiError as exc:
            return exc
        finally:
            connection.close()

    with ThreadPoolExecutor(max_workers=count) as pool:
        return list(pool.map(lambda _: racer(), range(count)))


def test_64_concurrent_refreshes_rotate_exactly_once(user, settings):
    settings.REFRESH_REUSE_GRACE = 60
    settings.RATE_LIMIT_TOKEN = "1000/m"  # one owner presents 64 times; limits are tested apart
    pair = issue_pair(user)
    presented = RefreshToken.objects.get(token_hash=token_base.hash_token(pair["refresh_token"]))

    results = race(
        64,
        lambda: async_to_sync(refresh_flow.refresh)(
            pair["refresh_token"], issuer=ISSUER, meta=RequestMeta()
        ),
    )

    errors = [result for result in results if isinstance(result, ApiError)]
    assert errors == []
    # Exactly one winner: the conditional update let one request spend the token.
    assert RefreshToken.objects.filter(parent=presented).count() == 1
    new_tokens = RefreshToken.objects.exclude(pk=presented.pk)
    assert new_tokens.count() == 64
    assert {token.family_id for token in new_tokens} == {presented.family_id}
    # No double spend: every answer is a different, unspent token of the family.
    answered = {result["refresh_token"] for result in results}
    assert len(answered) == 64
    assert set(new_tokens.values_list("token_hash", flat=True)) == {
        token_base.hash_token(token) for token in answered
    }
    assert not new_tokens.filter(used_at__isnull=False).exists()
    graces = list(
        AuditEvent.objects.filter(type=AuditType.TOKEN_REFRESHED).values_list(
            "details__grace", flat=True
        )
    )
    assert sorted(graces) == [False] + [True] * 63
    for result in results:
        principal, _ = async_to_sync(authenticate_bearer)(result["access_token"])
        assert principal.family_id == str(presented.family_id)


def test_concurrent_replays_after_the_grace_revoke_the_family(user):
    pair = issue_pair(user)
    async_to_sync(refresh_flow.refresh)(pair["refresh_token"], issuer=ISSUER, meta=RequestMeta())
    RefreshToken.objects.filter(token_hash=token_base.hash_token(pair["refresh_token"])).update(
        used_at=timezone.now() - timedelta(minutes=5)
    )

    results = race(
        16,
        lambda: async_to_sync(refresh_flow.refresh)(
            pair["refresh_token"], issuer=ISSUER, meta=RequestMeta()
        ),
    )

    # The first replay to commit revokes the family; the others find it either being
    # revoked (token_reused) or already revoked (invalid_token). None gets a pair.
    errors = {result.error for result in results}
    assert "token_reused" in errors and errors <= {"token_reused", "invalid_token"}
    assert RefreshToken.objects.count() == 2
    assert TokenFamily.objects.get().revoke_reason == "reuse"
    assert AuditEvent.objects.filter(type=AuditType.TOKEN_REUSED).exists()


def test_concurrent_redemptions_of_one_login_code_succeed_once(user):
    verifier = secrets.token_urlsafe(48)
    code = handoff_codes.create_handoff_code(user, handoff_codes.s256(verifier))

    results = race(
        16,
        lambda: async_to_sync(token_flow.redeem_login_code)(
            code, verifier, issuer=ISSUER, meta=RequestMeta()
        ),
    )

    successes = [result for result in results if not isinstance(result, ApiError)]
    assert len(successes) == 1
    assert {result.error for result in results if isinstance(result, ApiError)} == {"invalid_grant"}
    assert RefreshToken.objects.count() == 1
    assert AuditEvent.objects.filter(type=AuditType.HANDOFF_REFUSED).count() == 15


def test_concurrent_first_use_makes_one_signing_key(db):
    keys.clear_caches()
    results = race(16, lambda: keys.ensure_current_key().kid)
    assert SigningKey.objects.count() == 1
    assert set(results) == {SigningKey.objects.get().kid}
