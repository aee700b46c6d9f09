"""A real Chromium (Debian's, at /usr/bin/chromium; Playwright never downloads one)
driving the demo web app in demo/, the API under uvicorn and the local identity provider.

The deployments of the API share one database of their own, seeded with `seed_demo`:

- cross-site: the demo app on `http://localhost:<demo port>`, the API on
  `http://127.0.0.1:<port>`, `COOKIE_SAMESITE=None` and `Secure` (Chromium treats both
  loopback hosts as potentially trustworthy, so Secure cookies are stored over http);
- same-site: the demo app on `http://127.0.0.1:<demo port>`, the API on
  `http://127.0.0.1:<other port>`, `COOKIE_SAMESITE=Lax` (ports do not make sites).

A third, cross-site like the first with `DPOP_NONCE=true`, starts only for the tests that
ask for it.

Each test gets a fresh browser profile. Third-party cookies are controlled by the profile
preference `profile.cookie_controls_mode`, written to `<profile>/Default/Preferences`
before launch (measured with Chromium 156):

- no preference (a fresh profile, Chromium's default here): third-party cookies BLOCKED;
  the API's `SameSite=None; Secure` cookie is stored during the top-level login but not
  sent with the demo app's `credentials: "include"` fetches;
- `0` (off, as in Google Chrome's normal profile): third-party cookies ALLOWED;
- `1` (block third-party cookies): BLOCKED; `2` (block in incognito only): ALLOWED here.

No command-line switch is needed. Screenshots of each step are saved under
`test-artifacts/browser/<test name>/` (ignored by git).
"""

import functools
import json
import os
import re
import shutil
import subprocess
import sys
import threading
from dataclasses import dataclass
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from playwright.sync_api import BrowserContext, Page, expect, sync_playwright

from accounts.devidp.demo import DEMO_ORGANISATIONS, DEMO_PEOPLE
from tests.e2e.servers import ROOT, E2EDatabase, Server, base_env, free_port
from tests.idp import CLIENT_ID, CLIENT_SECRET, seed

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
ARTIFACTS = ROOT / "test-artifacts" / "browser"

THIRD_PARTY_COOKIES_ALLOWED = {"profile": {"cookie_controls_mode": 0}}
THIRD_PARTY_COOKIES_BLOCKED = {"profile": {"cookie_controls_mode": 1}}
FRESH_PROFILE = None  # Chromium's own default: blocked

_USER_IDS = """
import json
from accounts.models import User
print(json.dumps({u.email: u.pk for u in User.objects.all()}))
"""


def pytest_collection_modifyitems(items):
    """Fail (never skip) when browser tests are selected and Chromium is missing."""
    wanted = any(item.get_closest_marker("browser") for item in items)
    if wanted and not os.access(CHROMIUM, os.X_OK):
        raise pytest.UsageError(
            f"The browser tests need Debian's Chromium at {CHROMIUM}: run `make browsers`."
        )


# --- static sites ---------------------------------------------------------------------


class _QuietHandler(SimpleHTTPRequestHandler):
    def log_message(self, format, *args):
        pass

    def end_headers(self):
        self.send_header("Cache-Control", "no-store")
        super().end_headers()


class StaticSite:
    """A folder served on 127.0.0.1:<random port> in a thread; `origin(host)` names it as
    `localhost` or `127.0.0.1`, which browsers treat as two different sites."""

    def __init__(self, directory: Path):
        handler = functools.partial(_QuietHandler, directory=str(directory))
        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), handler)
        self.port = self._httpd.server_address[1]
        self._thread = threading.Thread(target=self._httpd.serve_forever, daemon=True)
        self._thread.start()

    def origin(self, host: str) -> str:
        return f"http://{host}:{self.port}"

    def stop(self):
        self._httpd.shutdown()
        self._httpd.server_close()


@pytest.fixture(scope="session")
def demo_site():
    site = StaticSite(ROOT / "demo")
    yield site
    site.stop()


@pytest.fixture(scope="session")
def attacker_site():
    site = StaticSite(Path(__file__).parent / "attacker")
    yield site
    site.stop()


