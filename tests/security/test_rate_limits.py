"""Rate limits: per client IP on the login endpoints, in the shared cache, 429 with
Retry-After and the JSON error shape; forwarded headers believed only from trusted
proxies. Hourly rates keep the tests clear of a window boundary falling mid-test."""

import pytest
from asgiref.sync import sync_to_async

from accounts.ratelimit import Rate, parse_rate


@pytest.mark.parametrize(
    ("text", "rate"),
    [
        ("30/m", Rate(30, 60)),
        ("5/s", Rate(5, 1)),
        ("100/5m", Rate(100, 300)),
        ("1/d", Rate(1, 86400)),
    ],
)
def test_rates_parse(text, rate):
    assert parse_rate(text) == rate


@pytest.mark.parametrize("text", ["", "30", "0/m", "-1/m", "30/x", "m/30", "30/m/s"])
def test_bad_rates_are_refused(text):
    with pytest.raises(ValueError):
        parse_rate(text)


async def test_login_is_limited_per_client_ip(async_client, settings, idp):
    settings.RATE_LIMIT_LOGIN = "3/h"
    statuses = [(await async_client.get("/auth/login")).status_code for _ in range(4)]
    assert statuses == [302, 302, 302, 429]
    limited = await async_client.get("/auth/callback", {"code": "x", "state": "y"})
    assert limited.status_code == 429
    assert limited.json()["error"] == "rate_limited"
    assert 1 <= int(limited["Retry-After"]) <= 3600


async def test_another_client_ip_has_its_own_budget(async_client, settings, idp):
    settings.RATE_LIMIT_LOGIN = "1/h"
    settings.TRUSTED_PROXIES = ["127.0.0.1"]
    one = {"X-Forwarded-For": "198.51.100.1"}
    two = {"X-Forwarded-For": "198.51.100.2"}
    assert (await async_client.get("/auth/login", headers=one)).status_code == 302
    assert (await async_client.get("/auth/login", headers=one)).status_code == 429
    assert (await async_client.get("/auth/login", headers=two)).status_code == 302


async def test_forwarded_for_is_ignored_from_an_untrusted_peer(async_client, settings, idp):
    settings.RATE_LIMIT_LOGIN = "1/h"
    assert (await async_client.get("/auth/login")).status_code == 302
    spoofed = await async_client.get("/auth/login", headers={"X-Forwarded-For": "198.51.100.7"})
    assert spoofed.status_code == 429


async def test_forwarded_for_is_believed_from_a_trusted_proxy(async_client, settings, idp):
    settings.RATE_LIMIT_LOGIN = "1/h"
    settings.TRUSTED_PROXIES = ["127.0.0.0/8"]
    first = await async_client.get("/auth/login", headers={"X-Forwarded-For": "198.51.100.7"})
    second = await async_client.get("/auth/login", headers={"X-Forwarded-For": "198.51.100.8"})
    # the client may prepend anything; the proxy appended the address it saw
    again = await async_client.get(
        "/auth/login", headers={"X-Forwarded-For": "203.0.113.1, 198.51.100.7"}
    )
    assert [first.status_code, second.status_code, again.status_code] == [302, 302, 429]


@pytest.mark.django_db(transaction=True)
async def test_refresh_is_limited_per_user_before_the_token_is_spent(async_client, settings):
    from accounts.models import User
    from organisations.models import Organisation
    from tests.tokens.kit import aissue_token_pair

    settings.RATE_LIMIT_TOKEN = "2/h"
    settings.TRUSTED_PROXIES = ["127.0.0.1"]
    org = await Organisation.objects.acreate(name="Acme", slug="acme")
    user = await User.objects.acreate(email="kim@acme.example", organisation=org)
    pair = await aissue_token_pair(user, issuer="http://testserver")
    statuses = []
    for index in range(3):
        # a new client address each time: only the per-user budget can stop the third
        response = await async_client.post(
            "/api/v1/auth/refresh",
            {"refresh_token": pair["refresh_token"]},
            content_type="application/json",
            headers={"X-Forwarded-For": f"198.51.100.{index}"},
        )
        statuses.append(response.status_code)
        if response.status_code == 200:
            pair = response.json()
    assert statuses == [200, 200, 429]
    # the limited request spent nothing: the last token still rotates once the window passes
    settings.RATE_LIMIT_TOKEN = "100/m"
    again = await async_client.post(
        "/api/v1/auth/refresh", {"refresh_token": pair["refresh_token"]},
        content_type="application/json",
    )  # fmt: skip
    assert again.status_code == 200


