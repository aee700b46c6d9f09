"""The local OpenID Connect identity provider that stands in for Auth0: the test suite's
provider (faked only at the network boundary) and the development provider of `make run`.
"""

from .provider import Provider
from .server import ThreadedServer, serve_in_thread

__all__ = ["Provider", "ThreadedServer", "serve_in_thread"]
