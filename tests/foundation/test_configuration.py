"""A configuration a process cannot use stops it in one sentence naming the variable:
manage.py, the ASGI application (what uvicorn imports), gunicorn with the production
configuration. Every variable of the configuration table has a bad value here.
"""

import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from tests.processes import child_env

ROOT = Path(__file__).resolve().parents[2]

# variable -> a value it must refuse (with whatever else the case needs).
BAD_VALUES = {
    "DEBUG": {"DEBUG": "maybe"},
    "SECRET_KEY": {"SECRET_KEY": ""},
    "ALLOWED_HOSTS": {"ALLOWED_HOSTS": "https://api.example.com"},
    "DATABASE_URL": {"DATABASE_URL": "garbage"},
    "DB_POOL_MAX_SIZE": {"DB_POOL_MAX_SIZE": "-1"},
    "DB_POOL_TIMEOUT": {"DB_POOL_TIMEOUT": "soon"},
    "CACHE_URL": {"CACHE_URL": "bogus://cache"},
    "FAST_LANE": {"FAST_LANE": "enabled"},
    "AUTH0_DOMAIN": {"AUTH0_DOMAIN": "https://acme.eu.auth0.com/"},
    "AUTH0_ISSUER": {"AUTH0_ISSUER": "acme.eu.auth0.com"},
    "AUTH0_CLIENT_ID": {"AUTH0_DOMAIN": "acme.eu.auth0.com", "AUTH0_CLIENT_SECRET": "s"},
    "AUTH0_CLIENT_SECRET": {"AUTH0_DOMAIN": "acme.eu.auth0.com", "AUTH0_CLIENT_ID": "c"},
    "AUTH0_AUDIENCE": {"AUTH0_AUDIENCE": "https://api.example.com"},
    "AUTH0_SCOPE": {"AUTH0_SCOPE": "profile email"},
    "AUTH0_ORGANIZATION_REQUIRED": {"AUTH0_ORGANIZATION_REQUIRED": "sometimes"},
    "FRONTEND_ORIGINS": {"FRONTEND_ORIGINS": "app.example.com"},
    "LOGIN_REDIRECT_URL": {"LOGIN_REDIRECT_URL": "javascript:alert(1)"},
    "LOGIN_ERROR_URL": {"LOGIN_ERROR_URL": "ftp://app.example.com/error"},
    "COOKIE_SAMESITE": {"COOKIE_SAMESITE": "Relaxed"},
    "COOKIE_SECURE": {"COOKIE_SECURE": "ture"},
    "COOKIE_PARTITIONED": {"COOKIE_PARTITIONED": "2"},
    "COOKIE_DOMAIN": {"COOKIE_DOMAIN": "https://example.com:443"},
    "SESSION_IDLE_TIMEOUT": {"SESSION_IDLE_TIMEOUT": "two weeks"},
    "ACCESS_TOKEN_TTL": {"ACCESS_TOKEN_TTL": "0"},
    "REFRESH_TOKEN_TTL": {"REFRESH_TOKEN_TTL": "30d"},
    "REFRESH_REUSE_GRACE": {"REFRESH_REUSE_GRACE": "-1"},
    "SIGNING_KEY_ALGORITHM": {"SIGNING_KEY_ALGORITHM": "HS256"},
    "PUBLIC_BASE_URL": {"PUBLIC_BASE_URL": "https://api.example.com/auth"},
    "TRUSTED_PROXIES": {"TRUSTED_PROXIES": "10.0.0.0/8,the-proxy"},
    "DPOP_NONCE": {"DPOP_NONCE": "sometimes"},
    "DPOP_REQUIRED": {"DPOP_REQUIRED": "always"},
    "RATE_LIMIT_LOGIN": {"RATE_LIMIT_LOGIN": "lots"},
    "RATE_LIMIT_TOKEN": {"RATE_LIMIT_TOKEN": "60 per minute"},
    "ADMIN_PASSWORD_LOGIN": {"ADMIN_PASSWORD_LOGIN": "y e s"},
    "ADMIN_MFA_REQUIRED": {"ADMIN_MFA_REQUIRED": "required"},
    "ADMIN_AUTH_MAX_AGE": {"ADMIN_AUTH_MAX_AGE": "0"},
    "AUTH0_ALGORITHMS": {"AUTH0_ALGORITHMS": "HS256"},
    "AUTH0_HTTP_TIMEOUT": {"AUTH0_HTTP_TIMEOUT": "fast"},
    "AUTH0_METADATA_TTL": {"AUTH0_METADATA_TTL": "0"},
    "CACHE_MAX_ENTRIES": {"CACHE_MAX_ENTRIES": "0"},
    "DEVIDP_URL": {"DEVIDP_URL": "localhost:9000"},
    "LOG_LEVEL": {"LOG_LEVEL": "LOUD"},
    "LOG_FORMAT": {"LOG_FORMAT": "xml"},
    "METRICS_TOKEN": {"METRICS_TOKEN": "short"},
    "SECURE_HSTS_SECONDS": {"SECURE_HSTS_SECONDS": "a year"},
    "SECURE_HSTS_INCLUDE_SUBDOMAINS": {"SECURE_HSTS_INCLUDE_SUBDOMAINS": "perhaps"},
    "SIGNING_KEY_ENCRYPTION_KEY": {"SIGNING_KEY_ENCRYPTION_KEY": "short"},
    "ENV_FILE": {"ENV_FILE": "/nonexistent/.env"},
}
# A process that can start: production, SQLite in a temporary file, no provider.
BASE = {"DEBUG": "false", "SECRET_KEY": "k" * 50}
COMMANDS = {
    "manage.py": [sys.executable, "manage.py", "check"],
    "asgi": [sys.executable, "-c", "import authsite.asgi"],
}


