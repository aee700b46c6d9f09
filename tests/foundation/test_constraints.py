"""Every invariant of the data model is refused by the database itself.

Rows are written with ``objects.create`` (no model validation) or ``QuerySet.update`` so
that the refusal comes from the database, as it would for a racing request."""

from contextlib import contextmanager
from datetime import timedelta

import pytest
from django.db import IntegrityError, connection, transaction
from django.utils import timezone

from accounts.models import (
    AuditEvent,
    AuditType,
    ExternalIdentity,
    RefreshToken,
    Role,
    SigningKey,
    TokenFamily,
    User,
)
from organisations.models import (
    FeatureFlag,
    Organisation,
    OrganisationDomain,
    OrganisationFeatureOverride,
    OrganisationToolAccess,
    Tool,
    UserApplicationAccess,
    UserFeatureOverride,
)

pytestmark = pytest.mark.django_db


@contextmanager
def refused():
    """Expect the database to refuse the statement; the savepoint keeps the test's
    transaction usable on PostgreSQL."""
    with pytest.raises(IntegrityError), transaction.atomic():
        yield


@pytest.fixture
def organisation():
    return Organisation.objects.create(name="Acme", slug="acme")


@pytest.fixture
def user(organisation):
    return User.objects.create_user("person@acme.example", organisation=organisation)


@pytest.fixture
def tool():
    return Tool.objects.create(code="test_tool", name="Test tool")


@pytest.fixture
def flag():
    return FeatureFlag.objects.create(key="test_flag", name="Test flag")


# --- users and identities ---------------------------------------------------------------


def test_user_email_unique_case_insensitively(user):
    with refused():
        User.objects.create(email="PERSON@Acme.Example", organisation=user.organisation)


def test_users_without_email_may_be_many(organisation):
    User.objects.create(email=None, organisation=organisation)
    User.objects.create(email=None, organisation=organisation)
    assert User.objects.filter(email__isnull=True).count() == 2


def test_user_role_must_be_known(user):
    with refused():
        User.objects.filter(pk=user.pk).update(role="owner")


def test_user_needs_organisation_unless_super_admin(user):
    with refused():
        User.objects.filter(pk=user.pk).update(organisation=None)
    with refused():
        User.objects.create(email="lost@nowhere.example", role=Role.ADMIN, organisation=None)
    User.objects.filter(pk=user.pk).update(role=Role.SUPER_ADMIN, organisation=None)
    assert User.objects.get(pk=user.pk).organisation is None


def test_external_identity_unique_per_issuer_and_subject(user, organisation):
    ExternalIdentity.objects.create(user=user, issuer="https://idp.example/", subject="abc")
    other = User.objects.create_user("other@acme.example", organisation=organisation)
    with refused():
        ExternalIdentity.objects.create(user=other, issuer="https://idp.example/", subject="abc")
    ExternalIdentity.objects.create(user=other, issuer="https://other.example/", subject="abc")


# --- organisations and domains ----------------------------------------------------------


def test_organisation_slug_unique(organisation):
    with refused():
        Organisation.objects.create(name="Acme again", slug="acme")


def test_organisation_slug_not_empty(organisation):
    with refused():
        Organisation.objects.filter(pk=organisation.pk).update(slug="")


def test_organisation_auth0_id_unique_but_many_may_lack_one(organisation):
    Organisation.objects.filter(pk=organisation.pk).update(auth0_org_id="org_1")
    with refused():
        Organisation.objects.create(name="Clone", slug="clone", auth0_org_id="org_1")
    Organisation.objects.create(name="No id 1", slug="no-id-1", auth0_org_id=None)
    Organisation.objects.create(name="No id 2", slug="no-id-2", auth0_org_id=None)
    assert Organisation.objects.filter(auth0_org_id__isnull=True).count() == 2


def test_organisation_plan_must_be_known(organisation):
    with refused():
        Organisation.objects.filter(pk=organisation.pk).update(subscription_plan="platinum")


def test_domain_unique(organisation):
    OrganisationDomain.objects.create(organisation=organisation, domain="acme.example")
    other = Organisation.objects.create(name="Other", slug="other")
    with refused():
        OrganisationDomain.objects.create(organisation=other, domain="acme.example")


