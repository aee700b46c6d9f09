"""Serving the provider: in a thread for tests, from the command line for development."""

import os
import re
import subprocess
import sys
import threading
import time
from pathlib import Path

import httpx2
import pytest
from django.core.management import CommandError, call_command

from accounts.devidp.__main__ import REFUSAL, dev_provider
from accounts.devidp.authorize import redirect_uri_allowed
from accounts.devidp.demo import DEMO_PEOPLE, DEV_CLIENT_ID
from accounts.devidp.provider import Provider
from accounts.devidp.server import serve_in_thread

PROJECT_ROOT = Path(__file__).resolve().parents[2]


def test_serve_in_thread_starts_and_stops_quickly_and_frees_the_port():
    provider = Provider()
    started = time.monotonic()
    for _ in range(5):
        server = serve_in_thread(provider)
        assert provider.issuer == server.issuer == server.url
        assert httpx2.get(f"{server.url}.well-known/jwks.json").status_code == 200
        server.stop()
        with pytest.raises(httpx2.ConnectError):
            httpx2.get(f"{server.url}.well-known/jwks.json")
    assert time.monotonic() - started < 5


def test_stop_does_not_wait_for_a_request_held_by_a_timeout_fault():
    provider = Provider()
    provider.fail("jwks", "timeout")
    server = serve_in_thread(provider)
    outcome = []
    held = threading.Thread(
        target=lambda: outcome.append(_get_or_error(f"{server.url}.well-known/jwks.json"))
    )
    held.start()
    while not provider.requests["GET", "/.well-known/jwks.json"]:
        time.sleep(0.01)

    started = time.monotonic()
    server.stop()
    held.join(10)

    assert time.monotonic() - started < 0.5
    assert outcome == [504]


def _get_or_error(url):
    try:
        return httpx2.get(url, timeout=20).status_code
    except httpx2.HTTPError as exc:
        return exc


def _run_cli(env, *args):
    return subprocess.run(
        [sys.executable, "-m", "accounts.devidp", *args],
        cwd=PROJECT_ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=30,
    )


@pytest.mark.parametrize("debug", [None, "false", "0"])
def test_cli_refuses_to_start_without_debug(debug):
    env = {k: v for k, v in os.environ.items() if k != "DEBUG"}
    if debug is not None:
        env["DEBUG"] = debug

    result = _run_cli(env, "--port", "0")

    assert result.returncode == 1
    assert result.stderr.strip() == REFUSAL
    assert "DEBUG=true" in REFUSAL


def test_cli_serves_the_demo_people_with_debug():
    env = {**os.environ, "DEBUG": "true"}
    process = subprocess.Popen(
        [sys.executable, "-m", "accounts.devidp", "--port", "0"],
        cwd=PROJECT_ROOT,
        env=env,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        banner = process.stdout.readline()
        issuer = re.search(r"http://127\.0\.0\.1:\d+/", banner).group(0)
        # generous: a busy machine may take seconds to start the server behind the socket
        document = httpx2.get(f"{issuer}.well-known/openid-configuration", timeout=30).json()
        chooser = httpx2.get(
            f"{issuer}authorize",
            params={
                "client_id": DEV_CLIENT_ID,
                "response_type": "code",
                "redirect_uri": "http://localhost:8000/auth/callback",
                "scope": "openid profile email",
                "state": "s",
                "code_challenge": "x" * 43,
                "code_challenge_method": "S256",
            },
            timeout=30,
        )
    finally:
        process.terminate()
        process.wait(timeout=10)

    assert document["issuer"] == issuer
    assert chooser.status_code == 200
    for person in DEMO_PEOPLE:
        assert person["name"] in chooser.text


def test_dev_provider_gives_demo_people_their_organisation_claims():
    provider = dev_provider()

    alice = provider.users["devidp|alice"]
    sam = provider.users["devidp|sam"]
    assert (alice["org_id"], alice["org_name"]) == ("org_acme", "Acme Analytics")
    assert alice["email_verified"] is True
    assert sam["org_id"] is None
    assert len(provider.users) == len(DEMO_PEOPLE)


def test_dev_provider_grants_its_client_the_apis_it_is_given():
    assert dev_provider().apis == {}
    assert dev_provider(["https://api.example/"]).apis == {"https://api.example/": {DEV_CLIENT_ID}}


@pytest.mark.parametrize(
    ("uri", "allowed"),
    [
        ("http://127.0.0.1:8000/auth/callback", True),
        ("http://localhost:1/auth/callback", True),
        ("http://[::1]:8000/auth/callback", True),
        ("http://127.0.0.2:8000/auth/callback", False),
        ("http://localhost.evil.example:8000/auth/callback", False),
        ("http://localhost:8000/auth/callback/../x", False),
        ("http://localhost:8000/auth/callback#x", False),
        ("http://user@localhost:8000/auth/callback", False),
        ("http://localhost:99999999/auth/callback", False),
    ],
)
def test_dev_client_accepts_loopback_callbacks_only(uri, allowed):
    registered = dev_provider().clients[DEV_CLIENT_ID]["redirect_uris"]

    assert redirect_uri_allowed(uri, registered) is allowed


def test_rundev_refuses_without_debug(settings):
    settings.DEBUG = False

    with pytest.raises(CommandError, match="DEBUG"):
        call_command("rundev")


def test_idp_fixture_points_the_settings_at_the_provider(idp, settings):
    assert idp.issuer == settings.AUTH0_ISSUER
    assert settings.AUTH0_CLIENT_ID == "test-client"
    assert settings.AUTH0_CLIENT_SECRET == "test-secret"
    assert settings.AUTH0_AUDIENCE is None
