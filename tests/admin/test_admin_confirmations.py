"""Admin actions that end sessions, deactivate people or change access in bulk ask first
(organisations.admin_confirm): the first POST shows what will happen to how many people
and changes nothing; only the page's own "Yes, I'm sure" does the work."""

from datetime import timedelta
from html.parser import HTMLParser
from importlib import import_module

import pytest
from django.conf import settings
from django.contrib.admin.models import LogEntry
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from accounts.models import AuditEvent, AuditType, LoginSession, TokenFamily, User
from accounts.tokens.refresh import issue_grant
from organisations.models import Organisation, OrganisationToolAccess, Tool, UserApplicationAccess
from tests.admin.kit import sign_in

from .formdata import change_form_data

pytestmark = pytest.mark.django_db

USERS = "admin:accounts_user_changelist"
ORGANISATIONS = "admin:organisations_organisation_changelist"


class _Forms(HTMLParser):
    """The POST forms of a page: (action, [(name, value), …]) each."""

    def __init__(self):
        super().__init__()
        self.forms = []

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if tag == "form" and attrs.get("method") == "post":
            self.forms.append((attrs.get("action"), []))
        elif tag == "input" and self.forms and attrs.get("name"):
            self.forms[-1][1].append((attrs["name"], attrs.get("value", "")))


def confirming_post(client, page):
    """Press "Yes, I'm sure" on a confirmation ``page``: post its form as a browser would."""
    parser = _Forms()
    parser.feed(page.content.decode())
    [(action, fields)] = [form for form in parser.forms if ("post", "yes") in form[1]]
    data = {}
    for name, value in fields:
        data.setdefault(name, []).append(value)
    return client.post(action, data)


def ask(client, changelist, action, objects, query=""):
    return client.post(
        reverse(changelist) + query,
        {"action": action, "index": "0", "_selected_action": [obj.pk for obj in objects]},
    )


def live_session(user, *, expired=False):
    """A login session of ``user`` in the session store, live or expired."""
    store = import_module(settings.SESSION_ENGINE).SessionStore()
    store.create()
    if expired:
        store.get_model_class().objects.filter(session_key=store.session_key).update(
            expire_date=timezone.now() - timedelta(minutes=1)
        )
    LoginSession.objects.create(session_key=store.session_key, user=user)
    return store.session_key


@pytest.fixture
def member_a_signed_in(member_a):
    """member_a with one live and one expired browser session, two live token families
    and one already revoked."""
    live_session(member_a)
    live_session(member_a, expired=True)
    issue_grant(member_a)
    issue_grant(member_a)
    TokenFamily.objects.filter(pk=issue_grant(member_a).family_id).update(revoked_at=timezone.now())
    return member_a


def live_families(user):
    return TokenFamily.objects.filter(user=user, revoked_at__isnull=True).count()


def test_deactivation_asks_first_and_counts_what_will_end(
    as_admin_a, admin_a, member_a_signed_in, org_a
):
    away = User.objects.create_user("away@alpha.example", organisation=org_a, is_active=False)
    page = ask(as_admin_a, USERS, "deactivate_users", [member_a_signed_in, admin_a, away])

    assert page.status_code == 200
    text = page.content.decode()
    assert (
        "Deactivate 1 person: they are signed out of 1 browser session and lose 2 token "
        "families now, and cannot sign in until reactivated." in text
    )
    assert "<li>member@alpha.example</li>" in text
    assert "You selected yourself: you are left out" in text
    assert "Already inactive, and left as they are: 1 person." in text
    member_a_signed_in.refresh_from_db()
    assert member_a_signed_in.is_active is True
    assert live_families(member_a_signed_in) == 2
    assert not AuditEvent.objects.filter(type=AuditType.USER_DEACTIVATED).exists()

    done = confirming_post(as_admin_a, page)

    assert done.status_code == 302
    member_a_signed_in.refresh_from_db()
    admin_a.refresh_from_db()
    assert (member_a_signed_in.is_active, admin_a.is_active) == (False, True)
    assert live_families(member_a_signed_in) == 0
    event = AuditEvent.objects.get(type=AuditType.USER_DEACTIVATED)
    assert (event.user, event.details["operator_id"]) == (member_a_signed_in, admin_a.pk)


