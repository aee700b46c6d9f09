"""gunicorn's configuration for production: uvicorn workers serving the ASGI application.

    gunicorn -c deploy/gunicorn.conf.py authsite.asgi:application

Run it from the project's directory. Options given on the command line win over these.
Before any worker starts, the master reads the settings and runs the system checks: a
configuration problem stops it in one sentence per problem (exit status 4), instead of
every worker failing on its own.
"""

import os
import tempfile
from pathlib import Path

from gunicorn import glogging

# One worker per core; WEB_CONCURRENCY (gunicorn's own variable) overrides it.
workers = int(os.environ.get("WEB_CONCURRENCY") or os.cpu_count() or 1)
worker_class = "uvicorn_worker.UvicornWorker"
bind = ["0.0.0.0:8000"]
# A worker silent for this long is restarted; an identity-provider call is bounded by
# AUTH0_HTTP_TIMEOUT (5 s) and a database wait by DB_POOL_TIMEOUT (10 s).
timeout = 30
# On SIGTERM, requests in flight get this long to finish.
graceful_timeout = 30
keepalive = 5
# Forwarded headers are judged by the project (TRUSTED_PROXIES), not by gunicorn.
forwarded_allow_ips = ""
# The project logs each request's outcome itself; gunicorn's access log stays off.
accesslog = None


class JsonLogger(glogging.Logger):
    """gunicorn's logger, writing its lines, and uvicorn's in the workers (which take its
    handlers), as the project's do with LOG_FORMAT=json."""

    def setup(self, cfg):
        super().setup(cfg)
        from authsite.logs import JsonFormatter

        for log in (self.error_log, self.access_log):
            for handler in log.handlers:
                handler.setFormatter(JsonFormatter())


def _log_format() -> str:
    """Return LOG_FORMAT as the settings will read it; plain for a value they refuse,
    which on_starting then reports in one sentence."""
    from authsite.config import ConfigurationError, Environment
    from authsite.logs import log_format

    try:
        return log_format(Environment(Path(__file__).resolve().parent.parent / ".env"))
    except ConfigurationError:
        return "plain"


if _log_format() == "json":
    logger_class = JsonLogger


# Every worker writes its metrics to files in this directory, and a scrape of any worker
# adds them all up (prometheus-client's multiprocess mode, authsite/metrics.py). It must
# be set before the library is first imported, in the master as in every worker.
if not os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
    os.environ["PROMETHEUS_MULTIPROC_DIR"] = tempfile.mkdtemp(prefix="authsite-metrics-")


def on_starting(server):
    """Empty the metrics directory of an earlier run, then refuse to start when the
    configuration is invalid."""
    for leftover in Path(os.environ["PROMETHEUS_MULTIPROC_DIR"]).glob("*.db"):
        leftover.unlink()
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "authsite.settings")
    from authsite.config import setup_server

    setup_server()
