"""Outbound HTTP to the identity provider: async, with timeouts on every call, each
call naming the request it serves in X-Request-ID (accounts.logcontext) and timed in
the metrics by the path it calls.

One TLS context for the process, and one connection pool and one OAuth client per event
loop, kept on the loop itself: under uvicorn that is one of each for the process; under
WSGI, where each request runs its own short-lived loop, they go away with their loop
instead of piling up.
"""

import asyncio
import functools
import ssl
import time
from http.cookiejar import CookieJar, DefaultCookiePolicy

import httpx2
from authlib.integrations.httpx_client import AsyncOAuth2Client

from authsite import metrics

from ... import app_settings, logcontext
from .errors import ProviderUnavailable

_LOOP_ATTRIBUTE = "_authsite_oidc_transport"
_CLIENT_ATTRIBUTE = "_authsite_oidc_client"
# An idle pooled connection is dropped before common servers close theirs (uvicorn after
# 5 s): reusing one the provider is closing at that moment fails with a ReadError.
_LIMITS = httpx2.Limits(max_connections=100, max_keepalive_connections=20, keepalive_expiry=4.0)


@functools.cache
def _tls_context() -> ssl.SSLContext:
    return httpx2.create_ssl_context()


def _transport() -> httpx2.AsyncHTTPTransport:
    loop = asyncio.get_running_loop()
    transport = getattr(loop, _LOOP_ATTRIBUTE, None)
    if transport is None:
        transport = httpx2.AsyncHTTPTransport(verify=_tls_context(), retries=1, limits=_LIMITS)
        setattr(loop, _LOOP_ATTRIBUTE, transport)
    return transport


_STARTED = "authsite.started"


async def _name_request(request: httpx2.Request) -> None:
    """Send the id of the request being served, so that the provider's logs and ours
    can be matched; note when the call starts."""
    context = logcontext.current()
    if context is not None:
        request.headers["X-Request-ID"] = context.request_id
    request.extensions[_STARTED] = time.perf_counter()


async def _time_response(response: httpx2.Response) -> None:
    """Count the time until the provider's answer, by the path called."""
    started = response.request.extensions.get(_STARTED)
    if started is not None and metrics.counting():
        metrics.IDP_REQUESTS.labels(response.request.url.path).observe(
            time.perf_counter() - started
        )


_EVENT_HOOKS = {"request": [_name_request], "response": [_time_response]}


def timeout() -> httpx2.Timeout:
    seconds = app_settings.http_timeout()
    return httpx2.Timeout(seconds, connect=min(seconds, 3.0))


class _SharedOAuthClient(AsyncOAuth2Client):
    """authlib's async OAuth 2 client, shared by every call on one event loop: it keeps
    neither the tokens it fetched nor the provider's cookies, so that nothing of one
    exchange goes into the next."""

    def __init__(self, **kwargs):
        super().__init__(cookies=CookieJar(DefaultCookiePolicy(allowed_domains=[])), **kwargs)

    def parse_response_token(self, resp):
        """Return the token of the provider's answer without keeping it."""
        token = super().parse_response_token(resp)
        self.token = None
        return token


def oauth_client() -> AsyncOAuth2Client:
    """Return this event loop's OAuth 2 client for the configured client id, secret and
    timeout, on the shared transport. It sets no redirect URI, scope or grant type:
    each call passes its own."""
    loop = asyncio.get_running_loop()
    config = (app_settings.client_id(), app_settings.client_secret(), app_settings.http_timeout())
    kept = getattr(loop, _CLIENT_ATTRIBUTE, None)
    if kept is not None and kept[0] == config:
        return kept[1]
    client = _SharedOAuthClient(
        client_id=config[0],
        client_secret=config[1],
        token_endpoint_auth_method="client_secret_post",
        code_challenge_method="S256",
        transport=_transport(),
        timeout=timeout(),
        event_hooks=_EVENT_HOOKS,
    )
    setattr(loop, _CLIENT_ATTRIBUTE, (config, client))
    return client


async def get_json(url: str) -> tuple[dict, httpx2.Response]:
    """GET a JSON object and return it with the response; raise ProviderUnavailable for
    any transport failure, non-2xx or non-object answer."""
    # Not `async with`: closing the client would close the shared transport.
    client = httpx2.AsyncClient(transport=_transport(), timeout=timeout(), event_hooks=_EVENT_HOOKS)
    try:
        response = await client.get(url, headers={"Accept": "application/json"})
    except httpx2.HTTPError as exc:
        raise ProviderUnavailable(f"{url} did not answer ({exc.__class__.__name__})") from exc
    if response.status_code != 200:
        raise ProviderUnavailable(f"{url} answered HTTP {response.status_code}")
    try:
        data = response.json()
    except ValueError:
        raise ProviderUnavailable(f"{url} did not answer JSON") from None
    if not isinstance(data, dict):
        raise ProviderUnavailable(f"{url} did not answer a JSON object")
    return data, response
