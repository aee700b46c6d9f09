"""Just enough raw ASGI for the development identity provider: read a request, parse
OAuth parameters strictly, and send a response that always carries a `Date` header
(clients compare it with their own clock)."""

import json
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass, field
from email.utils import formatdate
from typing import Any
from urllib.parse import parse_qsl, quote, urlencode, urlsplit, urlunsplit

MAX_BODY = 64 * 1024

Receive = Callable[[], Awaitable[dict[str, Any]]]
Send = Callable[[dict[str, Any]], Awaitable[None]]


class DuplicateParameter(ValueError):
    """OAuth 2.0 forbids repeating a request parameter (RFC 6749, section 3.1)."""


def parse_params(raw: bytes) -> dict[str, str]:
    """Decode `application/x-www-form-urlencoded` data; raise DuplicateParameter for a
    repeated name rather than choose between two values."""
    params: dict[str, str] = {}
    for name, value in parse_qsl(raw.decode("utf-8", "replace"), keep_blank_values=True):
        if name in params:
            raise DuplicateParameter(name)
        params[name] = value
    return params


@dataclass(frozen=True)
class Request:
    method: str
    path: str
    query_string: bytes
    headers: dict[str, str]
    body: bytes
    receive: Receive

    def query(self) -> dict[str, str]:
        return parse_params(self.query_string)

    def form(self) -> dict[str, str]:
        """Return the form body's parameters; any other content type reads as none."""
        content_type = self.headers.get("content-type", "").split(";")[0].strip().lower()
        if content_type != "application/x-www-form-urlencoded":
            return {}
        return parse_params(self.body)

    def params(self) -> dict[str, str]:
        """Return the query parameters for GET, the form body's otherwise."""
        return self.query() if self.method == "GET" else self.form()

    def cookie(self, name: str) -> str | None:
        for part in self.headers.get("cookie", "").split(";"):
            key, _, value = part.strip().partition("=")
            if key == name:
                return value
        return None

    def bearer_token(self) -> str | None:
        scheme, _, token = self.headers.get("authorization", "").partition(" ")
        if scheme.lower() != "bearer":
            return None
        return token.strip() or None


class BodyTooLarge(Exception):
    pass


async def read_request(scope: dict[str, Any], receive: Receive) -> Request:
    chunks, size = [], 0
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            break
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > MAX_BODY:
            raise BodyTooLarge
        chunks.append(chunk)
        if not message.get("more_body", False):
            break
    # Header names arrive lower-cased from the server; a repeated header keeps its last value.
    headers = {name.decode("latin-1"): value.decode("latin-1") for name, value in scope["headers"]}
    return Request(
        method=scope["method"],
        path=scope["path"],
        query_string=scope.get("query_string", b""),
        headers=headers,
        body=b"".join(chunks),
        receive=receive,
    )


@dataclass
class Response:
    status: int
    body: bytes = b""
    content_type: str | None = None
    headers: list[tuple[str, str]] = field(default_factory=list)

    async def send(self, send: Send) -> None:
        headers = [("date", formatdate(usegmt=True)), *self.headers]
        if self.content_type:
            headers.append(("content-type", self.content_type))
        headers.append(("content-length", str(len(self.body))))
        await send(
            {
                "type": "http.response.start",
                "status": self.status,
                "headers": [(k.encode("latin-1"), v.encode("latin-1")) for k, v in headers],
            }
        )
        await send({"type": "http.response.body", "body": self.body})


def json_response(
    data: Any, status: int = 200, headers: Iterable[tuple[str, str]] = ()
) -> Response:
    return Response(
        status,
        json.dumps(data).encode(),
        "application/json",
        [("cache-control", "no-store"), *headers],
    )


def oauth_error(
    error: str, description: str, status: int = 400, headers: Iterable[tuple[str, str]] = ()
) -> Response:
    """Return OAuth's JSON error answer: `error` and `error_description`."""
    return json_response({"error": error, "error_description": description}, status, headers)


class Refusal(Exception):
    """Ends a request early with a ready answer."""

    def __init__(self, response: Response) -> None:
        self.response = response


def html_response(html: str, status: int = 200) -> Response:
    return Response(
        status, html.encode(), "text/html; charset=utf-8", [("cache-control", "no-store")]
    )


def redirect(url: str) -> Response:
    # A browser-supplied URL may hold characters a header cannot carry: percent-encode them.
    location = quote(url, safe=":/?#[]@!$&'()*+,;=%~")
    return Response(302, b"", None, [("location", location), ("cache-control", "no-store")])


def add_query(url: str, params: dict[str, str]) -> str:
    """Return `url` with `params` appended to whatever query it already has."""
    parts = urlsplit(url)
    query = "&".join(filter(None, [parts.query, urlencode(params)]))
    return urlunsplit(parts._replace(query=query))
