"""API.md's identity rules, applied by accounts.upsert: each rule through both ways in,
the atomic unit (``upsert_identity``) for every login followed by the access it leaves
owed (``agrant_pending_access``), and ``aupsert_identity`` (the async ORM for a returning
person, the unit and then the grants for anyone else)."""

import threading
from datetime import timedelta

import pytest
from asgiref.sync import async_to_sync
from django.core.exceptions import FieldFetchBlocked
from django.db import connection
from django.utils import timezone

from accounts.models import AuditEvent, ExternalIdentity, Role, User
from accounts.upsert import (
    LoginRefused,
    RequestMeta,
    agrant_pending_access,
    aupsert_identity,
    find_identity,
    upsert_identity,
)
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


def _through_the_unit(issuer: str, claims: dict):
    """Run the atomic unit, whoever logs in, then grant the access it left owed."""
    upserted = upsert_identity(issuer, claims)
    async_to_sync(agrant_pending_access)(upserted.user)
    return upserted


@pytest.fixture(params=["upsert_identity", "aupsert_identity"])
def upsert(request):
    """Each way into the upsert, called the same way."""
    if request.param == "upsert_identity":
        return _through_the_unit
    return async_to_sync(aupsert_identity)


def _codes(queryset) -> set[str]:
    return set(queryset.values_list("tool__code", flat=True))


def test_new_person_without_org_gets_a_personal_organisation_with_default_access(upsert):
    user = upsert(ISSUER, claims(name="Kim")).user
    assert user.organisation.slug.startswith("personal-")
    assert user.role == Role.VIEWER
    assert OrganisationToolAccess.objects.filter(organisation=user.organisation).count() == 3
    assert UserApplicationAccess.objects.filter(user=user, has_access=True).count() == 3


def test_new_person_with_verified_email_on_a_verified_domain_joins_that_organisation(upsert):
    acme = Organisation.objects.create(name="Acme", slug="acme")
    OrganisationDomain.objects.create(organisation=acme, domain="acme.example", verified=True)
    user = upsert(ISSUER, claims(email="jo@ACME.example")).user
    assert user.organisation == acme


def test_unverified_domain_or_unverified_email_does_not_join(upsert):
    acme = Organisation.objects.create(name="Acme", slug="acme")
    OrganisationDomain.objects.create(organisation=acme, domain="acme.example", verified=True)
    OrganisationDomain.objects.create(organisation=acme, domain="acme.test", verified=False)
    unverified_email = upsert(
        ISSUER, claims("a|1", email="x@acme.example", email_verified=False)
    ).user
    unverified_domain = upsert(ISSUER, claims("a|2", email="y@acme.test")).user
    assert unverified_email.organisation != acme
    assert unverified_domain.organisation != acme


def test_org_id_creates_the_organisation_once_named_from_org_name(upsert):
    first = upsert(ISSUER, claims("a|1", org_id="org_9", org_name="Nine")).user
    second = upsert(
        ISSUER, claims("a|2", email="b@example.com", org_id="org_9", org_name="Nine")
    ).user
    assert first.organisation == second.organisation
    assert first.organisation.name == "Nine"
    assert Organisation.objects.filter(auth0_org_id="org_9").count() == 1


def test_person_is_identified_by_issuer_and_sub_not_email(upsert):
    user = upsert(ISSUER, claims("a|1")).user
    other_issuer = upsert(
        "https://other.example/", claims("a|1", email="someone@else.example")
    ).user
    assert other_issuer != user


def test_verified_email_links_a_new_identity_to_the_verified_local_user(upsert):
    user = upsert(ISSUER, claims("google-oauth2|1")).user
    linked = upsert(ISSUER, claims("auth0|1")).user
    assert linked == user
    assert ExternalIdentity.objects.filter(user=user).count() == 2


def test_unverified_email_never_links_to_an_existing_user(upsert):
    user = upsert(ISSUER, claims("google-oauth2|1")).user
    intruder = upsert(ISSUER, claims("auth0|evil", email_verified=False)).user
    assert intruder != user
    assert intruder.email is None


def test_unverified_email_cannot_squat_an_address_its_owner_claims_later(upsert):
    squatter = upsert(ISSUER, claims("auth0|evil", email_verified=False)).user
    owner = upsert(ISSUER, claims("google-oauth2|kim")).user
    assert owner != squatter
    assert owner.email == "kim@example.com"


def test_email_does_not_link_to_an_operator_whose_email_was_never_verified(upsert):
    operator = User.objects.create_superuser("kim@example.com", "pw")
    user = upsert(ISSUER, claims()).user
    assert user != operator
    operator.refresh_from_db()
    assert operator.role == Role.SUPER_ADMIN


def test_profile_is_refreshed_and_unchanged_fields_are_not_written(upsert):
    user = upsert(ISSUER, claims(name="Kim", picture="https://img/1")).user
    stamp = user.updated_at
    again = upsert(ISSUER, claims(name="Kim", picture="https://img/1")).user
    assert again.updated_at == stamp
    renamed = upsert(ISSUER, claims(name="Kim Lee", picture="https://img/1")).user
    assert renamed.name == "Kim Lee" and renamed.updated_at > stamp


def test_existing_user_keeps_their_organisation_without_org_id(upsert):
    user = upsert(ISSUER, claims()).user
    again = upsert(ISSUER, claims()).user
    assert again.organisation_id == user.organisation_id


