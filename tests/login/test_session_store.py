"""The session engine (authsite.session_store): a login's new session is written once,
with its data, and a session's old row goes when its key changes."""

import pytest
from django.contrib.sessions.models import Session
from django.db import connection
from django.test.utils import CaptureQueriesContext

from authsite.session_store import SessionStore

pytestmark = pytest.mark.django_db


def _statements(queries, table="django_session") -> list[str]:
    return [q["sql"].split()[0].upper() for q in queries if table in q["sql"]]


def test_a_new_key_is_written_once_with_the_data_set_after_it_was_drawn():
    store = SessionStore()
    with CaptureQueriesContext(connection) as queries:
        store.cycle_key()
        store["_auth_user_id"] = "7"
        store.save()
        store.save()  # what the middleware does at the end of the request
    assert _statements(queries) == ["INSERT"]
    row = Session.objects.get(session_key=store.session_key)
    assert row.get_decoded() == {"_auth_user_id": "7"}


def test_a_change_after_the_save_is_written_by_the_next_save():
    store = SessionStore()
    store.cycle_key()
    store.save()
    store["step"] = "two"
    with CaptureQueriesContext(connection) as queries:
        store.save()
        store.save()
    assert _statements(queries) == ["UPDATE"]
    assert SessionStore(store.session_key).load() == {"step": "two"}


def test_a_new_key_ends_the_old_sessions_row_and_keeps_the_data():
    store = SessionStore()
    store["cart"] = "kept"
    store.create()
    old_key = store.session_key
    store.cycle_key()
    store.save()
    assert store.session_key != old_key
    assert not Session.objects.filter(session_key=old_key).exists()
    assert SessionStore(store.session_key).load() == {"cart": "kept"}


def test_a_drawn_key_someone_holds_is_drawn_again_and_never_overwrites_their_session():
    theirs = SessionStore()
    theirs["_auth_user_id"] = "1"
    theirs.create()
    theirs.save()
    mine = SessionStore()
    mine.cycle_key()
    mine._session_key = theirs.session_key  # the draw that collides
    mine["_auth_user_id"] = "2"
    mine.save()
    assert mine.session_key != theirs.session_key
    assert SessionStore(theirs.session_key).load() == {"_auth_user_id": "1"}
    assert SessionStore(mine.session_key).load() == {"_auth_user_id": "2"}


def test_a_session_that_was_not_changed_is_not_written():
    store = SessionStore()
    store["a"] = 1
    store.create()
    store.save()
    loaded = SessionStore(store.session_key)
    assert loaded["a"] == 1
    with CaptureQueriesContext(connection) as queries:
        loaded.save()
    assert _statements(queries) == []
