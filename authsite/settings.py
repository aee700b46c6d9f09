"""Settings, read only from the environment (and a `.env` file) through django-environ.

Every variable is listed in docs/api.md with its default; nothing else configures the
project. Values that depend on each other (cookie policy, CORS, CSRF) are derived here
once so that the rest of the code reads plain Django settings.
"""

from pathlib import Path

import redis.backoff
import redis.retry
from corsheaders.defaults import default_headers
from django.utils.csp import CSP

from authsite.config import ConfigurationError, Environment
from authsite.logs import log_format, logging_config
from authsite.pool import check_connection

BASE_DIR = Path(__file__).resolve().parent.parent

env = Environment(BASE_DIR / ".env")

DEBUG = env.boolean("DEBUG", default=False)

SECRET_KEY = env.text("SECRET_KEY")
if not SECRET_KEY:
    if not DEBUG:
        raise ConfigurationError(
            "SECRET_KEY must be set when DEBUG is false: set SECRET_KEY in the environment "
            "or in .env (or set DEBUG=true for local development)."
        )
    SECRET_KEY = "dev-only-insecure-secret-key-never-use-in-production"

ALLOWED_HOSTS = env.hosts("ALLOWED_HOSTS", default=["localhost", "127.0.0.1", "[::1]"])

INSTALLED_APPS = [
    "accounts.apps.AdminConfig",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "corsheaders",
    "rest_framework",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "organisations",
    "accounts",
]
# Development-only code (the development identity provider, demo data, rundev, seed_demo)
# is installed only in development; accounts/devidp/ refuses to be imported otherwise.
if DEBUG:
    INSTALLED_APPS.append("accounts.devidp")

# Django's middleware, made hop-free under ASGI (authsite/middleware.py).
MIDDLEWARE = [
    "accounts.middleware.RequestIdMiddleware",
    "accounts.middleware.TrustedProxyMiddleware",
    "accounts.middleware.CookiePolicyMiddleware",
    "corsheaders.middleware.CorsMiddleware",
    "authsite.middleware.SecurityMiddleware",
    "authsite.middleware.SessionMiddleware",
    "authsite.middleware.CommonMiddleware",
    "authsite.middleware.CsrfViewMiddleware",
    "authsite.middleware.AuthenticationMiddleware",
    "authsite.middleware.MessageMiddleware",
    "authsite.middleware.XFrameOptionsMiddleware",
    "authsite.middleware.ContentSecurityPolicyMiddleware",
]

ROOT_URLCONF = "authsite.urls"
WSGI_APPLICATION = "authsite.wsgi.application"
ASGI_APPLICATION = "authsite.asgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "django.template.context_processors.csp",
                "accounts.context_processors.admin_sign_in",
            ],
        },
    },
]

# --- database -------------------------------------------------------------------------

# Seconds a request waits for a free pooled connection before it answers 503.
DB_POOL_TIMEOUT = env.number("DB_POOL_TIMEOUT", default=10.0)
# The ASGI front that answers Bearer /me and /refresh (authsite/fastlane/).
FAST_LANE = env.boolean("FAST_LANE", default=True)
FAST_LANE_POOL_SIZE = 0
# Everything a PostgreSQL process holds together: Django's pool and the fast lane's
# share DB_POOL_MAX_SIZE (docs/architecture.md, "Bounded connections"). 0: no pooling.
DB_POOL_MAX_SIZE = env.integer("DB_POOL_MAX_SIZE", default=10, unit="connections")
if DB_POOL_MAX_SIZE == 1 and FAST_LANE:
    raise ConfigurationError(
        "DB_POOL_MAX_SIZE must be 0 (no pool) or at least 2 (1 with FAST_LANE=false): "
        "the fast lane and Django each need a connection."
    )

