"""gunicorn's configuration for production: uvicorn workers serving the ASGI application.

    gunicorn -c deploy/gunicorn.conf.py authsite.asgi:application

Run it from the project's directory. Options given on the command line win over these.
Before any worker starts, the master reads the settings and runs the system checks: a
configuration problem stops it in one sentence per problem (exit status 4), instead of
every worker failing on its own.
"""

import os

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


def on_starting(server):
    """Refuse to start when the configuration is invalid."""
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "authsite.settings")
    from authsite.config import setup_server

    setup_server()
