"""The lane's connections and statements: an async psycopg pool on Django's connection
settings, and the SQL Django compiles from the querysets and models Django's path uses."""

import asyncio
from functools import lru_cache
from typing import NamedTuple

import psycopg
from django.conf import settings
from django.db import connections
from django.utils import timezone
from psycopg_pool import AsyncConnectionPool

from accounts import ratelimit
from accounts.api.bearer import BATCHES, principal_statements
from accounts.flows.refresh import LANE_COUNT, acount_token_request
from accounts.requestkit import request_meta
from accounts.tokens.base import TokenError, grant_for, hash_token
from accounts.tokens.refresh import issued_statement, new_refresh_token
from accounts.tokens.rotation import (
    PRESENTED,
    SPEND,
    count_rotation,
    judge_presented,
    refreshed_event,
    spend_statement,
)
from authsite.compiled import CompiledBatch, server_statement
from authsite.db import in_thread
from organisations.access import ALL_ACCESS, applications_from_rows, features_from_rows

# Longest wait for a pooled connection before the request goes to Django instead.
POOL_WAIT = 2.0


class _Database(NamedTuple):
    pool: AsyncConnectionPool
    # Django's connection for the default database, only to compile SQL with.
    connection: object


class _Pool:
    """The lane's connection pool, opened once per event loop (a server has one; tests
    have several) by one task that every concurrent first request awaits."""

    def __init__(self):
        self._loop = None
        self._opening = None

    async def database(self) -> _Database:
        loop = asyncio.get_running_loop()
        if self._loop is not loop:
            self._loop, self._opening = loop, loop.create_task(_open_pool())
        try:
            return await self._opening
        except Exception:
            self._loop = None  # the next request tries again
            raise

    def opened(self) -> _Database | None:
        """Return the running loop's pool, if it was opened."""
        opening = self._opening
        if opening is None or self._loop is not asyncio.get_running_loop():
            return None
        if not opening.done() or opening.cancelled() or opening.exception() is not None:
            return None
        return opening.result()

    async def close(self) -> None:
        database = self.opened()
        self._loop = self._opening = None
        if database is not None:
            await database.pool.close()

    async def ping(self) -> None:
        """Run ``SELECT 1`` on a connection of the running loop's pool, if it was opened;
        raise psycopg.Error (PoolTimeout past POOL_WAIT) when it cannot."""
        database = self.opened()
        if database is not None:
            async with database.pool.connection(timeout=POOL_WAIT) as conn:
                await conn.execute(b"SELECT 1")


lane_pool = _Pool()


async def aping() -> None:
    """Ping the lane's pool (``_Pool.ping``), for /readyz."""
    await lane_pool.ping()


@lru_cache(maxsize=1)
def on_postgresql() -> bool:
    return connections["default"].vendor == "postgresql"


async def _open_pool() -> _Database:
    kwargs, sizes, connection = await in_thread(_prepare)()
    pool = AsyncConnectionPool(kwargs=kwargs, open=False, **sizes)
    await pool.open()
    return _Database(pool=pool, connection=connection)


def _prepare() -> tuple[dict, dict, object]:
    """Compile the queries and derive the pool's connection settings from Django's:
    once per process (a thread hop: compiling may read the server's version)."""
    connection = connections["default"]
    for query in (BATCHES[ALL_ACCESS], PRESENTED, SPEND):
        if query.sql is None:
            query.compile(connection)
    kwargs = connection.get_connection_params()
    # Prepared once per connection and bound on the server (valid for Django's SQL: its
    # server_side_binding option); raw cursors send it numbered (server_statement).
    kwargs["cursor_factory"] = psycopg.AsyncRawCursor
    kwargs["prepare_threshold"] = 0
    kwargs["autocommit"] = True
    # Named, so that operators can tell its connections apart in pg_stat_activity.
    kwargs["application_name"] = f"{kwargs.get('application_name') or 'authsite'} fast lane"
    sizes = {"min_size": 1, "max_size": settings.FAST_LANE_POOL_SIZE}
    return kwargs, sizes, connection


async def read_me(conn, claims):
    """Return (user, applications, features) for verified claims, or raise ApiError as
    bearer does: the statements of ``principal_statements``, as Django's path runs
    them."""
    statements, rows = principal_statements(claims, ALL_ACCESS), None
    while True:
        try:
            batch, values = statements.send(rows)
        except StopIteration as done:
            user, (applications, features) = done.value
            break
        rows = await _run(conn, batch, *values)
    return (
        user,
        applications_from_rows(applications),
        features_from_rows(features, user.pk, timezone.now()),
    )


async def _run(conn, batch: CompiledBatch, *values):
    cursor = await conn.execute(server_statement(batch.sql), batch.params(*values))
    return batch.rows(await cursor.fetchall())


class _Declined(Exception):
    """Rolls the lane's rotation back: Django answers instead."""


async def rotate(conn, connection, presented: str, request, dpop_jkt: str = ""):
    """Rotate ``presented`` on the event loop as ``tokens.rotate_refresh_token`` does,
    ``dpop_jkt`` the thumbprint of the request's verified DPoP proof ("" without one):
    the same read (``presented_token_query``) and rules (``judge_presented``), the token
    endpoints' rate limits (``acount_token_request``), then the same conditional update
    (``unspent_query``), successor and audit event in one transaction. Return the grant,
    or None when Django must answer; nothing the lane passes on stays written.

    The limits are counted once the token passes its rules, outside the transaction,
    and the outcome is put in the request's scope (``refresh.LANE_COUNT``) so that
    Django does not count it again."""
    now = timezone.now()
    presented_hash = {"token_hash": hash_token(presented)}
    rows, applications = await _run(conn, PRESENTED, presented_hash, presented_hash)
    token = judge_presented(rows[0] if rows else None, now, dpop_jkt)
    if isinstance(token, TokenError):
        return None
    meta = request_meta(request)
    try:
        await acount_token_request(meta.ip, token.user.pk)
    except ratelimit.RateLimited as exc:
        request.scope[LANE_COUNT] = exc
        return None
    request.scope[LANE_COUNT] = True
    try:
        async with conn.transaction():
            sql, params = spend_statement(token.token_id, now)
            if (await conn.execute(server_statement(sql), params)).rowcount != 1:
                raise _Declined
            successor, plaintext = new_refresh_token(token.family_id, now, token.token_id)
            event = refreshed_event(token, meta, grace=False)
            sql, params = issued_statement(successor, event, connection)
            await conn.execute(server_statement(sql), params)
    except _Declined:
        return None
    count_rotation(grace=False)
    applications = applications_from_rows(applications)
    return grant_for(token.user, token.family_id, plaintext, applications, token.dpop_jkt)
