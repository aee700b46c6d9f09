"""`python -m bench --only scale` (called by bench/run.py): the data sets, the side by
side measurement (``scenario``), the workers' measurement (``workers``), the page's
scale section (``report``) and the closing line. It uses databases of its own
(``authsite_scale_*``), never the other scenarios' ``authsite_bench``."""

import sys
import time
from datetime import UTC, datetime

from ..prepare import ROOT
from ..scenarios.base import Settings, loadavg
from ..servers import Processes
from . import dataset, report, scenario, workers

RESULTS = ROOT / "bench" / "results" / "scale"


def main(settings: Settings, command: str, commit: str, write_docs: bool = True) -> int:
    """Run the scale scenario and the workers' measurement; write the results and,
    unless told not to, docs/benchmarks.md's scale section; return the exit status."""
    from ..run import server_env

    server = dataset.running_server()
    RESULTS.mkdir(parents=True, exist_ok=True)
    started, t0 = datetime.now(UTC), time.monotonic()
    env = server_env(f"{server}/postgres", "locmemcache://scale", "10")
    processes = Processes(RESULTS)
    try:
        result = scenario.measure(server, env, processes, RESULTS, settings)
        print("Workers: 1 and 2 gunicorn workers on the large set", flush=True)
        workers_result = workers.measure(server, env, processes, RESULTS, settings)
    except KeyboardInterrupt:
        print("Interrupted: cleaning up", file=sys.stderr)
        return 130
    finally:
        processes.stop_all()
    info = (
        f"`{command}` at {commit}, {started:%Y-%m-%d %H:%M} UTC, "
        f"{(time.monotonic() - t0) / 60:.0f} minutes, load average at the end {loadavg()}."
    )
    lines = [*report.section(result, info), *workers.section(workers_result)]
    (RESULTS / "scale.md").write_text("\n".join(lines) + "\n")
    if write_docs:
        print(f"Wrote {report.write(lines).relative_to(ROOT)}", flush=True)
    print(report.closing_line(result), flush=True)
    return 0
