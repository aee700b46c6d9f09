"""Every shell command shown in README.md and docs/*.md is run by a test: by this module,
as a new user runs it (bash, from the project's root, on a throwaway SQLite database in
the environment of tests/processes.py), or by the test that ELSEWHERE names for it.

Shown means: each line of a fenced code block marked sh, bash, shell or console, and each
line of an unmarked block that starts as a command does (make, manage.py, .venv/bin/…,
python, curl, gunicorn, systemctl, …); continuation lines joined, comments dropped.
Commands named in running text are not collected. A `manage.py …` line is run as
`.venv/bin/python manage.py …`.

Run here for real: the production recipe of docs/operations.md ("Deploying") but its
gunicorn start, in order, with its `export` as the environment; the daily pruning and the
tool-access backfill of docs/operations.md on that same database (after `seed_demo`, as
`make run` seeds, so that the `acme` organisation exists); `make lint`. The recipe's
values that cannot be had here are replaced, and only those (STAND_INS): the secrets,
PostgreSQL (a SQLite file), the Redis host (a redis-server of this module's own), and the
Auth0 tenant (the local identity provider, registered as "Setting up the Auth0 tenant"
says).

Not run for real: `make run` (it binds fixed ports and installs what setup lacks), `make
test` (it is the suite that runs this module) and `make bench` (minutes; it installs wrk
and rewrites docs/benchmarks.md). Their recipes are checked with `make -n`: `make run`'s
steps are the ones tests/devidp/test_rundev.py runs on free ports, `make test` runs pytest
on SQLite then on PostgreSQL, and `make bench` runs `python -m bench`, whose `--help` is
run. No systemctl command is shown in the docs today; one shown later fails here until a
test runs it.
"""

import os
import re
import shlex
import subprocess
from dataclasses import dataclass
from pathlib import Path

import pytest

from accounts.devidp.provider import Provider
from accounts.devidp.server import serve_in_thread
from tests.devidp.test_rundev import MAKE_RUN
from tests.processes import child_env
from tests.redis_server import RedisServer

ROOT = Path(__file__).resolve().parents[2]
DOCUMENTS = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
SHELL = {"sh", "bash", "shell", "console"}
FENCE = re.compile(r"^```(\w*)[^\n]*\n(.*?)^```", re.M | re.S)
COMMAND = re.compile(
    r"^(make|manage\.py|\.venv/\S+|python3?|curl|gunicorn|uvicorn|systemctl|sudo|docker|export)"
    r"( +[-\w./$\"'=]|$)"
)

REPAIR = "tests/ops/test_repair_schema.py"
# Documented commands another test runs, with that test.
ELSEWHERE = {
    ".venv/bin/python manage.py repair_schema --check": (
        "tests/devidp/test_development_env.py::test_the_readme_s_other_commands_run_as_written"
    ),
    ".venv/bin/gunicorn -c deploy/gunicorn.conf.py authsite.asgi:application": (
        "tests/deploy/test_production.py"
        "::test_the_documented_production_start_counts_and_logs_across_two_workers"
    ),
    "manage.py repair_schema --check": f"{REPAIR}::test_command_line_exit_codes",
    "manage.py repair_schema": f"{REPAIR}::test_command_line_exit_codes",
    # `other` stands for an alias of DATABASES; the project has one, `default`.
    "manage.py repair_schema --database other": f"{REPAIR}::test_explicit_database_option",
}
# The code blocks this module runs whole (but what ELSEWHERE runs), each found by a
# command it holds.
RECIPE = ".venv/bin/python manage.py check --deploy"
PRUNING = "manage.py prune_tokens"
BACKFILL = "manage.py setup_tool_access --dry-run"
# The make targets this module runs, for real or with `make -n`.
MAKE_TARGETS = {"make lint", "make run", "make test", "make bench"}

