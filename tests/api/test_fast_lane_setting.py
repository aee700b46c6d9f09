"""FAST_LANE=false sends every request to Django, and the answers stay the same."""

import pytest
from django.core.signals import request_started
from django.db import connection

from accounts.models import AuditEvent, AuditType
from authsite.compiled import insert_statement
from tests.api.kit import amember
from tests.tokens.kit import aissue_token_pair

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]


async def _me_and_whether_django_answered(client, token: str):
    started = []

    def record(sender, **kwargs):
        started.append(sender)

    request_started.connect(record)
    try:
        response = await client.get("/api/v1/auth/me", headers={"Authorization": f"Bearer {token}"})
    finally:
        request_started.disconnect(record)
    return response, bool(started)


async def test_fast_lane_false_sends_bearer_me_to_django_with_the_same_answer(
    async_client, settings
):
    user = await amember()
    pair = await aissue_token_pair(user, issuer="http://testserver")
    on, django_answered_on = await _me_and_whether_django_answered(
        async_client, pair["access_token"]
    )
    settings.FAST_LANE = False
    off, django_answered_off = await _me_and_whether_django_answered(
        async_client, pair["access_token"]
    )
    assert (django_answered_on, django_answered_off) == (False, True)
    assert on.status_code == off.status_code == 200
    assert on.content == off.content
    for header in ("Content-Type", "Cache-Control", "X-Frame-Options", "X-Content-Type-Options"):
        assert on[header] == off[header]


def test_the_lane_inserts_an_audit_event_only_once_as_save_does(db):
    event = AuditEvent(type=AuditType.TOKEN_REFRESHED, details={})
    insert_statement(event, connection)
    event.save()
    with pytest.raises(ValueError, match="append-only"):
        event.save()
    with pytest.raises(ValueError, match="already saved"):
        insert_statement(event, connection)
