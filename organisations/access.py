"""Default tool access, application access and feature-flag evaluation.

A person's access is read through the shared cache (``access_rows``, with
organisations.access_cache), and every write here invalidates what it changes there.
A caller with an app access token on PostgreSQL reads it with the token's own lookup
instead, in one statement (``AccessRead``, accounts.api.bearer): no cache is cheaper.

Writes are idempotent and race-safe: unique constraints plus INSERT … ON CONFLICT DO
NOTHING (``bulk_create(ignore_conflicts=True)``), so concurrent callers can never
create a second row.
"""

import hashlib
from collections import Counter
from dataclasses import dataclass
from datetime import datetime

from django.contrib.auth import get_user_model
from django.db import connection, transaction
from django.db.models import FilteredRelation, Q

from authsite.compiled import CompiledQuery

from . import access_cache
from .models import (
    FeatureFlag,
    Organisation,
    OrganisationToolAccess,
    Tool,
    UserApplicationAccess,
)


def default_tool_access(organisation_id, tool: Tool) -> OrganisationToolAccess:
    """Return an unsaved access row with the tool's default tier, features and limits."""
    return OrganisationToolAccess(
        organisation_id=organisation_id,
        tool=tool,
        tier=tool.default_tier,
        features=list(tool.default_features),
        limits=dict(tool.default_limits),
    )


def _missing_default_tools(organisation_id):
    """Return the queryset of the active default tools the organisation has no access row
    for, enabled or not."""
    return Tool.objects.filter(is_active=True, is_default=True).exclude(
        organisation_access__organisation_id=organisation_id
    )


def grant_default_tool_access(organisation: Organisation) -> list[Tool]:
    """Give the organisation one access row per active default tool it lacks, with the
    tool's default tier, features and limits. Return the tools newly granted."""
    tools = list(_missing_default_tools(organisation.pk))
    OrganisationToolAccess.objects.bulk_create(
        [default_tool_access(organisation.pk, tool) for tool in tools], ignore_conflicts=True
    )
    return tools


def _missing_applications(user):
    """Return the queryset of the ids of the tools the user's organisation has enabled
    (active tools) and the user has no application access row for, granted or not."""
    return (
        OrganisationToolAccess.objects.filter(
            organisation_id=user.organisation_id, enabled=True, tool__is_active=True
        )
        .exclude(tool__user_access__user_id=user.pk)
        .order_by("tool_id")
        .values_list("tool_id", flat=True)
    )


def _application_access(user, tool_ids, granted_by=None) -> list[UserApplicationAccess]:
    """Return unsaved application access rows of the user to the tools ``tool_ids``."""
    return [
        UserApplicationAccess(user=user, tool_id=tool_id, granted_by=granted_by)
        for tool_id in tool_ids
    ]


def grant_member_application_access(user, granted_by=None) -> list[int]:
    """Give the user application access to every tool their organisation has enabled
    and they lack. Return the ids of the tools newly granted."""
    if user.organisation_id is None:
        return []
    tool_ids = list(_missing_applications(user))
    UserApplicationAccess.objects.bulk_create(
        _application_access(user, tool_ids, granted_by), ignore_conflicts=True
    )
    return tool_ids


def setup_organisation_access(organisation: Organisation) -> tuple[list[Tool], int]:
    """Grant the organisation its default tool access, then every member their
    application access, as one atomic unit. Return (tools granted, member grants made)."""
    with transaction.atomic():
        tools = grant_default_tool_access(organisation)
        grants = 0
        for member in organisation.members.all():
            grants += len(grant_member_application_access(member))
    return tools, grants


@dataclass(frozen=True)
class Backfill:
    """What ``backfill_access`` granted one organisation (or, in a dry run, would)."""

    organisation_id: int
    tool_access: int
    application_access: int
    people: int
    """Members who gain application access to at least one tool."""


