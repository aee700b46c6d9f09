"""The migration plan against the database: what each migration makes, which migrations are
pending and how much of them the database holds, and which migration made what."""

from functools import cached_property

from django.db.migrations import operations
from django.db.migrations.state import ProjectState

from .drift import PROJECT_APPS, Finding


class History:
    """The full migration plan, and what each migration makes and removes as
    ``(kind, table, name)`` items read from the project state before and after it."""

    def __init__(self, executor, catalog):
        self.loader, self.catalog = executor.loader, catalog
        plan = executor.migration_plan(self.loader.graph.leaf_nodes(), clean_start=True)
        self.plan = {(migration.app_label, migration.name): migration for migration, _ in plan}

    def _items(self, state) -> set[tuple]:
        """Return the tables, columns, named indexes and constraints ``state`` has."""
        items = set()
        for meta in (model._meta for model in self.catalog.migrated(state)):
            items.add(("table", meta.db_table, None))
            items.update(("column", meta.db_table, f.column) for f in meta.local_concrete_fields)
            items.update(("index", meta.db_table, index.name) for index in meta.indexes)
            items.update(("constraint", meta.db_table, c.name) for c in meta.constraints)
        return items

    @cached_property
    def effects(self) -> tuple[dict, set]:
        """Return {key: (items made, items removed)} and the items at the end of the plan."""
        state, before, effects = ProjectState(real_apps=self.loader.unmigrated_apps), set(), {}
        for key, migration in self.plan.items():
            after = self._items(migration.mutate_state(state, preserve=False))
            effects[key], before = (after - before, before - after), after
        return effects, before

    def pending(self) -> tuple[list[Finding], set]:
        """Return a finding per migration not recorded as applied, and the keys of those
        whose changes (what no later migration undoes) are at least partly in the database."""
        found, present, has = [], set(), self.catalog.has
        for key, migration in self.plan.items():
            if key in self.loader.applied_migrations:
                continue
            (effects, final), label = self.effects, ".".join(key)
            made, removed = sorted(effects[key][0] & final), sorted(effects[key][1] - final)
            missing = [_describe(item) for item in made if not has(item)]
            missing += [f"{_describe(i)} it removes is still there" for i in removed if has(i)]
            if len(missing) == len(made) + len(removed):
                found.append(Finding(f"migration {label} is not applied", "apply it"))
                continue
            present.add(key)
            problem, refusal = f"migration {label} is not recorded as applied", None
            if missing:
                problem += (
                    f" and only part of it is in the database (missing: {', '.join(missing)})"
                )
                repair = "create the missing parts, then record it as applied"
                if key[0] not in PROJECT_APPS:
                    refusal = (
                        f"Migration {label} is only partly in the database and repair_schema "
                        f"repairs only the tables of {' and '.join(PROJECT_APPS)}; finish it "
                        "by hand, then run repair_schema again."
                    )
            else:
                problem += " but its changes are already in the database"
                repair = "record it as applied without running it"
            code = (operations.RunPython, operations.RunSQL)
            if any(isinstance(operation, code) for operation in migration.operations):
                repair += " (its RunPython/RunSQL operations are not run)"
            found.append(Finding(problem, repair, refusal=refusal))
        return found, present

    def origin(self, nodes):
        """Return a function that names the last of ``nodes`` that made an item."""

        def origin(item) -> str:
            effects, _ = self.effects
            key = next((key for key in reversed(nodes) if item in effects[key][0]), None)
            if key is None:
                return ""
            status = "" if key in self.loader.applied_migrations else "not "
            return f" (made by migration {'.'.join(key)}, {status}recorded as applied)"

        return origin


def _describe(item: tuple) -> str:
    kind, table, name = item
    return f"table {table}" if kind == "table" else f"{kind} {table}.{name}"
