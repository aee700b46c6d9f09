"""Session authentication that refuses a deactivated user or organisation at the next
request, not at session expiry."""

from django.contrib.auth.backends import ModelBackend
from django.db.models import FETCH_RAISE, Q

from .models import Role, User


def _active(queryset):
    return queryset.select_related("organisation").filter(
        Q(is_active=True),
        Q(role=Role.SUPER_ADMIN, organisation__isnull=True) | Q(organisation__is_active=True),
    )


class ActiveAccountBackend(ModelBackend):
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
