"""Development-only code stays out of production: under the project's own settings with
DEBUG=false, accounts.devidp is neither installed nor importable, so `rundev` and
`seed_demo` do not exist; with DEBUG=true they do. Each case runs manage.py in a process
of its own, as a deployment would."""

import os
import subprocess
import sys
from pathlib import Path

import pytest

PROJECT_ROOT = Path(__file__).resolve().parents[2]
NOT_INSTALLED = "The development identity provider is for development only: set DEBUG=true."


def manage(tmp_path, debug, *args):
    """Run `manage.py args` with authsite.settings, DEBUG=`debug` and a SQLite file."""
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "authsite.settings",
        "DEBUG": debug,
        "SECRET_KEY": "development-only-test-secret-key-0123456789abcdef",
        "DATABASE_URL": f"sqlite:///{tmp_path / 'db.sqlite3'}",
    }
    return subprocess.run(
        [sys.executable, "manage.py", *args],
        cwd=PROJECT_ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_production_settings_refuse_the_import(tmp_path):
    result = manage(tmp_path, "false", "shell", "-c", "import accounts.devidp")

    assert result.returncode == 1
    assert result.stderr.strip().splitlines()[-1] == f"ImportError: {NOT_INSTALLED}"


@pytest.mark.parametrize("command", ["rundev", "seed_demo"])
def test_production_settings_know_no_development_command(tmp_path, command):
    result = manage(tmp_path, "false", command)

    assert result.returncode == 1
    assert f"Unknown command: '{command}'" in result.stderr


def test_development_settings_install_it(tmp_path):
    commands = manage(tmp_path, "true", "help", "--commands")
    imported = manage(tmp_path, "true", "shell", "-c", "import accounts.devidp.provider")

    assert {"rundev", "seed_demo"} <= set(commands.stdout.split())
    assert imported.returncode == 0, imported.stderr
