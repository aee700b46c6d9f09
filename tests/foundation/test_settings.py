"""Settings from the environment: what a new process makes of its variables."""

import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def settings_of(**env):
    script = (
        "import json, django, os; os.environ['DJANGO_SETTINGS_MODULE']='authsite.settings';"
        "from django.conf import settings;"
        "print(json.dumps({'caches': settings.CACHES, 'debug': settings.DEBUG}))"
    )
    clean = {key: value for key, value in os.environ.items() if key not in ("DATABASE_URL",)}
    result = subprocess.run(
        [sys.executable, "-c", script],
        cwd=ROOT,
        env={**clean, "SECRET_KEY": "s" * 50, "DEBUG": "false", **env},
        capture_output=True,
        text=True,
    )
    return result


def test_refuses_to_start_without_a_secret_key_in_production():
    result = settings_of(SECRET_KEY="")
    assert result.returncode != 0
    assert "SECRET_KEY must be set when DEBUG is false" in result.stderr


def test_redis_cache_gets_a_bounded_blocking_pool():
    result = settings_of(CACHE_URL="redis://127.0.0.1:6379/5")
    options = json.loads(result.stdout)["caches"]["default"]["OPTIONS"]
    assert options["CONNECTION_POOL_CLASS"] == "redis.BlockingConnectionPool"
    assert options["CONNECTION_POOL_KWARGS"]["max_connections"] == 50
