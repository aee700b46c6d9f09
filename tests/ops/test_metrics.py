"""GET /metrics: who may read it, and that what users do moves the counts an operator
scrapes, in step with the audit trail."""

from datetime import timedelta

import pytest
from django.conf import settings
from django.utils import timezone
from prometheus_client.parser import text_string_to_metric_families

from accounts.models import AuditEvent, AuditType, RefreshToken
from accounts.tokens.base import hash_token
from tests.api.kit import member
from tests.logins import authorize, browser_login, path_of, start
from tests.tokens.kit import issue_pair, post_json

TOKEN = "metrics-token-of-the-tests-0123456789"

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def metrics_on(settings):
    settings.METRICS_TOKEN = TOKEN


def scrape(client) -> dict:
    """Return every sample of /metrics, keyed by (name, sorted labels)."""
    return samples_of(client.get("/metrics", headers={"Authorization": f"Bearer {TOKEN}"}))


async def ascrape(async_client) -> dict:
    """Return what ``scrape`` does, through an async client."""
    return samples_of(
        await async_client.get("/metrics", headers={"Authorization": f"Bearer {TOKEN}"})
    )


def samples_of(response) -> dict:
    assert response.status_code == 200, response.content
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(response.content.decode())
        for sample in family.samples
    }


def value(samples: dict, name: str, **labels) -> float:
    return samples.get((name, tuple(sorted(labels.items()))), 0.0)


def moved(before: dict, after: dict, name: str, **labels) -> float:
    return value(after, name, **labels) - value(before, name, **labels)


def test_metrics_is_404_without_a_token_configured(client, settings):
    settings.METRICS_TOKEN = None
    response = client.get("/metrics", headers={"Authorization": f"Bearer {TOKEN}"})
    assert response.status_code == 404
    assert response.content == client.get("/nothing-here").content


@pytest.mark.parametrize(
    "authorization",
    ["", f"Bearer {TOKEN}x", f"Basic {TOKEN}", f"Bearer {TOKEN[:-1]}", "Bearer"],
    ids=["none", "longer", "basic", "shorter", "empty"],
)
def test_a_missing_or_wrong_token_is_401(client, metrics_on, authorization):
    extra = {"HTTP_AUTHORIZATION": authorization} if authorization else {}
    response = client.get("/metrics", **extra)
    assert response.status_code == 401
    assert response.json()["error"] == "invalid_token"
    assert response["WWW-Authenticate"].startswith("Bearer")
    assert b"authsite_" not in response.content


def test_the_token_holder_gets_prometheus_text(client, metrics_on):
    response = client.get("/metrics", HTTP_AUTHORIZATION=f"bearer {TOKEN}")
    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/plain; version=0.0.4")
    assert "no-store" in response["Cache-Control"] or "max-age=0" in response["Cache-Control"]
    names = {family.name for family in text_string_to_metric_families(response.content.decode())}
    assert {
        "authsite_logins_started",
        "authsite_logins_succeeded",
        "authsite_refresh_rotations",
        "authsite_refresh_grace_retries",
        "authsite_refresh_reuse_detections",
    } <= names


def test_requests_are_counted_by_route_and_status(client, metrics_on):
    before = scrape(client)
    assert client.get("/healthz").status_code == 200
    assert client.get("/nothing-here").status_code == 404
    after = scrape(client)
    count = "authsite_http_request_duration_seconds_count"
    assert moved(before, after, count, route="healthz", status="200", handler="django") == 1
    assert moved(before, after, count, route="unmatched", status="404", handler="django") == 1


async def test_logins_are_counted_with_the_audit_trail(async_client, idp, metrics_on):
    before = await ascrape(async_client)
    done = await browser_login(async_client)
    assert done.status_code == 302
    # A second login whose callback is replayed: the replay fails with invalid_state.
    started = await start(async_client)
    callback = path_of(await authorize(started["Location"], "auth0|alice"))
    assert (await async_client.get(callback)).status_code == 302
    assert (await async_client.get(callback)).status_code == 400
    after = await ascrape(async_client)

    assert moved(before, after, "authsite_logins_started_total") == 2
    assert moved(before, after, "authsite_logins_succeeded_total") == 2
    assert moved(before, after, "authsite_logins_failed_total", reason="invalid_state") == 1
    failed = await AuditEvent.objects.filter(
        type=AuditType.LOGIN_FAILED, details__reason="invalid_state"
    ).acount()
    assert failed == 1
    assert await AuditEvent.objects.filter(type=AuditType.LOGIN_SUCCEEDED).acount() == 2
    calls = "authsite_idp_request_duration_seconds_count"
    exchanges = {
        labels: after[(name, labels)] - before.get((name, labels), 0)
        for name, labels in after
        if name == calls
    }
    # Two code exchanges at the provider's token endpoint, whatever its path.
    assert 2 in exchanges.values(), exchanges


def test_rotations_grace_retries_reuse_and_revocations(client, metrics_on):
    user = member()
    pair = issue_pair(user)
    before = scrape(client)
    refresh = {"refresh_token": pair["refresh_token"]}
    assert post_json(client, "/api/v1/auth/refresh", refresh).status_code == 200
    assert post_json(client, "/api/v1/auth/refresh", refresh).status_code == 200  # grace
    RefreshToken.objects.filter(token_hash=hash_token(pair["refresh_token"])).update(
        used_at=timezone.now() - timedelta(seconds=settings.REFRESH_REUSE_GRACE + 1)
    )
    reused = post_json(client, "/api/v1/auth/refresh", refresh)
    assert reused.json()["error"] == "token_reused"
    after = scrape(client)

    assert moved(before, after, "authsite_refresh_rotations_total") == 2
    assert moved(before, after, "authsite_refresh_grace_retries_total") == 1
    assert moved(before, after, "authsite_refresh_reuse_detections_total") == 1
    assert moved(before, after, "authsite_token_families_revoked_total", reason="reuse") == 1
    assert AuditEvent.objects.filter(type=AuditType.TOKEN_REFRESHED).count() == 2
    assert AuditEvent.objects.filter(type=AuditType.TOKEN_REUSED).count() == 1


def test_rate_limit_refusals_are_counted_by_limit(client, metrics_on, settings):
    settings.RATE_LIMIT_TOKEN = "1/m"
    before = scrape(client)
    bad = {"refresh_token": "not-a-token"}
    assert post_json(client, "/api/v1/auth/refresh", bad).status_code == 401
    assert post_json(client, "/api/v1/auth/refresh", bad).status_code == 429
    after = scrape(client)
    assert moved(before, after, "authsite_rate_limit_refusals_total", limit="token-ip") == 1


def test_nothing_is_counted_while_metrics_are_off(client, idp, settings):
    settings.METRICS_TOKEN = TOKEN
    before = scrape(client)
    settings.METRICS_TOKEN = None
    assert client.get("/auth/login").status_code == 302
    assert client.get("/healthz").status_code == 200
    settings.METRICS_TOKEN = TOKEN
    after = scrape(client)
    assert moved(before, after, "authsite_logins_started_total") == 0
    count = "authsite_http_request_duration_seconds_count"
    assert moved(before, after, count, route="healthz", status="200", handler="django") == 0
