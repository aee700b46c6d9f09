"""GET /auth/callback: finish the login.

Order matters: the flow entry is consumed (single use) before anything else is
trusted; the code is exchanged with the PKCE verifier; the ID token is verified; a
step-up's multi-factor login is checked; the organisation is checked; the user is
upserted (accounts.upsert); only then is a new session started, keeping the login's
authentication facts, and recorded: in token mode its login code, then its session
record with the LOGIN_SUCCEEDED event that names it. A failure after the upsert (the
database or the cache going down) leaves no new session and no session record, and
records LOGIN_FAILED when the database answers.
"""

import asyncio
import contextlib
import hmac
import logging
import time
from dataclasses import dataclass
from urllib.parse import urlsplit, urlunsplit

from django.contrib.auth import login
from django.db import connection, transaction

from authsite import metrics
from authsite.compiled import insert_linked
from authsite.db import in_thread, thread_cache

from .. import app_settings
from ..api.base import SERVICE_ERRORS
from ..models import AuditEvent, AuditType, LoginSession
from ..requestkit import request_meta
from ..tokens.handoff import create_handoff_code
from ..upsert import LoginRefused, login_succeeded_event, upsert_person
from . import oidc, step_up
from .begin import BINDING_COOKIE, FLOW_TTL, binding_hash, flow_key
from .logout import end_login_session

logger = logging.getLogger(__name__)


class LoginFailed(Exception):
    """The login did not complete. ``code`` is shown to the user's web app; ``status``
    is 400 for a bad or replayed request or token, 502 when the provider failed."""

    def __init__(self, code: str, reason: str, status: int = 400):
        super().__init__(reason)
        self.code = code
        self.reason = reason
        self.status = status


@dataclass(frozen=True)
class LoginDone:
    redirect_to: str


async def _consume_flow(request, state: str | None) -> dict:
    if not state or len(state) > 200:
        raise LoginFailed("invalid_state", "The login request has no valid state.")
    return await _take_flow(flow_key(state), request.COOKIES.get(BINDING_COOKIE, ""))


@in_thread
def _take_flow(key: str, binding: str) -> dict:
    """Remove the login's flow entry from the cache and return it, in one thread hop;
    raise LoginFailed when it is unknown, of another browser, already taken or expired."""
    cache = thread_cache()
    flow = cache.get(key)
    if flow is None:
        raise LoginFailed("invalid_state", "This login is unknown, expired or already used.")
    if not hmac.compare_digest(binding_hash(binding), flow["binding"]):
        raise LoginFailed("invalid_state", "This login was started in another browser.")
    # delete() reports whether this request removed the entry: exactly one wins.
    if not cache.delete(key):
        raise LoginFailed("invalid_state", "This login was already used.")
    if time.time() - flow["created"] > FLOW_TTL:
        raise LoginFailed("invalid_state", "This login expired; start again.")
    return flow


def _with_fragment(url: str, fragment: str) -> str:
    parts = urlsplit(url)
    return urlunsplit((parts.scheme, parts.netloc, parts.path, parts.query, fragment))


@in_thread
def _record_failure(meta, code: str, reason: str, claims: dict | None, audit_type=None):
    """Count the failed login by its code, then audit it."""
    metrics.count(metrics.LOGINS_FAILED, code)
    AuditEvent.objects.create(
        type=audit_type or AuditType.LOGIN_FAILED,
        ip=meta.ip,
        user_agent=meta.user_agent,
        details={"reason": code, "detail": reason[:500], "sub": (claims or {}).get("sub")},
    )


