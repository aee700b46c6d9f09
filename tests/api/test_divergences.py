"""The same request, two paths: the production application (``authsite.asgi:application``,
the fast lane in front of Django) and Django alone (``authsite.asgi:django_application``),
on the same database.

Each test sends both paths a request they once answered differently, or with a 500
(bodies the lane cannot read as Django does, a failing database or cache while a forged
token is checked, tokens that break the parsers, a rate limit counted twice), and asserts
what a client sees: the status, the JSON error body ``{"error", "detail"}`` and the same
headers to the byte. The last test sends malformed requests without credentials to every
API path: never a 500, never an answer that is not JSON. Only the outside world fails (a
database port nobody listens on, a Redis that was stopped).
"""

import base64
import json
import re
import time
import uuid

import httpx2
import pytest
from asgiref.sync import sync_to_async
from django.conf import settings as django_settings
from django.core.cache import cache
from django.urls import URLPattern, URLResolver, get_resolver

from accounts import ratelimit
from accounts.models import RefreshToken
from accounts.tokens import base as token_base
from authsite.asgi import application, django_application
from tests.api.kit import amember, arefresh_token
from tests.redis_server import RedisServer

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]

PEER = ("127.0.0.1", 50000)
ME = "/api/v1/auth/me"
REFRESH = "/api/v1/auth/refresh"
JSON_ERROR_KEYS = {"error", "detail"}
# The headers Django's middleware puts on every API answer; each must be on both
# answers, with the same value.
SECURITY_HEADERS = (
    "content-type",
    "x-content-type-options",
    "x-frame-options",
    "content-security-policy",
    "referrer-policy",
    "cross-origin-opener-policy",
    "cache-control",
)


# --- asking both paths -------------------------------------------------------------------


@pytest.fixture(autouse=True)
async def _close_the_lane():
    """The production application is one object for the whole session: after each test,
    shut it down as a server does (the lifespan protocol), so that its connection pool
    does not outlive the test database."""
    yield
    messages = [{"type": "lifespan.startup"}, {"type": "lifespan.shutdown"}]

    async def receive():
        return messages.pop(0)

    async def send(message):
        pass

    await application({"type": "lifespan", "asgi": {"version": "3.0"}}, receive, send)


async def _ask(app, method, path, *, headers=None, content=None, client=PEER):
    """One request to ``app``; an exception the application lets out is the 500 a server
    answers with, not an error in the test."""
    transport = httpx2.ASGITransport(app=app, client=client, raise_app_exceptions=False)
    async with httpx2.AsyncClient(transport=transport, base_url="http://testserver") as http:
        return await http.request(method, path, headers=headers, content=content)


async def _both(method, path, **kwargs) -> tuple[httpx2.Response, httpx2.Response]:
    """(the production application's answer, Django's answer)."""
    return (
        await _ask(application, method, path, **kwargs),
        await _ask(django_application, method, path, **kwargs),
    )


def _described(response) -> str:
    return (
        f"{response.status_code} {response.headers.get('content-type')!r} {response.text[:300]!r}"
    )


def _headers(response) -> list[tuple[str, str]]:
    """Every header but the values of Expires (the time of the answer) and X-Request-ID
    (the answer's own), whose shapes are checked, in a stable order."""
    headers = []
    for name, value in response.headers.multi_items():
        if shape := {"expires": ".* GMT", "x-request-id": "[0-9a-f]{32}"}.get(name.lower()):
            assert re.fullmatch(shape, value), value
            value = f"<{name.lower()}>"
        headers.append((name.lower(), value))
    return sorted(headers)


def _comparable(response):
    """What must be the same on both paths: all of an error; of a success (a new CSRF
    token, which is random), the status, the JSON keys and the headers but the cookie."""
    if response.status_code >= 400:
        return response.status_code, response.content, _headers(response)
    headers = [(name, value) for name, value in _headers(response) if name != "set-cookie"]
    return response.status_code, sorted(response.json()), headers


def _assert_same_answer(lane, django):
    """Byte-identical in status, body and headers."""
    assert (lane.status_code, lane.content) == (django.status_code, django.content), (
        f"the application answered {_described(lane)}, Django {_described(django)}"
    )
    assert _headers(lane) == _headers(django)
    missing = [name for name in SECURITY_HEADERS if name not in django.headers]
    assert not missing, f"Django's answer lacks {missing}"


def _assert_json_error(response, statuses, error=None) -> dict:
    assert response.status_code in statuses, _described(response)
    assert response.headers["content-type"] == "application/json", _described(response)
    body = response.json()
    assert set(body) == JSON_ERROR_KEYS, body
    assert isinstance(body["error"], str) and body["error"], body
    if error is not None:
        assert body["error"] == error, body
    return body


# --- tokens and people ---------------------------------------------------------------------


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _jwt(header: dict, payload: bytes, signature: bytes = b"") -> str:
    return f"{_b64(json.dumps(header).encode())}.{_b64(payload)}.{_b64(signature)}"


