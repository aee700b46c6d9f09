"""A throwaway redis-server that a test may stop and start again on the same port: Redis
going down and coming back, as the outside world does it to a running server."""

import shutil
import subprocess
import time

import pytest
import redis

from tests.e2e.servers import free_port, stop_process


class RedisServer:
    """One redis-server process on 127.0.0.1, without persistence; ``stop`` and
    ``start`` keep its port, so clients configured with ``url`` find it again."""

    def __init__(self, port: int | None = None):
        self.binary = shutil.which("redis-server")
        if self.binary is None:
            pytest.fail("These tests need redis-server, which is not installed.")
        self.port = port or free_port()
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self.process = None
        self.start()

    def start(self) -> None:
        if self.process is not None:
            return
        self.process = subprocess.Popen(
            [
                self.binary,
                "--port", str(self.port),
                "--bind", "127.0.0.1",
                "--save", "",
                "--appendonly", "no",
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )  # fmt: skip
        deadline = time.monotonic() + 10
        while True:
            try:
                redis.Redis(host="127.0.0.1", port=self.port, socket_timeout=1).ping()
                return
            except redis.RedisError:
                if time.monotonic() > deadline or self.process.poll() is not None:
                    self.stop()
                    raise RuntimeError(f"redis-server did not start on port {self.port}") from None
                time.sleep(0.05)

    def stop(self) -> None:
        """Stop the server: every connection to it is closed, new ones are refused."""
        if self.process is None:
            return
        stop_process(self.process)
        self.process = None

    def restart(self) -> None:
        self.stop()
        self.start()