def backfill_access(organisation_ids, *, dry_run: bool = False) -> list[Backfill]:
    """Grant what ``setup_organisation_access`` would to a batch of organisations, in a
    constant number of queries whatever the batch holds (four reads, then two INSERT …
    ON CONFLICT DO NOTHING), under one transaction. Return one ``Backfill`` per
    organisation, in the order given.

    What is missing is worked out from the reads alone, so ``dry_run`` reports exactly
    what a real run would grant and writes nothing. Counts are the rows found missing; a
    row a concurrent request inserts first is skipped by the database, never doubled.
    """
    organisation_ids = list(organisation_ids)
    members = get_user_model()._default_manager
    with transaction.atomic():
        defaults = list(Tool.objects.filter(is_active=True, is_default=True))
        existing = set()
        enabled = {organisation_id: set() for organisation_id in organisation_ids}
        for organisation_id, tool_id, is_enabled, tool_active in (
            OrganisationToolAccess.objects.filter(organisation_id__in=organisation_ids)
            .values_list("organisation_id", "tool_id", "enabled", "tool__is_active")
            .order_by()
        ):
            existing.add((organisation_id, tool_id))
            if is_enabled and tool_active:
                enabled[organisation_id].add(tool_id)
        tool_rows = [
            default_tool_access(organisation_id, tool)
            for organisation_id in organisation_ids
            for tool in defaults
            if (organisation_id, tool.pk) not in existing
        ]
        # New rows are enabled, for active tools: members get them too.
        for row in tool_rows:
            enabled[row.organisation_id].add(row.tool_id)
        people = list(
            members.filter(organisation_id__in=organisation_ids)
            .values_list("pk", "organisation_id")
            .order_by()
        )
        granted = set(
            UserApplicationAccess.objects.filter(user__organisation_id__in=organisation_ids)
            .values_list("user_id", "tool_id")
            .order_by()
        )
        application_rows = [
            UserApplicationAccess(user_id=user_id, tool_id=tool_id)
            for user_id, organisation_id in people
            for tool_id in sorted(enabled[organisation_id])
            if (user_id, tool_id) not in granted
        ]
        if not dry_run:
            OrganisationToolAccess.objects.bulk_create(tool_rows, ignore_conflicts=True)
            UserApplicationAccess.objects.bulk_create(application_rows, ignore_conflicts=True)
    tools_per_organisation = Counter(row.organisation_id for row in tool_rows)
    member_of = dict(people)
    applications_per_organisation = Counter(member_of[row.user_id] for row in application_rows)
    people_per_organisation = Counter(
        member_of[user_id] for user_id in {row.user_id for row in application_rows}
    )
    return [
        Backfill(
            organisation_id,
            tools_per_organisation[organisation_id],
            applications_per_organisation[organisation_id],
            people_per_organisation[organisation_id],
        )
        for organisation_id in organisation_ids
    ]


# --- feature flags --------------------------------------------------------------------


@dataclass(frozen=True)
class Override:
    enabled: bool
    expires_at: datetime | None

    def applies(self, now: datetime) -> bool:
        return self.expires_at is None or self.expires_at > now


def rollout_bucket(user_id, key: str) -> int:
    """Return a stable bucket in 0..99 for (user, flag), the same in every process and
    every release (sha256)."""
    digest = hashlib.sha256(f"{key}:{user_id}".encode()).digest()
    return int.from_bytes(digest[:8], "big") % 100


def evaluate_flag(
    *,
    key: str,
    enabled: bool,
    rollout_percentage: int,
    user_id,
    now: datetime,
    user_override: Override | None = None,
    organisation_override: Override | None = None,
) -> bool:
    """Return whether the flag is on for the user: off when disabled; else as an
    unexpired user override says; else an unexpired organisation override; else the
    rollout bucket."""
    if not enabled:
        return False
    if user_override is not None and user_override.applies(now):
        return user_override.enabled
    if organisation_override is not None and organisation_override.applies(now):
        return organisation_override.enabled
    return rollout_bucket(user_id, key) < rollout_percentage


def features_query(user_id, organisation_id):
    """Return every flag with the user's and the organisation's override for it, if any,
    joined once (each is unique per flag): one query. The one definition of it; Django's
    path and ``authsite.fastlane`` run the SQL Django compiles from it (``FEATURES``)."""
    return (
        FeatureFlag.objects.order_by("key")
        .annotate(
            user_override=FilteredRelation(
                "user_overrides", condition=Q(user_overrides__user_id=user_id)
            ),
            org_override=FilteredRelation(
                "organisation_overrides",
                condition=Q(organisation_overrides__organisation_id=organisation_id),
            ),
        )
        .values_list(
            "key",
            "enabled",
            "rollout_percentage",
            "user_override__enabled",
            "user_override__expires_at",
            "org_override__enabled",
            "org_override__expires_at",
        )
    )


