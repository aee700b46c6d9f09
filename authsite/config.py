"""The environment, read strictly, and the start of every process.

``Environment`` reads each variable (through django-environ, which also loads `.env`)
and turns a value it cannot use into a ConfigurationError: one sentence that names the
variable and says what to do. ``run_command`` (manage.py) and ``setup_server`` (the ASGI
and WSGI entry points) print such a sentence, or the system checks' errors, on one line
each and exit, instead of a traceback.
"""

import ipaddress
import os
import sys
import warnings
from urllib.parse import urlsplit

import environ
from django.core.exceptions import ImproperlyConfigured

# gunicorn's "App failed to load": its master stops instead of starting a new worker.
APP_LOAD_ERROR = 4
_TRUE = frozenset({"1", "true", "yes", "on"})
_FALSE = frozenset({"0", "false", "no", "off"})
_ASYMMETRIC = frozenset(
    {"RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "ES512", "EdDSA"}
)
_JWS_ALGORITHMS = _ASYMMETRIC | {"HS256", "HS384", "HS512", "none"}
_DATABASES = {
    "django.db.backends.postgresql": "PostgreSQL",
    "django.db.backends.sqlite3": "SQLite",
}


class ConfigurationError(ImproperlyConfigured):
    """A variable whose value cannot be used; the message is one sentence naming it."""


SECRETS = frozenset(
    {"SECRET_KEY", "AUTH0_CLIENT_SECRET", "METRICS_TOKEN", "SIGNING_KEY_ENCRYPTION_KEY"}
)


def _shown(name: str, value: str) -> str:
    """Return how a sentence quotes a value: never a secret's."""
    return name if name in SECRETS else f"{name}={value!r}"


class Environment:
    """Typed, strict access to the environment and to a `.env` file, which never
    overrides it: ``dotenv`` unless ENV_FILE names another file (empty: none)."""

    def __init__(self, dotenv):
        self.env = environ.Env()
        chosen = os.environ.get("ENV_FILE")
        if chosen is not None and chosen.strip() and not os.path.isfile(chosen):
            raise ConfigurationError(
                f"ENV_FILE={chosen!r} names no file: set ENV_FILE to the path of a .env "
                "file, to an empty value for none, or remove it to read .env in the project."
            )
        if chosen is None or chosen.strip():
            environ.Env.read_env(chosen or dotenv, overwrite=False)

    def raw(self, name: str) -> str | None:
        """Return the variable's text without surrounding blanks, or None when it is
        unset or blank (a blank value means the default)."""
        value = os.environ.get(name, "").strip()
        return value or None

    def _refuse(self, name: str, value: str, expected: str, example: str) -> ConfigurationError:
        return ConfigurationError(
            f"{_shown(name, value)} is not {expected}: set {name} to {example}, "
            "or remove it to use the default."
        )

    def boolean(self, name: str, default: bool) -> bool:
        value = self.raw(name)
        if value is None:
            return default
        if value.lower() in _TRUE:
            return True
        if value.lower() in _FALSE:
            return False
        raise self._refuse(name, value, "true or false", "true or false")

    def integer(self, name: str, default: int, minimum: int = 0, unit: str = "seconds") -> int:
        value = self.raw(name)
        if value is None:
            return default
        try:
            number = int(value)
        except ValueError:
            number = None
        if number is None or number < minimum:
            expected = f"a whole number of {unit} of at least {minimum}"
            raise self._refuse(name, value, expected, f"a number such as {default}")
        return number

    def number(self, name: str, default: float, unit: str = "seconds") -> float:
        value = self.raw(name)
        if value is None:
            return default
        try:
            number = float(value)
        except ValueError:
            number = None
        if number is None or not 0 < number < float("inf"):
            expected = f"a positive number of {unit}"
            raise self._refuse(name, value, expected, f"a number such as {default:g}")
        return number

    def text(self, name: str, default: str | None = None) -> str | None:
        value = self.raw(name)
        return default if value is None else value

    def choice(self, name: str, default: str, choices: tuple[str, ...]) -> str:
        """Return the one of ``choices`` the value names, in any letter case."""
        value = self.raw(name)
        if value is None:
            return default
        for choice in choices:
            if value.lower() == choice.lower():
                return choice
        listed = ", ".join(choices)
        raise self._refuse(name, value, f"one of {listed}", f"one of {listed}")

    def secret(self, name: str, minimum: int) -> str | None:
        """Return a secret of at least ``minimum`` characters, or None when unset."""
        value = self.raw(name)
        if value is not None and len(value) < minimum:
            raise ConfigurationError(
                f"{name} is shorter than {minimum} characters: set it to a long random "
                "value (python -c 'import secrets; print(secrets.token_urlsafe(48))'), or "
                "remove it."
            )
        return value

    def algorithms(self, name: str, default: list[str]) -> list[str]:
        """Return a comma list of JWS algorithms, which must name at least one
        asymmetric algorithm (``none`` and HS* are dropped where they are used)."""
        entries = self.listing(name, default)
        unknown = [entry for entry in entries if entry not in _JWS_ALGORITHMS]
        if unknown or not set(entries) & _ASYMMETRIC:
            raise self._refuse(
                name, ",".join(entries), "a list of asymmetric JWS algorithms", "RS256"
            )
        return entries

    def listing(self, name: str, default: list[str]) -> list[str]:
        """Return a comma list's entries without blanks; the default when unset."""
        value = self.raw(name)
        if value is None:
            return list(default)
        return [entry.strip() for entry in value.split(",") if entry.strip()]

    def url(self, name: str, *, path: bool = True) -> str | None:
        """Return an http(s) URL, or None when unset; without ``path``, it may carry no
        path, query or fragment (an origin or a base URL)."""
        value = self.raw(name)
        if value is None:
            return None
        try:
            parts = urlsplit(value)
            parts.port  # noqa: B018  (raises for a port that is not a number)
        except ValueError:
            parts = None
        bare = parts is not None and parts.path.rstrip("/") == "" and not parts.query
        if (
            parts is None
            or parts.scheme not in ("http", "https")
            or not parts.hostname
            or (not path and not (bare and not parts.fragment))
        ):
            kind = "an http(s) URL" if path else "an http(s) URL without a path"
            raise self._refuse(name, value, kind, "a URL such as https://auth.example.com")
        return value

    def origins(self, name: str, default: list[str]) -> list[str]:
        """Return a comma list of origins (scheme://host[:port]), without a trailing
        slash."""
        origins = [entry.rstrip("/") for entry in self.listing(name, default)]
        for origin in origins:
            try:
                parts = urlsplit(origin)
                parts.port  # noqa: B018  (raises for a port that is not a number)
            except ValueError:
                parts = None
            if (
                parts is None
                or parts.scheme not in ("http", "https")
                or not parts.hostname
                or parts.path
                or parts.query
                or parts.fragment
            ):
                raise self._refuse(
                    name, origin, "an origin (scheme://host[:port])", "https://app.example.com"
                )
        return origins

    def hostname(self, name: str) -> str | None:
        """Return a host name (no scheme, port or path), or None when unset."""
        value = self.raw(name)
        if value is None:
            return None
        if not _is_hostname(value.lstrip(".")):
            raise self._refuse(name, value, "a host name", "a name such as example.com")
        return value

    def hosts(self, name: str, default: list[str]) -> list[str]:
        """Return a comma list of host names as Django's ALLOWED_HOSTS takes them: names,
        addresses, ``.domain`` for a domain and its subdomains, or ``*``."""
        entries = self.listing(name, default)
        for entry in entries:
            address = entry.strip("[]") if entry.startswith("[") else entry
            try:
                ipaddress.ip_address(address)
                continue
            except ValueError:
                pass
            if entry != "*" and not _is_hostname(entry.removeprefix(".")):
                raise self._refuse(
                    name, entry, "a host name", "names such as api.example.com,.example.com"
                )
        return entries

    def networks(self, name: str) -> list[str]:
        """Return a comma list of IP addresses or networks."""
        entries = self.listing(name, [])
        for entry in entries:
            try:
                ipaddress.ip_network(entry, strict=False)
            except ValueError:
                raise self._refuse(
                    name, entry, "an IP address or network", "addresses such as 10.0.0.0/8"
                ) from None
        return entries

    def database(self, name: str, default: str) -> dict:
        """Return Django's DATABASES entry of a PostgreSQL or SQLite URL."""
        value = self.raw(name) or default
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")  # "Engine not recognized": refused below
                config = self.env.db_url_config(value)
        except (ValueError, KeyError, ImproperlyConfigured):
            config = {}
        if config.get("ENGINE") not in _DATABASES or (
            config["ENGINE"] == "django.db.backends.postgresql" and not config.get("NAME")
        ):
            raise ConfigurationError(
                f"{name} is not a PostgreSQL or SQLite URL: set it to "
                "postgres://user:password@host:5432/name or sqlite:///path/to/db.sqlite3, "
                "or remove it to use db.sqlite3 in the project."
            )
        return config

    def cache(self, name: str, default: str) -> dict:
        """Return Django's CACHES entry of a cache URL."""
        value = self.raw(name) or default
        try:
            return self.env.cache_url_config(value)
        except (ValueError, KeyError, ImproperlyConfigured):
            raise ConfigurationError(
                f"{name} is not a cache URL: set it to redis://host:6379/0 (or another "
                "django-environ cache URL), or remove it to use the local-memory cache."
            ) from None


def _is_hostname(value: str) -> bool:
    labels = value.split(".")
    return (
        0 < len(value) <= 253
        and all(label and len(label) <= 63 for label in labels)
        and all(
            label.replace("-", "").isalnum() and label.isascii() and not label.startswith("-")
            for label in labels
        )
    )


def describe_database(config: dict) -> str:
    """Return which database a DATABASES entry names, without its password."""
    kind = _DATABASES.get(config.get("ENGINE"), "the database")
    if config.get("HOST"):
        where = f"{config['HOST']}:{config.get('PORT') or 5432}"
        return f"{kind} database {config.get('NAME')!r} at {where}"
    return f"{kind} database {str(config.get('NAME'))!r}"


def refuse(sentence: str, status: int) -> None:
    """Print a configuration problem on one line to stderr and exit with ``status``."""
    sys.stderr.write(f"Configuration error: {sentence}\n")
    sys.stderr.flush()
    raise SystemExit(status)


def _check_errors() -> list[str]:
    """Return the errors of the project's configuration checks, which read settings
    only (no database), one line each: message, then hint."""
    from django.core.checks import ERROR, run_checks

    return [
        " ".join(part for part in (message.msg, message.hint) if part)
        for message in run_checks(tags=["configuration"])
        if message.level >= ERROR and not message.is_silenced()
    ]


def setup_server(set_prefix: bool = True) -> None:
    """Set Django up for a server process and run the system checks; exit with
    APP_LOAD_ERROR, printing each problem on one line, when the configuration is
    invalid."""
    import django

    try:
        django.setup(set_prefix=set_prefix)
        errors = _check_errors()
    except ImproperlyConfigured as exc:
        refuse(str(exc), APP_LOAD_ERROR)
    if errors:
        for error in errors[:-1]:
            sys.stderr.write(f"Configuration error: {error}\n")
        refuse(errors[-1], APP_LOAD_ERROR)


def run_command(argv: list[str]) -> None:
    """Run a manage.py command; print a configuration problem, or a database that
    cannot be reached, as one sentence and exit 1 instead of a traceback. A command
    connects without a pool unless DB_POOL_MAX_SIZE is set: it needs one connection, and
    a pool would wait DB_POOL_TIMEOUT for a database that is down."""
    from django.core.management import execute_from_command_line
    from django.db import OperationalError

    os.environ.setdefault("DB_POOL_MAX_SIZE", "0")
    try:
        execute_from_command_line(argv)
    except ImproperlyConfigured as exc:
        refuse(str(exc), 1)
    except OperationalError:
        unreachable = _unreachable_database()
        if unreachable is None:
            raise
        refuse(unreachable, 1)


def _unreachable_database() -> str | None:
    """Return a sentence saying the database cannot be reached, or None when a new
    connection to it succeeds (the error was then about something else)."""
    from django.db import OperationalError, connection

    connection.close()
    try:
        connection.ensure_connection()
    except OperationalError as exc:
        lines = str(exc).strip().splitlines() or [type(exc).__name__]
        reason = lines[0].removeprefix("connection failed: ")
        return (
            f"the {describe_database(connection.settings_dict)} in DATABASE_URL cannot be "
            f"reached ({reason.rstrip('.')}): start it, create it, or correct DATABASE_URL."
        )
    return None
