"""accounts/compiled.py: a queryset compiled once gives, for any values, the rows the
ORM gives (the fast lane relies on it). Run through Django's own cursor: the single
queries on both engines, the batch (PostgreSQL's SQL) on PostgreSQL."""

from datetime import timedelta

import pytest
from django.db import connection
from django.utils import timezone

from accounts.bearer import app_token_family_query
from accounts.compiled import CompiledBatch, CompiledQuery
from accounts.models import Role, TokenFamily, User
from organisations.access import applications_query, features_query, setup_organisation_access
from organisations.models import (
    FeatureFlag,
    Organisation,
    OrganisationFeatureOverride,
    OrganisationToolAccess,
    UserFeatureOverride,
)

pytestmark = pytest.mark.django_db

ACCESS = {"user_id": User._meta.pk, "organisation_id": Organisation._meta.pk}


def _run(compiled, **values):
    with connection.cursor() as cursor:
        cursor.execute(compiled.sql, compiled.params(**values))
        return compiled.rows(cursor.fetchall())


@pytest.fixture
def members():
    """Two members of two organisations, with JSON access rows and every kind of flag
    override (a user's, an organisation's, an expiring one)."""
    people = []
    for slug in ("acme", "globex"):
        organisation = Organisation.objects.create(name=slug.title(), slug=slug)
        member = User.objects.create_user(f"a@{slug}.example", organisation=organisation)
        setup_organisation_access(organisation)
        OrganisationToolAccess.objects.filter(organisation=organisation).update(
            limits={"seats": len(slug)}, features=[slug]
        )
        people.append(member)
    flag = FeatureFlag.objects.create(key="beta", name="Beta", enabled=True, rollout_percentage=0)
    UserFeatureOverride.objects.create(
        user=people[0], flag=flag, enabled=True, expires_at=timezone.now() + timedelta(days=1)
    )
    OrganisationFeatureOverride.objects.create(
        organisation=people[1].organisation, flag=flag, enabled=False
    )
    return people


def test_compiled_queries_give_the_orm_s_rows_for_any_values(members):
    applications = CompiledQuery(applications_query, **ACCESS)
    features = CompiledQuery(features_query, **ACCESS)
    for query in (applications, features):
        query.compile(connection)
    for member in members:
        values = {"user_id": member.pk, "organisation_id": member.organisation_id}
        assert _run(applications, **values) == list(applications_query(**values))
        assert _run(features, **values) == list(features_query(**values))
    assert _run(features, **values)  # rows with datetimes and booleans were compared


@pytest.mark.postgres
def test_a_batch_gives_each_query_its_own_rows_in_its_own_order(members):
    family = TokenFamily.objects.create(user=members[0])
    principal = CompiledQuery(app_token_family_query, family_id=TokenFamily._meta.pk)
    batch = CompiledBatch(
        principal,
        CompiledQuery(applications_query, **ACCESS),
        CompiledQuery(features_query, **ACCESS),
    )
    batch.compile(connection)
    values = {"user_id": members[0].pk, "organisation_id": members[0].organisation_id}
    with connection.cursor() as cursor:
        cursor.execute(batch.sql, batch.params({"family_id": family.pk}, values, values))
        rows = batch.rows(cursor.fetchall())
    assert rows == [
        list(app_token_family_query(family.pk)),
        list(applications_query(**values)),
        list(features_query(**values)),
    ]
    assert len(rows[1]) > 1  # the order of several rows was compared


def test_a_value_that_does_not_reach_the_sql_is_refused_at_compile_time():
    compiled = CompiledQuery(
        lambda user_id: User.objects.filter(role=Role.VIEWER), user_id=User._meta.pk
    )
    with pytest.raises(ValueError, match="user_id does not reach the compiled SQL"):
        compiled.compile(connection)
