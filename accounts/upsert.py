"""Identity → user → organisation → default access: the person a login is for.

The identity rules:
- a person is the pair (issuer, sub), never an email alone;
- an email links a new identity to an existing user only when the provider says it is
  verified AND the local user's email was verified too (an unverified address must not
  be able to squat an account that its real owner later claims);
- the profile is refreshed from every login, writing only the fields that changed;
- organisation: `org_id` wins; else an existing user keeps theirs; else a new user joins
  the organisation owning their verified email domain, else a personal organisation.

A login's database work runs in one thread hop (``upsert_person``, through the login
callback's hop or ``aupsert_identity``). A returning person's login creates no row and
opens no transaction: it reads the identity with its user and organisation in one query,
then writes only what changed. Creating a person, linking an identity by email and
moving a person to another organisation write rows that must exist together, so they run
as one atomic unit (``upsert_identity``). Races (50 browsers finishing the first login of
one person at once) are settled there by the unique constraints: every insert that can
collide is keyed deterministically, a loser's IntegrityError rolls its attempt back, and
the retry finds the winner's rows.

The unit marks the organisation it creates and the person it creates or moves as owed
their access (``access_pending``); the grants, each idempotent, then run in one
transaction that also clears the marks (``grant_pending_access``). A login that finds a
mark set, because granting failed after the unit committed, grants what is owed.
"""

import hashlib
import logging
from dataclasses import dataclass

from django.db import DEFAULT_DB_ALIAS, IntegrityError, connection, transaction
from django.db.models import FETCH_RAISE
from django.utils import timezone
from django.utils.text import slugify

from authsite.compiled import CompiledQuery
from authsite.db import in_thread
from organisations.access import grant_default_tool_access, grant_member_application_access
from organisations.models import Organisation, OrganisationDomain

from .models import AuditEvent, AuditType, ExternalIdentity, Role, User
from .rows import user_columns, user_from_row

logger = logging.getLogger(__name__)

ATTEMPTS = 5
SNAPSHOT_CLAIMS = (
    "iss", "sub", "aud", "azp", "email", "email_verified", "name", "nickname",
    "given_name", "family_name", "picture", "locale", "org_id", "org_name", "sid",
    "auth_time", "amr", "acr", "updated_at",
)  # fmt: skip


class LoginRefused(Exception):
    """The identity is valid but may not log in (deactivated user or organisation)."""

    def __init__(self, code: str, reason: str):
        super().__init__(reason)
        self.code = code
        self.reason = reason


@dataclass(frozen=True)
class Upserted:
    user: User
    identity: ExternalIdentity
    new_identity: bool


@dataclass(frozen=True)
class RequestMeta:
    """What the audit trail records of the request."""

    ip: str | None = None
    user_agent: str = ""


def _stable_suffix(*parts: str) -> str:
    return hashlib.sha256("\x00".join(parts).encode()).hexdigest()[:10]


def _verified_email(claims: dict) -> str | None:
    email = claims.get("email")
    if claims.get("email_verified") is True and isinstance(email, str) and "@" in email:
        return email.strip().lower()
    return None


def _organisation_for_org_id(org_id: str, org_name: str | None) -> Organisation:
    organisation = Organisation.objects.filter(auth0_org_id=org_id).first()
    if organisation is None:
        name = (org_name or org_id)[:200]
        organisation = Organisation.objects.create(
            auth0_org_id=org_id,
            name=name,
            slug=f"{slugify(name)[:80] or 'org'}-{_stable_suffix(org_id)}",
            access_pending=True,
        )
    return organisation


def _organisation_for_new_user(issuer: str, claims: dict) -> Organisation:
    email = _verified_email(claims)
    if email:
        domain = email.rsplit("@", 1)[1]
        owned = (
            OrganisationDomain.objects.select_related("organisation")
            .filter(domain=domain, verified=True)
            .first()
        )
        if owned is not None:
            return owned.organisation
    display = claims.get("name") or email or claims["sub"]
    organisation = Organisation.objects.create(
        name=f"{display}'s organisation"[:200],
        # Deterministic: concurrent first logins of one person collide here, not twice.
        slug=f"personal-{_stable_suffix(issuer, claims['sub'])}",
        access_pending=True,
    )
    return organisation


def _new_email(user: User, claims: dict) -> str | None:
    """Return the verified email of the claims when it differs from the user's."""
    email = _verified_email(claims)
    return email if email and email != (user.email or "").lower() else None


def _others_with(email: str, user: User):
    """Return the other users who hold ``email``, which the user may then not take."""
    return User.objects.filter(email__iexact=email).exclude(pk=user.pk)


