"""The session engine: Django's database sessions, each new key's row written once.

Django's ``cycle_key``, which every login calls, inserts a row for the new key at once,
first asking whether the key is taken, and the request's end updates that row with what
the login put in the session. Here ``cycle_key`` only draws the key, and the next
``save`` inserts the row with the session's data, in one statement that writes nothing
when the key is taken (``ON CONFLICT DO NOTHING``; Django's insert takes a savepoint
to survive the collision); a key already taken is drawn again. A ``save`` with nothing
changed since the last one writes nothing, so a session saved inside a transaction is
not written again by the middleware.
"""

from django.contrib.sessions.backends import db
from django.contrib.sessions.backends.base import VALID_KEY_CHARS
from django.db import connections, router, transaction
from django.db.models import sql
from django.db.models.constants import OnConflict
from django.utils.crypto import get_random_string


class SessionStore(db.SessionStore):
    # Set on each change (Django's SessionBase sets ``modified``), cleared by a save.
    _unsaved = False
    # A key drawn by ``cycle_key`` that no row holds yet.
    _pending_key = False

    @property
    def modified(self):
        return self._modified

    @modified.setter
    def modified(self, value):
        self._modified = value
        self._unsaved = self._unsaved or value

    @property
    def unsaved(self) -> bool:
        """Return whether a ``save`` would write: a change or a new key not yet saved."""
        return self._unsaved or self._pending_key

    def cycle_key(self):
        """Draw a new key for the session's data, which the next ``save`` inserts, and
        delete the row of the old key."""
        data = self._session
        old_key = self.session_key
        self._session_key = get_random_string(32, VALID_KEY_CHARS)
        self._pending_key = True
        self._session_cache = data
        self.modified = True
        if old_key:
            self.delete(old_key)

    def save(self, must_create=False):
        """Insert the row of a key that ``cycle_key`` drew (drawing again on a
        collision), update a changed session's row, or do nothing."""
        if self._pending_key and not must_create:
            data = self._get_session(no_load=True)
            while not self._insert(data):
                self._session_key = get_random_string(32, VALID_KEY_CHARS)
            self._pending_key = False
        elif must_create or self._unsaved or self.session_key is None:
            super().save(must_create)
        self._unsaved = False

    def _insert(self, data) -> bool:
        """Insert the row of the session's key with ``data``; return False, having
        written nothing, when another session holds the key."""
        row = self.create_model_instance(data)
        using = router.db_for_write(self.model, instance=row)
        query = sql.InsertQuery(self.model, on_conflict=OnConflict.IGNORE)
        query.insert_values(self.model._meta.local_concrete_fields, [row])
        [(statement, params)] = query.get_compiler(using=using).as_sql()
        # Inside a transaction a failure marks it for rollback, as a failed save() does.
        with (
            transaction.mark_for_rollback_on_error(using),
            connections[using].cursor() as cursor,
        ):
            cursor.execute(statement, params)
            return cursor.rowcount == 1