# --- the API ----------------------------------------------------------------------------


@pytest.fixture(scope="session")
def browser_database():
    """The servers' own database: the demo tenants and people of `seed_demo` (Acme and
    Globex, an operator with a password), a development command run with DEBUG=true;
    `user_ids` maps each seeded email to its id."""
    database = E2EDatabase(f"authsite_browser_{os.getpid()}")
    database.run_manage("seed_demo", env={"DEBUG": "true"})
    output = subprocess.run(
        [sys.executable, "manage.py", "shell", "-c", _USER_IDS],
        cwd=ROOT,
        env={**os.environ, **base_env(), "DATABASE_URL": database.url},
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    database.user_ids = json.loads(output.strip().splitlines()[-1])
    yield database
    database.drop()


@dataclass
class Deployment:
    """One API server and where its web app lives."""

    api: str  # the API's origin
    app: str  # the demo web app's origin
    samesite: str
    server: Server

    @property
    def app_url(self) -> str:
        return f"{self.app}/?api={self.api}"


def _deploy(database, idp_server, app: str, samesite: str, **settings) -> Deployment:
    port = free_port()
    api = f"http://127.0.0.1:{port}"
    env = {
        "AUTH0_ISSUER": idp_server.url,
        "AUTH0_CLIENT_ID": CLIENT_ID,
        "AUTH0_CLIENT_SECRET": CLIENT_SECRET,
        "FRONTEND_ORIGINS": app,
        # The default landing page is the demo app talking to this server.
        "LOGIN_REDIRECT_URL": f"{app}/?api={api}",
        "COOKIE_SAMESITE": samesite,
        "COOKIE_SECURE": "true",
        # Every request comes from 127.0.0.1; the limits are not what these tests test.
        "RATE_LIMIT_LOGIN": "1000/m",
        "RATE_LIMIT_TOKEN": "1000/m",
        **settings,
    }
    return Deployment(api, app, samesite, Server(database, env, port=port))


@pytest.fixture(scope="session")
def cross_site(browser_database, idp_server, demo_site):
    deployment = _deploy(browser_database, idp_server, demo_site.origin("localhost"), "None")
    yield deployment
    deployment.server.stop()
    deployment.server.assert_clean_log()


@pytest.fixture(scope="session")
def cross_site_with_dpop_nonces(browser_database, idp_server, demo_site):
    """The cross-site deployment whose DPoP proofs must carry a nonce of the API's."""
    deployment = _deploy(
        browser_database, idp_server, demo_site.origin("localhost"), "None", DPOP_NONCE="true"
    )
    yield deployment
    deployment.server.stop()
    deployment.server.assert_clean_log()


@pytest.fixture(scope="session")
def same_site(browser_database, idp_server, demo_site):
    deployment = _deploy(browser_database, idp_server, demo_site.origin("127.0.0.1"), "Lax")
    yield deployment
    deployment.server.stop()
    deployment.server.assert_clean_log()


@pytest.fixture(autouse=True)
def _fresh_provider(idp_server):
    """The identity provider's seeded users and client, whatever other tests changed."""
    idp_server.provider.reset()
    seed(idp_server.provider)
    yield
    idp_server.provider.reset()


@pytest.fixture
def demo_people(_fresh_provider, idp_server):
    """The provider also knows the demo people of accounts/devidp/demo.py that its seed lacks
    (the seed's Alice Acme is Acme's seeded admin by verified email): Sam Super, Victor
    Viewer and the rest, with their demo organisation's `org_id`, as under `make run`."""
    provider = idp_server.provider
    known = {user["email"] for user in provider.users.values()}
    organisations = {org["slug"]: org for org in DEMO_ORGANISATIONS}
    for person in DEMO_PEOPLE:
        if person["email"] in known:
            continue
        org = organisations.get(person["organisation"] or "")
        provider.add_user(
            person["sub"],
            email=person["email"],
            name=person["name"],
            org_id=org["auth0_org_id"] if org else None,
            org_name=org["name"] if org else None,
        )


# --- the browser ----------------------------------------------------------------------


@pytest.fixture
def launch(tmp_path):
    """`launch(preferences)` opens Chromium on a fresh profile whose Preferences file
    holds `preferences` (None: leave Chromium's defaults). Fails the test when a page
    threw an uncaught JavaScript error."""
    errors = []
    contexts = []
    with sync_playwright() as playwright:

        def launch(preferences) -> BrowserContext:
            profile = tmp_path / f"profile-{len(contexts)}"
            if preferences is not None:
                (profile / "Default").mkdir(parents=True)
                (profile / "Default" / "Preferences").write_text(json.dumps(preferences))
            context = playwright.chromium.launch_persistent_context(
                str(profile),
                executable_path=CHROMIUM,
                headless=True,
                args=CHROMIUM_ARGS,
                viewport={"width": 1280, "height": 900},
            )
            contexts.append(context)
            context.set_default_timeout(10_000)

            def watch(page: Page):
                page.on("pageerror", lambda error: errors.append(f"{page.url}: {error}"))

            context.on("page", watch)
            for page in context.pages:
                watch(page)
            return context

        yield launch
        for context in contexts:
            context.close()
    assert not errors, errors


class Steps:
    """Numbered full-page screenshots: test-artifacts/browser/<test>/NN-<step>.png."""

    def __init__(self, directory: Path):
        self.directory = directory
        self.count = 0

    def shot(self, page: Page, step: str):
        self.count += 1
        page.screenshot(path=self.directory / f"{self.count:02d}-{step}.png", full_page=True)


@pytest.fixture
def steps(request):
    directory = ARTIFACTS / re.sub(r"[^A-Za-z0-9_.-]+", "-", request.node.name).strip("-")
    shutil.rmtree(directory, ignore_errors=True)
    directory.mkdir(parents=True)
    return Steps(directory)


# --- what a person does -----------------------------------------------------------------


def choose_demo_user(page: Page, steps: Steps, name: str = "Alice Acme", step="idp-chooser"):
    """At the identity provider's "Choose a demo user" page, click the person."""
    expect(page.get_by_role("heading", name="Choose a demo user")).to_be_visible()
    steps.shot(page, step)
    page.get_by_role("button", name=re.compile(f"^{re.escape(name)}")).click()


def log_in_with_cookie(page: Page, deployment: Deployment, steps: Steps):
    """From a logged-out demo app, the whole cookie-mode login; ends back on the app."""
    page.goto(deployment.app_url)
    expect(page.locator("#status")).to_have_text("Logged out")
    steps.shot(page, "app-logged-out")
    page.click("#login")
    choose_demo_user(page, steps)
    expect(page.locator("#status")).to_have_text("Logged in")
    expect(page.locator("#mode")).to_have_text("Cookie mode")
    assert page.url.startswith(deployment.app + "/")


def log_in_by_token_handoff(page: Page, deployment: Deployment, steps: Steps):
    """From a logged-out demo app in a browser that blocks third-party cookies: the cookie
    login, the app's explanation of the 401, and the token-handoff login it then starts."""
    page.goto(deployment.app_url)
    expect(page.locator("#status")).to_have_text("Logged out")
    steps.shot(page, "app-logged-out")
    page.click("#login")
    choose_demo_user(page, steps)
    explanation = page.locator("#message")
    expect(explanation).to_contain_text("this browser blocks third-party cookies")
    expect(explanation).to_contain_text("continues in token-handoff mode")
    steps.shot(page, "explains-blocked-cookies")
    # The provider remembers whom this browser picked (as Auth0 does): no second choice.
    expect(page.locator("#status")).to_have_text("Logged in")
    expect(page.locator("#mode")).to_have_text("Token-handoff mode")
    assert page.url.startswith(deployment.app + "/")


def fetch_status(page: Page, url: str, **init) -> int:
    """The status of a fetch() made by the page itself (from its own origin)."""
    return page.evaluate(
        "([url, init]) => fetch(url, init).then((response) => response.status)", [url, init]
    )
