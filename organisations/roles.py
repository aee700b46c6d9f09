"""Who may administer what, read from the role on ``request.user``.

Roles are strings here, so that this app never imports ``accounts``, which defines them.
"""

SUPER_ADMIN = "super_admin"
ORGANISATION_ADMIN = "admin"


def is_super_admin(user) -> bool:
    """Return whether the user is active and may see and change everything."""
    return bool(
        user.is_active and (user.is_superuser or getattr(user, "role", None) == SUPER_ADMIN)
    )


def admin_organisation_id(user) -> int | None:
    """Return the organisation an organisation admin is confined to; None for anyone
    else."""
    if (
        user.is_active
        and not user.is_superuser
        and getattr(user, "role", None) == ORGANISATION_ADMIN
    ):
        return user.organisation_id
    return None


def may_administer(user) -> bool:
    """Return whether the user is a super admin or an organisation admin of an
    organisation."""
    return is_super_admin(user) or admin_organisation_id(user) is not None
