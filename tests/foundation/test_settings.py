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
        "print(json.dumps({'caches': settings.CACHES, 'debug': settings.DEBUG,"
        " 'database': settings.DATABASES['default'],"
        " 'lane_pool': settings.FAST_LANE_POOL_SIZE}, default=repr))"
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
    # a connection a Redis restart closed is replaced, the command sent again
    assert options["CONNECTION_POOL_KWARGS"]["retry"].startswith("<redis.retry.Retry")


POSTGRES = "postgres://postgres@127.0.0.1:5432/anything"


def test_postgres_gets_a_pool_of_ten_in_all_by_default_shared_with_the_fast_lane():
    result = json.loads(settings_of(DATABASE_URL=POSTGRES).stdout)
    assert result["database"]["OPTIONS"]["pool"]["max_size"] == 5
    assert result["database"]["OPTIONS"]["pool"]["timeout"] == 10.0
    assert result["lane_pool"] == 5
    lane_off = json.loads(settings_of(DATABASE_URL=POSTGRES, FAST_LANE="false").stdout)
    assert lane_off["database"]["OPTIONS"]["pool"]["max_size"] == 10
    assert lane_off["lane_pool"] == 0


def test_db_pool_max_size_zero_turns_django_s_pool_off():
    result = json.loads(settings_of(DATABASE_URL=POSTGRES, DB_POOL_MAX_SIZE="0").stdout)
    assert "pool" not in result["database"]["OPTIONS"]
    assert result["lane_pool"] == 2


def test_a_pool_of_one_with_the_fast_lane_is_refused_in_one_sentence():
    result = settings_of(DATABASE_URL=POSTGRES, DB_POOL_MAX_SIZE="1")
    assert result.returncode != 0
    assert "DB_POOL_MAX_SIZE must be 0 (no pool) or at least 2" in result.stderr


def test_the_default_cache_culls_only_what_has_expired_below_its_room():
    result = json.loads(settings_of().stdout)
    default = result["caches"]["default"]
    assert default["BACKEND"] == "authsite.cache.LocMemCache"
    assert default["OPTIONS"]["MAX_ENTRIES"] == 200_000
