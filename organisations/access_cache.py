"""A person's access (the rows of ``access.applications_query`` and ``features_query``)
in the shared cache, under versioned keys, so that a warm request reads no access rows
from the database and every change to those rows is seen at the person's next request.

Keys. The rows depend on three things, each with a version in the cache: everyone's
(tools and feature flags), the organisation's (its tool access and flag overrides) and
the person's own (their application access and flag overrides); ``WATCHED`` says which
model moves which version, and a test holds it equal to the tables the two queries read.
An entry's key is the user, the organisation they are in now and the three versions,
read with one ``get_many``: moving a person to another organisation changes the key by
itself. A version is a random token, never a counter, so a version that expired or was
evicted comes back as a value no entry was ever stored under.

Invalidation is one write: a change sets new tokens for the versions it moves (one
``set_many``), and the entries under the old ones are never read again; they expire
after ``ENTRY_TTL``. Every write path of the ORM bumps: ``save()`` and ``delete()``
(cascades included) through signals, ``update()`` and ``bulk_create()`` through
``AccessQuerySet``. The bump that counts is made once the transaction commits: a reader
that read the versions before it may still store what it read from the database under
the old versions, but nobody reads those keys again, so the race is harmless; a reader
after it misses and reads the committed rows. Reads inside a transaction go to the
database and store nothing, since the transaction may hold uncommitted changes.

A bump that cannot be written. Each transaction also bumps at its first change, before
it commits: with the cache down, that write raises and the change is rolled back (the
API answers 503), so no change is committed that readers would not see. What remains is
a cache that fails between that write and the commit's (logged); then an entry cached
in between may be served until ``ENTRY_TTL``, as may one after a write that bypasses the
ORM (SQL by hand, a migration). A read that cannot reach the cache reads the database.

Time. The entry holds the rows, overrides' expiry included, and each request evaluates
them at its own ``now`` (``access.features_from_rows``): an override that expires stops
applying at that instant, whatever the entry's age, and rollout buckets are per user.

Only a cache that every process shares is used: with local memory (the default), or the
dummy cache, a change made by another process (a management command, a second worker)
could not reach it, so access is read from the database at every request.
"""

import logging
import secrets
from dataclasses import dataclass

import redis
from django.apps import apps
from django.core.cache.backends.dummy import DummyCache
from django.core.cache.backends.locmem import LocMemCache
from django.db import models, transaction
from django.db.models.signals import post_delete, post_save, pre_save

from authsite.db import thread_cache

logger = logging.getLogger(__name__)

ENTRY_TTL = 300
# Versions outlive entries; one that expires only makes its entries unreachable.
VERSION_TTL = 86_400
EVERYONE = "access:v:everyone"
# What a cache that cannot be reached raises (django-redis re-raises redis-py's errors).
CACHE_ERRORS = (redis.RedisError,)


@dataclass(frozen=True)
class Scope:
    """Whose access a model's rows decide: everyone's (``kind`` None), or that of the
    organisation or the user its ``field`` names."""

    kind: str | None = None
    field: str | None = None

    @property
    def owner(self) -> str:
        """Return the name of the attribute holding the owner's id."""
        return f"{self.field}_id"

    def keys_of(self, obj) -> set[str]:
        if self.kind is None:
            return {EVERYONE}
        return {version_key(self.kind, getattr(obj, self.owner))}


WATCHED = {
    "organisations.Tool": Scope(),
    "organisations.FeatureFlag": Scope(),
    "organisations.OrganisationToolAccess": Scope("organisation", "organisation"),
    "organisations.OrganisationFeatureOverride": Scope("organisation", "organisation"),
    "organisations.UserApplicationAccess": Scope("user", "user"),
    "organisations.UserFeatureOverride": Scope("user", "user"),
}


def version_key(kind: str, pk) -> str:
    return f"access:v:{kind}:{pk}"


def _scope(model) -> Scope:
    return WATCHED[model._meta.concrete_model._meta.label]


def _shared() -> bool:
    return not isinstance(thread_cache(), (LocMemCache, DummyCache))


# --- reading --------------------------------------------------------------------------


def lookup(user_id, organisation_id):
    """Return (key, rows): the key of the person's access now and their cached rows, or
    None on a miss. Return (None, None) when their access must be read from the database
    and not stored: inside a transaction, with a cache that is not shared, or while the
    cache cannot be reached."""
    if not _shared() or transaction.get_connection().in_atomic_block:
        return None, None
    try:
        key = _entry_key(user_id, organisation_id)
        return key, None if key is None else thread_cache().get(key)
    except CACHE_ERRORS as exc:
        logger.warning("access cache unavailable, reading access from the database: %s", exc)
        return None, None