CLIENT_ID, CLIENT_SECRET = "documented-client", "documented-client-secret"
# The recipe's values that cannot be had here, and what stands in for them; None drops
# the variable (the tenant's domain gives way to the local provider's AUTH0_ISSUER).
STAND_INS = {
    "SECRET_KEY": "documented-commands-secret-key-not-for-production-0123456789",
    "DATABASE_URL": "the throwaway SQLite file of child_env",
    "CACHE_URL": "a redis-server of this module's own",
    "AUTH0_DOMAIN": None,
    "AUTH0_CLIENT_ID": CLIENT_ID,
    "AUTH0_CLIENT_SECRET": CLIENT_SECRET,
    "METRICS_TOKEN": "documented-commands-metrics-token",
}


@dataclass(frozen=True)
class Block:
    document: str
    line: int
    commands: tuple[str, ...]


def code_blocks() -> list[Block]:
    """Return the documents' code blocks that show commands, each with its commands
    (continuations joined, comments and prompts dropped, spaces collapsed)."""
    found = []
    for path in DOCUMENTS:
        text = path.read_text()
        for fence in FENCE.finditer(text):
            info, body = fence.group(1).lower(), fence.group(2)
            if info and info not in SHELL:
                continue
            commands = []
            for line in body.replace("\\\n", " ").splitlines():
                line = line.strip().removeprefix("$ ")
                if info in SHELL or COMMAND.match(line):
                    words = shlex.split(line, comments=True)
                    commands.extend([" ".join(words)] if words else [])
            if commands:
                line = text.count("\n", 0, fence.start()) + 1
                found.append(Block(str(path.relative_to(ROOT)), line, tuple(commands)))
    return found


def block_holding(command: str) -> Block:
    (block,) = [block for block in code_blocks() if command in block.commands]
    return block


def shell(command: str, env: dict, timeout: float = 120) -> subprocess.CompletedProcess:
    """Run one documented command line with bash from the project's root."""
    if command.startswith("manage.py "):
        command = ".venv/bin/python " + command
    return subprocess.run(
        ["bash", "-c", command],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=timeout,
    )  # fmt: skip


def test_every_documented_command_is_run_by_a_test():
    shown = {command: block for block in code_blocks() for command in block.commands}
    run_here = {
        command for name in (RECIPE, PRUNING, BACKFILL) for command in block_holding(name).commands
    } | MAKE_TARGETS
    missing = {
        command: f"{block.document}:{block.line}"
        for command, block in shown.items()
        if command not in run_here and command not in ELSEWHERE
    }
    assert missing == {}, f"documented commands that no test runs: {missing}"
    assert {command for command in ELSEWHERE if command not in shown} == set()
    assert set(shown) >= MAKE_TARGETS
    for test in set(ELSEWHERE.values()):
        path, name = test.split("::")
        assert f"def {name}(" in (ROOT / path).read_text(), test


def test_the_extraction_sees_what_a_reader_sees():
    commands = [command for block in code_blocks() for command in block.commands]
    assert "make run" in commands
    assert "manage.py prune_audit --older-than 365" in commands
    assert not any(command.startswith("Drift in database") for command in commands)
    assert not any("scrape_configs" in command for command in commands)
    assert block_holding(RECIPE).commands[0].startswith("export DEBUG=false SECRET_KEY=…")


@pytest.fixture(scope="module")
def tenant():
    """The Auth0 tenant of the recipe, registered as docs/operations.md says: the local
    identity provider with the application's callback and logout URLs."""
    provider = Provider()
    provider.add_client(
        CLIENT_ID,
        CLIENT_SECRET,
        ["https://api.example.com/auth/callback"],
        logout_urls=["https://app.example.com/"],
    )
    with serve_in_thread(provider) as server:
        yield server.issuer


@pytest.fixture(scope="module")
def own_redis():
    """Serve a redis-server for the recipe's CACHE_URL; return its URL."""
    server = RedisServer()
    yield server.url
    server.stop()