def test_revocation_asks_first_and_counts_what_will_end(as_admin_a, admin_a, member_a_signed_in):
    page = ask(as_admin_a, USERS, "revoke_sessions_and_tokens", [member_a_signed_in, admin_a])

    text = page.content.decode()
    assert (
        "Sign 1 person out everywhere: they are signed out of 1 browser session and lose 2 "
        "token families now. They can sign in again." in text
    )
    assert "You selected yourself: your own sessions and tokens are left alone." in text
    assert live_families(member_a_signed_in) == 2
    assert LoginSession.objects.filter(user=member_a_signed_in).count() == 2

    assert confirming_post(as_admin_a, page).status_code == 302
    assert live_families(member_a_signed_in) == 0
    assert not LoginSession.objects.filter(user=member_a_signed_in).exists()
    assert AuditEvent.objects.get(type=AuditType.SESSIONS_REVOKED).user == member_a_signed_in


def test_grant_default_tool_access_asks_first_and_counts_people(as_super_admin, tool):
    Tool.objects.filter(is_default=True).exclude(pk=tool.pk).update(is_default=False)
    bare = Organisation.objects.create(name="Bare", slug="bare")
    for email in ("one@bare.example", "two@bare.example"):
        User.objects.create_user(email, organisation=bare)
    page = ask(as_super_admin, ORGANISATIONS, "grant_default_tool_access", [bare])

    text = page.content.decode()
    assert (
        "Grant default tool access to 1 organisation: they gain 1 tool, and 2 people gain "
        "access to applications (2 grants)." in text
    )
    assert "<li>Bare: 1 tool, 2 people gain access</li>" in text
    assert not OrganisationToolAccess.objects.filter(organisation=bare).exists()
    assert not AuditEvent.objects.exists()

    assert confirming_post(as_super_admin, page).status_code == 302
    assert OrganisationToolAccess.objects.filter(organisation=bare).count() == 1
    assert UserApplicationAccess.objects.filter(user__organisation=bare).count() == 2
    assert AuditEvent.objects.get(type=AuditType.ACCESS_CHANGED).organisation == bare


def test_nothing_to_do_offers_only_the_way_back(as_admin_a, admin_a):
    page = ask(as_admin_a, USERS, "deactivate_users", [admin_a])

    text = page.content.decode()
    assert "Nothing to do: none of the selected people can be deactivated." in text
    assert "Yes, I’m sure" not in text
    assert "Take me back" in text


def test_no_take_me_back_returns_to_the_filtered_list_and_changes_nothing(
    as_admin_a, member_a_signed_in
):
    query = "?is_active__exact=1"
    page = ask(as_admin_a, USERS, "deactivate_users", [member_a_signed_in], query=query)

    back = reverse(USERS) + query
    assert f'href="{back}" class="button cancel-link">No, take me back</a>' in page.content.decode()
    assert as_admin_a.get(back).status_code == 200
    member_a_signed_in.refresh_from_db()
    assert member_a_signed_in.is_active is True
    assert live_families(member_a_signed_in) == 2
    assert not AuditEvent.objects.filter(type=AuditType.USER_DEACTIVATED).exists()


def test_another_tenants_ids_are_ignored_when_asking_and_when_confirming(
    as_admin_a, member_a, member_b
):
    issue_grant(member_b)
    page = ask(as_admin_a, USERS, "deactivate_users", [member_b])
    assert "Nothing to do" in page.content.decode()
    assert "member@bravo.example" not in page.content.decode()

    forged = as_admin_a.post(
        reverse(USERS),
        {
            "action": "deactivate_users",
            "index": "0",
            "_selected_action": [member_a.pk, member_b.pk],
            "post": "yes",
        },
    )

    assert forged.status_code == 302
    member_a.refresh_from_db()
    member_b.refresh_from_db()
    assert (member_a.is_active, member_b.is_active) == (False, True)
    assert live_families(member_b) == 1
    deactivated = AuditEvent.objects.filter(type=AuditType.USER_DEACTIVATED)
    assert list(deactivated.values_list("user", flat=True)) == [member_a.pk]