def _profile_changes(user: User, claims: dict, email_taken: bool) -> list[str]:
    """Set the profile fields that differ from the claims; return their names. A new
    email is taken only when ``email_taken`` is false (``_others_with``)."""
    wanted = {}
    email = _verified_email(claims)
    if _new_email(user, claims):
        if not email_taken:
            wanted["email"] = email
            wanted["email_verified"] = True
    elif email and not user.email_verified:
        wanted["email_verified"] = True
    if isinstance(claims.get("name"), str) and claims["name"][:200] != user.name:
        wanted["name"] = claims["name"][:200]
    if isinstance(claims.get("picture"), str) and claims["picture"][:2000] != user.picture:
        wanted["picture"] = claims["picture"][:2000]
    changed = []
    for field, value in wanted.items():
        if getattr(user, field) != value:
            setattr(user, field, value)
            changed.append(field)
    return changed


def _sync_profile_changes(user: User, claims: dict) -> list[str]:
    email = _new_email(user, claims)
    return _profile_changes(user, claims, bool(email) and _others_with(email, user).exists())


def _seen(claims: dict) -> dict:
    """Return the identity's fields that every login updates."""
    return {
        "last_login_at": timezone.now(),
        "claims": {name: claims[name] for name in SNAPSHOT_CLAIMS if name in claims},
    }


# Every column of the identity but the last login's claims, which a login replaces.
_IDENTITY_FIELDS = [f.attname for f in ExternalIdentity._meta.concrete_fields if f.name != "claims"]


def _identity_query(issuer, subject):
    """Return the identity (issuer, subject) as one row: its ``_IDENTITY_FIELDS``, then
    its user's and their organisation's (``user_columns``)."""
    return ExternalIdentity.objects.filter(issuer=issuer, subject=subject).values_list(
        *_IDENTITY_FIELDS, *user_columns("user__")
    )


_IDENTITY = CompiledQuery(
    _identity_query,
    issuer=ExternalIdentity._meta.get_field("issuer"),
    subject=ExternalIdentity._meta.get_field("subject"),
)


def find_identity(issuer: str, subject: str) -> ExternalIdentity | None:
    """Return the identity (issuer, subject) with its user and their organisation, in one
    query compiled once per process, or None. The instances refuse any further load
    (FETCH_RAISE): the identity's claims, say."""
    rows = _IDENTITY.fetch(connection, issuer=issuer, subject=subject)
    if not rows:
        return None
    split = len(_IDENTITY_FIELDS)
    identity = ExternalIdentity.from_db(
        DEFAULT_DB_ALIAS, _IDENTITY_FIELDS, rows[0][:split], fetch_mode=FETCH_RAISE
    )
    identity.user = user_from_row(rows[0][split:])
    return identity


def _org_id(claims: dict) -> str | None:
    return claims.get("org_id") if isinstance(claims.get("org_id"), str) else None


def _moves(user: User, claims: dict) -> bool:
    """Return whether the claims' ``org_id`` names an organisation other than the user's
    (a super_admin never moves)."""
    org_id = _org_id(claims)
    if not org_id or user.role == Role.SUPER_ADMIN:
        return False
    return user.organisation is None or user.organisation.auth0_org_id != org_id


def _check_active(user: User) -> None:
    if not user.is_active:
        raise LoginRefused("account_inactive", "This account has been deactivated.")
    if user.organisation is not None and not user.organisation.is_active:
        raise LoginRefused("organisation_inactive", "This organisation has been deactivated.")


def _upsert_once(issuer: str, claims: dict, absent: bool) -> Upserted:
    identity = None if absent else find_identity(issuer, claims["sub"])
    user = identity.user if identity else None
    email = _verified_email(claims)
    email_taken = False
    if user is None and email:
        # A verified holder of the email first: the identity is linked to them. An
        # unverified holder keeps the email from a new user.
        holder = (
            User.objects.select_related("organisation")
            .fetch_mode(FETCH_RAISE)
            .filter(email__iexact=email)
            .order_by("-email_verified")
            .first()
        )
        if holder is not None and holder.email_verified:
            user = holder
        email_taken = holder is not None

    org_id = _org_id(claims)
    if user is None:
        organisation = (
            _organisation_for_org_id(org_id, claims.get("org_name"))
            if org_id
            else _organisation_for_new_user(issuer, claims)
        )
        user = User(organisation=organisation, role=Role.VIEWER, access_pending=True)
        user.set_unusable_password()
        _profile_changes(user, claims, email_taken)
        user.save()
    else:
        moved = []
        if org_id and user.role != Role.SUPER_ADMIN:
            organisation = _organisation_for_org_id(org_id, claims.get("org_name"))
            if organisation.pk != user.organisation_id:
                user.organisation = organisation
                user.access_pending = True
                moved = ["organisation", "access_pending"]
        changed = _sync_profile_changes(user, claims) + moved
        if changed:
            user.save(update_fields=[*changed, "updated_at"])

    _check_active(user)
    new_identity = identity is None
    if new_identity:
        identity = ExternalIdentity.objects.create(
            user=user, issuer=issuer, subject=claims["sub"], **_seen(claims)
        )
    else:
        ExternalIdentity.objects.filter(pk=identity.pk).update(**_seen(claims))
    return Upserted(user=user, identity=identity, new_identity=new_identity)


