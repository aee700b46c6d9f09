"""Outbound HTTP to the provider: one TLS context per process, one connection pool and one
OAuth client per event loop, nothing carried from one login's exchange to another's, and
nothing left behind when a short-lived loop ends (WSGI runs each async call in a loop of
its own)."""

import asyncio
import gc
import weakref

import pytest

from accounts.devidp.provider import Provider
from accounts.devidp.server import serve_in_thread
from accounts.login.oidc import http
from accounts.models import User
from tests.idp import ALICE, BOB, CLIENT_SECRET, seed, use_provider
from tests.logins import authorize, browser_login, path_of, start


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


class CookieSettingProvider(Provider):
    """The development provider answering its token endpoint with a cookie, as Auth0 sets
    its device cookies, and keeping the Cookie header of each token request."""

    def reset(self) -> None:
        super().reset()
        self.token_request_cookies: list[str] = []

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http" or scope["path"] != "/oauth/token":
            await super().__call__(scope, receive, send)
            return
        self.token_request_cookies.append(dict(scope["headers"]).get(b"cookie", b"").decode())

        async def with_cookie(message):
            if message["type"] == "http.response.start":
                cookie = (b"set-cookie", b"did=device-of-this-login; Path=/; HttpOnly")
                message = {**message, "headers": [*message["headers"], cookie]}
            await send(message)

        await super().__call__(scope, receive, with_cookie)


@pytest.fixture(scope="module")
def cookie_setting_server():
    with serve_in_thread(CookieSettingProvider()) as server:
        yield server


@pytest.fixture
def cookie_setting_idp(cookie_setting_server, settings) -> CookieSettingProvider:
    provider = cookie_setting_server.provider
    provider.reset()
    seed(provider)
    use_provider(settings, provider)
    yield provider
    provider.reset()


@pytest.mark.django_db(transaction=True)
async def test_no_provider_cookie_goes_from_one_login_to_the_next(
    async_client, new_browser, cookie_setting_idp
):
    """Two people log in one after the other through the process's client: the cookie the
    provider set in the first exchange is not sent with the second."""
    assert (await browser_login(async_client, ALICE)).status_code == 302
    assert (await browser_login(new_browser(), BOB)).status_code == 302
    assert cookie_setting_idp.token_request_cookies == ["", ""]


@pytest.mark.django_db(transaction=True)
async def test_concurrent_logins_of_different_people_each_get_their_own_account(new_browser, idp):
    """Logins of two people finishing at once on one event loop share its client: each
    browser ends up signed in as its own person."""
    browsers = [new_browser() for _ in range(6)]
    people = [ALICE, BOB] * 3
    starts = [await start(browser) for browser in browsers]
    callbacks = [await authorize(s["Location"], sub) for s, sub in zip(starts, people, strict=True)]
    answers = await asyncio.gather(
        *(b.get(path_of(c)) for b, c in zip(browsers, callbacks, strict=True))
    )
    assert [a.status_code for a in answers] == [302] * 6
    emails = [(await b.get("/api/v1/auth/me")).json()["email"] for b in browsers]
    assert emails == ["alice@acme.example", "bob@example.com"] * 3
    assert await User.objects.acount() == 2


def test_one_loop_keeps_one_oauth_client_for_the_configured_client(settings, idp):
    async def clients():
        first = http.oauth_client()
        assert http.oauth_client() is first
        settings.AUTH0_CLIENT_SECRET = "rotated-secret"
        rotated = http.oauth_client()
        return first, rotated

    first, rotated = asyncio.run(clients())
    assert first is not rotated
    assert (first.client_secret, rotated.client_secret) == (CLIENT_SECRET, "rotated-secret")
