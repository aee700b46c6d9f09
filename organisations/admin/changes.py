"""Announcing changes to tool and application access made through the admin."""

from django.db import transaction
from django.dispatch import Signal

from ..models import UserApplicationAccess

access_changed = Signal()
"""Sent after an operator changes tool or application access in the admin.

The sender is the model class; the arguments are ``request``, ``organisation_id`` (the
organisation concerned), ``user_id`` (the member concerned, or None for organisation-wide
access) and ``details`` (a JSON-serialisable description of the change).
"""


def announce(request, instance, action, **details):
    """Send ``access_changed`` for one OrganisationToolAccess or UserApplicationAccess."""
    if isinstance(instance, UserApplicationAccess):
        organisation_id, user_id = instance.user.organisation_id, instance.user_id
    else:
        organisation_id, user_id = instance.organisation_id, None
    access_changed.send(
        sender=type(instance),
        request=request,
        organisation_id=organisation_id,
        user_id=user_id,
        details={"action": action, "tool": instance.tool.code, **details},
    )


class AccessAuditMixin:
    """Announces every admin change to the access rows this admin manages.

    ``audit_related`` names the relations ``announce`` reads, loaded up front when a
    whole selection is deleted."""

    audit_related = ("tool",)

    def save_model(self, request, obj, form, change):
        super().save_model(request, obj, form, change)
        announce(
            request,
            obj,
            "changed" if change else "added",
            fields=sorted(form.changed_data),
        )

    def delete_model(self, request, obj):
        announce(request, obj, "deleted")
        super().delete_model(request, obj)

    def delete_queryset(self, request, queryset):
        with transaction.atomic():
            for obj in queryset.select_related(*self.audit_related):
                announce(request, obj, "deleted")
            super().delete_queryset(request, queryset)
