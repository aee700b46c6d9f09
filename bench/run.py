"""`python -m bench` (or `python bench/run.py`, or `make bench`): the whole benchmark in
one command, cleaning up after itself on success, failure or Ctrl-C.

Order: install what is missing (wrk, requirements-bench.txt); a fresh PostgreSQL
database, migrated and seeded; the identity provider; then the scenarios (hot path with
memory, login storm tuned and with the documented defaults, refresh, and when named the
JSON endpoints on both paths), the profiles, and docs/benchmarks.md. Every process it started
is stopped and the database dropped at the end.
"""

import argparse
import json
import os
import shlex
import signal
import subprocess
import sys
import time
from dataclasses import asdict
from datetime import UTC, datetime
from pathlib import Path

if __package__ in (None, ""):  # run as a script: make the project importable
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
    __package__ = "bench"

from bench import prepare
from bench.idp_server import CLIENT_ID, CLIENT_SECRET
from bench.prepare import ROOT
from bench.scenarios import dpop as dpop_scenario
from bench.scenarios import hot as hot_scenarios
from bench.scenarios import metrics as metrics_scenario
from bench.scenarios import refresh as refresh_scenario
from bench.scenarios.base import Bench, Settings, loadavg
from bench.scenarios.logins import start_idp
from bench.scenarios.storm import login_storm, set_in_dotenv
from bench.servers import Processes

SCENARIOS = ("hot", "storm", "refresh", "reference", "profile")
# Only when named (storm-defaults is also part of "storm").
EXTRA_SCENARIOS = (
    "storm-defaults", "endpoints", "endpoints-defaults", "metrics", "dpop", "scale",
)  # fmt: skip
SECRET_KEY = "benchmark-only-secret-key-not-for-production-0123456789abcdef"


def parse(argv) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m bench",
        description="Benchmark the ASGI and WSGI builds side by side and write docs/benchmarks.md.",
    )
    parser.add_argument("--quick", action="store_true", help="short runs (about 5 minutes)")
    parser.add_argument("--duration", type=float, help="seconds per wrk run (default 5)")
    parser.add_argument("--runs", type=int, help="runs per goal measurement (default 5)")
    parser.add_argument("--sweep-runs", type=int, help="runs per sweep-only level (default 3)")
    parser.add_argument(
        "--only",
        default=",".join(SCENARIOS),
        help=f"comma list of {', '.join(SCENARIOS + EXTRA_SCENARIOS)} (default: "
        f"{','.join(SCENARIOS)}). storm runs the login storm with the bench's "
        "DB_POOL_MAX_SIZE and Redis CACHE_URL, then again with the documented defaults "
        "(both absent from the servers' environment); storm-defaults runs only the latter. "
        "endpoints (every JSON endpoint with FAST_LANE=true and =false under "
        "uvicorn and under gunicorn (WSGI) beside the bare-Django reference under gunicorn, "
        "runs of half --duration, "
        "and the login callback's CPU per login; about 10 minutes, 4 with --quick), "
        "endpoints-defaults (the same with the documented defaults) and "
        "metrics (Bearer /me on the lane and /features on Django's path, with metrics on "
        "and off; about 2 minutes with --quick) and scale (bench/scale: a small and a "
        "large data set side by side, and 1 against 2 workers; about 30 minutes, 4 more "
        "to build the data sets when missing) run only when named",
    )
    parser.add_argument("--users", type=int, help="seeded members with tokens (default 1000)")
    parser.add_argument("--logins", type=int, help="logins per storm (default 200)")
    parser.add_argument("--storm-delay", type=float, help="slow provider delay, s (0.3)")
    parser.add_argument("--refresh-batch", type=int, help="tokens per refresh run (1500)")
    parser.add_argument("--memory-requests", type=int, help="memory goal requests (100000)")
    parser.add_argument("--memory-max-seconds", type=float, help="cap on the top-up (180)")
    parser.add_argument("--profile-seconds", type=float, help="py-spy duration (10)")
    parser.add_argument("--database", default="authsite_bench", help="database to create")
    parser.add_argument("--redis-db", type=int, default=11, help="Redis database number")
    parser.add_argument("--no-install", action="store_true", help="skip apt-get and pip")
    parser.add_argument("--no-docs", action="store_true", help="do not rewrite the docs")
    return parser.parse_args(argv)


def settings_from(args) -> tuple[Settings, int]:
    settings, users = Settings(), 1000
    if args.quick:
        settings = Settings(
            duration=2,
            runs=3,
            sweep_runs=1,
            warmup=1,
            memory_requests=20_000,
            memory_max_seconds=60,
            refresh_batch=500,
            profile_seconds=5,
        )
        users = 200
    overrides = {
        "duration": args.duration,
        "runs": args.runs,
        "sweep_runs": args.sweep_runs,
        "logins": args.logins,
        "storm_delay": args.storm_delay,
        "refresh_batch": args.refresh_batch,
        "memory_requests": args.memory_requests,
        "memory_max_seconds": args.memory_max_seconds,
        "profile_seconds": args.profile_seconds,
    }
    for name, value in overrides.items():
        if value is not None:
            setattr(settings, name, value)
    return settings, args.users or users


