"""Session authentication that refuses a deactivated user or organisation at the next
request, not at session expiry, and permissions that follow the role."""

from django.contrib.auth.backends import ModelBackend
from django.db import connection
from django.db.models import FETCH_RAISE, Q
from django.utils import timezone

from authsite.compiled import CompiledUpdate

from .models import Role, User

# What an organisation admin's role lets them do in their scoped admin: manage their
# members, their members' application access and feature overrides; view their
# organisation, its tool access, the tools, the flags and their organisation's audit events.
ROLE_PERMISSIONS = {
    Role.ADMIN: frozenset(
        {
            "accounts.view_user",
            "accounts.change_user",
            "accounts.view_auditevent",
            "accounts.view_loginsession",
            "accounts.view_tokenfamily",
            "organisations.add_userapplicationaccess",
            "organisations.change_userapplicationaccess",
            "organisations.delete_userapplicationaccess",
            "organisations.view_userapplicationaccess",
            "organisations.add_organisationfeatureoverride",
            "organisations.change_organisationfeatureoverride",
            "organisations.delete_organisationfeatureoverride",
            "organisations.view_organisationfeatureoverride",
            "organisations.add_userfeatureoverride",
            "organisations.change_userfeatureoverride",
            "organisations.delete_userfeatureoverride",
            "organisations.view_userfeatureoverride",
            "organisations.view_organisation",
            "organisations.view_organisationdomain",
            "organisations.view_organisationtoolaccess",
            "organisations.view_tool",
            "organisations.view_featureflag",
        }
    ),
}


def _active(queryset):
    return queryset.select_related("organisation").filter(
        Q(is_active=True),
        Q(role=Role.SUPER_ADMIN, organisation__isnull=True) | Q(organisation__is_active=True),
    )


class ActiveAccountBackend(ModelBackend):
    """Django's model backend for active people of active organisations, whose role's
    permissions (ROLE_PERMISSIONS) add to those granted by hand."""

    def get_all_permissions(self, user_obj, obj=None):
        permissions = super().get_all_permissions(user_obj, obj)
        return permissions | self._role_permissions(user_obj, obj)

    async def aget_all_permissions(self, user_obj, obj=None):
        permissions = await super().aget_all_permissions(user_obj, obj)
        return permissions | self._role_permissions(user_obj, obj)

    def _role_permissions(self, user_obj, obj):
        if not user_obj.is_active or user_obj.is_anonymous or obj is not None:
            return frozenset()
        return ROLE_PERMISSIONS.get(user_obj.role, frozenset())

    def user_can_authenticate(self, user):
        if not super().user_can_authenticate(user):
            return False
        return user.organisation_id is None or user.organisation.is_active

    def get_user(self, user_id):
        return _active(User.objects).filter(pk=user_id).first()

    async def aget_user(self, user_id):
        # The async API reads only what this query loads: any lazy relation access on
        # this user fails loudly (FETCH_RAISE) instead of hiding a sync query.
        return await _active(User.objects).fetch_mode(FETCH_RAISE).filter(pk=user_id).afirst()


# The user's last login, the one statement Django's ``update_last_login`` runs through
# ``save()``, compiled once.
_LAST_LOGIN = CompiledUpdate(
    lambda pk: User.objects.filter(pk=pk),
    ("last_login",),
    pk=User._meta.pk,
    last_login=User._meta.get_field("last_login"),
)


def update_last_login(sender, user, **kwargs):
    """Receive ``user_logged_in`` in place of Django's receiver: write the user's last
    login, as it does, in one statement compiled once."""
    user.last_login = timezone.now()
    _LAST_LOGIN.run(connection, pk=user.pk, last_login=user.last_login)
