"""The environment of a process the suite starts: the project's settings module on a
throwaway SQLite file, no `.env`, and none of the variables the suite set for itself."""

import os
import re

# The project's variables and the suite's, which a child must not inherit.
_OWN = re.compile(
    r"(AUTH0_|DJANGO_|COOKIE_|RATE_LIMIT_|ADMIN_|LOG_)"
    r"|(DEBUG|SECRET_KEY|DATABASE_URL|CACHE_URL|FRONTEND_ORIGINS|ALLOWED_HOSTS"
    r"|REQUIRE_POSTGRES|METRICS_TOKEN|PROMETHEUS_MULTIPROC_DIR)$"
)


def child_env(tmp_path, **variables) -> dict:
    """Return the environment of a child process, with ``variables`` on top."""
    env = {key: value for key, value in os.environ.items() if not _OWN.match(key)}
    env.update(
        DJANGO_SETTINGS_MODULE="authsite.settings",
        DATABASE_URL=f"sqlite:///{tmp_path / 'db.sqlite3'}",
        ENV_FILE="",
    )
    env.update(variables)
    return env