def refresh_tokens_needed(settings: Settings, scenarios) -> tuple[int, int]:
    """(tokens for the refresh scenario and the profile, tokens of the profile)."""
    profile = int(max(1000, 100 + 200 * settings.profile_seconds * 1.5))
    total = 0
    if "refresh" in scenarios:
        total += (
            2 * max(50, settings.refresh_batch // 10) + 2 * settings.runs * settings.refresh_batch
        )
    if "profile" in scenarios:
        total += 100 + profile
    if "dpop" in scenarios:
        total += dpop_scenario.tokens_needed(settings)
    return total, profile


def server_env(database_url: str, cache: str, pool: str) -> dict:
    env = {k: v for k, v in os.environ.items() if k != "DJANGO_ALLOW_ASYNC_UNSAFE"}
    env.update(
        {
            "DJANGO_SETTINGS_MODULE": "authsite.settings",
            "DEBUG": "false",
            "SECRET_KEY": SECRET_KEY,
            "DATABASE_URL": database_url,
            "DB_POOL_MAX_SIZE": pool,
            "CACHE_URL": cache,
            "ALLOWED_HOSTS": "127.0.0.1",
            "FRONTEND_ORIGINS": "http://127.0.0.1:5173",
            "RATE_LIMIT_LOGIN": "1000000/m",
            "RATE_LIMIT_TOKEN": "1000000/m",
            # Tokens minted at the start must outlive the whole run.
            "ACCESS_TOKEN_TTL": "3600",
            "LOG_LEVEL": "WARNING",
            "PYTHONUNBUFFERED": "1",
        }
    )
    return env


def redis_version() -> str:
    out = subprocess.run(["redis-cli", "INFO", "server"], capture_output=True, text=True).stdout
    return next(
        (ln.split(":", 1)[1].strip() for ln in out.splitlines() if "redis_version" in ln), "?"
    )


def commit() -> str:
    head = subprocess.run(
        ["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True
    ).stdout.strip()
    dirty = subprocess.run(
        [
            "git",
            "status",
            "--porcelain",
            "--untracked-files=no",
            "--",
            "accounts",
            "organisations",
            "authsite",
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
    ).stdout.strip()
    return f"{head} (with uncommitted changes to the app)" if dirty else head


def _interrupt(signum, frame):
    raise KeyboardInterrupt


def main(argv=None) -> int:
    args = parse(argv)
    scenarios = [s.strip() for s in args.only.split(",") if s.strip()]
    unknown = set(scenarios) - set(SCENARIOS + EXTRA_SCENARIOS)
    if unknown:
        sys.exit(f"unknown scenario(s): {', '.join(sorted(unknown))}")
    if {"storm", "storm-defaults"} & set(scenarios) and (dotenv := set_in_dotenv()):
        sys.exit(
            f".env sets {', '.join(dotenv)}: the storm with the documented defaults needs "
            "them unset"
        )
    settings, users = settings_from(args)
    started, t0 = datetime.now(UTC), time.monotonic()
    command = shlex.join(["python", "-m", "bench", *(argv if argv is not None else sys.argv[1:])])
    # This process is a load generator (asyncio client): it lives on core 1 with wrk.
    os.sched_setaffinity(0, {1})
    # SIGTERM ends the run like Ctrl-C, so the finally below still cleans up.
    signal.signal(signal.SIGTERM, _interrupt)

    if not args.no_install:
        prepare.ensure_wrk()
        prepare.ensure_requirements()
    if "scale" in scenarios:  # its own databases, servers and section of the page
        from bench.scale import entry

        code = entry.main(settings, command, commit(), write_docs=not args.no_docs)
        scenarios.remove("scale")
        if code or not scenarios:
            return code
    from bench import endpoints, profiling  # after the requirements
    from bench.report import page, summary

    results = ROOT / "bench" / "results"
    results.mkdir(parents=True, exist_ok=True)
    load_start = loadavg()
    # The servers load the working tree as it is when they start: name it now.
    measured = commit()
    database = prepare.postgres(args.database)
    processes = Processes(results)
    try:
        cache = prepare.cache_url(args.redis_db, f"bench{os.getpid()}")
        pool = "10"
        env = server_env(database.url, cache, pool)
        print(f"Database {database.url}; cache {cache}", flush=True)
        prepare.migrate(env)
        bench = Bench(settings, env, processes, {}, results, database.url, database.admin_url,
                      database.name)  # fmt: skip
        measured_endpoints = [s for s in ("endpoints", "endpoints-defaults") if s in scenarios]
        personal = endpoints.first_logins(settings) * len(measured_endpoints)
        # The login profile's first logins come after the measurements'.
        profiled_first = range(settings.logins + personal, 2 * settings.logins + personal)
        if "profile" in scenarios:
            personal += settings.logins
        bench.idp_url = start_idp(bench, settings.logins, personal)
        env.update(
            AUTH0_ISSUER=bench.idp_url, AUTH0_CLIENT_ID=CLIENT_ID, AUTH0_CLIENT_SECRET=CLIENT_SECRET
        )
        refresh_total, profile_tokens = refresh_tokens_needed(settings, scenarios)
        seed_file = results / "seed.json"
        print(f"Seeding {users} members and {refresh_total} refresh tokens", flush=True)
        subprocess.run(
            [
                sys.executable, "-m", "bench.seed", "--out", str(seed_file), "--users", str(users),
                "--refresh", str(refresh_total), "--burst", "2",
            ],
            cwd=ROOT, env=env, check=True,
        )  # fmt: skip
        bench.seed = json.loads(seed_file.read_text())
        hot = refresh = reference = metrics_cost = None
        endpoint_rows = []
        storms, profiles = [], []
        if "hot" in scenarios:
            print("Hot path (and memory)", flush=True)
            hot = hot_scenarios.hot_path(bench)
        if "storm" in scenarios:
            print("Login storm", flush=True)
            storms.append(login_storm(bench))
        if "storm" in scenarios or "storm-defaults" in scenarios:
            print(
                "Login storm, documented defaults (no DB_POOL_MAX_SIZE, no CACHE_URL)", flush=True
            )
            storms.append(login_storm(bench, defaults=True))
        for storm in storms:
            storm.db_max_connections = prepare.max_connections(database.admin_url)
        if "refresh" in scenarios:
            print("Refresh", flush=True)
            refresh = refresh_scenario.refresh(bench)
        if "reference" in scenarios:
            print("Reference: a bare Django view", flush=True)
            reference = hot_scenarios.reference(bench)
        for n, scenario in enumerate(measured_endpoints):
            defaults = scenario == "endpoints-defaults"
            print(
                "Endpoints: the lane and Django's path beside the reference"
                + (", documented defaults" if defaults else ""),
                flush=True,
            )
            offset = n * endpoints.first_logins(settings)
            endpoint_rows.append(endpoints.measure(bench, defaults, offset))
        if "metrics" in scenarios:
            print("Metrics: the same requests with counting on and off", flush=True)
            metrics_cost = metrics_scenario.measure(bench)
        dpop_cost = None
        if "dpop" in scenarios:
            print("DPoP: refresh rotations with and without proofs", flush=True)
            dpop_cost = dpop_scenario.measure(bench)
        if "profile" in scenarios:
            print("Profiles (py-spy)", flush=True)
            profiles.append(profiling.profile_hot_path(bench))
            profiles.append(profiling.profile_hot_path(bench, lane=False))
            profiles.append(
                profiling.profile_hot_path(bench, False, "POST", endpoints.ENDPOINTS["token"][1])
            )
            profiles += profiling.profile_logins(bench, range(settings.logins), profiled_first)
            profiles.append(profiling.profile_refresh(bench, profile_tokens))
            for profile in profiles:
                print(f"  {profile.text}", flush=True)
        info = summary.RunInfo(
            command=command,
            started=started.strftime("%Y-%m-%d %H:%M UTC"),
            seconds=time.monotonic() - t0,
            commit=measured,
            load_start=load_start,
            load_end=loadavg(),
            postgres=prepare.server_version(database.admin_url),
            redis=redis_version() if cache.startswith("redis") else "not used",
            cache="Redis" if cache.startswith("redis") else "local memory",
            pool=pool,
            users=users,
        )
        stamp = started.strftime("%Y%m%d-%H%M%S")
        (results / f"results-{stamp}.json").write_text(
            json.dumps(
                {
                    "info": asdict(info),
                    "hot": asdict(hot) if hot else None,
                    "storms": [asdict(storm) for storm in storms],
                    "refresh": asdict(refresh) if refresh else None,
                    "reference": asdict(reference) if reference else None,
                    "endpoints": [asdict(rows) for rows in endpoint_rows],
                    "metrics": asdict(metrics_cost) if metrics_cost else None,
                    "dpop": asdict(dpop_cost) if dpop_cost else None,
                    "profiles": [asdict(p) for p in profiles],
                },
                default=str,
                indent=1,
            )
        )
        if not args.no_docs:
            path = page.write(
                info, hot, storms, refresh, reference, endpoint_rows, profiles, settings
            )
            print(f"Wrote {path.relative_to(ROOT)}", flush=True)
        print(f"Done in {(time.monotonic() - t0) / 60:.1f} minutes", flush=True)
        return 0
    except KeyboardInterrupt:
        print("Interrupted: cleaning up", file=sys.stderr)
        return 130
    finally:
        processes.stop_all()
        database.drop()


if __name__ == "__main__":
    sys.exit(main())
