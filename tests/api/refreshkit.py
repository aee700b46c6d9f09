"""The harness of the fast lane's refresh tests: the stand-in for Django that echoes the
body it received with status 599 (the ``lane`` fixture puts the lane in front of it), a
client, and readers of the rows a refresh writes."""

import json
import re

import httpx2
from asgiref.sync import sync_to_async

from accounts.models import AuditEvent, AuditType, RefreshToken, TokenFamily
from accounts.tokens import base as token_base

PASSED_ON = 599
PATH = "/api/v1/auth/refresh"
FRONTEND = "http://localhost:5173"
PEER = ("127.0.0.1", 50000)


async def echo(scope, receive, send):
    """The stand-in for Django: 599, with the body it was given."""
    body = b""
    while True:
        message = await receive()
        body += message.get("body", b"")
        if not message.get("more_body"):
            break
    await send({"type": "http.response.start", "status": PASSED_ON, "headers": []})
    await send({"type": "http.response.body", "body": body})


async def post(app, body=None, *, token=None, method="POST", client=PEER, **kwargs):
    if token is not None:
        body = json.dumps({"refresh_token": token}).encode()
    headers = {"Content-Type": "application/json", **kwargs.pop("headers", {})}
    transport = httpx2.ASGITransport(app=app, client=client)
    async with httpx2.AsyncClient(transport=transport, base_url="http://testserver") as http:
        return await http.request(method, PATH, content=body, headers=headers, **kwargs)


@sync_to_async
def token_row(plaintext: str) -> RefreshToken:
    return RefreshToken.objects.get(token_hash=token_base.hash_token(plaintext))


@sync_to_async
def children_of(plaintext: str) -> list[RefreshToken]:
    parent = RefreshToken.objects.get(token_hash=token_base.hash_token(plaintext))
    return list(RefreshToken.objects.filter(parent=parent))


@sync_to_async
def row_counts() -> tuple[int, int, int]:
    return (
        RefreshToken.objects.count(),
        AuditEvent.objects.count(),
        TokenFamily.objects.filter(revoked_at__isnull=False).count(),
    )


@sync_to_async
def refreshed_event(plaintext: str) -> AuditEvent:
    presented = RefreshToken.objects.get(token_hash=token_base.hash_token(plaintext))
    return AuditEvent.objects.get(type=AuditType.TOKEN_REFRESHED, details__presented=presented.pk)


def comparable_headers(response) -> dict:
    headers = {name.lower(): value for name, value in response.headers.items()}
    assert headers.pop("expires").endswith(" GMT")  # the time of the answer
    assert re.fullmatch("[0-9a-f]{32}", headers.pop("x-request-id"))  # the answer's own
    headers.pop("content-length")  # the tokens' lengths vary by a character or two
    return headers


async def passed_on_intact(lane, body, **kwargs):
    answer = await post(lane, body, **kwargs)
    assert answer.status_code == PASSED_ON
    assert answer.content == (body or b"")
