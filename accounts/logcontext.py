"""What the log knows of the request being served: its id and, once known, its user and
organisation, and the URL pattern that answers it (for the metrics).

Whoever first sees a request (the ASGI front, authsite.fastlane, else
accounts.middleware.RequestIdMiddleware) begins its context; code below notes the user
when it learns who is calling; ``RequestContextFilter`` copies the three onto every log
record, and the client of the identity provider names the request in ``X-Request-ID``.
The context is one small object in a context variable: tasks and threads that serve the
request see the same object, so a user noted anywhere is seen everywhere.
"""

import logging
from contextvars import ContextVar, Token


class RequestContext:
    """The request's id, its user's and organisation's ids, and Django's route that
    answers it (None until known)."""

    __slots__ = ("organisation_id", "request_id", "route", "user_id")

    def __init__(self, request_id: str):
        self.request_id = request_id
        self.user_id = None
        self.organisation_id = None
        self.route = None


_current: ContextVar[RequestContext | None] = ContextVar("request_context", default=None)


def begin(request_id: str) -> Token:
    """Make ``request_id`` the current request's; return the token that ``end`` takes."""
    return _current.set(RequestContext(request_id))


def end(token: Token) -> None:
    _current.reset(token)


def current() -> RequestContext | None:
    return _current.get()


def note_user(user) -> None:
    """Record the request's user and organisation, if a request is being served. Reads
    the ids the user row already holds: never a query."""
    context = _current.get()
    if context is not None:
        context.user_id = user.pk
        context.organisation_id = user.organisation_id


def note_route(request) -> None:
    """Record the URL pattern Django resolved ``request`` to, if it resolved it."""
    context = _current.get()
    match = getattr(request, "resolver_match", None)
    if context is not None and match is not None:
        context.route = match.route


def note_logged_in(sender, user, **kwargs) -> None:
    """Receive ``user_logged_in``: the user who just logged in is the request's."""
    note_user(user)


class RequestContextFilter(logging.Filter):
    """Give every record ``request_id``, ``user_id`` and ``organisation_id``: the current
    request's, or None outside a request."""

    def filter(self, record: logging.LogRecord) -> bool:
        context = _current.get()
        if context is None:
            record.request_id = record.user_id = record.organisation_id = None
        else:
            record.request_id = context.request_id
            record.user_id = context.user_id
            record.organisation_id = context.organisation_id
        return True
