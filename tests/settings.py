"""Test settings: the project's settings with test-only environment defaults.

Only environment defaults are set here; the settings module itself is the one that
production reads, so the tests exercise the real configuration code.
"""

import os

# A developer's .env (make run writes one) must not reach the suite or the processes it
# starts.
os.environ["ENV_FILE"] = ""
os.environ.setdefault("SECRET_KEY", "test-secret-key-not-for-production-0123456789")
os.environ.setdefault("DEBUG", "false")
os.environ.setdefault("FRONTEND_ORIGINS", "http://localhost:5173")
os.environ.setdefault("ALLOWED_HOSTS", "localhost,127.0.0.1,[::1],testserver")

from authsite.settings import *  # noqa: F403

# The development identity provider is the suite's Auth0, faked only at the network
# boundary: installed here whatever DEBUG says (tests are not production).
if "accounts.devidp" not in INSTALLED_APPS:  # noqa: F405
    INSTALLED_APPS = [*INSTALLED_APPS, "accounts.devidp"]  # noqa: F405

PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]

# Django's test clients keep request_finished from closing connections, so a request
# never gives its connection back to a pool: in-process tests run without Django's pool
# (servers that tests start as processes run the defaults).
DATABASES["default"]["OPTIONS"].pop("pool", None)  # noqa: F405
# pytest-django wraps a test in a transaction on the test thread's connection; database
# work of in-process requests must see it, so it runs in Django's thread-sensitive hops
# (the servers that tests start as processes run the project's database threads).
ASYNC_DB_THREADS = False
