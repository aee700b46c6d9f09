"""The run's section of docs/benchmarks.md: when and how it ran, on what machine, with
which versions, environment and settings."""

import os
import platform
import re
import shutil
import subprocess
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path

from ..scenarios.base import Settings


@dataclass
class RunInfo:
    command: str
    started: str
    seconds: float
    commit: str
    load_start: str
    load_end: str
    postgres: str
    redis: str
    cache: str
    pool: str
    users: int


def machine() -> list[str]:
    """Return the lines that describe the machine: its CPU, memory and kernel."""
    cpuinfo = Path("/proc/cpuinfo").read_text()
    model = re.search(r"model name\s*:\s*(.+)", cpuinfo)
    meminfo = Path("/proc/meminfo").read_text()
    total = int(re.search(r"MemTotal:\s*(\d+)", meminfo).group(1)) / 1024 / 1024
    return [
        f"- CPU: {os.cpu_count()} cores, {model.group(1) if model else 'unknown model'}",
        f"- memory: {total:.1f} GiB; kernel {platform.release()}",
    ]


def versions(info: RunInfo) -> str:
    """Return the versions of Python, the servers' packages, PostgreSQL, Redis, wrk and
    py-spy, as one sentence."""

    def v(name):
        try:
            return metadata.version(name)
        except metadata.PackageNotFoundError:
            return "not installed"

    wrk = "not installed"  # possible with --no-install when only the storm ran
    if found := shutil.which("wrk"):
        out = subprocess.run([found, "--version"], capture_output=True, text=True).stdout
        wrk = out.split(" [")[0].replace("wrk ", "") if out else "?"
    packages = ", ".join(
        f"{name} {v(name)}"
        for name in (
            "Django", "uvicorn", "uvloop", "httptools", "gunicorn", "psycopg", "psycopg-pool",
            "asgiref", "joserfc", "django-redis", "httpx2",
        )
    )  # fmt: skip
    return (
        f"Python {platform.python_version()}, {packages}; PostgreSQL {info.postgres}; "
        f"Redis {info.redis}; wrk {wrk}; py-spy {v('py-spy')}."
    )


def run_section(info: RunInfo, settings: Settings) -> list[str]:
    """Return the generated part's opening lines: the last run's date, then its
    section (the command, the machine, versions, environment and settings)."""
    return [
        f"_Last run: {info.started}, {info.seconds / 60:.1f} minutes, at commit {info.commit}._",
        "",
        "## The run",
        "",
        f"    {info.command}",
        "",
        *machine(),
        f"- load average (1/5/15 min) at start → end: {info.load_start} → {info.load_end}; "
        "anything above about 0.5 at the start means other work shared the machine",
        f"- {versions(info)}",
        "- uvicorn event loop and parser: uvloop + httptools (requirements.txt)",
        f"- environment of both builds: DEBUG=false, PostgreSQL with "
        f"DB_POOL_MAX_SIZE={info.pool}, CACHE_URL {info.cache}, rate limits 1000000/m, "
        f"ACCESS_TOKEN_TTL=3600 (the storm with the documented defaults leaves out "
        f"DB_POOL_MAX_SIZE and CACHE_URL); seeded: 1 organisation with the default tools, "
        f"{info.users} members with application access, 3 feature flags",
        f"- settings: {settings.runs} runs of {settings.duration:g} s at "
        f"{', '.join(map(str, settings.goal_connections))} connections, "
        f"{settings.sweep_runs} at {', '.join(map(str, settings.sweep_connections))}, "
        f"{settings.warmup:g} s warm-up per server",
        "",
    ]