DATABASES = {
    "default": env.database("DATABASE_URL", default=f"sqlite:///{BASE_DIR / 'db.sqlite3'}")
}
if DATABASES["default"]["ENGINE"] == "django.db.backends.postgresql":
    # A request never waits forever for a connection or a lock: bounded timeouts turn
    # an unreachable or stuck database into a 503 instead of a hung worker.
    DATABASES["default"].setdefault("OPTIONS", {})
    DATABASES["default"]["OPTIONS"].setdefault("connect_timeout", 5)
    # Django's cursors bind on the client and never prepare; this lets the cursor of
    # the statements compiled once (authsite.compiled.run_prepared) prepare its own.
    DATABASES["default"]["OPTIONS"].setdefault("prepare_threshold", 0)
    FAST_LANE_POOL_SIZE = (DB_POOL_MAX_SIZE // 2 if DB_POOL_MAX_SIZE else 2) if FAST_LANE else 0
    if DB_POOL_MAX_SIZE:
        DATABASES["default"]["OPTIONS"]["pool"] = {
            "min_size": 1,
            "max_size": DB_POOL_MAX_SIZE - FAST_LANE_POOL_SIZE,
            # Waiting for a free connection is bounded: past it the request answers 503.
            "timeout": DB_POOL_TIMEOUT,
            # A connection that a database restart broke is replaced at checkout, not
            # handed to a request (a round trip only when its socket has news).
            "check": check_connection,
        }
elif DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    DATABASES["default"].setdefault("OPTIONS", {})
    # WAL and a busy timeout let the development server's concurrent requests share
    # the file instead of failing with "database is locked".
    DATABASES["default"]["OPTIONS"].setdefault("timeout", 20)
    DATABASES["default"]["OPTIONS"].setdefault(
        "init_command", "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;"
    )
    DATABASES["default"]["OPTIONS"].setdefault("transaction_mode", "IMMEDIATE")

DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"
# The project's async code runs its database work in a fixed set of threads, each call
# giving its connection back (authsite/db.py); off: Django's thread-sensitive hops.
ASYNC_DB_THREADS = True

# --- cache ----------------------------------------------------------------------------

CACHES = {"default": env.cache("CACHE_URL", default="locmemcache://authsite")}
# The cache holds logins in flight and rate-limit counters: nothing may be culled before
# it expires. Django's local-memory cache culls live entries past 300 (its default
# MAX_ENTRIES), so the default is one that drops expired entries first, with room for
# CACHE_MAX_ENTRIES entries; the database cache, which also culls, gets the same room.
if CACHES["default"]["BACKEND"] == "django.core.cache.backends.locmem.LocMemCache":
    CACHES["default"]["BACKEND"] = "authsite.cache.LocMemCache"
if CACHES["default"]["BACKEND"] in (
    "authsite.cache.LocMemCache",
    "django.core.cache.backends.db.DatabaseCache",
):
    CACHES["default"].setdefault("OPTIONS", {})
    CACHES["default"]["OPTIONS"].setdefault(
        "MAX_ENTRIES", env.integer("CACHE_MAX_ENTRIES", default=200_000, minimum=1, unit="entries")
    )
if "redis" in CACHES["default"]["BACKEND"].lower():
    # Every request may use the cache from its own thread: a bounded pool that makes a
    # request wait a moment for a free connection, instead of redis-py's default pool
    # that raises past 100 connections.
    CACHES["default"].setdefault("OPTIONS", {})
    CACHES["default"]["OPTIONS"].setdefault("CONNECTION_POOL_CLASS", "redis.BlockingConnectionPool")
    # A connection that Redis closed (a restart) is replaced and the command sent again.
    CACHES["default"]["OPTIONS"].setdefault(
        "CONNECTION_POOL_KWARGS",
        {
            "max_connections": 50,
            "timeout": 5,
            "retry": redis.retry.Retry(redis.backoff.ExponentialBackoff(cap=0.5, base=0.05), 2),
            "retry_on_error": [redis.ConnectionError],
        },
    )

# --- auth and sessions ----------------------------------------------------------------

AUTH_USER_MODEL = "accounts.User"
# auth.W004 asks for a unique USERNAME_FIELD: User.email is unique case-insensitively
# through a functional unique constraint, which the check cannot see.
# security.W001–W003 look for Django's middleware by exact dotted path; this project
# uses hop-free subclasses of them (authsite/middleware.py), and accounts.ops.checks
# verifies those and HSTS instead.
SILENCED_SYSTEM_CHECKS = ["auth.W004", "security.W001", "security.W002", "security.W003"]
AUTHENTICATION_BACKENDS = ["accounts.backends.ActiveAccountBackend"]
LOGIN_URL = "/admin/login/"
# The admin's password form, for break-glass operator accounts only: everyone else signs
# in through the identity provider (accounts/admin_site.py), with a multi-factor login no
# older than ADMIN_AUTH_MAX_AGE seconds when ADMIN_MFA_REQUIRED is on.
ADMIN_PASSWORD_LOGIN = env.boolean("ADMIN_PASSWORD_LOGIN", default=DEBUG)
ADMIN_MFA_REQUIRED = env.boolean("ADMIN_MFA_REQUIRED", default=not DEBUG)
ADMIN_AUTH_MAX_AGE = env.integer("ADMIN_AUTH_MAX_AGE", default=43200, minimum=1)

SESSION_ENGINE = "authsite.session_store"
SESSION_IDLE_TIMEOUT = env.integer("SESSION_IDLE_TIMEOUT", default=1209600, minimum=60)
SESSION_COOKIE_AGE = SESSION_IDLE_TIMEOUT
SESSION_COOKIE_NAME = "sessionid"
SESSION_COOKIE_HTTPONLY = True

# --- cookie policy (every cookie the project sets; see accounts/middleware.py) ---------

COOKIE_SAMESITE = env.choice("COOKIE_SAMESITE", "None", ("None", "Lax", "Strict"))
COOKIE_SECURE = env.boolean("COOKIE_SECURE", default=True)
COOKIE_PARTITIONED = env.boolean("COOKIE_PARTITIONED", default=False)
COOKIE_DOMAIN = env.hostname("COOKIE_DOMAIN")

SESSION_COOKIE_SAMESITE = COOKIE_SAMESITE
SESSION_COOKIE_SECURE = COOKIE_SECURE
SESSION_COOKIE_DOMAIN = COOKIE_DOMAIN
CSRF_COOKIE_SAMESITE = COOKIE_SAMESITE
CSRF_COOKIE_SECURE = COOKIE_SECURE
CSRF_COOKIE_DOMAIN = COOKIE_DOMAIN
CSRF_COOKIE_HTTPONLY = True  # the web app reads the token from /api/v1/auth/csrf
CSRF_FAILURE_VIEW = "accounts.views.csrf_failure"
REFRESH_COOKIE_NAME = "refresh_token"
REFRESH_COOKIE_PATH = "/api/v1/auth/"

# --- frontend, CORS, CSRF -------------------------------------------------------------

FRONTEND_ORIGINS = env.origins(
    "FRONTEND_ORIGINS", default=["http://localhost:5173"] if DEBUG else []
)
LOGIN_REDIRECT_URL = env.url("LOGIN_REDIRECT_URL") or (
    (FRONTEND_ORIGINS[0] + "/") if FRONTEND_ORIGINS else "/"
)
LOGIN_ERROR_URL = env.url("LOGIN_ERROR_URL")

CORS_ALLOWED_ORIGINS = list(FRONTEND_ORIGINS)
CORS_ALLOW_CREDENTIALS = True
CORS_URLS_REGEX = r"^/(api|auth)/.*$"
# DPoP proofs (RFC 9449) come in the DPoP header; the web app reads a server's nonce and
# the reason of a DPoP refusal.
CORS_ALLOW_HEADERS = (*default_headers, "dpop")
# The web app may show a request's id to the person, who can quote it to support.
CORS_EXPOSE_HEADERS = ["X-Request-ID", "DPoP-Nonce", "WWW-Authenticate"]
CSRF_TRUSTED_ORIGINS = list(FRONTEND_ORIGINS)

# --- Auth0 ----------------------------------------------------------------------------

AUTH0_DOMAIN = env.hostname("AUTH0_DOMAIN")
AUTH0_ISSUER = env.url("AUTH0_ISSUER") or (f"https://{AUTH0_DOMAIN}/" if AUTH0_DOMAIN else None)
AUTH0_CLIENT_ID = env.text("AUTH0_CLIENT_ID")
AUTH0_CLIENT_SECRET = env.text("AUTH0_CLIENT_SECRET")
AUTH0_AUDIENCE = env.text("AUTH0_AUDIENCE")
AUTH0_SCOPE = env.text("AUTH0_SCOPE", "openid profile email")
if "openid" not in AUTH0_SCOPE.split():
    raise ConfigurationError(
        f"AUTH0_SCOPE={AUTH0_SCOPE!r} lacks openid: set it to 'openid profile email', or "
        "remove it to use that default."
    )
AUTH0_ORGANIZATION_REQUIRED = env.boolean("AUTH0_ORGANIZATION_REQUIRED", default=False)
AUTH0_ALGORITHMS = env.algorithms("AUTH0_ALGORITHMS", default=["RS256"])
AUTH0_HTTP_TIMEOUT = env.number("AUTH0_HTTP_TIMEOUT", default=5.0)
AUTH0_METADATA_TTL = env.integer("AUTH0_METADATA_TTL", default=3600, minimum=1)

# Where `manage.py rundev` serves the development identity provider (accounts/devidp/,
# installed only with DEBUG) when no Auth0 tenant is configured.
DEVIDP_URL = env.url("DEVIDP_URL") or "http://127.0.0.1:9000/"

# --- app-issued tokens ----------------------------------------------------------------

ACCESS_TOKEN_TTL = env.integer("ACCESS_TOKEN_TTL", default=900, minimum=1)
REFRESH_TOKEN_TTL = env.integer("REFRESH_TOKEN_TTL", default=2592000, minimum=1)
REFRESH_REUSE_GRACE = env.integer("REFRESH_REUSE_GRACE", default=30)
SIGNING_KEY_ALGORITHM = env.choice(
    "SIGNING_KEY_ALGORITHM", "ES256", ("ES256", "ES384", "RS256", "PS256")
)
SIGNING_KEY_ENCRYPTION_KEY = env.secret("SIGNING_KEY_ENCRYPTION_KEY", minimum=32)
PUBLIC_BASE_URL = (env.url("PUBLIC_BASE_URL", path=False) or "").rstrip("/") or None
TRUSTED_PROXIES = env.networks("TRUSTED_PROXIES")
# DPoP (RFC 9449, accounts/tokens/dpop.py): proofs must carry a nonce of this server;
# a handoff redemption needs a proof.
DPOP_NONCE = env.boolean("DPOP_NONCE", default=False)
DPOP_REQUIRED = env.boolean("DPOP_REQUIRED", default=False)
# Forwarded headers from any other peer are removed on arrival
# (accounts.middleware.TrustedProxyMiddleware), so believing X-Forwarded-Proto is safe.
SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https") if TRUSTED_PROXIES else None

# Content-Security-Policy on every answer: scripts and styles from this origin (or
# carrying the request's nonce), no plugins, no <base>, never framed. The API docs page
# relaxes styles (authsite/urls.py, the docs view).
SECURE_CSP = {
    "default-src": [CSP.SELF],
    "script-src": [CSP.SELF, CSP.NONCE],
    "style-src": [CSP.SELF, CSP.NONCE],
    "img-src": [CSP.SELF, "data:"],
    "object-src": [CSP.NONE],
    "base-uri": [CSP.NONE],
    "frame-ancestors": [CSP.NONE],
    "form-action": [CSP.SELF],
}

# Sent on HTTPS responses only; a year unless configured (0 turns it off).
SECURE_HSTS_SECONDS = env.integer("SECURE_HSTS_SECONDS", default=0 if DEBUG else 31536000)
SECURE_HSTS_INCLUDE_SUBDOMAINS = env.boolean("SECURE_HSTS_INCLUDE_SUBDOMAINS", default=False)

# --- rate limits ----------------------------------------------------------------------

RATE_LIMIT_LOGIN = env.text("RATE_LIMIT_LOGIN", "30/m")
RATE_LIMIT_TOKEN = env.text("RATE_LIMIT_TOKEN", "60/m")

# --- the rest -------------------------------------------------------------------------

LANGUAGE_CODE = "en-gb"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True
STATIC_URL = "static/"
STATIC_ROOT = BASE_DIR / "staticfiles"

# DRF serves only the OpenAPI document and its interactive page (accounts/openapi.py);
# the API itself is plain async Django views.
REST_FRAMEWORK = {
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "DEFAULT_AUTHENTICATION_CLASSES": [],
    # The API documents JSON bodies (forms are accepted too, but not advertised).
    "DEFAULT_PARSER_CLASSES": ["rest_framework.parsers.JSONParser"],
    "DEFAULT_PERMISSION_CLASSES": [],
    "UNAUTHENTICATED_USER": None,
    "EXCEPTION_HANDLER": "authsite.views.drf_exception_handler",
}
SPECTACULAR_SETTINGS = {
    "TITLE": "Authentication backend API",
    "DESCRIPTION": "Sessions, app tokens, features and applications for the platform's "
    'web apps. Errors are always {"error": code, "detail": sentence}.',
    "VERSION": "1.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    "APPEND_COMPONENTS": {
        "securitySchemes": {
            "bearerAuth": {"type": "http", "scheme": "bearer", "bearerFormat": "JWT"},
            "dpopAuth": {
                "type": "http",
                "scheme": "DPoP",
                "description": "An access token bound to a DPoP key (RFC 9449), with a "
                "proof by that key in the DPoP header.",
            },
            "cookieAuth": {"type": "apiKey", "in": "cookie", "name": "sessionid"},
            "refreshCookie": {"type": "apiKey", "in": "cookie", "name": "refresh_token"},
        }
    },
}

# The Bearer token of GET /metrics; unset, nothing is counted and /metrics is 404.
METRICS_TOKEN = env.secret("METRICS_TOKEN", minimum=16)

# json: one object a line with the request's id (authsite/logs.py); plain: a line of text.
LOG_FORMAT = log_format(env)
LOGGING = logging_config(
    LOG_FORMAT, env.choice("LOG_LEVEL", "INFO", ("DEBUG", "INFO", "WARNING", "ERROR"))
)
