"""The migration plan against the database: what each migration makes, which migrations are
pending and how much of them the database holds, and which migration made what."""

from functools import cached_property

from django.db.migrations import operations
from django.db.migrations.state import ProjectState

from .drift import PROJECT_APPS, Finding


class History:
    """What each migration of the full plan makes and removes, as ``(kind, table, name)``
    items read from the project state before and after it."""

    def __init__(self, executor, catalog):
        leaves = executor.loader.graph.leaf_nodes()
        self.plan = [migration for migration, _ in executor.migration_plan(leaves, True)]
        self.keys = [(migration.app_label, migration.name) for migration in self.plan]
        self.applied = executor.loader.applied_migrations
        self.unmigrated = executor.loader.unmigrated_apps
        self.catalog = catalog

    def _items(self, apps) -> set[tuple]:
        found = set()
        for model in filter(self.catalog.migratable, apps.get_models(include_auto_created=True)):
            table, meta = model._meta.db_table, model._meta
            found.add(("table", table, None))
            found.update(("column", table, field.column) for field in meta.local_concrete_fields)
            found.update(("index", table, index.name) for index in meta.indexes)
            found.update(("constraint", table, constraint.name) for constraint in meta.constraints)
        return found

    @cached_property
    def effects(self) -> tuple[dict, set]:
        """Return {key: (items made, items removed)} and the items at the end of the plan."""
        state = ProjectState(real_apps=self.unmigrated)
        before, effects = self._items(state.apps), {}
        for key, migration in zip(self.keys, self.plan, strict=True):
            state = migration.mutate_state(state, preserve=False)
            after = self._items(state.apps)
            effects[key] = (after - before, before - after)
            before = after
        return effects, before

    def pending(self) -> tuple[list[Finding], set]:
        """Return the migrations not recorded as applied, and the keys of those whose changes
        (of what no later migration undoes) are at least partly in the database."""
        found, in_database, has = [], set(), self.catalog.has
        for key, migration in zip(self.keys, self.plan, strict=True):
            if key in self.applied:
                continue
            (effects, final), label = self.effects, ".".join(key)
            made, removed = sorted(effects[key][0] & final), sorted(effects[key][1] - final)
            present = [item for item in made if has(item)] + [i for i in removed if not has(i)]
            missing = [_describe(item) for item in made if not has(item)]
            missing += [f"{_describe(i)} it removes is still there" for i in removed if has(i)]
            unrecorded = f"migration {label} is not recorded as applied"
            if not present:
                problem, repair = f"migration {label} is not applied", "apply it"
            elif missing:
                problem = f"{unrecorded} and only part of it is in the database (missing: "
                problem += f"{', '.join(missing)})"
                repair = "create the missing parts, then record it as applied"
            else:
                problem = f"{unrecorded} but its changes are already in the database"
                repair = "record it as applied without running it"
            code = (operations.RunPython, operations.RunSQL)
            if present and any(isinstance(op, code) for op in migration.operations):
                repair += " (its RunPython/RunSQL operations are not run)"
            refusal = None
            if present and missing and key[0] not in PROJECT_APPS:
                refusal = (
                    f"Migration {label} is only partly in the database and repair_schema repairs "
                    f"only the tables of {' and '.join(PROJECT_APPS)}; finish it by hand, then "
                    "run repair_schema again."
                )
            in_database.update([key] if present else [])
            fix = _apply(migration, key, record=bool(present))
            found.append(Finding(problem, repair, fix, refusal=refusal))
        return found, in_database

    def origin(self, nodes):
        """Return a function that names the last of ``nodes`` that made an item."""

        def origin(item) -> str:
            effects, _ = self.effects
            key = next((key for key in reversed(nodes) if item in effects[key][0]), None)
            if key is None:
                return ""
            status = "recorded as applied" if key in self.applied else "not recorded as applied"
            return f" (made by migration {'.'.join(key)}, {status})"

        return origin


def _apply(migration, key, record):
    """Return a fix that records the migration as applied, or applies it."""

    def fix(executor):
        if record:
            executor.record_migration(*key)
        else:
            executor.migrate([key], plan=[(executor.loader.graph.nodes[key], False)])
        # The executor builds each migration's starting state from this mapping.
        executor.loader.applied_migrations[key] = migration

    return fix


def _describe(item: tuple) -> str:
    kind, table, name = item
    return f"table {table}" if kind == "table" else f"{kind} {table}.{name}"
