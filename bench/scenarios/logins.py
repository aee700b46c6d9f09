"""Logins against the local identity provider, as the login storm and the endpoints
scenario make them: the provider's process and its token endpoint's delay, each login
prepared up to its callback, and how the callbacks were answered."""

import re
import sys
import time
import urllib.request
from urllib.parse import urlsplit

from .. import client
from ..idp_server import subject
from ..servers import Server
from .base import GENERATOR_CPU, Bench

LANDING = "http://127.0.0.1:5173/"
ERROR_CODE = re.compile(rb'id="error-code">([^<]*)<')


def _set_token_delay(idp_url: str, seconds: float) -> None:
    """Make the provider's token endpoint wait ``seconds`` before answering."""
    request = urllib.request.Request(
        f"{idp_url}_bench/token-delay?seconds={seconds}", method="POST", data=b""
    )
    with urllib.request.urlopen(request, timeout=5) as response:
        response.read()


def start_idp(bench: Bench, users: int, personal: int) -> str:
    """Start the identity provider in its own process on the generator's core, with
    ``users`` people of the bench organisation and ``personal`` people of none; return
    its issuer."""
    process = bench.processes.start(
        "idp",
        [sys.executable, "-m", "bench.idp_server", f"--users={users}", f"--personal={personal}"],
        bench.env,
        cpus=GENERATOR_CPU,
    )
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        line = next((ln for ln in process.output().splitlines() if ln.startswith("READY ")), "")
        if line:
            issuer = line.split(" ", 1)[1].strip()
            try:
                with urllib.request.urlopen(
                    issuer + ".well-known/openid-configuration", timeout=1
                ) as response:
                    if response.status == 200:
                        return issuer
            except OSError:
                pass
        if not process.alive():
            break
        time.sleep(0.1)
    raise RuntimeError(f"the identity provider did not start:\n{process.output()}")


async def _prepare_logins(server: Server, idp_url: str, people: range) -> list[client.Request]:
    """For each of the provider's ``people`` (by number): GET /auth/login (the server's
    flow entry and auth_flow cookie), then the provider's /authorize with login_hint
    (approved at once). Return the callback requests a browser would make next, with
    their cookies."""
    starts = await client.fire(
        "127.0.0.1", server.port, [client.Request("GET", "/auth/login")] * len(people), 8
    )
    authorizes, cookies = [], []
    for i, response in zip(people, starts.responses, strict=True):
        if response is None or response.status != 302:
            raise RuntimeError(f"/auth/login answered {response and response.status}")
        location = response.headers["location"]
        parts = urlsplit(location)
        authorizes.append(
            client.Request("GET", f"{parts.path}?{parts.query}&login_hint={subject(i)}")
        )
        cookies.append(response.cookies["auth_flow"])
    idp = urlsplit(idp_url)
    approvals = await client.fire(idp.hostname, idp.port, authorizes, 8)
    callbacks = []
    for response, cookie in zip(approvals.responses, cookies, strict=True):
        if response is None or response.status != 302:
            raise RuntimeError(f"/authorize answered {response and response.status}")
        parts = urlsplit(response.headers["location"])
        callbacks.append(
            client.Request(
                "GET", f"{parts.path}?{parts.query}", (("Cookie", f"auth_flow={cookie}"),)
            )
        )
    return callbacks


def _failure(response: client.Response | None) -> str:
    """Return how a failed login was answered: its status and the login error code of
    the error page (accounts/templates/accounts/login_error.html), e.g. "400
    invalid_state"."""
    if response is None:
        return "no answer"
    code = ERROR_CODE.search(response.body)
    return f"{response.status} {code.group(1).decode()}" if code else str(response.status)


def _outcomes(batch: client.Batch) -> tuple[int, dict[str, int]]:
    """Return the logins answered with a 302 to the landing page, and the others
    counted by answer."""
    failures: dict[str, int] = {}
    ok = 0
    for response in batch.responses:
        if response and response.status == 302 and response.headers.get("location") == LANDING:
            ok += 1
        else:
            key = _failure(response)
            failures[key] = failures.get(key, 0) + 1
    return ok, failures
