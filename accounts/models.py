"""People and their proof of identity, sessions, tokens, signing keys and the audit trail.

Invariants are database constraints: a race between two requests is settled by the
database, never by a check-then-insert in Python.
"""

import uuid

from django.contrib.auth.base_user import AbstractBaseUser, BaseUserManager
from django.contrib.auth.models import PermissionsMixin
from django.db import models
from django.db.models import Q
from django.db.models.functions import Lower
from django.utils import timezone

from organisations.models import Organisation


class Role(models.TextChoices):
    SUPER_ADMIN = "super_admin", "Super admin"
    ADMIN = "admin", "Organisation admin"
    ANALYST = "analyst", "Analyst"
    VIEWER = "viewer", "Viewer"


ADMIN_ROLES = (Role.SUPER_ADMIN, Role.ADMIN)
# How much of a client's User-Agent header is kept (accounts.requestkit.request_meta).
USER_AGENT_LENGTH = 500


class UserManager(BaseUserManager):
    use_in_migrations = True

    def create_user(self, email, password=None, **fields):
        fields.setdefault("role", Role.VIEWER)
        # Stored lower-case whole, as User.clean does: one spelling however it was created.
        user = self.model(email=email.strip().lower() if email else None, **fields)
        if password:
            user.set_password(password)
        else:
            user.set_unusable_password()
        user.save(using=self._db)
        return user

    def get_by_natural_key(self, username):
        # Emails are unique case-insensitively (a database constraint), so an operator
        # may type theirs in any case at the admin login.
        return self.get(email__iexact=username)

    def create_superuser(self, email, password=None, **fields):
        fields.update(role=Role.SUPER_ADMIN, is_superuser=True)
        return self.create_user(email, password, **fields)


class User(AbstractBaseUser, PermissionsMixin):
    """A person known locally. People who log in through Auth0 have unusable passwords;
    operators may have a password for the admin."""

    # NULL, not "", when the identity provider gave no email: the case-insensitive unique
    # constraint must allow many people without one.
    email = models.EmailField(max_length=254, null=True, blank=True)  # noqa: DJ001
    name = models.CharField(max_length=200, blank=True)
    picture = models.URLField(max_length=2000, blank=True)
    email_verified = models.BooleanField(default=False)
    role = models.CharField(max_length=20, choices=Role.choices, default=Role.VIEWER)
    organisation = models.ForeignKey(
        Organisation, on_delete=models.PROTECT, null=True, blank=True, related_name="members"
    )
    is_active = models.BooleanField(default=True)
    is_staff = models.BooleanField(default=False)
    # Set by the login that creates the person or moves them to another organisation,
    # cleared once their application access is granted (docs/architecture.md, "Access
    # owed"). The database default serves rows an older release inserts during a deploy.
    access_pending = models.BooleanField(default=False, db_default=False, editable=False)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    objects = UserManager()

    USERNAME_FIELD = "email"
    EMAIL_FIELD = "email"
    REQUIRED_FIELDS = []

    class Meta:
        ordering = ["email"]
        # The admin lists people by email (the unique index is on lower(email)).
        indexes = [models.Index(fields=["email"], name="user_email_idx")]
        constraints = [
            models.UniqueConstraint(Lower("email"), name="user_email_unique_ci"),
            models.CheckConstraint(condition=Q(role__in=Role.values), name="user_role_valid"),
            models.CheckConstraint(
                condition=Q(role=Role.SUPER_ADMIN) | Q(organisation__isnull=False),
                name="user_organisation_required_unless_super_admin",
            ),
        ]

    def __str__(self):
        return self.email or self.name or f"user {self.pk}"

    def clean(self):
        super().clean()
        if self.email:
            self.email = self.__class__.objects.normalize_email(self.email).lower()

    def save(self, *args, **kwargs):
        # Staff status follows the role (who may enter the admin); it is never set by hand.
        self.is_staff = self.is_superuser or self.role in ADMIN_ROLES
        update_fields = kwargs.get("update_fields")
        if update_fields is not None and {"role", "is_superuser"} & set(update_fields):
            kwargs["update_fields"] = {*update_fields, "is_staff"}
        super().save(*args, **kwargs)


