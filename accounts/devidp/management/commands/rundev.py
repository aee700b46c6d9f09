"""`manage.py rundev`: everything the README's run command serves, for development only.

Starts as child processes in one process group of their own: the development identity
provider (only when no Auth0 tenant is configured; the API is then pointed at it), a
static file server for the demo web app in `demo/`, and the API under uvicorn, its access
log off (it would print each login's authorization code, which the callback URL carries).
Prints where each one is once they answer, and stops them all on Ctrl-C or SIGTERM, or as
soon as one of them exits (then with a non-zero status).
"""

import contextlib
import os
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from urllib.parse import urlsplit

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from accounts.devidp.demo import DEMO_OPERATOR, DEV_CLIENT_ID, DEV_CLIENT_SECRET
from accounts.devidp.server import base_url

API_HOST, API_PORT = "127.0.0.1", 8000
DEMO_PORT = 5173
STARTUP_TIMEOUT = 30.0
STOP_TIMEOUT = 10.0
# The children listen on loopback; an HTTP(S)_PROXY from the environment must not intercept.
_NO_PROXY = urllib.request.build_opener(urllib.request.ProxyHandler({}))


class _Stop(Exception):
    """SIGTERM, raised where the command waits so that it stops its children."""


class ProcessGroup:
    """Child processes sharing one process group (led by the first), so that a single
    signal reaches all of them."""

    def __init__(self) -> None:
        self.children: dict[str, subprocess.Popen] = {}
        self.pgid: int | None = None

    def start(self, name: str, args: list[str], env: dict[str, str]) -> None:
        process = subprocess.Popen(args, env=env, process_group=self.pgid or 0)
        self.pgid = self.pgid or process.pid
        self.children[name] = process

    def exited(self) -> tuple[str, int] | None:
        """Return (name, status) of a child that has exited, if any."""
        for name, process in self.children.items():
            if process.poll() is not None:
                return name, process.returncode
        return None

    def stop(self) -> None:
        """Send SIGTERM to the group, then SIGKILL to whatever is still running."""
        if self.pgid is None:
            return
        self._signal(signal.SIGTERM)
        deadline = time.monotonic() + STOP_TIMEOUT
        for process in self.children.values():
            try:
                process.wait(max(0.0, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                self._signal(signal.SIGKILL)
                process.wait()

    def _signal(self, signum: int) -> None:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.pgid, signum)


class Command(BaseCommand):
    help = (
        "Serve the API, the demo web app and (without an Auth0 tenant) the development "
        "identity provider, for development. DEBUG must be true."
    )

    def add_arguments(self, parser) -> None:
        parser.add_argument(
            "--port", type=int, default=API_PORT, help=f"the API's port ({API_PORT})"
        )
        parser.add_argument(
            "--demo-port",
            type=int,
            default=DEMO_PORT,
            help=f"the demo web app's port ({DEMO_PORT}); FRONTEND_ORIGINS must name it",
        )

    def handle(self, *args, **options) -> None:
        if not settings.DEBUG:
            raise CommandError(
                "rundev is a development tool and refuses to run with DEBUG=false; "
                "production runs gunicorn with uvicorn workers (docs/operations.md)."
            )
        group = ProcessGroup()
        previous = signal.signal(signal.SIGTERM, _raise_stop)
        try:
            self._run(group, options["port"], options["demo_port"])
        except (KeyboardInterrupt, _Stop):
            self.stdout.write("Stopping.")
        finally:
            # A second Ctrl-C must not cut the stop short and leave children behind.
            previous_int = signal.signal(signal.SIGINT, signal.SIG_IGN)
            signal.signal(signal.SIGTERM, signal.SIG_IGN)
            group.stop()
            signal.signal(signal.SIGINT, previous_int)
            signal.signal(signal.SIGTERM, previous)

    def _run(self, group: ProcessGroup, port: int, demo_port: int) -> None:
        env = dict(os.environ)
        api = f"http://{API_HOST}:{port}/"
        operator = f"{DEMO_OPERATOR['email']} / {DEMO_OPERATOR['password']}"
        lines = [("API", api, "docs at /api/docs/"), ("Admin", f"{api}admin/", operator)]
        ready_urls = [f"{api}healthz"]

        # With ENV_FILE set, the settings read another file (or none) than this one.
        if "ENV_FILE" not in os.environ and write_development_env(settings.BASE_DIR / ".env"):
            lines.append((".env", "written", "development settings for manage.py commands"))
        if settings.AUTH0_ISSUER not in (None, development_issuer()):
            lines.append(("Identity provider", settings.AUTH0_ISSUER, "configured"))
        else:
            issuer = self._start_idp(group, env)
            env |= {
                "AUTH0_ISSUER": issuer,
                "AUTH0_CLIENT_ID": DEV_CLIENT_ID,
                "AUTH0_CLIENT_SECRET": DEV_CLIENT_SECRET,
            }
            lines.append(("Identity provider", issuer, "development: pick a demo person"))
            ready_urls.append(f"{issuer}.well-known/openid-configuration")

        demo_dir = settings.BASE_DIR / "demo"
        if demo_dir.is_dir():
            group.start(
                "the demo web app server",
                [
                    sys.executable,
                    *("-m", "http.server", str(demo_port)),
                    *("--bind", "127.0.0.1", "--directory", str(demo_dir)),
                ],
                env,
            )
            demo = f"http://localhost:{demo_port}/"
            if port != API_PORT:
                demo += f"?api=http://{API_HOST}:{port}"
            lines.append(("Demo web app", demo, ""))
            ready_urls.append(f"http://127.0.0.1:{demo_port}/")
        else:
            self.stdout.write(f"No {demo_dir} folder: the demo web app is not served.")

        group.start(
            "the API",
            [
                sys.executable,
                *("-m", "uvicorn", "authsite.asgi:application"),
                *("--host", API_HOST, "--port", str(port)),
                # TRUSTED_PROXIES alone decides whose forwarded headers are believed.
                "--no-proxy-headers",
                # Its lines would carry each login's code: /auth/callback?code=…
                "--no-access-log",
            ],
            env,
        )

        for url in ready_urls:
            _wait_until_answering(url, group)
        names = max(len(name) for name, _, _ in lines)
        urls = max(len(url) for _, url, _ in lines)
        for name, url, note in lines:
            self.stdout.write(f"  {name:<{names}}  {url:<{urls}}  {note}".rstrip())
        self.stdout.write(self.style.SUCCESS("ready (Ctrl-C stops everything)"))

        while (exited := group.exited()) is None:
            time.sleep(0.2)
        name, status = exited
        raise CommandError(f"{name} exited with status {status}; stopped the others.")

    def _start_idp(self, group: ProcessGroup, env: dict[str, str]) -> str:
        """Start the development identity provider at DEVIDP_URL, knowing the API of
        AUTH0_AUDIENCE when it is set; return its issuer."""
        host, port = _devidp_address()
        api = ["--api", settings.AUTH0_AUDIENCE] if settings.AUTH0_AUDIENCE else []
        group.start(
            "the development identity provider",
            [sys.executable, "-m", "accounts.devidp", "--host", host, "--port", str(port), *api],
            env,
        )
        return base_url(host, port)


def _devidp_address() -> tuple[str, int]:
    url = urlsplit(settings.DEVIDP_URL)
    return url.hostname or "127.0.0.1", url.port or 80


def development_issuer() -> str:
    """Return the issuer of the development identity provider that rundev serves."""
    return base_url(*_devidp_address())


def write_development_env(path) -> bool:
    """Write a development .env at ``path`` unless a file is there: DEBUG and the
    development identity provider, so that manage.py commands in another shell see what
    rundev serves. Return whether it was written."""
    lines = [
        "# Development settings, written by `make run` because there was no .env; it is",
        "# never overwritten. docs/api.md lists every variable.",
        "DEBUG=true",
        f"AUTH0_ISSUER={development_issuer()}",
        f"AUTH0_CLIENT_ID={DEV_CLIENT_ID}",
        f"AUTH0_CLIENT_SECRET={DEV_CLIENT_SECRET}",
    ]
    try:
        with open(path, "x") as dotenv:
            dotenv.write("\n".join(lines) + "\n")
    except FileExistsError:
        return False
    return True


def _raise_stop(signum, frame) -> None:
    raise _Stop


def _wait_until_answering(url: str, group: ProcessGroup) -> None:
    """Poll `url` until it answers 200; raise CommandError if a child exits or time runs
    out first."""
    deadline = time.monotonic() + STARTUP_TIMEOUT
    while True:
        if exited := group.exited():
            name, status = exited
            raise CommandError(f"{name} exited with status {status} while starting.")
        try:
            with _NO_PROXY.open(url, timeout=1) as response:
                if response.status == 200:
                    return
        except (urllib.error.URLError, ConnectionError, TimeoutError):
            pass
        if time.monotonic() > deadline:
            raise CommandError(f"{url} did not answer within {STARTUP_TIMEOUT:.0f} seconds.")
        time.sleep(0.2)