def test_domain_stored_lower_case(organisation):
    with refused():
        OrganisationDomain.objects.create(organisation=organisation, domain="Acme.Example")
    domain = OrganisationDomain.objects.create(organisation=organisation, domain="acme.example")
    with refused():
        OrganisationDomain.objects.filter(pk=domain.pk).update(domain="ACME.EXAMPLE")


# --- tools and access -----------------------------------------------------------------


def test_tool_code_unique(tool):
    with refused():
        Tool.objects.create(code="test_tool", name="Duplicate")


def test_tool_default_tier_must_be_known(tool):
    with refused():
        Tool.objects.filter(pk=tool.pk).update(default_tier="platinum")


def test_organisation_tool_access_unique(organisation, tool):
    OrganisationToolAccess.objects.create(organisation=organisation, tool=tool)
    with refused():
        OrganisationToolAccess.objects.create(organisation=organisation, tool=tool)


def test_organisation_tool_access_tier_must_be_known(organisation, tool):
    access = OrganisationToolAccess.objects.create(organisation=organisation, tool=tool)
    with refused():
        OrganisationToolAccess.objects.filter(pk=access.pk).update(tier="platinum")


def test_user_application_access_unique(user, tool):
    UserApplicationAccess.objects.create(user=user, tool=tool)
    with refused():
        UserApplicationAccess.objects.create(user=user, tool=tool)


def test_user_application_access_table_name():
    assert "user_application_access" in connection.introspection.table_names()
    with connection.cursor() as cursor:
        cursor.execute("SELECT COUNT(*) FROM user_application_access")
        assert cursor.fetchone() == (0,)


# --- feature flags ----------------------------------------------------------------------


def test_feature_flag_key_unique(flag):
    with refused():
        FeatureFlag.objects.create(key="test_flag", name="Duplicate")


@pytest.mark.parametrize("percentage", [101, -1])
def test_feature_flag_rollout_between_0_and_100(flag, percentage):
    with refused():
        FeatureFlag.objects.filter(pk=flag.pk).update(rollout_percentage=percentage)


@pytest.mark.parametrize("percentage", [0, 100])
def test_feature_flag_rollout_bounds_accepted(flag, percentage):
    FeatureFlag.objects.filter(pk=flag.pk).update(rollout_percentage=percentage)
    assert FeatureFlag.objects.get(pk=flag.pk).rollout_percentage == percentage


def test_organisation_override_unique(flag, organisation):
    OrganisationFeatureOverride.objects.create(flag=flag, organisation=organisation, enabled=True)
    with refused():
        OrganisationFeatureOverride.objects.create(
            flag=flag, organisation=organisation, enabled=False
        )


def test_user_override_unique(flag, user):
    UserFeatureOverride.objects.create(flag=flag, user=user, enabled=True)
    with refused():
        UserFeatureOverride.objects.create(flag=flag, user=user, enabled=False)


# --- tokens, keys and the audit trail ---------------------------------------------------


def signing_key(kid, current):
    return SigningKey.objects.create(
        kid=kid,
        algorithm="ES256",
        private_key_encrypted=b"ciphertext",
        public_jwk={"kid": kid},
        is_current=current,
    )


def test_only_one_current_signing_key():
    signing_key("one", current=True)
    signing_key("retired-1", current=False)
    signing_key("retired-2", current=False)
    with refused():
        signing_key("two", current=True)
    assert SigningKey.objects.filter(is_current=True).count() == 1


def test_refresh_token_hash_unique(user):
    family = TokenFamily.objects.create(user=user)
    expires = timezone.now() + timedelta(days=1)
    RefreshToken.objects.create(family=family, token_hash="a" * 64, expires_at=expires)
    other_family = TokenFamily.objects.create(user=user)
    with refused():
        RefreshToken.objects.create(family=other_family, token_hash="a" * 64, expires_at=expires)


def test_audit_event_is_append_only(user):
    event = AuditEvent.objects.create(type=AuditType.LOGIN_SUCCEEDED, user=user)
    event.type = AuditType.LOGIN_FAILED
    with pytest.raises(ValueError, match="append-only"):
        event.save()
    assert AuditEvent.objects.get(pk=event.pk).type == AuditType.LOGIN_SUCCEEDED
