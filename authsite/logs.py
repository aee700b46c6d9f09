"""The log's two formats (LOG_FORMAT): ``plain`` lines, and ``json``, one object a line.

``JsonFormatter`` writes a fixed set of keys and nothing else of a record: attributes
that callers attach (Django's ``django.request`` records carry the request, whose text
holds the full path and query string, the callback's ``code`` among them) never reach
the log. docs/architecture.md says why it is not python-json-logger.
"""

import json
import logging
from datetime import UTC, datetime

PLAIN_FORMAT = "%(asctime)s %(levelname)s %(name)s %(message)s"


class JsonFormatter(logging.Formatter):
    """Format a record as one JSON object on one line: ``time`` (ISO 8601, UTC),
    ``level``, ``logger``, ``message``, ``request_id`` (null outside a request), then
    ``user_id`` and ``organisation_id`` when known, ``exception`` and ``stack`` when
    there is one. The ids come from accounts.logcontext.RequestContextFilter."""

    def format(self, record: logging.LogRecord) -> str:
        document = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
            "request_id": getattr(record, "request_id", None),
        }
        for key in ("user_id", "organisation_id"):
            value = getattr(record, key, None)
            if value is not None:
                document[key] = value
        if record.exc_info:
            document["exception"] = self.formatException(record.exc_info)
        elif record.exc_text:
            document["exception"] = record.exc_text
        if record.stack_info:
            document["stack"] = self.formatStack(record.stack_info)
        # ASCII only: a message's U+2028 stays escaped, so no reader splits the line.
        return json.dumps(document, default=str)


def log_format(env) -> str:
    """Return LOG_FORMAT as ``env`` (authsite.config.Environment) gives it: json, or
    plain by default with DEBUG."""
    default = "plain" if env.boolean("DEBUG", default=False) else "json"
    return env.choice("LOG_FORMAT", default, ("json", "plain"))


def logging_config(log_format: str, level: str) -> dict:
    """Return the LOGGING setting: everything to standard error in ``log_format``
    ("json" or "plain"), from ``level`` up, each record given its request's ids."""
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "filters": {"request": {"()": "accounts.logcontext.RequestContextFilter"}},
        "formatters": {
            "plain": {"format": PLAIN_FORMAT},
            "json": {"()": "authsite.logs.JsonFormatter"},
        },
        "handlers": {
            "console": {
                "class": "logging.StreamHandler",
                "formatter": log_format,
                "filters": ["request"],
            }
        },
        "root": {"handlers": ["console"], "level": level},
        "loggers": {"django.request": {"level": "ERROR"}},
    }