def _forged_access_token() -> str:
    """An app access token in every way but its signature: typ at+jwt, this server as
    issuer, a key id no key has."""
    now = int(time.time())
    claims = {
        "iss": "http://testserver",
        "aud": token_base.audience_for("http://testserver"),
        "sub": "1",
        "fam": str(uuid.uuid4()),
        "jti": uuid.uuid4().hex,
        "iat": now,
        "exp": now + 600,
    }
    header = {"alg": "ES256", "typ": "at+jwt", "kid": f"forged-{uuid.uuid4().hex}"}
    return _jwt(header, json.dumps(claims).encode(), b"\x01" * 64)


DEPTH = 20_000


def _unsigned_jwt(payload: bytes) -> str:
    return _jwt({"alg": "none", "typ": "at+jwt"}, payload)


# Payloads nested past Python's recursion limit. The first is the one the differential
# run sent; joserfc refuses it as too large (over 128 KiB) before it is parsed. The
# others fit, and reach the JSON parser.
NESTED_PAYLOADS = {
    "objects 20,000 deep": b'{"a":' * DEPTH + b"1" + b"}" * DEPTH,
    "objects 15,000 deep": b'{"a":' * 15_000 + b"1" + b"}" * 15_000,
    "an object holding arrays 20,000 deep": b'{"a":' + b"[" * DEPTH + b"]" * DEPTH + b"}",
}


@sync_to_async
def _used_at(plaintext: str):
    return RefreshToken.objects.get(token_hash=token_base.hash_token(plaintext)).used_at


# --- the outside world failing --------------------------------------------------------------


@pytest.fixture
async def redis_down(settings):
    """The default cache on a Redis that was running and has been stopped."""
    server = RedisServer()
    settings.CACHES = {
        "default": {
            "BACKEND": "django_redis.cache.RedisCache",
            "LOCATION": server.url,
            "KEY_PREFIX": f"divergences-{uuid.uuid4().hex}",
        }
    }
    server.stop()
    yield
    await ratelimit.aclose()


# --- 1. bodies the lane cannot read as Django does ------------------------------------------

UNREADABLE_BODIES = {
    "a form in latin-1": (
        "application/x-www-form-urlencoded; charset=latin-1",
        "refresh_token=caf\xe9".encode("latin-1"),
    ),
    "a form with 1,001 fields": (
        "application/x-www-form-urlencoded",
        b"&".join([b"a="] * 1001),
    ),
    "multipart without a boundary": (
        "multipart/form-data",
        b'--x\r\nContent-Disposition: form-data; name="refresh_token"\r\n\r\nabc\r\n--x--\r\n',
    ),
}


@pytest.mark.parametrize("case", UNREADABLE_BODIES)
async def test_a_refresh_body_the_lane_cannot_read_gets_django_s_json_400_on_both_paths(case):
    content_type, body = UNREADABLE_BODIES[case]
    lane, django = await _both(
        "POST", REFRESH, headers={"Content-Type": content_type}, content=body
    )
    _assert_json_error(django, {400})
    _assert_same_answer(lane, django)


# --- 2. and 3. a forged token while the database or the cache is down ---------------------


async def test_a_forged_access_token_during_a_database_outage_is_a_json_503_on_both_paths(
    database_down,
):
    headers = {"Authorization": f"Bearer {_forged_access_token()}"}
    lane, django = await _both("GET", ME, headers=headers)
    _assert_json_error(django, {503}, "service_unavailable")
    _assert_same_answer(lane, django)


async def test_a_forged_access_token_while_redis_is_down_is_a_json_503_on_both_paths(redis_down):
    headers = {"Authorization": f"Bearer {_forged_access_token()}"}
    lane, django = await _both("GET", ME, headers=headers)
    _assert_json_error(django, {503}, "service_unavailable")
    _assert_same_answer(lane, django)


# --- 4. and 5. tokens that break the parsers ---------------------------------------------------


async def test_a_refresh_token_with_a_lone_surrogate_is_refused_as_json_on_both_paths():
    body = b'{"refresh_token": "\\ud800"}'
    lane, django = await _both(
        "POST", REFRESH, headers={"Content-Type": "application/json"}, content=body
    )
    _assert_json_error(django, {400, 401})
    _assert_same_answer(lane, django)


@pytest.mark.parametrize("payload", NESTED_PAYLOADS)
async def test_a_bearer_token_nested_thousands_of_levels_deep_is_a_json_401_on_both_paths(
    payload,
):
    headers = {"Authorization": f"Bearer {_unsigned_jwt(NESTED_PAYLOADS[payload])}"}
    lane, django = await _both("GET", ME, headers=headers)
    _assert_json_error(django, {401})
    _assert_same_answer(lane, django)


# --- 6. the rate limit, counted once ----------------------------------------------------------


def _ip_counter_key() -> str:
    """The cache key of this window's RATE_LIMIT_TOKEN counter for PEER's address."""
    _, key, _, _ = ratelimit._window("token-ip", PEER[0], django_settings.RATE_LIMIT_TOKEN)
    return key