class ExternalIdentity(models.Model):
    """Proof that a person is the holder of (issuer, subject) at an identity provider."""

    user = models.ForeignKey(User, on_delete=models.CASCADE, related_name="identities")
    issuer = models.CharField(max_length=500)
    subject = models.CharField(max_length=255)
    last_login_at = models.DateTimeField(null=True, blank=True)
    claims = models.JSONField(default=dict, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        verbose_name_plural = "external identities"
        constraints = [
            models.UniqueConstraint(fields=["issuer", "subject"], name="external_identity_unique"),
        ]

    def __str__(self):
        return f"{self.subject} @ {self.issuer}"


class LoginSession(models.Model):
    """Links a Django session to the identity-provider session it came from, so that
    back-channel logout (by `sid` or `sub`) can find and end it, and describes it to its
    owner (accounts.flows.sessions): ``ip`` and ``user_agent`` are the login's."""

    session_key = models.CharField(max_length=40, unique=True)
    user = models.ForeignKey(User, on_delete=models.CASCADE, related_name="login_sessions")
    identity = models.ForeignKey(
        ExternalIdentity, on_delete=models.CASCADE, null=True, related_name="login_sessions"
    )
    idp_sid = models.CharField(max_length=255, blank=True, db_index=True)
    created_at = models.DateTimeField(auto_now_add=True)
    # Moved by an authenticated API request at most once a minute (accounts.api.authentication).
    last_used_at = models.DateTimeField(default=timezone.now)
    ip = models.GenericIPAddressField(null=True, blank=True)
    user_agent = models.CharField(max_length=USER_AGENT_LENGTH, blank=True)

    def __str__(self):
        return f"session of user {self.user_id}"


class TokenFamily(models.Model):
    """All refresh tokens descended from one grant. Revocation is per family: one
    UPDATE ends every token of it, and access tokens carry the family id so that the
    revocation takes effect at the next request. ``ip`` and ``user_agent`` are the
    grant's; the family's last use is its newest token's ``created_at``, written by every
    grant and rotation, so no path writes the family itself. ``dpop_jkt`` is the RFC 7638
    thumbprint of the DPoP key the family was granted to, empty when unbound; it never
    changes."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    user = models.ForeignKey(User, on_delete=models.CASCADE, related_name="token_families")
    session_key = models.CharField(max_length=40, blank=True, db_index=True)
    created_at = models.DateTimeField(auto_now_add=True)
    revoked_at = models.DateTimeField(null=True, blank=True)
    revoke_reason = models.CharField(max_length=50, blank=True)
    ip = models.GenericIPAddressField(null=True, blank=True)
    user_agent = models.CharField(max_length=USER_AGENT_LENGTH, blank=True)
    dpop_jkt = models.CharField(
        max_length=43, blank=True, default="", db_default="", editable=False
    )

    class Meta:
        verbose_name_plural = "token families"
        # prune_tokens walks the families by age.
        indexes = [models.Index(fields=["created_at"], name="token_family_created_idx")]

    def __str__(self):
        return f"token family {self.id}"


class RefreshToken(models.Model):
    """An opaque refresh token, stored only as its SHA-256 hash."""

    family = models.ForeignKey(TokenFamily, on_delete=models.CASCADE, related_name="tokens")
    token_hash = models.CharField(max_length=64, unique=True)
    parent = models.OneToOneField(
        "self", on_delete=models.SET_NULL, null=True, blank=True, related_name="child"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    expires_at = models.DateTimeField()
    used_at = models.DateTimeField(null=True, blank=True)
    revoked_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        indexes = [
            models.Index(fields=["expires_at"], name="refresh_token_expires_idx"),
            # A family's spendable token (accounts.login.logout.live_families): one per
            # live family, where every rotation leaves a spent token behind.
            models.Index(
                fields=["family"],
                condition=Q(used_at__isnull=True, revoked_at__isnull=True),
                name="refresh_token_unspent_idx",
            ),
        ]

    def __str__(self):
        return f"refresh token {self.pk} of family {self.family_id}"


class HandoffCode(models.Model):
    """A one-time login code for the cross-site token handoff, bound to the web app's
    S256 challenge; stored only as its hash."""

    code_hash = models.CharField(max_length=64, unique=True)
    challenge = models.CharField(max_length=128)
    user = models.ForeignKey(User, on_delete=models.CASCADE, related_name="+")
    session_key = models.CharField(max_length=40, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    expires_at = models.DateTimeField()
    used_at = models.DateTimeField(null=True, blank=True)

    def __str__(self):
        return f"login code {self.pk}"


class SigningKey(models.Model):
    """A key that signs app-issued access tokens. The private key is encrypted at rest;
    a retired key stays published until every token it signed has expired."""

    kid = models.CharField(max_length=64, unique=True)
    algorithm = models.CharField(max_length=10)
    private_key_encrypted = models.BinaryField()
    public_jwk = models.JSONField()
    is_current = models.BooleanField(default=False)
    created_at = models.DateTimeField(auto_now_add=True)
    retired_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]
        constraints = [
            models.UniqueConstraint(
                fields=["is_current"],
                condition=Q(is_current=True),
                name="signing_key_one_current",
            ),
        ]

    def __str__(self):
        return f"{self.kid} ({self.algorithm})"


class AuditType(models.TextChoices):
    LOGIN_SUCCEEDED = "login_succeeded", "Login succeeded"
    LOGIN_FAILED = "login_failed", "Login failed"
    ORGANISATION_MISMATCH = "organisation_mismatch", "Organisation mismatch"
    TOKEN_ISSUED = "token_issued", "Token issued"
    TOKEN_REFRESHED = "token_refreshed", "Token refreshed"
    TOKEN_REUSED = "token_reused", "Refresh token reused (family revoked)"
    TOKEN_REVOKED = "token_revoked", "Token revoked"
    HANDOFF_REFUSED = "handoff_refused", "Login code refused"
    LOGOUT = "logout", "Logout"
    BACKCHANNEL_LOGOUT = "backchannel_logout", "Back-channel logout"
    ROLE_CHANGED = "role_changed", "Role changed"
    ACCESS_CHANGED = "access_changed", "Access changed"
    USER_DEACTIVATED = "user_deactivated", "User deactivated"
    SESSIONS_REVOKED = "sessions_revoked", "Sessions and tokens revoked"
    SESSION_ENDED = "session_ended", "Session ended"


class AuditEvent(models.Model):
    """Append-only record of what happened; never updated once written."""

    type = models.CharField(max_length=50, choices=AuditType.choices, db_index=True)
    user = models.ForeignKey(
        User, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    organisation = models.ForeignKey(
        Organisation, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    ip = models.GenericIPAddressField(null=True, blank=True)
    user_agent = models.CharField(max_length=USER_AGENT_LENGTH, blank=True)
    details = models.JSONField(default=dict, blank=True)
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)

    class Meta:
        ordering = ["-created_at"]
        # An organisation's events, newest first (its admin's list).
        indexes = [
            models.Index(fields=["organisation", "-created_at"], name="audit_organisation_idx")
        ]

    def __str__(self):
        return f"{self.type} at {self.created_at:%Y-%m-%d %H:%M:%S}"

    def save(self, *args, **kwargs):
        if not self._state.adding:
            raise ValueError("Audit events are append-only.")
        super().save(*args, **kwargs)
