"""The admin for tenants, tools, access and feature flags, scoped to the operator's tenant.

Who may do what (``TenantScopedAdmin``, ``TenantScopedInline``):

- a super admin (role ``super_admin``, or a Django superuser; active) sees and changes
  everything;
- an organisation admin (role ``admin``, active) has their Django model permissions (their
  role's, see ``accounts.backends``), confined to the rows of their own organisation.
  Other organisations' rows are not listed, and their change, delete and history pages
  answer 404 exactly like rows that do not exist. Global rows (tools, flags) and
  organisation-wide settings are at most viewable;
- anyone else gets nothing (the admin site shows them a 403 page).

This app never imports ``accounts``: roles are read as strings from ``request.user``, and
changes to tool or application access are announced through the ``access_changed`` signal,
which ``accounts`` records in its audit trail.

``scoping`` holds the scoped base classes, ``changes`` the ``access_changed`` signal,
``columns`` the change lists' short, wrapping columns, and ``tenants``, ``tools`` and
``flags`` register the model admins. Actions that end
sessions, deactivate people or change access in bulk ask first
(``organisations.admin_confirm``).
"""

from . import flags, tools  # noqa: F401  (register the model admins)
from .changes import access_changed
from .scoping import OrganisationFilter, TenantScopedAdmin, TenantScopedInline
from .tenants import OrganisationAdmin

__all__ = [
    "OrganisationAdmin",
    "OrganisationFilter",
    "TenantScopedAdmin",
    "TenantScopedInline",
    "access_changed",
]