def test_confirmation_from_the_change_form(as_super_admin, member_b):
    url = reverse("admin:accounts_user_change", args=[member_b.pk])
    issue_grant(member_b)
    page = as_super_admin.post(
        url, {"CHANGE_FORM-action": "revoke_sessions_and_tokens", "_selected_action": member_b.pk}
    )

    text = page.content.decode()
    assert page.status_code == 200
    assert "lose 1 token family now" in text
    assert f'<a href="{url}">member@bravo.example</a>' in text
    assert 'name="CHANGE_FORM-action" value="revoke_sessions_and_tokens"' in text
    assert 'name="index"' not in text
    assert live_families(member_b) == 1

    done = confirming_post(as_super_admin, page)

    assert (done.status_code, done["Location"]) == (302, url)
    assert live_families(member_b) == 0
    assert AuditEvent.objects.get(type=AuditType.SESSIONS_REVOKED).user == member_b


def test_the_active_box_cannot_deactivate_only_reactivate(as_super_admin, member_b):
    """Deactivation goes through the action, which asks first; the change form's box is
    read-only while the person is active and reactivates them once they are not."""
    url = reverse("admin:accounts_user_change", args=[member_b.pk])
    page = as_super_admin.get(url)
    assert 'name="is_active"' not in page.content.decode()
    data = change_form_data(page, name="Renamed")
    data.pop("is_active", None)
    assert as_super_admin.post(url, data).status_code == 302
    member_b.refresh_from_db()
    assert (member_b.name, member_b.is_active) == ("Renamed", True)

    User.objects.filter(pk=member_b.pk).update(is_active=False)
    page = as_super_admin.get(url)
    assert 'name="is_active"' in page.content.decode()
    assert as_super_admin.post(url, change_form_data(page, is_active="on")).status_code == 302
    member_b.refresh_from_db()
    assert member_b.is_active is True


def test_organisation_deactivation_asks_first_and_counts_its_people(
    as_super_admin, org_a, admin_a, member_a
):
    browser = Client()
    browser.force_login(member_a)
    page = ask(as_super_admin, ORGANISATIONS, "deactivate_organisations", [org_a])

    assert (
        "Deactivate 1 organisation: every request of their 2 people is refused from now on"
        in page.content.decode()
    )
    assert browser.get("/api/v1/auth/me").status_code == 200

    assert confirming_post(as_super_admin, page).status_code == 302
    org_a.refresh_from_db()
    assert org_a.is_active is False
    assert browser.get("/api/v1/auth/me").status_code == 401
    assert LogEntry.objects.get(object_id=str(org_a.pk)).change_message == "Deactivated."


def test_an_operator_cannot_deactivate_their_own_organisation(client, org_a, org_b):
    operator = User.objects.create_user(
        "root@alpha.example", role="super_admin", organisation=org_a
    )
    sign_in(client, operator)
    page = ask(client, ORGANISATIONS, "deactivate_organisations", [org_a, org_b])

    text = page.content.decode()
    assert "Deactivate 1 organisation" in text
    assert "You selected your own organisation: it is left out" in text
    assert "<li>Bravo</li>" in text and "<li>Alpha</li>" not in text
    confirming_post(client, page)
    org_a.refresh_from_db()
    org_b.refresh_from_db()
    assert (org_a.is_active, org_b.is_active) == (True, False)


def test_the_organisation_active_box_cannot_deactivate(as_super_admin, org_a):
    url = reverse("admin:organisations_organisation_change", args=[org_a.pk])
    assert 'name="is_active"' not in as_super_admin.get(url).content.decode()
    Organisation.objects.filter(pk=org_a.pk).update(is_active=False)
    assert 'name="is_active"' in as_super_admin.get(url).content.decode()
