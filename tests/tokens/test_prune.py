"""manage.py prune_tokens deletes only what can never be presented validly again."""

import io
from datetime import timedelta

import psycopg
import pytest
from django.conf import settings
from django.core.management import call_command
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from accounts.models import HandoffCode, RefreshToken, TokenFamily
from accounts.tokens import base as token_base
from accounts.tokens import handoff as handoff_codes
from accounts.tokens import refresh as refresh_tokens

from .kit import issue_pair, post_json

LONG_AGO = timedelta(seconds=settings.REFRESH_TOKEN_TTL + 3600)


def family_id(pair):
    return RefreshToken.objects.get(
        token_hash=token_base.hash_token(pair["refresh_token"])
    ).family_id


def expire_tokens(family):
    RefreshToken.objects.filter(family_id=family).update(
        expires_at=timezone.now() - timedelta(seconds=1)
    )


def prune(batch_size):
    out = io.StringIO()
    call_command("prune_tokens", batch_size=batch_size, stdout=out)
    return out.getvalue()


def refresh(client, refresh_token):
    return post_json(client, "/api/v1/auth/refresh", {"refresh_token": refresh_token})


@pytest.mark.parametrize("batch_size", [1, 500])
def test_prune_deletes_only_the_dead(client, user, batch_size):
    live = issue_pair(user)
    spent = issue_pair(user)
    assert refresh(client, spent["refresh_token"]).status_code == 200

    # All of its refresh tokens expired, made long ago: dead.
    exhausted = family_id(issue_pair(user))
    expire_tokens(exhausted)
    TokenFamily.objects.filter(pk=exhausted).update(created_at=timezone.now() - LONG_AGO)

    # Expired tokens, but a live one too: the family stays.
    partly = family_id(issue_pair(user))
    expire_tokens(partly)
    successor = RefreshToken.objects.create(
        family_id=partly, token_hash="0" * 64, expires_at=timezone.now() + timedelta(days=1)
    )

    # Revoked long ago (dead, with its tokens) and revoked just now (kept for a while).
    revoked_long_ago = family_id(issue_pair(user))
    TokenFamily.objects.filter(pk=revoked_long_ago).update(
        revoked_at=timezone.now() - LONG_AGO, revoke_reason="logout"
    )
    revoked_recently = issue_pair(user)
    refresh_tokens.revoke_family(family_id(revoked_recently), "logout")

    # A new family whose only token already expired keeps its row until an access
    # token minted with it is certainly dead too.
    fresh_exhausted = family_id(issue_pair(user))
    expire_tokens(fresh_exhausted)

    expired_code = handoff_codes.create_handoff_code(user, "A" * 43)
    HandoffCode.objects.filter(code_hash=token_base.hash_token(expired_code)).update(
        expires_at=timezone.now() - timedelta(seconds=1)
    )
    live_code = handoff_codes.create_handoff_code(user, "B" * 43)

    output = prune(batch_size)

    assert output == (
        "Deleted 2 dead token families with their 2 refresh tokens, 2 other expired refresh "
        "tokens and 1 expired login codes.\n"
    )
    assert set(TokenFamily.objects.values_list("pk", flat=True)) == {
        family_id(live),
        family_id(spent),
        partly,
        family_id(revoked_recently),
        fresh_exhausted,
    }
    assert RefreshToken.objects.filter(pk=successor.pk).exists()
    assert not RefreshToken.objects.filter(family_id=revoked_long_ago).exists()
    assert list(HandoffCode.objects.values_list("code_hash", flat=True)) == [
        token_base.hash_token(live_code)
    ]

    # What survives still behaves: the live token rotates, and the spent one is still
    # recognised as spent (reuse detection needs its row).
    assert refresh(client, live["refresh_token"]).status_code == 200
    RefreshToken.objects.filter(token_hash=token_base.hash_token(spent["refresh_token"])).update(
        used_at=timezone.now() - timedelta(minutes=5)
    )
    assert refresh(client, spent["refresh_token"]).json()["error"] == "token_reused"

    assert prune(batch_size).startswith("Deleted 0 dead token families with their 0 refresh")


def deletes_from(captured, table):
    return [q["sql"] for q in captured if q["sql"].startswith(f'DELETE FROM "{table}"')]


def test_prune_deletes_in_batches_of_the_given_size(user):
    families = [family_id(issue_pair(user)) for _ in range(7)]
    for family in families:
        expire_tokens(family)

    with CaptureQueriesContext(connection) as captured:
        output = prune(3)

    assert ", 7 other expired refresh tokens" in output
    assert len(deletes_from(captured, "accounts_refreshtoken")) == 3  # 3 + 3 + 1
    assert not RefreshToken.objects.filter(family_id__in=families).exists()


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_prune_skips_a_token_another_transaction_holds_and_never_waits(user):
    families = [family_id(issue_pair(user)) for _ in range(5)]
    for family in families:
        expire_tokens(family)
    held = RefreshToken.objects.get(family_id=families[2])
    database = connection.settings_dict

    with psycopg.connect(
        dbname=database["NAME"], user=database["USER"], host=database["HOST"],
        port=database["PORT"] or 5432, password=database["PASSWORD"] or None,
    ) as other:  # fmt: skip
        other.execute("SELECT 1 FROM accounts_refreshtoken WHERE id = %s FOR UPDATE", (held.pk,))
        with connection.cursor() as cursor:  # waiting on a lock fails the test, not hangs it
            cursor.execute("SET lock_timeout = '10s'")
        output = prune(2)
        # Committed batch by batch: the other transaction sees them gone already.
        remaining = other.execute(
            "SELECT family_id FROM accounts_refreshtoken WHERE family_id = ANY(%s)", (families,)
        ).fetchall()
        assert remaining == [(held.family_id,)]
        other.rollback()

    assert ", 4 other expired refresh tokens" in output
    assert ", 1 other expired refresh tokens" in prune(2)
    assert not RefreshToken.objects.filter(family_id__in=families).exists()


def test_prune_deletes_a_dead_chain_whole_and_keeps_a_live_child_working(client, user):
    chain = issue_pair(user)["refresh_token"]
    for _ in range(2):
        chain = refresh(client, chain).json()["refresh_token"]
    dead = family_id({"refresh_token": chain})
    expire_tokens(dead)
    TokenFamily.objects.filter(pk=dead).update(created_at=timezone.now() - LONG_AGO)
    parent = issue_pair(user)["refresh_token"]
    child = refresh(client, parent).json()["refresh_token"]
    RefreshToken.objects.filter(token_hash=token_base.hash_token(parent)).update(
        expires_at=timezone.now() - timedelta(seconds=1)
    )

    output = prune(2)

    assert output.startswith(
        "Deleted 1 dead token families with their 3 refresh tokens, 1 other expired"
    )
    assert not TokenFamily.objects.filter(pk=dead).exists()
    assert refresh(client, child).status_code == 200