def store(key: str, rows) -> None:
    """Cache ``rows`` read from the database after ``lookup`` gave ``key``."""
    try:
        thread_cache().set(key, rows, ENTRY_TTL)
    except CACHE_ERRORS as exc:
        logger.warning("access cache unavailable, access not cached: %s", exc)


def _entry_key(user_id, organisation_id) -> str | None:
    """Return the key of the person's access under the current versions, setting a
    missing version to a new token; return None if another request or a change set it
    first (then read, but do not store)."""
    keys = [EVERYONE, version_key("organisation", organisation_id), version_key("user", user_id)]
    cache = thread_cache()
    versions = cache.get_many(keys)
    for key in keys:
        if key not in versions:
            token = secrets.token_hex(8)
            if not cache.add(key, token, VERSION_TTL):
                return None
            versions[key] = token
    return ":".join(["access", str(user_id), str(organisation_id), *map(versions.get, keys)])


# --- invalidating ---------------------------------------------------------------------


def _bump(keys) -> None:
    thread_cache().set_many(dict.fromkeys(keys, secrets.token_hex(8)), VERSION_TTL)


class _OnCommit:
    """The bump a transaction makes when it commits: one ``set_many`` of every version
    its changes moved."""

    def __init__(self, keys):
        self.keys = set(keys)

    def __call__(self):
        try:
            _bump(self.keys)
        except CACHE_ERRORS as exc:
            logger.error("access cache unavailable, versions not bumped after commit: %s", exc)


def changed(keys) -> None:
    """Bump ``keys`` for a change just written. In a transaction, once it commits (and
    now, at its first change, so that a cache that is down fails the transaction);
    otherwise now. Raise CACHE_ERRORS from the bump made now."""
    if not keys or not _shared():
        return
    connection = transaction.get_connection()
    if not connection.in_atomic_block:
        _bump(keys)
        return
    for _, callback, _ in connection.run_on_commit:
        if isinstance(callback, _OnCommit):
            callback.keys.update(keys)
            return
    _bump(keys)
    transaction.on_commit(_OnCommit(keys))


class AccessQuerySet(models.QuerySet):
    """The bulk writes the project uses, which Django sends no signal for, bumping the
    versions of what they change."""

    def update(self, **kwargs):
        if not _shared():
            return super().update(**kwargs)
        scope = _scope(self.model)
        with transaction.atomic(using=self.db, savepoint=False):
            if scope.kind is None:
                updated = super().update(**kwargs)
                changed({EVERYONE})
                return updated
            # The rows matched, locked, and updated by key: a row inserted meanwhile is
            # not updated unseen.
            rows = dict(self.select_for_update(of=("self",)).values_list("pk", scope.owner))
            updated = self.model._base_manager.filter(pk__in=rows).update(**kwargs)
            keys = {version_key(scope.kind, owner) for owner in rows.values()}
            if scope.field in kwargs or scope.owner in kwargs:
                keys.add(EVERYONE)  # rows moved to owners not known here
            changed(keys)
        return updated

    def bulk_create(self, objs, *args, **kwargs):
        with transaction.atomic(using=self.db, savepoint=False):
            created = super().bulk_create(objs, *args, **kwargs)
            scope = _scope(self.model)
            changed(set().union(*(scope.keys_of(obj) for obj in created)))
        return created


def _before_save(sender, instance, update_fields=None, **kwargs):
    """Remember the owner a row had, in case the save moves it to another; outside a
    transaction, bump before the row is written, so that a cache that is down refuses
    the save."""
    if not _shared():
        return
    scope = _scope(sender)
    keys = scope.keys_of(instance) | _stored_keys(scope, sender, instance, update_fields)
    instance._access_keys_before = keys
    if not transaction.get_connection().in_atomic_block:
        _bump(keys)


def _stored_keys(scope: Scope, model, instance, update_fields) -> set[str]:
    """Return the version key of the owner a row has in the database, if saving it may
    change it."""
    if scope.kind is None or instance.pk is None:
        return set()
    if update_fields is not None and not {scope.field, scope.owner} & set(update_fields):
        return set()
    stored = model._base_manager.filter(pk=instance.pk).values_list(scope.owner, flat=True)
    return {version_key(scope.kind, owner) for owner in stored}


def _after_save(sender, instance, **kwargs):
    changed(_scope(sender).keys_of(instance) | instance.__dict__.pop("_access_keys_before", set()))


def _after_delete(sender, instance, **kwargs):
    changed(_scope(sender).keys_of(instance))


def connect() -> None:
    """Connect the receivers that bump versions to the WATCHED models' signals."""
    for label in WATCHED:
        model = apps.get_model(label)
        for signal, receiver in (
            (pre_save, _before_save),
            (post_save, _after_save),
            (post_delete, _after_delete),
        ):
            signal.connect(
                receiver, sender=model, dispatch_uid=f"access-cache-{receiver.__name__}-{label}"
            )
