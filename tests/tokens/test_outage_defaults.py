"""Defaults chosen for outages, and the verified-token memory under threads."""

import threading
from datetime import timedelta

import pytest
from asgiref.sync import async_to_sync
from django.conf import settings
from django.utils import timezone

from accounts.models import RefreshToken, TokenFamily
from accounts.tokens import access
from accounts.tokens import base as token_base

from .kit import issue_pair, post_json

pytestmark = pytest.mark.django_db


def test_a_retry_after_a_database_outage_of_the_pool_timeout_keeps_the_family(client, user):
    """The answer to a rotation was lost; the client's retry waited DB_POOL_TIMEOUT for a
    connection during an outage and tries again a few seconds later."""
    pair = issue_pair(user)
    assert post_json(client, "/api/v1/auth/refresh", {"refresh_token": pair["refresh_token"]})
    spent = RefreshToken.objects.get(token_hash=token_base.hash_token(pair["refresh_token"]))
    retried_after = timedelta(seconds=settings.DB_POOL_TIMEOUT + 5)
    RefreshToken.objects.filter(pk=spent.pk).update(used_at=timezone.now() - retried_after)
    retry = post_json(client, "/api/v1/auth/refresh", {"refresh_token": pair["refresh_token"]})
    assert retry.status_code == 200, retry.content
    assert TokenFamily.objects.get(pk=spent.family_id).revoked_at is None


def test_the_verified_token_memory_holds_under_many_threads(user, monkeypatch):
    """WSGI serves each request in a thread of its own: remembering, forgetting past the
    memory's size and re-reading tokens at once must never fail."""
    monkeypatch.setattr(access, "VERIFIED_TOKENS_REMEMBERED", 8)
    access_tokens = [issue_pair(user)["access_token"] for _ in range(24)]
    failures = []

    def verify_all():
        try:
            for _ in range(40):
                for token in access_tokens:
                    claims = async_to_sync(access.averify_access_token)(token)
                    assert claims["sub"] == str(user.pk)
        except Exception as exc:
            failures.append(exc)

    threads = [threading.Thread(target=verify_all) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert failures == []