def _environment(case: dict, tmp: Path) -> dict:
    return child_env(tmp, **{**BASE, **case})


@pytest.fixture(scope="module")
def outcomes(tmp_path_factory):
    """Run every command with every bad value, four at a time; return
    {(command, variable): CompletedProcess}."""
    tmp = tmp_path_factory.mktemp("configuration")
    jobs = {
        (command, variable): (argv, _environment(case, tmp))
        for command, argv in COMMANDS.items()
        for variable, case in {**BAD_VALUES, "(none)": {}}.items()
    }

    def run(job):
        argv, env = job
        return subprocess.run(argv, cwd=ROOT, env=env, capture_output=True, text=True, timeout=60)

    with ThreadPoolExecutor(max_workers=4) as pool:
        return dict(zip(jobs, pool.map(run, jobs.values()), strict=True))


def test_every_documented_variable_has_a_bad_value_here():
    documented = (ROOT / "docs" / "api.md").read_text()
    table = documented.split("## Configuration", 1)[1].split("\n## ", 1)[0]
    names = {
        name
        for line in table.splitlines()
        if line.startswith("| `")
        for name in line.split("|")[1].replace("`", "").replace(" ", "").split(",")
    }
    assert names == set(BAD_VALUES)


def test_a_valid_configuration_starts(outcomes):
    for command in COMMANDS:
        result = outcomes[(command, "(none)")]
        assert result.returncode == 0, result.stderr


@pytest.mark.parametrize("variable", sorted(BAD_VALUES))
def test_the_asgi_application_refuses_a_bad_value_in_one_sentence(outcomes, variable):
    result = outcomes[("asgi", variable)]
    assert result.returncode == 4
    assert "Traceback" not in result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("Configuration error: ")
    assert variable in lines[0]


@pytest.mark.parametrize("variable", sorted(BAD_VALUES))
def test_manage_py_refuses_a_bad_value_without_a_traceback(outcomes, variable):
    result = outcomes[("manage.py", variable)]
    assert result.returncode == 1
    assert "Traceback" not in result.stderr
    assert variable in result.stderr


def test_a_secret_is_never_repeated_in_the_sentence(tmp_path):
    env = _environment({"DEBUG": "true", "AUTH0_CLIENT_SECRET": "hunter2-secret"}, tmp_path)
    result = subprocess.run(
        COMMANDS["asgi"], cwd=ROOT, env=env, capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 4
    assert "AUTH0_CLIENT_ID" in result.stderr
    assert "hunter2" not in result.stderr


def test_gunicorn_with_the_production_configuration_stops_before_any_worker(tmp_path):
    env = _environment({"COOKIE_SECURE": "ture"}, tmp_path)
    result = subprocess.run(
        [
            sys.executable, "-m", "gunicorn", "-c", "deploy/gunicorn.conf.py",
            "--bind", "127.0.0.1:0", "authsite.asgi:application",
        ],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert result.returncode == 4
    assert "Traceback" not in result.stderr
    assert "Booting worker" not in result.stderr
    errors = [line for line in result.stderr.splitlines() if "COOKIE_SECURE" in line]
    assert errors == [
        "Configuration error: COOKIE_SECURE='ture' is not true or false: set COOKIE_SECURE "
        "to true or false, or remove it to use the default."
    ]


def test_a_database_that_cannot_be_reached_is_one_sentence_for_manage_py(tmp_path):
    env = _environment(
        {"DATABASE_URL": f"sqlite:///{tmp_path / 'missing' / 'db.sqlite3'}"}, tmp_path
    )
    result = subprocess.run(
        [sys.executable, "manage.py", "migrate"],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert result.returncode == 1
    assert result.stderr.strip().splitlines() == [
        f"Configuration error: the SQLite database '{tmp_path / 'missing' / 'db.sqlite3'}' in "
        "DATABASE_URL cannot be reached (unable to open database file): start it, create "
        "it, or correct DATABASE_URL."
    ]


def test_production_concerns_are_reported_by_check_deploy(tmp_path):
    result = subprocess.run(
        [sys.executable, "manage.py", "check", "--deploy"],
        cwd=ROOT, env=_environment({}, tmp_path), capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    for check in ("W006", "W007", "W008", "W009", "W010"):
        assert f"(accounts.{check})" in result.stderr, result.stderr
    assert "set CACHE_URL=redis://host:6379/0" in result.stderr


def test_the_example_env_file_names_every_documented_variable():
    example = (ROOT / ".env.example").read_text()
    named = {line.lstrip("# ").split("=", 1)[0] for line in example.splitlines() if "=" in line}
    assert set(BAD_VALUES) <= named
