"""Django's ASGI handler with a request's start and finish on the event loop.

Django sends ``request_started`` and, by closing the response, ``request_finished``
through a thread hop each, so that their receivers (Django's own close the thread's
database connections) run in the request's thread. Here ``request_started`` is sent on
the event loop: at a request's start no thread of its own exists yet, and the loop's
thread never holds a connection, so Django's receivers have nothing to do anywhere.
``request_finished`` is sent on the event loop too when a response was sent, no
thread-sensitive hop of the request opened a connection (the project's async code uses
authsite.db's threads, which give theirs back) and the response holds nothing to close
in a thread (not streaming, not a file); otherwise it keeps Django's hop. Receivers
connected to these signals must therefore not block: this project connects none. With
ASYNC_DB_THREADS off (the in-process tests), the handler is Django's.
"""

import asyncio
from contextlib import closing

from asgiref.sync import sync_to_async
from django.conf import settings
from django.core import signals
from django.core.handlers import asgi
from django.core.handlers.asgi import RequestAborted
from django.http import FileResponse
from django.urls import set_script_prefix

from . import db


class ASGIHandler(asgi.ASGIHandler):
    """``django.core.handlers.asgi.ASGIHandler`` whose ``handle`` sends the request
    signals on the event loop where nothing needs a thread (module docstring)."""

    async def handle(self, scope, receive, send):
        if not settings.ASYNC_DB_THREADS:
            # Database work runs in Django's hops, and this thread may hold a connection.
            return await super().handle(scope, receive, send)
        try:
            body_file = await self.read_body(receive)
        except RequestAborted:
            return
        with closing(body_file):
            set_script_prefix(asgi.get_script_prefix(scope))
            db.track_request()
            signals.request_started.send(sender=self.__class__, scope=scope)
            request, error_response = self.create_request(scope, body_file)
            if request is None:
                await self.send_response(error_response, send)
                await self._finish(error_response)
                return
            response = await self._respond(request, receive, send)
            await self._finish(response)

    async def _respond(self, request, receive, send):
        """Answer ``request`` as Django does, stopping when the client disconnects;
        return the response, or None when it was not sent."""

        class RequestProcessed(Exception):
            pass

        response = None
        try:
            try:
                async with asyncio.TaskGroup() as tg:
                    tg.create_task(self.listen_for_disconnect(receive))
                    response = await self.run_get_response(request)
                    await self.send_response(response, send)
                    raise RequestProcessed
            except* (RequestProcessed, RequestAborted):
                pass
        except BaseExceptionGroup as exception_group:
            if len(exception_group.exceptions) == 1:
                raise exception_group.exceptions[0] from None
            raise
        return response

    async def _finish(self, response):
        """Close ``response`` (which sends request_finished), on the event loop when
        nothing needs the request's thread. Without a response (the client went away
        mid-request), send request_finished through Django's hop: a thread-sensitive
        call of the abandoned view may still be queued in the request's thread, and the
        hop runs after it, giving back the connection it opens."""
        if response is None:
            await signals.request_finished.asend(sender=self.__class__)
        elif (
            db.request_opened_connections()
            or response.streaming
            or isinstance(response, FileResponse)
        ):
            await sync_to_async(response.close)()
        else:
            response.close()
