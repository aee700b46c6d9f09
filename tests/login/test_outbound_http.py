"""Outbound HTTP to the provider: one TLS context per process, one connection pool per
event loop, and nothing left behind when a short-lived loop ends (WSGI runs each async
call in a loop of its own)."""

import asyncio
import gc
import weakref

from accounts.login.oidc import http


def test_pools_die_with_their_loops(idp):
    pools = weakref.WeakSet()

    async def fetch():
        pools.add(http._transport())
        document, _ = await http.get_json(idp.issuer + ".well-known/openid-configuration")
        return document

    for _ in range(20):
        assert asyncio.run(fetch())["issuer"] == idp.issuer
    gc.collect()
    assert len(pools) <= 1


def test_one_loop_reuses_one_pool_and_every_pool_one_tls_context(idp):
    async def two_fetches():
        first = http._transport()
        await http.get_json(idp.issuer + ".well-known/jwks.json")
        assert http._transport() is first

    asyncio.run(two_fetches())
    asyncio.run(two_fetches())
    assert http._tls_context() is http._tls_context()


def test_transport_uses_the_shared_tls_context():
    async def context_of_this_loops_pool():
        return http._transport()._pool._ssl_context

    assert asyncio.run(context_of_this_loops_pool()) is http._tls_context()
