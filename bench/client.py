"""A small asyncio HTTP/1.1 client for the phases wrk cannot drive (one-shot logins,
single-use refresh tokens): keep-alive connections on raw asyncio streams.

Why not httpx: its per-request CPU cost is several times the server's on the refresh
path, and on 2 cores the generator must not be what is measured. This client does only
what the benchmark needs: one request at a time per connection, Content-Length or
chunked bodies, reconnecting when the server closes (gunicorn's sync workers close
after every answer).
"""

import asyncio
import time
from collections.abc import Sequence
from dataclasses import dataclass


@dataclass(frozen=True)
class Request:
    method: str
    path: str
    headers: tuple[tuple[str, str], ...] = ()
    body: bytes = b""


@dataclass(frozen=True)
class Response:
    status: int
    headers: dict[str, str]  # lower-case names; a repeated header keeps its last value
    body: bytes
    cookies: dict[str, str]  # name -> value of every Set-Cookie
    seconds: float  # from sending the request to reading the whole answer


class Connection:
    def __init__(self, host: str, port: int):
        self.host, self.port = host, port
        self.reader = self.writer = None

    async def _open(self) -> None:
        self.reader, self.writer = await asyncio.open_connection(self.host, self.port)

    def close(self) -> None:
        if self.writer is not None:
            self.writer.close()
        self.reader = self.writer = None

    async def send(self, request: Request) -> Response:
        """One exchange; reconnects once when a kept-alive connection turns out closed."""
        for attempt in (1, 2):
            fresh = self.writer is None
            if fresh:
                await self._open()
            started = time.perf_counter()
            try:
                self.writer.write(self._encode(request))
                return await self._read(started)
            except (ConnectionError, asyncio.IncompleteReadError):
                self.close()
                if fresh or attempt == 2:
                    raise
        raise AssertionError("unreachable")

    def _encode(self, request: Request) -> bytes:
        lines = [f"{request.method} {request.path} HTTP/1.1", f"Host: {self.host}:{self.port}"]
        lines += [f"{name}: {value}" for name, value in request.headers]
        if request.body or request.method in ("POST", "PUT", "PATCH"):
            lines.append(f"Content-Length: {len(request.body)}")
        return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + request.body

    async def _read(self, started: float) -> Response:
        head = await self.reader.readuntil(b"\r\n\r\n")
        status_line, *header_lines = head.decode("latin-1").split("\r\n")
        status = int(status_line.split(" ", 2)[1])
        headers, cookies = {}, {}
        for line in header_lines:
            if line:
                name, _, value = line.partition(":")
                name, value = name.strip().lower(), value.strip()
                headers[name] = value
                if name == "set-cookie":
                    cookie_name, _, rest = value.partition("=")
                    cookies[cookie_name] = rest.split(";", 1)[0]
        if "content-length" in headers:
            body = await self.reader.readexactly(int(headers["content-length"]))
        elif headers.get("transfer-encoding", "").lower() == "chunked":
            body = await self._read_chunked()
        else:
            body = await self.reader.read()
            headers["connection"] = "close"
        if headers.get("connection", "").lower() == "close":
            self.close()
        return Response(status, headers, body, cookies, time.perf_counter() - started)

    async def _read_chunked(self) -> bytes:
        parts = []
        while True:
            size = int((await self.reader.readuntil(b"\r\n")).split(b";")[0], 16)
            if size == 0:
                await self.reader.readuntil(b"\r\n")
                return b"".join(parts)
            parts.append(await self.reader.readexactly(size))
            await self.reader.readexactly(2)


@dataclass
class Batch:
    """The answers to a batch, in request order, and its wall time."""

    responses: list[Response | None]  # None: the exchange failed at the socket level
    seconds: float

    def statuses(self) -> dict[int | None, int]:
        counts: dict[int | None, int] = {}
        for response in self.responses:
            key = response.status if response else None
            counts[key] = counts.get(key, 0) + 1
        return counts


async def fire(host: str, port: int, requests: Sequence[Request], concurrency: int) -> Batch:
    """Send every request exactly once over ``concurrency`` keep-alive connections, as
    fast as the server answers; the clock covers connecting, sending and reading."""
    responses: list[Response | None] = [None] * len(requests)
    next_index = 0

    async def worker() -> None:
        nonlocal next_index
        connection = Connection(host, port)
        try:
            while next_index < len(requests):
                index = next_index
                next_index += 1
                try:
                    responses[index] = await connection.send(requests[index])
                except (OSError, asyncio.IncompleteReadError, ValueError):
                    connection.close()
        finally:
            connection.close()

    started = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(min(concurrency, len(requests)))))
    return Batch(responses, time.perf_counter() - started)


async def fire_at_once(host: str, port: int, requests: Sequence[Request]) -> Batch:
    """Every request on its own connection, all connected first and then sent together
    (a burst: the race a double-spend check needs, or a storm of browsers)."""
    connections = [Connection(host, port) for _ in requests]
    await asyncio.gather(*(c._open() for c in connections))
    started = time.perf_counter()

    async def one(connection: Connection, request: Request) -> Response | None:
        try:
            return await connection.send(request)
        except (OSError, asyncio.IncompleteReadError, ValueError):
            return None
        finally:
            connection.close()

    responses = await asyncio.gather(
        *(one(c, r) for c, r in zip(connections, requests, strict=True))
    )
    return Batch(list(responses), time.perf_counter() - started)
