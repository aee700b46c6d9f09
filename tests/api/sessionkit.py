"""Helpers shared by the session list's tests (tests/api/test_sessions.py and
test_session_activity.py)."""

from accounts.models import User
from accounts.tokens import access as access_tokens
from accounts.upsert import RequestMeta
from tests.idp import ALICE
from tests.logins import authorize, path_of
from tests.tokens.kit import aissue_token_pair

SESSIONS = "/api/v1/auth/sessions"
FRONTEND = "http://localhost:5173"
CHROME_ON_LINUX = (
    "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/131.0.0.0 Safari/537.36"
)
FIREFOX_ON_WINDOWS = (
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:133.0) Gecko/20100101 Firefox/133.0"
)


async def signed_in(new_browser, sub=ALICE, user_agent=CHROME_ON_LINUX):
    """A browser that enforces CSRF, after a whole login through the provider, which it
    made (and goes on making its requests) with that User-Agent."""
    browser = new_browser(enforce_csrf_checks=True)
    browser.user_agent = {"User-Agent": user_agent}
    started = await browser.get("/auth/login", headers=browser.user_agent)
    callback = await authorize(started["Location"], sub)
    response = await browser.get(path_of(callback), headers=browser.user_agent)
    assert response.status_code == 302, response.content
    return browser


async def unsafe(browser, method, path, **kwargs):
    """``method`` on ``path`` from the web app: its CSRF token and Origin."""
    csrf = (await browser.get("/api/v1/auth/csrf")).json()["csrf_token"]
    headers = {"Origin": FRONTEND, "X-CSRFToken": csrf, **browser.user_agent}
    return await browser.generic(method, path, headers=headers, **kwargs)


def bearer(token: str) -> dict:
    return {"Authorization": f"Bearer {token}"}


async def token_pair(user, user_agent="python-httpx/0.28.1", ip="198.51.100.7") -> dict:
    """A new family of its own (born from no browser session) and its first pair."""
    return await aissue_token_pair(
        user, issuer="http://testserver", meta=RequestMeta(ip=ip, user_agent=user_agent)
    )


def family_of(pair: dict) -> str:
    return access_tokens.unverified_claims(pair["access_token"])["fam"]


async def listed(client, **kwargs) -> list[dict]:
    response = await client.get(SESSIONS, **kwargs)
    assert response.status_code == 200, response.content
    return response.json()["sessions"]


async def me_status(client, **kwargs) -> int:
    return (await client.get("/api/v1/auth/me", **kwargs)).status_code


async def refresh(client, refresh_token: str):
    return await client.post(
        "/api/v1/auth/refresh", {"refresh_token": refresh_token}, content_type="application/json"
    )


async def alice() -> User:
    return await User.objects.aget(email="alice@acme.example")