@pytest.fixture(scope="module")
def deployed(tmp_path_factory, own_redis, tenant):
    """Run the production recipe in order (but its gunicorn start) and return its
    environment and each command with what it did."""
    block = block_holding(RECIPE)
    export, *commands = block.commands
    assert export.startswith("export ")
    env = child_env(tmp_path_factory.mktemp("deployed"))
    stand_ins = {**STAND_INS, "DATABASE_URL": env["DATABASE_URL"], "CACHE_URL": own_redis}
    assigned = dict(word.split("=", 1) for word in shlex.split(export)[1:])
    assert set(stand_ins) <= set(assigned), "a stand-in for a variable the recipe lost"
    for name, value in assigned.items():
        assert name in stand_ins or "…" not in value, f"no stand-in for {name}={value}"
        if stand_ins.get(name, value) is not None:
            env[name] = stand_ins.get(name, value)
    env["AUTH0_ISSUER"] = tenant
    results = [(command, shell(command, env)) for command in commands if command not in ELSEWHERE]
    return env, results


def test_the_production_recipe_runs_as_written(deployed):
    _, results = deployed
    assert [command.split()[2] for command, _ in results] == [
        "migrate",
        "rotate_signing_key",
        "check",
        "auth_doctor",
    ]
    for command, result in results:
        assert result.returncode == 0, (command, result.stdout, result.stderr)
        assert "Traceback" not in result.stderr, command
    said = {command.split()[2]: result for command, result in results}
    assert "Applying accounts." in said["migrate"].stdout
    # The one issue is the SQLite file standing in for PostgreSQL.
    issues = re.findall(r"\((\w+\.\w+)\)", said["check"].stderr)
    assert issues == ["accounts.W008"], said["check"].stderr
    doctor = said["auth_doctor"].stdout.splitlines()
    assert doctor[-1] == "0 failures, 0 warnings", said["auth_doctor"].stdout
    assert all(line.startswith("ok ") for line in doctor[:-1]), said["auth_doctor"].stdout


def test_the_daily_pruning_and_the_backfill_run_as_written(deployed):
    env, _ = deployed
    seeded = shell(".venv/bin/python manage.py seed_demo", {**env, "DEBUG": "true"})
    assert seeded.returncode == 0, seeded.stderr
    for name in (PRUNING, BACKFILL):
        for command in block_holding(name).commands:
            result = shell(command, env)
            assert result.returncode == 0, (command, result.stdout, result.stderr)
            assert "Traceback" not in result.stderr, command
            if "--organisation acme" in command:
                assert "acme" in result.stdout, result.stdout


def make(*args: str) -> subprocess.CompletedProcess:
    """Run make from the project's root as a new user's shell would, outside any make."""
    env = {k: v for k, v in os.environ.items() if k not in ("MAKEFLAGS", "MFLAGS", "MAKELEVEL")}
    return subprocess.run(
        ["make", *args], cwd=ROOT, env=env, capture_output=True, text=True, timeout=300
    )


def test_make_lint_passes():
    result = make("lint")
    assert result.returncode == 0, result.stdout + result.stderr


def test_make_run_test_and_bench_do_what_the_readme_says():
    run = make("-n", "run").stdout.splitlines()
    assert run[-3:] == [
        f"DEBUG=true .venv/bin/python manage.py {' '.join(step)}" for step in MAKE_RUN
    ]
    test = make("-n", "test").stdout
    sqlite = 'DATABASE_URL=sqlite:///:memory: .venv/bin/python -m pytest -m "not postgres"'
    postgres = ".venv/bin/python -m tests.postgres -- .venv/bin/python -m pytest"
    assert sqlite in test and postgres in test
    assert test.index(sqlite) < test.index(postgres)
    assert make("-n", "bench").stdout.splitlines()[-1].strip() == ".venv/bin/python -m bench"
    bench = shell(".venv/bin/python -m bench --help", dict(os.environ))
    assert bench.returncode == 0, bench.stderr
    assert "Benchmark the ASGI and WSGI builds" in bench.stdout
