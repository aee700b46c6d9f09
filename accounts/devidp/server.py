"""Serve a Provider over real HTTP with uvicorn: in a background thread for tests, or in
the foreground for `python -m accounts.devidp`.

The socket is bound before the server starts, so port 0 works and the issuer (which
names the port) is known before the first request.
"""

import asyncio
import socket
import threading
import time
from types import TracebackType

import uvicorn

from .provider import Provider

STARTUP_TIMEOUT = 10.0


def bind(host: str, port: int) -> socket.socket:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((host, port))
    return sock


def base_url(host: str, port: int) -> str:
    """Return `http://host:port/`, bracketing an IPv6 address."""
    return f"http://[{host}]:{port}/" if ":" in host else f"http://{host}:{port}/"


def make_server(provider: Provider) -> uvicorn.Server:
    config = uvicorn.Config(
        provider,
        interface="asgi3",
        lifespan="off",
        ws="none",
        log_level="warning",
        access_log=False,
        proxy_headers=False,
        server_header=False,
        # The provider writes its own Date header.
        date_header=False,
        # Bounds a stop that waits for an answer still being written.
        timeout_graceful_shutdown=1,
    )
    return uvicorn.Server(config)


class ThreadedServer:
    """A provider served in a daemon thread with its own event loop. `url` and `issuer`
    are the same `http://host:port/`; `stop()` (or leaving the `with` block) shuts the
    server down and frees the port."""

    def __init__(self, provider: Provider, host: str, port: int) -> None:
        self.provider = provider
        self._sock = bind(host, port)
        self.url = self.issuer = base_url(host, self._sock.getsockname()[1])
        provider.issuer = self.issuer
        self._server = make_server(provider)
        self._thread = threading.Thread(
            target=asyncio.run,
            args=(self._server.serve(sockets=[self._sock]),),
            name=f"devidp {self.url}",
            daemon=True,
        )
        self._thread.start()
        deadline = time.monotonic() + STARTUP_TIMEOUT
        while not self._server.started:
            if not self._thread.is_alive() or time.monotonic() > deadline:
                self.stop()
                raise RuntimeError(f"the identity provider did not start on {self.url}")
            time.sleep(0.01)

    def stop(self) -> None:
        self.provider.release_held_requests()
        self._server.should_exit = True
        self._thread.join(STARTUP_TIMEOUT)
        self._sock.close()

    def __enter__(self) -> "ThreadedServer":
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.stop()


def serve_in_thread(provider: Provider, host: str = "127.0.0.1", port: int = 0) -> ThreadedServer:
    """Start serving `provider` on host:port (0: any free port) and set its issuer;
    return the server once it accepts connections."""
    return ThreadedServer(provider, host, port)
