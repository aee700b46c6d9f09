"""The code's layout, read from its imports (function-level ones included): no two
modules import each other, even through others; ``organisations`` never imports
``accounts``; nothing outside ``accounts.devidp`` (development only) imports it; and a
package whose docstring has a "May import:" line imports, from the project, only itself
and what that line names."""

import ast
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PACKAGES = ("accounts", "organisations", "authsite")


def _modules() -> dict[str, Path]:
    found = {}
    for package in PACKAGES:
        for path in (ROOT / package).rglob("*.py"):
            parts = path.relative_to(ROOT).with_suffix("").parts
            if "migrations" in parts:
                continue
            name = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
            found[name] = path
    return found


MODULES = _modules()


def _target(module: str, node: ast.ImportFrom) -> str:
    """Return the absolute name an ``from … import`` in ``module`` imports from."""
    if not node.level:
        return node.module or ""
    package = module if MODULES[module].name == "__init__.py" else module.rpartition(".")[0]
    base = package.split(".")[: len(package.split(".")) - (node.level - 1)]
    return ".".join(base + ([node.module] if node.module else []))


def _imports(module: str) -> set[str]:
    """Return the project's modules that ``module`` imports."""
    found = set()
    for node in ast.walk(ast.parse(MODULES[module].read_text())):
        if isinstance(node, ast.ImportFrom):
            target = _target(module, node)
            for alias in node.names:
                name = f"{target}.{alias.name}"
                found.add(name if name in MODULES else target)
        elif isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
    return {name for name in found if name in MODULES and name != module}


GRAPH = {module: _imports(module) for module in MODULES}


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Return the groups of modules that import each other (Tarjan's components)."""
    index, low, stack, on_stack, groups = {}, {}, [], set(), []

    def visit(node):
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for successor in graph[node]:
            if successor not in index:
                visit(successor)
                low[node] = min(low[node], low[successor])
            elif successor in on_stack:
                low[node] = min(low[node], index[successor])
        if low[node] == index[node]:
            group = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                group.append(member)
                if member == node:
                    break
            if len(group) > 1:
                groups.append(sorted(group))

    for node in graph:
        if node not in index:
            visit(node)
    return groups


def _allowed(package: str) -> list[str] | None:
    """Return the modules a package's docstring says it may import, or None."""
    docstring = ast.get_docstring(ast.parse(MODULES[package].read_text())) or ""
    match = re.search(r"^May import:(.*?)(?:\n\n|\Z)", docstring, re.M | re.S)
    if match is None:
        return None
    names = match.group(1).replace("\n", " ").rstrip(".").split(",")
    return [name.strip().split(" ")[0] for name in names if name.strip()]


def test_the_finder_sees_a_cycle_and_a_clean_graph():
    assert _cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]
    assert _cycles({"a": {"b"}, "b": set()}) == []


def test_no_modules_import_each_other():
    assert _cycles(GRAPH) == []


def test_organisations_never_imports_accounts():
    wrong = {
        module: sorted(name for name in imported if name.split(".")[0] == "accounts")
        for module, imported in GRAPH.items()
        if module.split(".")[0] == "organisations"
    }
    assert {module: names for module, names in wrong.items() if names} == {}


def test_the_oidc_client_imports_no_models():
    client = [module for module in GRAPH if module.startswith("accounts.login.oidc")]
    assert client
    models = {
        module: sorted(name for name in GRAPH[module] if name.endswith(".models"))
        for module in client
    }
    assert {module: names for module, names in models.items() if names} == {}


def test_only_the_development_package_imports_itself():
    def development(name):
        return name == "accounts.devidp" or name.startswith("accounts.devidp.")

    assert "accounts.devidp.server" in GRAPH["accounts.devidp.management.commands.rundev"]
    wrong = {
        module: sorted(name for name in imported if development(name))
        for module, imported in GRAPH.items()
        if not development(module)
    }
    assert {module: names for module, names in wrong.items() if names} == {}


def test_each_package_imports_only_what_its_docstring_names():
    packages = [name for name, path in MODULES.items() if path.name == "__init__.py"]
    declared = {name: _allowed(name) for name in packages if _allowed(name) is not None}
    assert "accounts.api" in declared
    wrong = {}
    for package, allowed in declared.items():
        for module, imported in GRAPH.items():
            if module != package and not module.startswith(package + "."):
                continue
            outside = [
                name
                for name in imported
                if not (name == package or name.startswith(package + "."))
                and not any(name == ok or name.startswith(ok + ".") for ok in allowed)
            ]
            if outside:
                wrong[module] = sorted(outside)
    assert wrong == {}


MAX_LINES = 400


def test_no_module_is_over_400_lines():
    sources = [ROOT / "manage.py"] + [
        path
        for folder in (*PACKAGES, "bench", "tests")
        for path in (ROOT / folder).rglob("*.py")
        if "migrations" not in path.parts
    ]
    sizes = {str(path.relative_to(ROOT)): len(path.read_text().splitlines()) for path in sources}
    assert {name: lines for name, lines in sizes.items() if lines > MAX_LINES} == {}
