"""`next` must be a relative path or a URL on FRONTEND_ORIGINS: no open redirect."""

import pytest
from hypothesis import given
from hypothesis import strategies as st

from accounts.redirects import safe_next
from tests.logins import browser_login

HOSTILE = [
    "//evil.example",
    "//evil.example/path",
    "https://evil.example",
    "http://evil.example/",
    "/\\evil.example",
    "\\\\evil.example",
    "/\\/evil.example",
    "javascript:alert(1)",
    "JaVaScRiPt:alert(1)",
    " javascript:alert(1)",
    "data:text/html,<script>alert(1)</script>",
    "HTTPS://EVIL.EXAMPLE",
    "https://localhost:5173@evil.example/",
    "https://evil.example#@localhost:5173",
    "http://localhost:5174/",
    "https://localhost:5173/",  # other scheme than the configured origin
    "http://localhost.evil.example:5173/",
    "%2F%2Fevil.example",
    "/\t/evil.example",
    "\x00/evil",
    "http:evil.example",
    "http:/evil.example",
    "ftp://localhost:5173/",
]


@pytest.mark.parametrize("value", HOSTILE)
def test_hostile_next_is_ignored(value):
    assert safe_next(value) is None


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("/reports?tab=2#top", "http://localhost:5173/reports?tab=2#top"),
        ("/%2F%2Fevil.example", "http://localhost:5173/%2F%2Fevil.example"),
        ("/%0A/evil.example", "http://localhost:5173/%0A/evil.example"),
        ("http://localhost:5173/x", "http://localhost:5173/x"),
        ("HTTP://LOCALHOST:5173/x", "HTTP://LOCALHOST:5173/x"),
    ],
)
def test_allowed_next(value, expected):
    assert safe_next(value) == expected


@given(st.text(max_size=60))
def test_any_allowed_next_lands_on_the_frontend(value):
    target = safe_next(value)
    if target is not None:
        assert target.lower().startswith("http://localhost:5173/")


@given(st.sampled_from(["evil.example", "localhost:5174", "127.0.0.1:5173"]), st.text(max_size=20))
def test_other_hosts_never_pass(host, tail):
    for prefix in ("http://", "https://", "//", "/\\", "HTTP://"):
        assert safe_next(prefix + host + "/" + tail) is None


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("value", ["//evil.example", "https://evil.example/steal"])
async def test_login_with_hostile_next_lands_on_the_default_page(async_client, idp, value):
    response = await browser_login(async_client, next=value)
    assert response.status_code == 302
    assert response["Location"] == "http://localhost:5173/"
