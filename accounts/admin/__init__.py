"""The admin for people, their identities, sessions and the audit trail.

Scoped like the rest of the admin (see ``organisations.admin``): a super admin sees and
changes everyone; an organisation admin sees and changes only their own organisation's
members, can neither make anyone super admin nor move anyone to another organisation,
cannot set passwords or Django permissions, and reads only their organisation's audit
events. Analysts, viewers and anyone else get a 403 page. Role changes, deactivations,
revocations and access changes made here are written to the append-only audit trail,
naming the operator and how they signed in.

The admin site itself (who may enter, the step-up to a multi-factor login, the sign-in
page) is ``accounts.admin_site``, outside this package: Django builds it before any model
admin registers. ``users``, ``audit`` and ``tenants`` register the model admins;
``sessions`` adds a person's sessions, and ending one, to their page.
"""

from . import audit, sessions, tenants, users  # noqa: F401  (register the model admins)
