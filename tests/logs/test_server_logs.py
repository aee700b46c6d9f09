"""The production server as docs/operations.md starts it (gunicorn, deploy/gunicorn.conf.py,
uvicorn workers) writes every line of its log as one JSON object with LOG_FORMAT=json:
gunicorn's own lines and uvicorn's too, not only the project's."""

import json
import subprocess
import sys
import time
from pathlib import Path

import httpx2

from tests.e2e.servers import free_port, stop_process
from tests.processes import child_env

ROOT = Path(__file__).resolve().parents[2]


def test_gunicorn_s_and_uvicorn_s_lines_are_json_too(tmp_path):
    port = free_port()
    env = child_env(
        tmp_path,
        DEBUG="false",
        SECRET_KEY="k" * 50,
        WEB_CONCURRENCY="1",
        TRUSTED_PROXIES="127.0.0.1",
    )
    stderr = tmp_path / "stderr.txt"
    with stderr.open("w") as sink:
        server = subprocess.Popen(
            [
                *(sys.executable, "-m", "gunicorn", "-c", "deploy/gunicorn.conf.py"),
                *("--bind", f"127.0.0.1:{port}", "authsite.asgi:application"),
            ],
            cwd=ROOT,
            env=env,
            stderr=sink,
        )
        try:
            answer = _get_when_up(f"http://127.0.0.1:{port}/healthz", {"X-Request-ID": "lb-1"})
        finally:
            stop_process(server)
    assert answer.headers["x-request-id"] == "lb-1"
    records = [json.loads(line) for line in stderr.read_text().splitlines()]
    loggers = {record["logger"] for record in records}
    assert {"gunicorn.error", "uvicorn.error"} <= loggers, records
    for record in records:
        assert {"time", "level", "logger", "message", "request_id"} <= set(record), record


def _get_when_up(url: str, headers: dict) -> httpx2.Response:
    deadline = time.monotonic() + 30
    while True:
        try:
            return httpx2.get(url, headers=headers)
        except httpx2.TransportError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.1)
