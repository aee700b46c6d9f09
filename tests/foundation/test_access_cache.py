"""The rules of the access cache (organisations/access_cache.py) that a request alone
cannot show: which models it watches, when it is not used, the race it tolerates, reads
inside a transaction, versions that vanish, and a cache that is down."""

import logging
import re
import uuid

import pytest
import redis
from django.apps import apps
from django.core.cache import cache
from django.db import connection, transaction

from organisations import access_cache
from organisations.access import (
    applications_for,
    applications_query,
    features_query,
    grant_default_tool_access,
    grant_member_application_access,
)
from organisations.models import OrganisationToolAccess, Tool, UserApplicationAccess
from tests.api.kit import member
from tests.redis_server import RedisServer

pytestmark = pytest.mark.django_db(transaction=True)


def _codes(user) -> list[str]:
    return [app["code"] for app in applications_for(user)]


def _revoke(user, code="market_edge"):
    UserApplicationAccess.objects.filter(user=user, tool__code=code).update(has_access=False)


@pytest.fixture
def redis_server(settings):
    """The default cache on a Redis of the test's own, which the test may stop."""
    server = RedisServer()
    settings.CACHES = {
        "default": {
            "BACKEND": "django_redis.cache.RedisCache",
            "LOCATION": server.url,
            "KEY_PREFIX": f"access-{uuid.uuid4().hex}",
        }
    }
    yield server
    server.stop()


def test_the_watched_models_are_the_ones_the_access_queries_read():
    """A model these queries read that no version follows would leave stale access."""
    sql = " ".join(str(query(1, 1).query) for query in (applications_query, features_query))
    read = {
        model._meta.label
        for model in apps.get_models()
        if re.search(rf'\b"?{model._meta.db_table}"?\b', sql)
    }
    assert read == set(access_cache.WATCHED)


def test_with_a_cache_of_this_process_only_access_is_read_at_every_request(
    django_assert_num_queries,
):
    """Local memory is the default: a change from another process would never reach it."""
    user = member()
    for _ in range(2):
        with django_assert_num_queries(1):
            assert _codes(user) == ["causal_edge", "market_edge", "value_edge"]


@pytest.mark.parametrize("owner", ["organisation", "user"])
def test_what_a_grant_gives_is_seen_at_the_next_read(redis_cache, owner):
    """The grants write in bulk, which sends no save signal: they move the version
    themselves, the organisation's for its tool access, the person's for theirs."""
    user = member()
    if owner == "organisation":
        rows = OrganisationToolAccess.objects.filter(organisation_id=user.organisation_id)
        grant, argument = grant_default_tool_access, user.organisation
    else:
        rows = UserApplicationAccess.objects.filter(user=user)
        grant, argument = grant_member_application_access, user
    rows.filter(tool__code="market_edge").delete()
    assert _codes(user) == ["causal_edge", "value_edge"]
    assert access_cache.lookup(user.pk, user.organisation_id)[1] is not None  # cached
    grant(argument)
    assert _codes(user) == ["causal_edge", "market_edge", "value_edge"]


def test_a_reader_that_stores_what_it_read_before_a_change_misses_it_after(redis_cache):
    user = member()
    key, rows = access_cache.lookup(user.pk, user.organisation_id)
    assert rows is None
    read_before = (
        list(applications_query(user.pk, user.organisation_id)),
        list(features_query(user.pk, user.organisation_id)),
    )
    _revoke(user)  # commits and bumps
    access_cache.store(key, read_before)  # too late: under the versions of before
    assert _codes(user) == ["causal_edge", "value_edge"]


def test_inside_a_transaction_access_is_read_from_the_database_and_not_stored(redis_cache):
    user = member()
    assert _codes(user) == ["causal_edge", "market_edge", "value_edge"]  # cached
    with transaction.atomic():
        _revoke(user)
        assert _codes(user) == ["causal_edge", "value_edge"]
        transaction.set_rollback(True)
    assert access_cache.lookup(user.pk, user.organisation_id)[1] is None
    assert _codes(user) == ["causal_edge", "market_edge", "value_edge"]


def test_a_version_that_vanished_never_brings_an_older_entry_back(redis_cache):
    """Versions are random tokens: an evicted or expired one is replaced by a new
    token, never by a value that entries were stored under before."""
    user = member()
    user_version = access_cache.version_key("user", user.pk)
    cache.delete(user_version)  # expired: set anew by the next read
    assert _codes(user) == ["causal_edge", "market_edge", "value_edge"]  # cached
    _revoke(user)
    assert _codes(user) == ["causal_edge", "value_edge"]  # cached again
    cache.delete(user_version)  # evicted
    assert _codes(user) == ["causal_edge", "value_edge"]


def test_entries_expire_and_versions_outlive_them(redis_cache):
    user = member()
    _codes(user)
    key, rows = access_cache.lookup(user.pk, user.organisation_id)
    assert rows is not None
    assert 0 < cache.ttl(key) <= access_cache.ENTRY_TTL
    assert cache.ttl(access_cache.EVERYONE) > access_cache.ENTRY_TTL


def test_with_the_cache_down_access_is_read_from_the_database(redis_server, caplog):
    user = member()
    assert _codes(user) == ["causal_edge", "market_edge", "value_edge"]  # cached
    with connection.cursor() as cursor:  # by hand: no version moves
        cursor.execute(
            "DELETE FROM user_application_access WHERE user_id = %s AND tool_id = %s",
            [user.pk, Tool.objects.get(code="value_edge").pk],
        )
    redis_server.stop()
    with caplog.at_level(logging.WARNING, "organisations.access_cache"):
        assert _codes(user) == ["causal_edge", "market_edge"]
    assert "access cache unavailable, reading access from the database" in caplog.text


def test_with_the_cache_down_the_endpoints_answer_as_before(client, redis_server):
    client.force_login(member())
    paths = ("/api/v1/auth/me", "/api/v1/features", "/api/v1/applications")
    warm = [client.get(path).json() for path in paths]
    redis_server.stop()
    for path, body in zip(paths, warm, strict=True):
        response = client.get(path)
        assert (response.status_code, response.json()) == (200, body)


@pytest.mark.parametrize(
    "write",
    ["save in a transaction", "save", "update", "delete", "bulk_create"],
)
def test_with_the_cache_down_a_change_to_access_is_refused_and_written_nowhere(redis_server, write):
    user = member()
    access = UserApplicationAccess.objects.get(user=user, tool__code="market_edge")
    redis_server.stop()
    with pytest.raises(redis.RedisError):
        if write == "save in a transaction":
            with transaction.atomic():
                access.has_access = False
                access.save()
        elif write == "save":
            access.has_access = False
            access.save()
        elif write == "update":
            UserApplicationAccess.objects.filter(pk=access.pk).update(has_access=False)
        elif write == "delete":
            access.delete()
        else:
            UserApplicationAccess.objects.bulk_create(
                [UserApplicationAccess(user=user, tool_id=access.tool_id)],
                ignore_conflicts=True,
            )
    assert UserApplicationAccess.objects.filter(pk=access.pk, has_access=True).exists()
    assert UserApplicationAccess.objects.filter(user=user).count() == 3


def test_a_bump_that_fails_at_commit_is_logged_and_the_change_kept(redis_server, caplog):
    user = member()
    with caplog.at_level(logging.ERROR, "organisations.access_cache"), transaction.atomic():
        _revoke(user)  # bumps now, and registers the bump at commit
        redis_server.stop()
    assert "versions not bumped after commit" in caplog.text
    assert not UserApplicationAccess.objects.get(user=user, tool__code="market_edge").has_access
