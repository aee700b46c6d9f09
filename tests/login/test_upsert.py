"""API.md's identity rules, applied by accounts.upsert as one atomic unit."""

import threading
from datetime import timedelta

import pytest
from django.db import connection
from django.utils import timezone

from accounts.models import AuditEvent, ExternalIdentity, Role, User
from accounts.upsert import LoginRefused, RequestMeta, upsert_identity
from organisations.models import (
    Organisation,
    OrganisationDomain,
    OrganisationToolAccess,
    UserApplicationAccess,
)

ISSUER = "https://tenant.example/"
META = RequestMeta(ip="203.0.113.9", user_agent="pytest")


def claims(sub="auth0|1", **extra):
    base = {"iss": ISSUER, "sub": sub, "email": "kim@example.com", "email_verified": True}
    base.update(extra)
    return {key: value for key, value in base.items() if value is not None}


pytestmark = pytest.mark.django_db


def test_new_person_without_org_gets_a_personal_organisation_with_default_access():
    user = upsert_identity(ISSUER, claims(name="Kim")).user
    assert user.organisation.slug.startswith("personal-")
    assert user.role == Role.VIEWER
    assert OrganisationToolAccess.objects.filter(organisation=user.organisation).count() == 3
    assert UserApplicationAccess.objects.filter(user=user, has_access=True).count() == 3


def test_new_person_with_verified_email_on_a_verified_domain_joins_that_organisation():
    acme = Organisation.objects.create(name="Acme", slug="acme")
    OrganisationDomain.objects.create(organisation=acme, domain="acme.example", verified=True)
    user = upsert_identity(ISSUER, claims(email="jo@ACME.example")).user
    assert user.organisation == acme


def test_unverified_domain_or_unverified_email_does_not_join():
    acme = Organisation.objects.create(name="Acme", slug="acme")
    OrganisationDomain.objects.create(organisation=acme, domain="acme.example", verified=True)
    OrganisationDomain.objects.create(organisation=acme, domain="acme.test", verified=False)
    unverified_email = upsert_identity(
        ISSUER, claims("a|1", email="x@acme.example", email_verified=False)
    ).user
    unverified_domain = upsert_identity(ISSUER, claims("a|2", email="y@acme.test")).user
    assert unverified_email.organisation != acme
    assert unverified_domain.organisation != acme


def test_org_id_creates_the_organisation_once_named_from_org_name():
    first = upsert_identity(ISSUER, claims("a|1", org_id="org_9", org_name="Nine")).user
    second = upsert_identity(
        ISSUER, claims("a|2", email="b@example.com", org_id="org_9", org_name="Nine")
    ).user
    assert first.organisation == second.organisation
    assert first.organisation.name == "Nine"
    assert Organisation.objects.filter(auth0_org_id="org_9").count() == 1


def test_person_is_identified_by_issuer_and_sub_not_email():
    user = upsert_identity(ISSUER, claims("a|1")).user
    other_issuer = upsert_identity(
        "https://other.example/", claims("a|1", email="someone@else.example")
    ).user
    assert other_issuer != user


def test_verified_email_links_a_new_identity_to_the_verified_local_user():
    user = upsert_identity(ISSUER, claims("google-oauth2|1")).user
    linked = upsert_identity(ISSUER, claims("auth0|1")).user
    assert linked == user
    assert ExternalIdentity.objects.filter(user=user).count() == 2


def test_unverified_email_never_links_to_an_existing_user():
    user = upsert_identity(ISSUER, claims("google-oauth2|1")).user
    intruder = upsert_identity(ISSUER, claims("auth0|evil", email_verified=False)).user
    assert intruder != user
    assert intruder.email is None


def test_unverified_email_cannot_squat_an_address_its_owner_claims_later():
    squatter = upsert_identity(ISSUER, claims("auth0|evil", email_verified=False)).user
    owner = upsert_identity(ISSUER, claims("google-oauth2|kim")).user
    assert owner != squatter
    assert owner.email == "kim@example.com"


def test_email_does_not_link_to_an_operator_whose_email_was_never_verified():
    operator = User.objects.create_superuser("kim@example.com", "pw")
    user = upsert_identity(ISSUER, claims()).user
    assert user != operator
    operator.refresh_from_db()
    assert operator.role == Role.SUPER_ADMIN


def test_profile_is_refreshed_and_unchanged_fields_are_not_written():
    user = upsert_identity(ISSUER, claims(name="Kim", picture="https://img/1")).user
    stamp = user.updated_at
    again = upsert_identity(ISSUER, claims(name="Kim", picture="https://img/1")).user
    assert again.updated_at == stamp
    renamed = upsert_identity(ISSUER, claims(name="Kim Lee", picture="https://img/1")).user
    assert renamed.name == "Kim Lee" and renamed.updated_at > stamp


def test_existing_user_keeps_their_organisation_without_org_id():
    user = upsert_identity(ISSUER, claims()).user
    again = upsert_identity(ISSUER, claims()).user
    assert again.organisation_id == user.organisation_id


def test_org_id_moves_the_user_and_grants_the_new_organisations_applications():
    user = upsert_identity(ISSUER, claims()).user
    moved = upsert_identity(ISSUER, claims(org_id="org_new", org_name="New")).user
    assert moved.pk == user.pk
    assert moved.organisation.auth0_org_id == "org_new"
    assert UserApplicationAccess.objects.filter(user=moved).count() == 3


def test_deactivated_user_is_refused_and_nothing_is_written():
    user = upsert_identity(ISSUER, claims(name="Kim")).user
    User.objects.filter(pk=user.pk).update(is_active=False)
    events = AuditEvent.objects.count()
    with pytest.raises(LoginRefused) as refused:
        upsert_identity(ISSUER, claims(name="Changed"))
    assert refused.value.code == "account_inactive"
    user.refresh_from_db()
    assert user.name == "Kim"
    assert AuditEvent.objects.count() == events


def test_deactivated_organisation_is_refused():
    user = upsert_identity(ISSUER, claims()).user
    Organisation.objects.filter(pk=user.organisation_id).update(is_active=False)
    with pytest.raises(LoginRefused) as refused:
        upsert_identity(ISSUER, claims())
    assert refused.value.code == "organisation_inactive"


def test_identity_keeps_a_snapshot_without_secrets_and_the_last_login():
    upsert_identity(ISSUER, claims(nonce="n", at_hash="h", org_id="org_1"))
    identity = ExternalIdentity.objects.get()
    assert "nonce" not in identity.claims and "at_hash" not in identity.claims
    assert identity.claims["org_id"] == "org_1"
    assert timezone.now() - identity.last_login_at < timedelta(seconds=5)


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_fifty_concurrent_first_logins_make_exactly_one_of_everything():
    barrier = threading.Barrier(50)
    results, errors = [], []

    def login():
        try:
            barrier.wait()
            results.append(upsert_identity(ISSUER, claims("auth0|race", name="Race")).user.pk)
        except Exception as exc:
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=login) for _ in range(50)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    assert len(results) == 50 and len(set(results)) == 1
    assert User.objects.count() == 1
    assert ExternalIdentity.objects.count() == 1
    assert Organisation.objects.count() == 1
    assert OrganisationToolAccess.objects.count() == 3
    assert UserApplicationAccess.objects.count() == 3
