"""What a login writes, statement by statement: the callback's database work
(``_upsert_and_start``, the one thread hop of a login), for a first and a returning
login."""

import pytest
from django.contrib.sessions.models import Session
from django.db import connection
from django.test import RequestFactory
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from accounts.login import callback
from accounts.models import AuditEvent, AuditType, LoginSession, User
from accounts.upsert import RequestMeta
from authsite.session_store import SessionStore

pytestmark = pytest.mark.django_db(transaction=True)

ISSUER = "https://tenant.example/"
META = RequestMeta(ip="203.0.113.9", user_agent="pytest")
CLAIMS = {
    "iss": ISSUER,
    "sub": "auth0|kim",
    "email": "kim@example.com",
    "email_verified": True,
    "sid": "idp-session-1",
}
COOKIE_FLOW = {"mode": "cookie"}
# A login's session, in one transaction: the user's last login, the session's row, and
# its record with the LOGIN_SUCCEEDED event in one statement.
SESSION_START = ["BEGIN", "UPDATE", "INSERT", "WITH", "COMMIT"]


def log_in(claims=CLAIMS):
    """Run the callback's database work for ``claims`` in a fresh browser; return its
    request, whose session the login started."""
    request = RequestFactory().get("/auth/callback")
    request.session = SessionStore()
    callback._upsert_and_start.__wrapped__(request, claims, COOKIE_FLOW, META)
    return request


def test_a_login_starts_one_session_with_its_record_and_its_event():
    first = log_in()
    second_login_at = timezone.now()
    again = log_in()
    user = User.objects.get(email="kim@example.com")
    for request in (first, again):
        key = request.session.session_key
        assert Session.objects.get(session_key=key).get_decoded()["_auth_user_id"] == str(user.pk)
        record = LoginSession.objects.get(session_key=key)
        assert (record.user, record.idp_sid, record.ip) == (user, "idp-session-1", "203.0.113.9")
        event = AuditEvent.objects.get(
            type=AuditType.LOGIN_SUCCEEDED, details__login_session=record.pk
        )
        assert event.user == user and event.organisation_id == user.organisation_id
        assert event.details == {
            "issuer": ISSUER,
            "sub": "auth0|kim",
            "new_identity": request is first,
            "login_session": record.pk,
        }
    assert user.last_login >= second_login_at


@pytest.mark.postgres
def test_a_first_login_is_one_unit_then_its_access_in_one_transaction():
    with CaptureQueriesContext(connection) as queries:
        request = log_in()
    # The identity (read once, not again in the unit); the unit: the users holding the
    # email, verified first, a domain owning it, the personal organisation, the user,
    # the identity; then the access owed in one transaction (the organisation's default
    # tools, the member's applications, both marks cleared); then the session.
    statements = [query["sql"].removeprefix("QUERY = b'") for query in queries]
    assert [s.split()[0] for s in statements] == [
        *["SELECT", "BEGIN", "SELECT", "SELECT", "INSERT", "INSERT", "INSERT", "COMMIT"],
        *["BEGIN", "SELECT", "INSERT", "SELECT", "INSERT", "UPDATE", "UPDATE", "COMMIT"],
        *SESSION_START,
    ], statements
    user = User.objects.select_related("organisation").get(email="kim@example.com")
    assert not user.access_pending and not user.organisation.access_pending
    assert user.organisation.tool_access.exists()
    assert set(user.application_access.values_list("tool_id", flat=True)) == set(
        user.organisation.tool_access.values_list("tool_id", flat=True)
    )
    assert request.session.session_key


@pytest.mark.postgres
def test_a_returning_login_is_five_statements():
    log_in()
    with CaptureQueriesContext(connection) as queries:
        log_in()
    # The identity with its user (read), the identity's last login (autocommit); then
    # the session.
    statements = [query["sql"].removeprefix("QUERY = b'") for query in queries]
    assert [s.split()[0] for s in statements] == ["SELECT", "UPDATE", *SESSION_START], statements
    assert "ON CONFLICT" in statements[4] and "SAVEPOINT" not in " ".join(statements)
