"""LOG_FORMAT: json (the default without DEBUG) writes one JSON object a line with the
request's id; plain (the default with DEBUG) keeps the lines of text. Each case starts
a process with the settings as production reads them and logs through Django's
configuration."""

import io
import json
import logging
import re
import subprocess
import sys
from pathlib import Path

import pytest

from accounts import logcontext
from accounts.logcontext import RequestContextFilter
from authsite.logs import JsonFormatter
from tests.processes import child_env

ROOT = Path(__file__).resolve().parents[2]
PROBE = (
    "import django, logging; django.setup(); "
    "logging.getLogger('probe').warning('hello %s', 'world')"
)
PLAIN_LINE = re.compile(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3} WARNING probe hello world")


def _logged(tmp_path, **variables) -> str:
    env = child_env(tmp_path, SECRET_KEY="k" * 50, **variables)
    result = subprocess.run(
        [sys.executable, "-c", PROBE], cwd=ROOT, env=env, capture_output=True, text=True
    )
    assert result.returncode == 0, result.stderr
    return result.stderr


@pytest.mark.parametrize("variables", [{"DEBUG": "false"}, {"DEBUG": "true", "LOG_FORMAT": "json"}])
def test_json_writes_one_object_a_line(tmp_path, variables):
    [line] = _logged(tmp_path, **variables).splitlines()
    record = json.loads(line)
    assert record == {
        "time": record["time"],
        "level": "WARNING",
        "logger": "probe",
        "message": "hello world",
        "request_id": None,
    }
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}\+00:00", record["time"])


@pytest.mark.parametrize(
    "variables", [{"DEBUG": "true"}, {"DEBUG": "false", "LOG_FORMAT": "plain"}]
)
def test_plain_keeps_the_lines_of_text(tmp_path, variables):
    assert PLAIN_LINE.fullmatch(_logged(tmp_path, **variables).strip())


def _format(message: str, *args, **kwargs) -> dict:
    """Return the JSON object of one record logged with these arguments."""
    buffer = io.StringIO()
    handler = logging.StreamHandler(buffer)
    handler.setFormatter(JsonFormatter())
    handler.addFilter(RequestContextFilter())
    logger = logging.getLogger("tests.logs.probe")
    logger.addHandler(handler)
    logger.propagate = False
    try:
        logger.error(message, *args, **kwargs)
    finally:
        logger.removeHandler(handler)
        logger.propagate = True
    [line] = buffer.getvalue().splitlines()
    return json.loads(line)


class _Request:
    def __repr__(self):
        return "<ASGIRequest: GET '/auth/callback?code=the-authorization-code'>"


def test_what_a_caller_attaches_to_a_record_stays_out():
    record = _format("Bad Gateway: %s", "/auth/callback")
    assert record["message"] == "Bad Gateway: /auth/callback"
    with_extra = _format("Bad Gateway", extra={"request": _Request(), "status_code": 502})
    assert set(with_extra) == {"time", "level", "logger", "message", "request_id"}
    assert "the-authorization-code" not in json.dumps(with_extra)


def test_an_exception_and_a_line_separator_stay_on_one_line():
    try:
        raise ValueError("first\nsecond\u2028third")
    except ValueError:
        record = _format("failed:\u2028%s", "x", exc_info=True)
    assert record["message"] == "failed:\u2028x"
    assert record["exception"].startswith("Traceback")
    assert "ValueError: first\nsecond\u2028third" in record["exception"]


def test_the_request_s_user_and_organisation_once_noted():
    from accounts.models import User

    token = logcontext.begin("req-1")
    try:
        before = _format("before")
        logcontext.note_user(User(pk=7, organisation_id=3))
        after = _format("after")
    finally:
        logcontext.end(token)
    assert before["request_id"] == "req-1" and "user_id" not in before
    assert (after["user_id"], after["organisation_id"]) == (7, 3)
    assert _format("outside")["request_id"] is None