def features_from_rows(rows, user_id, now: datetime) -> dict[str, bool]:
    """Return each flag's key and whether it is on for the user at ``now``, from the
    rows of ``features_query``."""
    return {
        key: evaluate_flag(
            key=key,
            enabled=enabled,
            rollout_percentage=rollout,
            user_id=user_id,
            now=now,
            user_override=None if user_on is None else Override(user_on, user_until),
            organisation_override=None if org_on is None else Override(org_on, org_until),
        )
        for key, enabled, rollout, user_on, user_until, org_on, org_until in rows
    }


def features_for(user, now: datetime) -> dict[str, bool]:
    """Return every flag evaluated for the user at ``now`` (``features_query``); no query
    when the shared cache holds their access."""
    _, rows = access_rows(user, applications=False)
    return features_from_rows(rows, user.pk, now)


def applications_query(user_id, organisation_id):
    """Return the tools the user may open: their own access granted, the organisation's
    access enabled, the tool active. One query; the one definition of it (see
    features_query)."""
    return (
        OrganisationToolAccess.objects.filter(
            organisation_id=organisation_id,
            enabled=True,
            tool__is_active=True,
            tool__user_access__user_id=user_id,
            tool__user_access__has_access=True,
        )
        .order_by("tool__code")
        .values_list("tool__code", "tool__name", "tier", "features", "limits")
    )


# Compiled once per process: Django's path reads a person's access through them when the
# shared cache does not hold it, the fast lane through its own pool.
_ACCESS_KEYS = {
    "user_id": UserApplicationAccess._meta.get_field("user").target_field,
    "organisation_id": Organisation._meta.pk,
}
APPLICATIONS = CompiledQuery(applications_query, **_ACCESS_KEYS)
FEATURES = CompiledQuery(features_query, **_ACCESS_KEYS)


def _read(query: CompiledQuery, user) -> list:
    """Return the rows of the compiled ``query`` for the user."""
    return query.fetch(connection, user_id=user.pk, organisation_id=user.organisation_id)


def applications_from_rows(rows) -> list[dict]:
    return [
        {"code": code, "name": name, "tier": tier, "features": features, "limits": limits}
        for code, name, tier, features, limits in rows
    ]


def applications_for(user) -> list[dict]:
    """Return the tools the user may open, as dicts (``applications_query``); no query
    when the shared cache holds their access."""
    rows, _ = access_rows(user, features=False)
    return applications_from_rows(rows)


def access_rows(user, *, applications=True, features=True) -> tuple[list, list]:
    """Return (rows of ``applications_query``, rows of ``features_query``) for the user,
    from the shared cache (organisations.access_cache). On a miss both are read, one
    compiled statement each, and stored; when they may not be stored, only those asked for are read
    (the other is empty)."""
    key, rows = access_cache.lookup(user.pk, user.organisation_id)
    if rows is not None:
        return rows
    stored = key is not None
    rows = (
        _read(APPLICATIONS, user) if applications or stored else [],
        _read(FEATURES, user) if features or stored else [],
    )
    if stored:
        access_cache.store(key, rows)
    return rows


@dataclass(frozen=True)
class AccessRead:
    """What a view reads of its caller's access: the rows of ``applications_query``,
    of ``features_query``, or both. Called with a user, return (application rows,
    feature rows) as ``access_rows`` does, the one not asked for possibly empty; the
    same rows may come with the principal's own lookup (``queries``, ``from_rows``)."""

    applications: bool = True
    features: bool = True

    def __call__(self, user) -> tuple[list, list]:
        return access_rows(user, applications=self.applications, features=self.features)

    @property
    def queries(self) -> tuple[CompiledQuery, ...]:
        """Return the compiled queries of the rows asked for, applications first."""
        wanted = ((APPLICATIONS, self.applications), (FEATURES, self.features))
        return tuple(query for query, asked in wanted if asked)

    def from_rows(self, rows: list[list]) -> tuple[list, list]:
        """Return (application rows, feature rows) from the rows of ``queries``, in order."""
        answers = iter(rows)
        return (
            next(answers) if self.applications else [],
            next(answers) if self.features else [],
        )


ALL_ACCESS = AccessRead()
APPLICATION_ACCESS = AccessRead(features=False)
FEATURE_ACCESS = AccessRead(applications=False)