@pytest.mark.django_db(transaction=True)
async def test_refresh_ignores_a_stale_bearer_header(async_client):
    from accounts.models import User
    from organisations.models import Organisation
    from tests.tokens.kit import aissue_token_pair

    org = await Organisation.objects.acreate(name="Acme", slug="acme")
    user = await User.objects.acreate(email="kim@acme.example", organisation=org)
    pair = await aissue_token_pair(user, issuer="http://testserver")
    response = await async_client.post(
        "/api/v1/auth/refresh",
        {"refresh_token": pair["refresh_token"]},
        content_type="application/json",
        headers={"Authorization": "Bearer expired.or.garbage"},
    )
    assert response.status_code == 200


# --- with a Redis cache, async code counts on the event loop --------------------------


async def test_with_redis_async_and_sync_hits_count_together_and_expire(redis_cache):
    from django.core.cache import cache

    from accounts.ratelimit import RateLimited, ahit, hit

    await ahit("test", "subject", "3/h")
    await sync_to_async(hit)("test", "subject", "3/h")
    await ahit("test", "subject", "3/h")
    with pytest.raises(RateLimited) as limited:
        await ahit("test", "subject", "3/h")
    assert 1 <= limited.value.retry_after <= 3600
    with pytest.raises(RateLimited):
        await sync_to_async(hit)("test", "subject", "3/h")
    await ahit("test", "another subject", "3/h")  # its own budget

    # Each counter expires with its window (just past it), so no counter lives forever.
    counters = await sync_to_async(cache.keys)("ratelimit:test:*")
    assert len(counters) == 2
    for key in counters:
        assert 3000 < await sync_to_async(cache.ttl)(key) <= 3601


async def test_with_redis_the_login_limit_still_answers_429(
    redis_cache, async_client, settings, idp
):
    settings.RATE_LIMIT_LOGIN = "2/h"
    statuses = [(await async_client.get("/auth/login")).status_code for _ in range(3)]
    assert statuses == [302, 302, 429]


async def test_with_redis_a_storm_of_concurrent_hits_waits_for_connections(redis_cache):
    """200 logins at once on one event loop: each hit waits for a pooled connection
    instead of failing past redis-py's connection limit."""
    import asyncio

    from accounts.ratelimit import ahit

    await asyncio.gather(*(ahit("storm", f"client {n}", "5/h") for n in range(300)))


def test_with_redis_clients_die_with_their_loops(redis_cache):
    """WSGI runs each async call in a loop of its own: its Redis client must go with it."""
    import asyncio
    import gc
    import weakref

    from accounts import ratelimit

    clients = weakref.WeakSet()

    async def one_request():
        await ratelimit.ahit("loops", "subject", "100/h")
        clients.add(ratelimit.redis_client())

    for _ in range(20):
        asyncio.run(one_request())
    gc.collect()
    assert len(clients) <= 1


@pytest.mark.parametrize("counting", ["async", "sync"])
async def test_with_redis_several_limits_count_in_turn_and_stop_at_the_first_passed(
    redis_cache, counting
):
    """One round trip for several limits, from async code or from a thread, counts as
    successive hits would: a request refused by the first limit is not counted against
    the next."""
    from django.core.cache import cache

    from accounts.ratelimit import RateLimited, ahit_each, hit_each

    count = ahit_each if counting == "async" else sync_to_async(hit_each)
    limits = (("first", "x", "1/h"), ("second", "y", "5/h"))
    await count(*limits)
    with pytest.raises(RateLimited):
        await count(*limits)
    [second] = await sync_to_async(cache.keys)("ratelimit:second:*")
    assert await sync_to_async(cache.get)(second) == 1
    [first] = await sync_to_async(cache.keys)("ratelimit:first:*")
    assert await sync_to_async(cache.get)(first) == 2
    for key in (first, second):
        assert 3000 < await sync_to_async(cache.ttl)(key) <= 3601


def test_with_redis_a_thread_counts_several_limits_in_one_round_trip(redis_cache):
    from django.core.cache import cache

    from accounts.ratelimit import hit_each

    client = cache.client.get_client(write=True)

    def calls():
        stats = client.info("commandstats")
        return {name: stats.get(f"cmdstat_{name}", {}).get("calls", 0) for name in SENT}

    before = calls()
    hit_each(("one", "x", "5/h"), ("two", "x", "5/h"), ("three", "x", "5/h"))
    after = calls()
    assert {name: after[name] - before[name] for name in SENT} == {
        "eval": 1, "evalsha": 0, "set": 0, "incrby": 0, "incr": 3, "expire": 3
    }  # fmt: skip


# What a client may send to count (INCR and EXPIRE run inside the script).
SENT = ("eval", "evalsha", "set", "incrby", "incr", "expire")