def login_succeeded_event(upserted: Upserted, meta: RequestMeta) -> AuditEvent:
    """Return the LOGIN_SUCCEEDED audit event of an upserted identity, not yet saved:
    the caller saves it together with what the login started."""
    identity = upserted.identity
    return AuditEvent(
        type=AuditType.LOGIN_SUCCEEDED,
        user=upserted.user,
        organisation_id=upserted.user.organisation_id,
        ip=meta.ip,
        user_agent=meta.user_agent[:500],
        details={
            "issuer": identity.issuer,
            "sub": identity.subject,
            "new_identity": upserted.new_identity,
        },
    )


def _require_subject(claims: dict) -> None:
    if not isinstance(claims.get("sub"), str) or not claims["sub"]:
        raise ValueError("claims without a subject")


def upsert_identity(issuer: str, claims: dict, *, absent: bool = False) -> Upserted:
    """Find or create the local user for verified claims, atomically, and return the
    Upserted. Raise LoginRefused (nothing written) for a deactivated user or
    organisation. The access of what it creates or moves is left owed
    (``agrant_pending_access``); the login's audit event is the caller's
    (``login_succeeded_event``). ``absent`` says that the caller has just found no
    identity for the claims: the first attempt does not read it again (one created
    meanwhile fails that attempt's insert, and the retry reads it)."""
    _require_subject(claims)
    for _ in range(ATTEMPTS - 1):
        try:
            with transaction.atomic():
                return _upsert_once(issuer, claims, absent)
        except IntegrityError:
            # Another request created the same person or organisation first; its rows
            # are committed now (the unique index made us wait), so the retry finds them.
            logger.info("upsert of %s lost a race; retrying", claims["sub"])
            absent = False
    with transaction.atomic():
        return _upsert_once(issuer, claims, absent)


def grant_pending_access(user: User) -> None:
    """Grant the access the user and their organisation are owed (``access_pending``),
    the organisation's default tool access first, and clear the marks, all in one
    transaction. Make no query when nothing is owed."""
    organisation = user.organisation
    owes_organisation = organisation is not None and organisation.access_pending
    if not (owes_organisation or user.access_pending):
        return
    with transaction.atomic():
        if owes_organisation:
            grant_default_tool_access(organisation)
        if user.access_pending:
            grant_member_application_access(user)
            # Only while they are still where these grants were for: a login that moved
            # them meanwhile owes them another organisation's access.
            User.objects.filter(pk=user.pk, organisation_id=user.organisation_id).update(
                access_pending=False
            )
        if owes_organisation:
            # Last: concurrent logins of the organisation's people wait on this row.
            Organisation.objects.filter(pk=organisation.pk).update(access_pending=False)
    if owes_organisation:
        organisation.access_pending = False
    user.access_pending = False


def _owes_access(user: User) -> bool:
    organisation = user.organisation
    return user.access_pending or (organisation is not None and organisation.access_pending)


_grant_in_thread = in_thread(grant_pending_access)


async def agrant_pending_access(user: User) -> None:
    """Do what ``grant_pending_access`` does, in one thread hop, and without one when
    nothing is owed."""
    if _owes_access(user):
        await _grant_in_thread(user)


def upsert_person(issuer: str, claims: dict) -> Upserted:
    """Return ``upsert_identity``'s result, with the access it owes granted. A returning
    person who stays in their organisation is read and refreshed without a transaction,
    writing only what changed; anyone else goes through ``upsert_identity``."""
    _require_subject(claims)
    identity = find_identity(issuer, claims["sub"])
    if identity is None or _moves(identity.user, claims):
        upserted = upsert_identity(issuer, claims, absent=identity is None)
    else:
        upserted = _refresh(identity, claims)
    grant_pending_access(upserted.user)
    return upserted


aupsert_identity = in_thread(upsert_person)


def _refresh(identity: ExternalIdentity, claims: dict) -> Upserted:
    """Refresh a returning person's profile and last login from the claims, writing only
    what changed; raise LoginRefused for a deactivated user or organisation."""
    user = identity.user
    _check_active(user)
    changed = _sync_profile_changes(user, claims)
    if changed:
        user.save(update_fields=[*changed, "updated_at"])
    ExternalIdentity.objects.filter(pk=identity.pk).update(**_seen(claims))
    return Upserted(user=user, identity=identity, new_identity=False)
