"""The logs' fixtures: a provider that keeps what crossed the wire, and the log of a
test as LOG_FORMAT=json writes it."""

import io
import logging
import secrets

import pytest

from accounts.devidp.provider import Provider
from accounts.devidp.server import serve_in_thread
from accounts.logcontext import RequestContextFilter
from authsite.logs import JsonFormatter
from tests.idp import CLIENT_ID, REDIRECT_URIS, seed, use_provider


class RecordingProvider(Provider):
    """The development provider, keeping each request's path and headers (``received``)
    and the body of every answer (``answered``): the tokens it issued among them."""

    def reset(self) -> None:
        super().reset()
        self.received: list[tuple[str, dict[str, str]]] = []
        self.answered: list[str] = []

    async def __call__(self, scope, receive, send):
        if scope["type"] == "http":
            headers = {name.decode(): value.decode("latin-1") for name, value in scope["headers"]}
            self.received.append((scope["path"], headers))

        async def keeping(message):
            if message["type"] == "http.response.body":
                self.answered.append(message.get("body", b"").decode("latin-1"))
            await send(message)

        await super().__call__(scope, receive, keeping)

    def request_ids(self, path: str) -> list[str | None]:
        """Return the X-Request-ID of each request received on ``path``, in order."""
        return [headers.get("x-request-id") for seen, headers in self.received if seen == path]


@pytest.fixture(scope="session")
def recording_server():
    with serve_in_thread(RecordingProvider()) as server:
        yield server


@pytest.fixture
def recording_idp(recording_server, settings) -> RecordingProvider:
    """The recording provider, reset and seeded as ``idp`` is, its client's secret a new
    random one (so that finding it in a log cannot be a coincidence), and the AUTH0_*
    settings pointing at it."""
    provider = recording_server.provider
    provider.reset()
    seed(provider)
    provider.client_secret = secrets.token_urlsafe(24)
    provider.add_client(CLIENT_ID, provider.client_secret, REDIRECT_URIS)
    use_provider(settings, provider, provider.client_secret)
    yield provider
    provider.reset()


@pytest.fixture
def json_log():
    """Return a buffer that receives every record logged during the test, at every
    level, through the handler settings.LOGGING makes for LOG_FORMAT=json."""
    buffer = io.StringIO()
    handler = logging.StreamHandler(buffer)
    handler.setFormatter(JsonFormatter())
    handler.addFilter(RequestContextFilter())
    root = logging.getLogger()
    level = root.level
    root.addHandler(handler)
    root.setLevel(logging.DEBUG)
    yield buffer
    root.setLevel(level)
    root.removeHandler(handler)
