"""Every cookie the project sets or deletes carries the policy's attributes."""

from http.cookies import SimpleCookie

import pytest
from hypothesis import given
from hypothesis import strategies as st

from accounts.cookies import apply_policy, samesite_none_incompatible
from tests.logins import browser_login

pytestmark = pytest.mark.django_db(transaction=True)

INCOMPATIBLE = [
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/66.0.3359.181 Safari/537.36",
    "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chromium/51.0.2704.79 Chrome/51.0.2704.79 Safari/537.36",
    "Mozilla/5.0 (iPhone; CPU iPhone OS 12_4 like Mac OS X) AppleWebKit/605.1.15 "
    "(KHTML, like Gecko) Version/12.1.2 Mobile/15E148 Safari/604.1",
    "Mozilla/5.0 (iPad; CPU OS 12_1 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) "
    "CriOS/76.0.3809.123 Mobile/15E148 Safari/605.1",
    "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_14_6) AppleWebKit/605.1.15 (KHTML, like Gecko) "
    "Version/12.1.2 Safari/605.1.15",
    "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_14_6) AppleWebKit/605.1.15 (KHTML, like Gecko)",
    "Mozilla/5.0 (Linux; U; Android 8.0.0; en-US; SM-G930F Build/R16NW) AppleWebKit/537.36 "
    "(KHTML, like Gecko) Version/4.0 Chrome/57.0.2987.108 UCBrowser/12.13.0.1207 Mobile "
    "Safari/537.36",
]
COMPATIBLE = [
    "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/156.0.0.0 Safari/537.36",
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/67.0.3396.87 Safari/537.36",
    "Mozilla/5.0 (iPhone; CPU iPhone OS 13_1 like Mac OS X) AppleWebKit/605.1.15 "
    "(KHTML, like Gecko) Version/13.0.1 Mobile/15E148 Safari/604.1",
    "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_14_6) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/76.0.3809.132 Safari/537.36",
    "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko) "
    "Version/17.0 Safari/605.1.15",
    "Mozilla/5.0 (X11; Linux x86_64; rv:130.0) Gecko/20100101 Firefox/130.0",
    "Mozilla/5.0 (Linux; U; Android 8.0.0; en-US; SM-G930F Build/R16NW) AppleWebKit/537.36 "
    "(KHTML, like Gecko) Version/4.0 Chrome/57.0.2987.108 UCBrowser/12.13.2.1208 Mobile "
    "Safari/537.36",
    "",
]


@pytest.mark.parametrize("ua", INCOMPATIBLE)
def test_incompatible_clients_are_recognised(ua):
    assert samesite_none_incompatible(ua)


@pytest.mark.parametrize("ua", COMPATIBLE)
def test_compatible_clients_are_recognised(ua):
    assert not samesite_none_incompatible(ua)


def _written(samesite, secure, partitioned, ua="", max_age=None):
    cookies = SimpleCookie()
    cookies["sessionid"] = "secret"
    cookies["sessionid"]["path"] = "/"
    if max_age is not None:
        cookies["sessionid"]["max-age"] = max_age
    apply_policy(cookies, samesite=samesite, secure=secure, partitioned=partitioned, user_agent=ua)
    return cookies["sessionid"].OutputString()


def test_partitioned_is_written_on_set_and_on_delete():
    assert _written("None", True, True).endswith("; SameSite=None; Secure; Partitioned")
    deleted = _written("None", True, True, max_age=0)
    assert "Max-Age=0" in deleted and deleted.endswith("; Partitioned")


def test_samesite_none_is_left_out_for_incompatible_clients():
    written = _written("None", True, False, ua=INCOMPATIBLE[0])
    assert "SameSite" not in written and "Secure" in written


def test_lax_is_kept_for_incompatible_clients():
    assert "SameSite=Lax" in _written("Lax", True, False, ua=INCOMPATIBLE[0])


@given(
    st.sampled_from(["None", "Lax", "Strict"]),
    st.booleans(),
    st.booleans(),
    st.text(max_size=200),
)
def test_cookie_writer_always_writes_a_coherent_cookie(samesite, secure, partitioned, ua):
    written = _written(samesite, secure, partitioned, ua=ua)
    attributes = [part.strip() for part in written.split(";")][1:]
    assert "HttpOnly" in attributes
    assert ("Secure" in attributes) == secure
    assert ("Partitioned" in attributes) == partitioned
    samesites = [a for a in attributes if a.startswith("SameSite=")]
    assert len(samesites) <= 1
    if samesite != "None" or not samesite_none_incompatible(ua):
        assert samesites == [f"SameSite={samesite}"]


def _attributes(response, name):
    morsel = response.cookies[name]
    return morsel.OutputString()


async def test_session_and_flow_cookies_after_login_carry_the_policy(async_client, idp, settings):
    settings.COOKIE_PARTITIONED = True
    started = await async_client.get("/auth/login")
    flow = _attributes(started, "auth_flow")
    assert "HttpOnly" in flow and "SameSite=None" in flow and "Secure" in flow
    assert flow.endswith("Partitioned")
    response = await browser_login(async_client)
    session = _attributes(response, "sessionid")
    for attribute in ("HttpOnly", "SameSite=None", "Secure", "Partitioned"):
        assert attribute in session


async def test_lax_policy_applies_to_the_csrf_cookie(async_client, settings):
    settings.COOKIE_SAMESITE = "Lax"
    response = await async_client.get("/api/v1/auth/csrf")
    csrf = _attributes(response, "csrftoken")
    assert "SameSite=Lax" in csrf and "HttpOnly" in csrf and "Secure" in csrf