async def test_refreshes_from_one_address_are_each_counted_once_whichever_path_answers(
    settings, redis_cache
):
    """RATE_LIMIT_TOKEN is per client address: five refreshes in the window pass, the
    sixth is refused, whether the lane answered a request or passed it to Django (a
    token re-presented within the grace is answered by Django with a sibling pair).
    Each person behind the address has a pair of their own, so only the address's limit
    is reached."""
    settings.RATE_LIMIT_TOKEN = "5/h"
    people = [await amember() for _ in range(4)]
    first, second, third, fourth = [await arefresh_token(person) for person in people]
    requests = [
        ("rotated by the lane", first),
        ("spent within the grace: Django's sibling", first),
        ("rotated by the lane", second),
        ("spent within the grace: Django's sibling", second),
        ("rotated by the lane", third),
        ("the sixth: over the limit", fourth),
    ]
    headers = {"Content-Type": "application/json"}
    statuses, counts = [], []
    for _, token in requests:
        body = json.dumps({"refresh_token": token}).encode()
        answer = await _ask(application, "POST", REFRESH, headers=headers, content=body)
        statuses.append(answer.status_code)
        counts.append(await cache.aget(_ip_counter_key()))
        if answer.status_code == 429:
            _assert_json_error(answer, {429}, "rate_limited")
            assert int(answer.headers["Retry-After"]) >= 1
    assert statuses == [200, 200, 200, 200, 200, 429], list(zip(requests, statuses, strict=True))
    assert counts == [1, 2, 3, 4, 5, 6], "the address's counter after each request"
    assert await _used_at(fourth) is None  # the refused refresh spent nothing


# --- the catch-all: malformed requests without credentials, on every API path -------------------


def _api_paths() -> list[str]:
    """Every served path under /api/v1/ (the URLconf's, without parameters)."""
    found = []

    def walk(patterns, prefix):
        for pattern in patterns:
            route = prefix + str(pattern.pattern)
            if isinstance(pattern, URLResolver):
                walk(pattern.url_patterns, route)
            elif isinstance(pattern, URLPattern) and route.startswith("api/v1/"):
                found.append("/" + route)

    walk(get_resolver().url_patterns, "")
    return sorted(found)


NON_ASCII = "café ☕".encode()
MALFORMED = {
    "bad JSON": ({"Content-Type": "application/json"}, b'{"refresh_token": '),
    "JSON nested 20,000 deep": ({"Content-Type": "application/json"}, b"[" * DEPTH),
    "an object nested 20,000 deep": (
        {"Content-Type": "application/json"},
        b'{"a":' * DEPTH + b"1" + b"}" * DEPTH,
    ),
    "a lone surrogate": (
        {"Content-Type": "application/json"},
        b'{"refresh_token": "\\udfff", "login_code": "\\ud800", "handoff_verifier": "\\ud800"}',
    ),
    "not UTF-8": ({"Content-Type": "application/json"}, b'{"refresh_token": "\xff\xfe"}'),
    "text/plain": ({"Content-Type": "text/plain"}, b"refresh_token=abc"),
    "a form in latin-1": (
        {"Content-Type": "application/x-www-form-urlencoded; charset=latin-1"},
        "refresh_token=caf\xe9".encode("latin-1"),
    ),
    "a form in an unknown charset": (
        {"Content-Type": "application/x-www-form-urlencoded; charset=no-such-codec"},
        b"refresh_token=abc",
    ),
    "a form with 1,001 fields": (
        {"Content-Type": "application/x-www-form-urlencoded"},
        b"&".join([b"a="] * 1001),
    ),
    "multipart without a boundary": ({"Content-Type": "multipart/form-data"}, b"--x\r\n"),
    "multipart with a broken body": (
        {"Content-Type": "multipart/form-data; boundary=x"},
        b"--x\r\nContent-Disposition: form-data\r\n\r\n",
    ),
    "non-ASCII header values": (
        {
            "Content-Type": b"application/json; charset=" + NON_ASCII,
            "User-Agent": NON_ASCII,
            "Origin": b"http://" + NON_ASCII,
            "X-Forwarded-For": NON_ASCII,
            "Accept-Language": NON_ASCII,
        },
        b"{}",
    ),
    "a non-ASCII Host": ({"Host": NON_ASCII}, b""),
}


@pytest.mark.parametrize("path", _api_paths())
async def test_malformed_requests_without_credentials_never_get_a_500_nor_anything_but_json(
    path,
):
    failures = []
    for method in ("GET", "POST"):
        for case, (headers, body) in MALFORMED.items():
            lane, django = await _both(method, path, headers=dict(headers), content=body)
            for name, answer in (("application", lane), ("Django", django)):
                if answer.status_code >= 500 or not answer.headers.get(
                    "content-type", ""
                ).startswith("application/json"):
                    failures.append(f"{method} {case}: {name} answered {_described(answer)}")
            if _comparable(lane) != _comparable(django):
                failures.append(
                    f"{method} {case}: the two paths differ: "
                    f"{_described(lane)} / {_described(django)}"
                )
    assert not failures, "\n".join(failures)
