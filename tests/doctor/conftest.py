"""Running `manage.py auth_doctor` against the local test identity provider.

`doctor` configures a healthy deployment around the `idp` fixture: the provider's
issuer and client, a loopback PUBLIC_BASE_URL on the same site as the web app, and a
short HTTP timeout so that "timeout" faults end quickly. Tests then break one thing.
"""

import io
import os
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from django.core.management import call_command

from accounts import keys

ROOT = Path(__file__).resolve().parents[2]
# What the command prints, in this order, on a deployment with no system-check messages.
HEALTHY_NAMES = [
    "configuration",
    "discovery",
    "issuer",
    "jwks",
    "client credentials",
    "callback url",
    "logout url",
    "back-channel logout",
    "clock",
    "cookies",
    "cors/csrf",
    "deployment",
    "signing key",
    "audience",
]


@dataclass
class Report:
    """The command's exit status and its lines, split into verdict, name and text."""

    code: int
    out: str
    lines: list[tuple[str, str, str]] = field(default_factory=list)
    summary: str = ""

    def verdicts(self, name: str) -> list[str]:
        return [verdict for verdict, line_name, _ in self.lines if line_name == name]

    def text(self, name: str) -> str:
        return "\n".join(text for _, line_name, text in self.lines if line_name == name)

    @property
    def names(self) -> list[str]:
        return [name for _, name, _ in self.lines]


def parse(code: int, out: str) -> Report:
    """Each check line is `<verdict:6><name:20><text>`; the last line is the summary."""
    *lines, summary = out.rstrip("\n").split("\n")
    return Report(
        code=code,
        out=out,
        lines=[(line[:6].strip(), line[6:26].strip(), line[26:]) for line in lines],
        summary=summary,
    )


def auth_doctor() -> Report:
    """Run the command as an operator would; the exit code is what the shell would see
    (the command reports failure with SystemExit(1) after printing everything)."""
    out = io.StringIO()
    try:
        call_command("auth_doctor", stdout=out)
        code = 0
    except SystemExit as exit_:
        code = exit_.code
    return parse(code, out.getvalue())


@pytest.fixture
def doctor(idp, settings):
    settings.AUTH0_HTTP_TIMEOUT = 1.0
    settings.AUTH0_ALGORITHMS = ["RS256"]
    settings.PUBLIC_BASE_URL = "http://localhost:8000"
    settings.FRONTEND_ORIGINS = ["http://localhost:5173"]
    settings.CORS_ALLOWED_ORIGINS = ["http://localhost:5173"]
    settings.CSRF_TRUSTED_ORIGINS = ["http://localhost:5173"]
    settings.COOKIE_SAMESITE = "None"
    settings.COOKIE_SECURE = True
    settings.COOKIE_PARTITIONED = False
    settings.SIGNING_KEY_ALGORITHM = "ES256"
    settings.SIGNING_KEY_ENCRYPTION_KEY = None
    return idp


@pytest.fixture(autouse=True)
def _fresh_key_caches():
    # Signing keys live in the database, which each test rolls back.
    keys.clear_caches()
    yield
    keys.clear_caches()


@pytest.fixture
def signing_key(db):
    return keys.ensure_current_key()


def manage_env(tmp_path, **overrides) -> dict:
    """The environment of a `manage.py` child process: development settings on a
    throwaway SQLite file, nothing inherited from the test settings."""
    env = {**os.environ, "DATABASE_URL": f"sqlite:///{tmp_path / 'doctor.sqlite3'}"}
    for name in ("DJANGO_SETTINGS_MODULE", "REQUIRE_POSTGRES"):
        env.pop(name, None)
    env.update(DEBUG="true", SECRET_KEY="doctor-command-line-secret", LOG_LEVEL="WARNING")
    env.update(overrides)
    return env