def test_org_id_moves_the_user_and_grants_the_new_organisations_applications(upsert):
    user = upsert(ISSUER, claims()).user
    moved = upsert(ISSUER, claims(org_id="org_new", org_name="New")).user
    assert moved.pk == user.pk
    assert moved.organisation.auth0_org_id == "org_new"
    assert UserApplicationAccess.objects.filter(user=moved).count() == 3


def test_the_unit_creates_a_person_and_organisation_whose_access_is_owed():
    user = upsert_identity(ISSUER, claims()).user
    assert User.objects.filter(pk=user.pk, access_pending=True).exists()
    assert Organisation.objects.filter(pk=user.organisation_id, access_pending=True).exists()
    assert not OrganisationToolAccess.objects.filter(organisation_id=user.organisation_id).exists()
    assert not UserApplicationAccess.objects.filter(user=user).exists()


def test_access_owed_since_a_failed_grant_step_is_granted_at_the_next_login(upsert):
    """The unit committed, then granting failed (the cache or the database went away):
    the person got no access. Their next login grants it and clears the markers."""
    upsert_identity(ISSUER, claims())
    user = upsert(ISSUER, claims()).user
    assert len(_codes(OrganisationToolAccess.objects.filter(organisation=user.organisation))) == 3
    assert len(_codes(UserApplicationAccess.objects.filter(user=user))) == 3
    assert not User.objects.filter(access_pending=True).exists()
    assert not Organisation.objects.filter(access_pending=True).exists()
    assert not (user.access_pending or user.organisation.access_pending)


def test_a_member_joining_an_organisation_whose_access_is_owed_gets_it_too(upsert):
    first = upsert_identity(ISSUER, claims("a|1", org_id="org_9")).user
    second = upsert(ISSUER, claims("a|2", email="b@example.com", org_id="org_9")).user
    assert second.organisation_id == first.organisation_id
    assert len(_codes(UserApplicationAccess.objects.filter(user=second))) == 3
    assert User.objects.get(pk=first.pk).access_pending  # owed until their own next login


def test_access_an_admin_removed_is_not_given_back_at_the_next_login(upsert):
    user = upsert(ISSUER, claims()).user
    UserApplicationAccess.objects.filter(user=user, tool__code="market_edge").delete()
    OrganisationToolAccess.objects.filter(
        organisation=user.organisation, tool__code="value_edge"
    ).delete()
    upsert(ISSUER, claims(name="Kim"))
    assert _codes(UserApplicationAccess.objects.filter(user=user)) == {
        "causal_edge",
        "value_edge",
    }
    assert _codes(OrganisationToolAccess.objects.filter(organisation=user.organisation)) == {
        "causal_edge",
        "market_edge",
    }


def test_deactivated_user_is_refused_and_nothing_is_written(upsert):
    user = upsert(ISSUER, claims(name="Kim")).user
    User.objects.filter(pk=user.pk).update(is_active=False)
    events = AuditEvent.objects.count()
    with pytest.raises(LoginRefused) as refused:
        upsert(ISSUER, claims(name="Changed"))
    assert refused.value.code == "account_inactive"
    user.refresh_from_db()
    assert user.name == "Kim"
    assert AuditEvent.objects.count() == events


def test_deactivated_organisation_is_refused(upsert):
    user = upsert(ISSUER, claims()).user
    Organisation.objects.filter(pk=user.organisation_id).update(is_active=False)
    with pytest.raises(LoginRefused) as refused:
        upsert(ISSUER, claims())
    assert refused.value.code == "organisation_inactive"


def test_identity_keeps_a_snapshot_without_secrets_and_the_last_login(upsert):
    upsert(ISSUER, claims(nonce="n", at_hash="h", org_id="org_1"))
    identity = ExternalIdentity.objects.get()
    assert "nonce" not in identity.claims and "at_hash" not in identity.claims
    assert identity.claims["org_id"] == "org_1"
    assert timezone.now() - identity.last_login_at < timedelta(seconds=5)


def test_a_new_email_another_user_holds_is_not_taken(upsert):
    upsert(ISSUER, claims("auth0|other", email="jo@example.com"))
    user = upsert(ISSUER, claims()).user
    again = upsert(ISSUER, claims(email="jo@example.com")).user
    assert again.pk == user.pk and again.email == "kim@example.com"
    assert User.objects.filter(email__iexact="jo@example.com").count() == 1


def test_a_returning_login_reads_once_and_writes_only_the_identity(
    django_assert_num_queries,
):
    """Nothing is owed: the markers, read with the identity, cost no query."""
    async_to_sync(aupsert_identity)(ISSUER, claims(name="Kim"))
    with django_assert_num_queries(2):
        async_to_sync(aupsert_identity)(ISSUER, claims(name="Kim"))


def test_what_the_login_did_not_load_raises_instead_of_querying():
    upsert_identity(ISSUER, claims())
    identity = find_identity(ISSUER, "auth0|1")
    assert identity.user.organisation.is_active
    with pytest.raises(FieldFetchBlocked):
        identity.claims


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_fifty_concurrent_first_logins_make_exactly_one_of_everything():
    barrier = threading.Barrier(50)
    results, errors = [], []

    def login():
        try:
            barrier.wait()
            upserted = async_to_sync(aupsert_identity)(ISSUER, claims("auth0|race", name="Race"))
            results.append(upserted.user.pk)
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
    assert not User.objects.filter(access_pending=True).exists()
    assert not Organisation.objects.filter(access_pending=True).exists()
