"""The sessions a person can see and end (/api/v1/auth/sessions, and the admin's list).

One row per sign-in:

- ``browser``: a login through the browser whose Django session is live (it exists and
  has not expired), together with the token families born from it, which end with it
  as at logout. Its last use is moved at most once a minute by an authenticated API
  request (``accounts.api.authentication``), or by a use of one of those families;
- ``token``: a live token family that no live browser session holds (a grant made with
  an identity provider's access token, or one whose browser session has expired). A
  family is live while it is not revoked and holds a refresh token that is neither
  spent, revoked nor expired. Its last use is its newest refresh token's creation:
  every grant and rotation makes one, Django's and the fast lane's alike, so neither
  path writes anything more for it.

Ids are ``browser-<number>`` and ``token-<uuid>``; a session key never leaves the
server. A row is ``current`` when it holds the caller's credential: the session of
their cookie, or the family of their app access token (the browser session it was born
from, when that is live). An identity provider's access token belongs to no row.
Ending a browser session is logout's ``end_login_session``; ending a family revokes it.
Either is refused at its next request everywhere.
"""

from dataclasses import dataclass
from datetime import datetime

from django.conf import settings
from django.contrib.auth import alogout
from django.db import transaction
from django.db.models import Max
from django.utils import timezone

from authsite.db import in_thread

from .. import ratelimit
from ..login.logout import end_login_session, live_families, live_logins
from ..models import AuditType
from ..tokens.base import audit_event
from ..tokens.refresh import revoke_family
from ..upsert import RequestMeta
from ..useragent import summarise

BROWSER = "browser"
TOKEN = "token"
# revoke_reason of the families ended here.
ENDED_BY_OWNER = "ended"
ENDED_BY_ADMIN = "admin_ended"


@dataclass(frozen=True)
class Caller:
    """The owner of the sessions, and what their credential names: the session key of
    their cookie, or the token family of their app access token."""

    user: object
    session_key: str = ""
    family_id: str = ""


def caller(request, principal) -> Caller:
    """Return the Caller of an authenticated API request."""
    if principal.via == "session":
        return Caller(principal.user, session_key=request.session.session_key or "")
    return Caller(principal.user, family_id=str(principal.family_id or ""))


@dataclass(frozen=True)
class Session:
    """A row of the list, with what ending it needs."""

    id: str
    kind: str
    created_at: datetime
    last_used_at: datetime
    ip: str | None
    user_agent: str
    current: bool
    session_key: str = ""
    family_id: str = ""
    families: int = 0

    def body(self) -> dict:
        """Return the row as the API shows it."""
        return {
            "id": self.id,
            "kind": self.kind,
            "created_at": self.created_at,
            "last_used_at": self.last_used_at,
            "ip": self.ip,
            "user_agent": summarise(self.user_agent),
            "current": self.current,
        }


def sessions_of(caller: Caller) -> list[Session]:
    """Return the caller's live browser sessions and token families, most recently used
    first (two queries)."""
    now = timezone.now()
    logins = live_logins(now).filter(user=caller.user)
    browsers = {
        login["session_key"]: login
        for login in logins.values(
            "pk", "session_key", "created_at", "last_used_at", "ip", "user_agent"
        )
    }
    families = (
        live_families(now)
        .filter(user=caller.user)
        .annotate(last_used_at=Max("tokens__created_at"))
        .values("pk", "session_key", "created_at", "last_used_at", "ip", "user_agent")
    )
    born_from = {key: [] for key in browsers}
    rows = []
    for family in families:
        family_id = str(family["pk"])
        if family["session_key"] in born_from:
            born_from[family["session_key"]].append(family)
            continue
        rows.append(
            Session(
                id=f"{TOKEN}-{family_id}",
                kind=TOKEN,
                created_at=family["created_at"],
                last_used_at=family["last_used_at"],
                ip=family["ip"],
                user_agent=family["user_agent"],
                current=family_id == caller.family_id,
                family_id=family_id,
            )
        )
    for key, login in browsers.items():
        families = born_from[key]
        rows.append(
            Session(
                id=f"{BROWSER}-{login['pk']}",
                kind=BROWSER,
                created_at=login["created_at"],
                # Never before its creation (the two are stamped a moment apart).
                last_used_at=max(
                    [
                        login["created_at"],
                        login["last_used_at"],
                        *(family["last_used_at"] for family in families),
                    ]
                ),
                ip=login["ip"],
                user_agent=login["user_agent"],
                current=key == caller.session_key
                or any(str(family["pk"]) == caller.family_id for family in families),
                session_key=key,
                families=len(families),
            )
        )
    return sorted(rows, key=lambda row: row.last_used_at, reverse=True)


def find_session(caller: Caller, session_id) -> Session | None:
    """Return the caller's listed session of that id, or None (unknown, ended, someone
    else's or malformed alike)."""
    return next((row for row in sessions_of(caller) if row.id == session_id), None)


def end_session(session: Session, reason: str) -> None:
    """End a listed session for good: a browser session as logout does (with the
    families born from it), a token family revoked."""
    if session.kind == BROWSER:
        end_login_session(session.session_key, reason)
    else:
        revoke_family(session.family_id, reason)


def _ended_event(caller: Caller, session: Session, meta: RequestMeta):
    return audit_event(
        AuditType.SESSION_ENDED,
        caller.user,
        meta,
        session=session.id,
        kind=session.kind,
        by="owner",
    )


def _end_own(caller: Caller, session_id, meta: RequestMeta) -> Session | None:
    with transaction.atomic():
        session = find_session(caller, session_id)
        if session is not None:
            end_session(session, ENDED_BY_OWNER)
            _ended_event(caller, session, meta).save()
    return session


def _end_others(caller: Caller, meta: RequestMeta) -> int:
    with transaction.atomic():
        others = [session for session in sessions_of(caller) if not session.current]
        for session in others:
            end_session(session, ENDED_BY_OWNER)
            _ended_event(caller, session, meta).save()
    return len(others)


async def alist(request, principal) -> list[Session]:
    """Return the caller's sessions (``sessions_of``), in one thread hop."""
    return await in_thread(sessions_of)(caller(request, principal))


async def aend(request, principal, session_id, meta: RequestMeta) -> Session | None:
    """End one of the caller's sessions, audited as SESSION_ENDED, and return it; None
    when they have no such session. Ending the session of the request's own cookie
    logs the request out, as logout does."""
    session = await in_thread(_end_own)(caller(request, principal), session_id, meta)
    if session is not None and session.current and principal.via == "session":
        await alogout(request)
    return session


async def aend_others(request, principal, meta: RequestMeta) -> int:
    """End every session of the caller but the current one, each audited as
    SESSION_ENDED; return how many ended."""
    return await in_thread(_end_others)(caller(request, principal), meta)


def _limits(ip: str | None, user_id):
    yield "sessions-ip", ip, settings.RATE_LIMIT_TOKEN
    yield "sessions-user", str(user_id), settings.RATE_LIMIT_TOKEN


async def acount_ending(ip: str | None, user_id) -> None:
    """Count a request that ends sessions against RATE_LIMIT_TOKEN per client IP and per
    user, as the token endpoints are counted; raise ratelimit.RateLimited past either."""
    await ratelimit.ahit_each(*_limits(ip, user_id))
