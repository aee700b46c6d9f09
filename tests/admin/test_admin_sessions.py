"""A person's sessions on their admin page (accounts/admin/sessions.py): the operator sees
the list the person sees, ends one only after confirming, within their own tenant, and
every ending is audited with the operator's name."""

from importlib import import_module

import pytest
from django.conf import settings
from django.urls import reverse

from accounts.flows.sessions import Caller, sessions_of
from accounts.models import AuditEvent, AuditType, LoginSession, TokenFamily
from accounts.tokens.refresh import issue_grant
from accounts.upsert import RequestMeta

pytestmark = pytest.mark.django_db

FIREFOX_ON_WINDOWS = (
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:133.0) Gecko/20100101 Firefox/133.0"
)


def signed_in(user, user_agent=FIREFOX_ON_WINDOWS, ip="198.51.100.4") -> str:
    """A live login session of ``user``, as the login callback records one; its key."""
    store = import_module(settings.SESSION_ENGINE).SessionStore()
    store.create()
    LoginSession.objects.create(
        session_key=store.session_key, user=user, ip=ip, user_agent=user_agent
    )
    return store.session_key


def change_page(user) -> str:
    return reverse("admin:accounts_user_change", args=[user.pk])


def end_url(user, session_id) -> str:
    return reverse("admin:accounts_user_end_session", args=[user.pk, session_id])


def session_ids(user) -> list[str]:
    return [session.id for session in sessions_of(Caller(user))]


def test_the_change_page_lists_the_person_s_sessions(as_admin_a, member_a):
    signed_in(member_a)
    family = issue_grant(member_a, meta=RequestMeta(ip="203.0.113.8", user_agent="curl/8.11.1"))

    page = as_admin_a.get(change_page(member_a)).content.decode()

    assert 'id="sessions"' in page
    assert "Firefox on Windows" in page and "198.51.100.4" in page
    assert "curl" in page and "203.0.113.8" in page
    for session_id in session_ids(member_a):
        assert f'data-session="{session_id}"' in page
        assert end_url(member_a, session_id) in page
    assert f"token-{family.family_id}" in page


def test_ending_a_browser_session_asks_first_then_ends_it_for_good(as_admin_a, admin_a, member_a):
    session_key = signed_in(member_a)
    born_from_it = issue_grant(member_a, session_key=session_key).family_id
    [session_id] = session_ids(member_a)

    asked = as_admin_a.get(end_url(member_a, session_id))

    assert asked.status_code == 200
    summary = asked.context["confirmation"].summary
    assert "1 browser session" in summary and "1 token family" in summary
    assert "Firefox on Windows from 198.51.100.4" in asked.content.decode()
    assert LoginSession.objects.filter(session_key=session_key).exists()  # nothing yet

    done = as_admin_a.post(end_url(member_a, session_id), {"post": "yes"})

    assert done.status_code == 302 and done["Location"] == change_page(member_a)
    assert not LoginSession.objects.filter(session_key=session_key).exists()
    store = import_module(settings.SESSION_ENGINE).SessionStore
    assert not store().exists(session_key)
    assert TokenFamily.objects.get(pk=born_from_it).revoke_reason == "admin_ended"
    event = AuditEvent.objects.get(type=AuditType.SESSION_ENDED)
    assert (event.user_id, event.organisation_id) == (member_a.pk, member_a.organisation_id)
    assert event.details["session"] == session_id and event.details["by"] == "admin"
    assert event.details["operator_id"] == admin_a.pk
    assert event.details["operator_amr"] == ["mfa"]


def test_ending_a_token_family_revokes_it(as_super_admin, member_b):
    family = issue_grant(member_b).family_id
    other = issue_grant(member_b).family_id

    asked = as_super_admin.get(end_url(member_b, f"token-{family}"))
    assert "1 token family" in asked.context["confirmation"].summary
    as_super_admin.post(end_url(member_b, f"token-{family}"), {"post": "yes"})

    assert TokenFamily.objects.get(pk=family).revoked_at is not None
    assert TokenFamily.objects.get(pk=other).revoked_at is None
    assert session_ids(member_b) == [f"token-{other}"]


def test_a_post_without_the_confirmation_ends_nothing(as_admin_a, member_a):
    signed_in(member_a)
    [session_id] = session_ids(member_a)
    answer = as_admin_a.post(end_url(member_a, session_id))
    assert answer.status_code == 200 and "confirmation" in answer.context
    assert session_ids(member_a) == [session_id]
    assert not AuditEvent.objects.filter(type=AuditType.SESSION_ENDED).exists()


def test_another_organisation_s_people_and_sessions_are_404(as_admin_a, member_a, member_b):
    signed_in(member_b)
    [theirs] = session_ids(member_b)
    signed_in(member_a)

    for url in (end_url(member_b, theirs), end_url(member_a, theirs), change_page(member_b)):
        assert as_admin_a.get(url).status_code == 404
        assert as_admin_a.post(url, {"post": "yes"}).status_code == 404
    assert session_ids(member_b) == [theirs]
    assert not AuditEvent.objects.filter(type=AuditType.SESSION_ENDED).exists()


@pytest.mark.parametrize("session_id", ["browser-999999", "token-nope", "x" * 300])
def test_an_unknown_session_is_404(as_admin_a, member_a, session_id):
    assert as_admin_a.get(end_url(member_a, session_id)).status_code == 404
    assert as_admin_a.post(end_url(member_a, session_id), {"post": "yes"}).status_code == 404


def test_the_operator_s_own_current_session_is_left_to_logout(as_admin_a, admin_a):
    current = as_admin_a.session.session_key
    LoginSession.objects.create(session_key=current, user=admin_a)
    [session_id] = session_ids(admin_a)

    page = as_admin_a.get(change_page(admin_a)).content.decode()
    assert "(this session)" in page and end_url(admin_a, session_id) not in page
    asked = as_admin_a.get(end_url(admin_a, session_id))
    assert asked.context["confirmation"].count == 0
    assert as_admin_a.post(end_url(admin_a, session_id), {"post": "yes"}).status_code == 404
    assert as_admin_a.get(change_page(admin_a)).status_code == 200
