"""A user and their organisation read as whole rows, in a query of another model."""

from django.db import DEFAULT_DB_ALIAS
from django.db.models import FETCH_RAISE

from organisations.models import Organisation

from .models import User

# The user and the organisation as whole rows: every concrete field, so nothing is
# deferred and nothing is fetched later.
_USER_FIELDS = [field.attname for field in User._meta.concrete_fields]


_ORGANISATION_FIELDS = [field.attname for field in Organisation._meta.concrete_fields]


def user_columns(path: str) -> list[str]:
    """Return the ``values_list`` names of a whole user and their organisation, reached
    from a query's model through ``path`` (``"user__"``, say); ``user_from_row`` reads
    them."""
    return [
        *(f"{path}{name}" for name in _USER_FIELDS),
        *(f"{path}organisation__{name}" for name in _ORGANISATION_FIELDS),
    ]


def user_from_row(row) -> User:
    """Return the user, with their organisation loaded, from the ``user_columns`` of a
    row."""
    split = len(_USER_FIELDS)
    user = User.from_db(DEFAULT_DB_ALIAS, _USER_FIELDS, row[:split], fetch_mode=FETCH_RAISE)
    if user.organisation_id is not None:
        user.organisation = Organisation.from_db(
            DEFAULT_DB_ALIAS, _ORGANISATION_FIELDS, row[split:], fetch_mode=FETCH_RAISE
        )
    return user
