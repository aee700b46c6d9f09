"""`make run` writes a development .env once, so that the README's other commands work
as written in another shell while it runs."""

import os
import shlex
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from accounts.devidp.management.commands.rundev import write_development_env
from tests.postgres import free_port
from tests.processes import child_env

ROOT = Path(__file__).resolve().parents[2]


def readme_commands() -> list[list[str]]:
    """Return the manage.py commands of the README's "Other commands", as argv lists."""
    readme = (ROOT / "README.md").read_text()
    block = readme.split("## Other commands", 1)[1].split("```sh", 1)[1].split("```", 1)[0]
    commands = []
    for line in block.splitlines():
        line = line.split("#", 1)[0].strip()
        if line.startswith(".venv/bin/python manage.py"):
            commands.append(shlex.split(line)[1:])
    return commands


def test_the_development_env_is_written_once_and_never_overwritten(tmp_path, settings):
    settings.DEVIDP_URL = "http://127.0.0.1:9000/"
    dotenv = tmp_path / ".env"
    assert write_development_env(dotenv) is True
    written = dotenv.read_text()
    assert "DEBUG=true\n" in written
    assert "AUTH0_ISSUER=http://127.0.0.1:9000/\n" in written
    dotenv.write_text("DEBUG=false\n")
    assert write_development_env(dotenv) is False
    assert dotenv.read_text() == "DEBUG=false\n"


@pytest.fixture
def development_provider(tmp_path):
    """Serve the development identity provider as `make run` does, on a free port;
    return its URL."""
    port = free_port()
    process = subprocess.Popen(
        [sys.executable, "-m", "accounts.devidp", "--host", "127.0.0.1", "--port", str(port)],
        cwd=ROOT,
        env={**os.environ, "DEBUG": "true"},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.STDOUT,
    )
    url = f"http://127.0.0.1:{port}/"
    deadline = time.monotonic() + 30
    while True:
        try:
            with urllib.request.urlopen(url + ".well-known/openid-configuration", timeout=1):
                break
        except OSError:
            if time.monotonic() > deadline or process.poll() is not None:
                process.kill()
                raise
            time.sleep(0.1)
    yield url
    process.terminate()
    process.wait(10)


def test_the_readme_s_other_commands_run_as_written(tmp_path, settings, development_provider):
    commands = readme_commands()
    assert [argv[1] for argv in commands] == [
        "auth_doctor",
        "repair_schema",
        "rotate_signing_key",
    ]
    settings.DEVIDP_URL = development_provider
    write_development_env(tmp_path / ".env")
    # Nothing from the suite's environment: what the shell of a new user has, and the
    # .env that make run wrote.
    env = child_env(tmp_path, ENV_FILE=str(tmp_path / ".env"), DEVIDP_URL=development_provider)

    def run(*argv):
        return subprocess.run(
            [sys.executable, "manage.py", *argv],
            cwd=ROOT, env=env, capture_output=True, text=True, timeout=120,
        )  # fmt: skip

    for setup in (["migrate", "--noinput"], ["seed_demo"]):  # what make run does first
        assert run(*setup).returncode == 0
    for argv in commands:
        result = run(*argv[1:])
        assert result.returncode == 0, (argv, result.stdout, result.stderr)
        assert "Traceback" not in result.stderr
        if argv[1] == "auth_doctor":
            assert "the development identity provider (make run)" in result.stdout
            assert "0 failures" in result.stdout