async def complete_login(request) -> LoginDone:
    """Finish the login of the callback's request and return where the browser goes
    next; raise LoginFailed, with the failure audited, when it cannot."""
    meta = request_meta(request)
    claims = None
    try:
        flow = await _consume_flow(request, request.GET.get("state"))
        if request.GET.get("error"):
            raise LoginFailed(
                "access_denied",
                request.GET.get("error_description", request.GET["error"])[:300],
            )
        code = request.GET.get("code")
        if not code:
            raise LoginFailed("invalid_request", "The identity provider returned no code.")
        tokens = await oidc.exchange_code(
            code=code, redirect_uri=flow["redirect_uri"], code_verifier=flow["verifier"]
        )
        claims = await oidc.verify_id_token(
            tokens.get("id_token"), nonce=flow["nonce"], access_token=tokens.get("access_token")
        )
        if flow["step_up"]:
            step_up.check(step_up.login_auth(claims))
        org_id = claims.get("org_id")
        if flow["organization"] and org_id != flow["organization"]:
            await _record_failure(
                meta,
                "organisation_mismatch",
                f"asked for {flow['organization']!r}, token has {org_id!r}",
                claims,
                AuditType.ORGANISATION_MISMATCH,
            )
            raise LoginFailed(
                "organisation_mismatch", "The identity provider answered for another organisation."
            )
        if app_settings.organization_required() and not org_id:
            raise LoginFailed("organisation_required", "This login must be for an organisation.")
    except oidc.OIDCError as exc:
        await _record_failure(meta, exc.code, exc.reason, claims)
        raise LoginFailed(exc.code, exc.reason, exc.status) from None
    except (LoginRefused, step_up.StepUpRefused) as exc:
        await _record_failure(meta, exc.code, exc.reason, claims)
        raise LoginFailed(exc.code, exc.reason) from None
    except LoginFailed as exc:
        if exc.code != "organisation_mismatch":
            await _record_failure(meta, exc.code, exc.reason, claims)
        raise

    try:
        login_code = await _finish_login(request, claims, flow, meta)
    except LoginRefused as exc:
        await _record_failure(meta, exc.code, exc.reason, claims)
        raise LoginFailed(exc.code, exc.reason) from None
    except SERVICE_ERRORS as exc:
        # No session stays (and none is saved with the answer when even the flush
        # failed); the failure is recorded when the database still answers.
        with contextlib.suppress(*SERVICE_ERRORS):
            await in_thread(request.session.flush)()
        request.session.modified = False
        with contextlib.suppress(*SERVICE_ERRORS):
            await _record_failure(meta, "service_unavailable", str(exc), claims)
        raise
    metrics.count(metrics.LOGINS_SUCCEEDED)
    if login_code is not None:
        return LoginDone(_with_fragment(flow["next"], f"login_code={login_code}"))
    return LoginDone(flow["next"])


async def _finish_login(request, claims: dict, flow: dict, meta) -> str | None:
    """Run the login's database work (``_upsert_and_start``) and return its login code;
    when the browser goes away meanwhile, let the work finish, then end the session it
    started (its record with it), so no record outlives its login."""
    work = asyncio.ensure_future(_upsert_and_start(request, claims, flow, meta))
    try:
        return await asyncio.shield(work)
    except asyncio.CancelledError:
        with contextlib.suppress(Exception):
            await work
            await in_thread(end_login_session)(request.session.session_key, "abandoned")
        raise


@in_thread
def _upsert_and_start(request, claims: dict, flow: dict, meta) -> str | None:
    """Upsert the person of the verified claims, then start their new session in one
    transaction, with in token mode its login code, then its record and the
    LOGIN_SUCCEEDED event that names it; return the login code or None. Raise
    LoginRefused (nothing written) for a deactivated user or organisation."""
    upserted = upsert_person(claims["iss"], claims)
    with transaction.atomic():
        # Always a new session (docs/architecture.md): the one it replaces ends for
        # good, with its token families, and flushing makes login() cycle the key.
        if previous_key := request.session.session_key:
            end_login_session(previous_key, "replaced")
        request.session.flush()
        login(request, upserted.user, backend="accounts.backends.ActiveAccountBackend")
        request.session[step_up.SESSION_KEY] = step_up.login_auth(claims)
        # Its one write, in this transaction: the middleware finds nothing left to save.
        request.session.save()
        session_key = request.session.session_key
        login_code = None
        if flow["mode"] == "token":
            login_code = create_handoff_code(upserted.user, flow["handoff_challenge"], session_key)
        record = LoginSession(
            session_key=session_key,
            user=upserted.user,
            identity=upserted.identity,
            idp_sid=claims.get("sid") if isinstance(claims.get("sid"), str) else "",
            ip=meta.ip,
            user_agent=meta.user_agent,
        )
        # The record and the event that names it: one statement on PostgreSQL.
        event = login_succeeded_event(upserted, meta)
        insert_linked(record, event, "details", "login_session", connection)
    return login_code
