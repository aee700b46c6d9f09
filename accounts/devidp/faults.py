"""Faults a test injects into the provider's endpoints: an HTTP 500, a request held open
until the client gives up, a 200 whose body is not JSON, or a slow answer."""

import asyncio

from .web import Refusal, Request, Response, oauth_error

ENDPOINTS = ("discovery", "jwks", "token", "userinfo")
FAULT_MODES = ("500", "timeout", "garbage", "slow")
# Longer than any client timeout; the hang still ends early when the client disconnects,
# the fault is healed or the held requests are released.
HANG_SECONDS = 30.0


class FaultsMixin:
    """The Provider's faults: `faults` is {endpoint: mode}; `token_delay` is added to
    every token-endpoint answer and is the delay of a "slow" fault anywhere."""

    faults: dict[str, str]
    token_delay: float
    _releases: int

    def fail(self, endpoint: str, mode: str) -> None:
        """Make `endpoint` (one of ENDPOINTS) misbehave: "500" answers HTTP 500, "timeout"
        holds the request open (up to HANG_SECONDS, then 504), "garbage" answers 200 with
        a body that is not JSON, "slow" waits `token_delay` seconds and then answers."""
        if endpoint not in ENDPOINTS or mode not in FAULT_MODES:
            raise ValueError(f"unknown fault {endpoint!r} {mode!r}")
        self.faults[endpoint] = mode

    def heal(self, endpoint: str | None = None) -> None:
        """Clear the fault of `endpoint`, or of every endpoint."""
        if endpoint is None:
            self.faults.clear()
        else:
            self.faults.pop(endpoint, None)

    def release_held_requests(self) -> None:
        """Answer (504) every request a "timeout" fault holds open, now; a server calls
        this before it stops so that it need not wait for them."""
        self._releases += 1

    async def _gate(self, endpoint: str, request: Request) -> None:
        """Apply the configured delay and fault of `endpoint` before it answers."""
        mode = self.faults.get(endpoint)
        if endpoint == "token" or mode == "slow":
            await asyncio.sleep(self.token_delay)
        if mode == "500":
            raise Refusal(oauth_error("server_error", "injected fault", 500))
        if mode == "garbage":
            raise Refusal(Response(200, b"<html>upstream hiccup</html>", "application/json"))
        if mode == "timeout":
            await self._hang(endpoint, request)
            raise Refusal(oauth_error("temporarily_unavailable", "injected timeout", 504))

    async def _hang(self, endpoint: str, request: Request) -> None:
        """Hold `request` until its fault is healed, the held requests are released, the
        client disconnects or HANG_SECONDS pass."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + HANG_SECONDS
        releases = self._releases
        # The only message still to come is the client's disconnect.
        disconnect = asyncio.ensure_future(request.receive())
        try:
            while (
                self.faults.get(endpoint) == "timeout"
                and self._releases == releases
                and loop.time() < deadline
            ):
                done, _ = await asyncio.wait({disconnect}, timeout=0.05)
                if done:
                    return
        finally:
            disconnect.cancel()
