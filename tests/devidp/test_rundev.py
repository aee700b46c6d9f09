"""`make run`'s setup, as a new user runs it: `manage.py migrate`, `seed_demo`, then
`rundev` serving the development identity provider, the demo web app and the API, in
processes of their own (on free ports, so that a `make run` already going on this
machine is left alone). A login through them must not print its authorization code."""

import signal
import subprocess
import sys
import threading
import time
from pathlib import Path
from urllib.parse import parse_qs, urlencode, urlsplit

import httpx2
import pytest

from tests.postgres import free_port
from tests.processes import child_env

ROOT = Path(__file__).resolve().parents[2]
READY = "ready (Ctrl-C stops everything)"
# The manage.py commands of `make run`, in its order (tests/docs checks them against the
# Makefile); rundev then gets free ports.
MAKE_RUN = (("migrate", "--noinput"), ("seed_demo",), ("rundev",))


class Terminal:
    """What a process writes to its terminal (stdout and stderr), read as it comes."""

    def __init__(self, process: subprocess.Popen) -> None:
        self.lines: list[str] = []
        self._reader = threading.Thread(target=self._read, args=(process,), daemon=True)
        self._reader.start()

    def _read(self, process: subprocess.Popen) -> None:
        for line in process.stdout:
            self.lines.append(line)

    def wait_for(self, text: str, process: subprocess.Popen, timeout: float = 60) -> None:
        """Return once ``text`` was printed; fail if the process exits or time runs out."""
        deadline = time.monotonic() + timeout
        while not any(text in line for line in self.lines):
            assert process.poll() is None, f"exited with {process.returncode}:\n{self.text()}"
            assert time.monotonic() < deadline, f"{text!r} not printed:\n{self.text()}"
            time.sleep(0.1)

    def text(self, join_timeout: float = 0) -> str:
        self._reader.join(join_timeout)
        return "".join(self.lines)


@pytest.fixture
def make_run(tmp_path):
    """Run make run's three steps with a fresh SQLite database; return the API's URL and
    the terminal rundev writes to, once rundev says it is ready. Stop it with Ctrl-C."""
    api_port, demo_port, idp_port = free_port(), free_port(), free_port()
    env = child_env(tmp_path, DEBUG="true", DEVIDP_URL=f"http://127.0.0.1:{idp_port}/")
    *setup, serve = MAKE_RUN
    for step in setup:
        done = subprocess.run(
            [sys.executable, "manage.py", *step],
            cwd=ROOT, env=env, capture_output=True, text=True, timeout=120,
        )  # fmt: skip
        assert done.returncode == 0, done.stderr
    ports = ["--port", str(api_port), "--demo-port", str(demo_port)]
    process = subprocess.Popen(
        [sys.executable, "manage.py", *serve, *ports],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    terminal = Terminal(process)
    try:
        terminal.wait_for(READY, process)
        yield f"http://127.0.0.1:{api_port}", terminal
    finally:
        process.send_signal(signal.SIGINT)
        try:
            process.wait(30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
    assert process.returncode == 0, terminal.text(5)


def browser(api: str) -> httpx2.Client:
    """Return a client that sends the API's Secure cookies back over http://127.0.0.1,
    as browsers do on loopback (httpx alone sends them over https only)."""
    client = httpx2.Client(base_url=api, timeout=30)

    def loopback_is_secure(response: httpx2.Response) -> None:
        for cookie in client.cookies.jar:
            cookie.secure = False

    client.event_hooks["response"].append(loopback_is_secure)
    return client


def test_a_login_under_make_run_prints_no_authorization_code(make_run):
    api, terminal = make_run
    with browser(api) as http:
        started = http.get("/auth/login")
        assert started.status_code == 302, started.text
        picked = http.get(
            started.headers["location"] + "&" + urlencode({"login_hint": "devidp|alice"})
        )
        assert picked.status_code == 302, picked.text
        callback = picked.headers["location"]
        assert urlsplit(callback).path == "/auth/callback"
        code = parse_qs(urlsplit(callback).query)["code"][0]
        landed = http.get(callback)
        assert landed.status_code == 302, landed.text
        me = http.get("/api/v1/auth/me")
        assert me.status_code == 200, me.text
        assert me.json()["email"] == "alice@acme.example"
        # One more request after the callback, so that a log line about the callback
        # would be on the terminal by the time the server answers this one.
        assert http.get("/healthz").status_code == 200
    time.sleep(0.5)
    printed = terminal.text()
    assert READY in printed
    assert code not in printed
    assert "/auth/callback?" not in printed
