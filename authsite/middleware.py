"""Django's middleware without the thread hops, for the ASGI server.

Under ASGI, Django runs each hook of a MiddlewareMixin middleware through
`sync_to_async`: two thread hops per middleware per request, and one more for every
`process_view`. The hooks of the middleware below are plain computation (headers,
cookies, lazy objects) and never block, so in async mode they are called inline. The
two that may reach the database — saving a modified session, storing flash messages —
are called inline only when they will not; otherwise they run in one hop to the
project's database threads (authsite.db.in_thread).
Under WSGI every class behaves exactly like Django's own.
"""

from django.contrib.auth import middleware as auth
from django.contrib.messages import middleware as messages
from django.contrib.messages.storage import default_storage
from django.contrib.sessions import middleware as sessions
from django.middleware import clickjacking, common, csp, csrf, security
from django.utils.functional import LazyObject, SimpleLazyObject, empty

from .db import in_thread


class InlineHooks:
    """A mixin that, in async mode, calls process_request / process_view /
    process_response inline.

    Only for middleware whose hooks never do I/O; ``response_hook_may_block`` lets a
    subclass send the response hook to a database thread when, for this request, it
    would."""

    def __init__(self, get_response):
        super().__init__(get_response)
        if hasattr(self, "process_response"):
            self._process_response_in_thread = in_thread(self.process_response)
        if self.async_mode and hasattr(self, "process_view"):
            sync_view_hook = self.process_view

            async def process_view(request, view_func, view_args, view_kwargs):
                return sync_view_hook(request, view_func, view_args, view_kwargs)

            # Django adapts process_view by inspecting the bound attribute: an async
            # one is awaited directly instead of being sent to a thread.
            self.process_view = process_view

    def response_hook_may_block(self, request) -> bool:
        return False

    async def __acall__(self, request):
        response = None
        if hasattr(self, "process_request"):
            response = self.process_request(request)
        response = response or await self.get_response(request)
        if hasattr(self, "process_response"):
            if self.response_hook_may_block(request):
                return await self._process_response_in_thread(request, response)
            response = self.process_response(request, response)
        return response


class SecurityMiddleware(InlineHooks, security.SecurityMiddleware):
    pass


class CommonMiddleware(InlineHooks, common.CommonMiddleware):
    pass


class CsrfViewMiddleware(InlineHooks, csrf.CsrfViewMiddleware):
    """Inline: the CSRF secret lives in a cookie (CSRF_USE_SESSIONS is off)."""


class AuthenticationMiddleware(InlineHooks, auth.AuthenticationMiddleware):
    """Inline: it only attaches the lazy ``request.user`` / ``request.auser``."""


class XFrameOptionsMiddleware(InlineHooks, clickjacking.XFrameOptionsMiddleware):
    pass


class ContentSecurityPolicyMiddleware(InlineHooks, csp.ContentSecurityPolicyMiddleware):
    pass


class SessionMiddleware(InlineHooks, sessions.SessionMiddleware):
    """Loading is lazy (async code uses the session's async methods); only saving a
    session with unsaved changes touches the database (authsite.session_store), and only
    then is there a thread hop."""

    def response_hook_may_block(self, request) -> bool:
        session = getattr(request, "session", None)
        return session is not None and session.modified and getattr(session, "unsaved", True)


class MessageMiddleware(InlineHooks, messages.MessageMiddleware):
    """The storage is made when first used (an API request never uses it), and messages
    are stored only when some were read or added: a storage never made has neither."""

    def process_request(self, request):
        request._messages = SimpleLazyObject(lambda: default_storage(request))

    def process_response(self, request, response):
        if not _made(getattr(request, "_messages", None)):
            return response
        return super().process_response(request, response)

    def response_hook_may_block(self, request) -> bool:
        storage = getattr(request, "_messages", None)
        return _made(storage) and (storage.used or storage.added_new)


def _made(storage) -> bool:
    """Return whether ``storage`` exists and is not a lazy storage still unmade."""
    if isinstance(storage, LazyObject):
        return storage._wrapped is not empty
    return storage is not None
