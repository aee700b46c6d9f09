"""wrk, the compiled load generator, driven through a Lua script that cycles over many
Bearer tokens and prints its summary as one JSON line.

The tokens are pre-formatted into requests once per wrk thread (``init``), so the Lua
cost per request is a table lookup. ``RunResult`` carries wrk's own counts and latency
percentiles and the CPU time wrk used (from ``wait4``'s rusage), so the report can show
that the generator was not the bottleneck.
"""

import json
import os
import subprocess
from dataclasses import dataclass
from pathlib import Path

from .servers import pinned

MARKER = "BENCH_JSON "

LUA = """
local tokens = {
%(tokens)s
}
local requests = {}
local i = 0

function init(args)
  for n, token in ipairs(tokens) do
    requests[n] = wrk.format(%(method)s, nil, {["Authorization"] = "Bearer " .. token})
  end
  if #requests == 0 then
    requests[1] = wrk.format(%(method)s, nil)
  end
  -- Threads start at different tokens so that they do not move in lockstep.
  i = math.random(#requests) - 1
end

function request()
  i = i %% #requests + 1
  return requests[i]
end

function done(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    "%(marker)s{\\"requests\\":%%d,\\"duration_us\\":%%d,\\"connect\\":%%d,\\"read\\":%%d," ..
    "\\"write\\":%%d,\\"status\\":%%d,\\"timeout\\":%%d,\\"p50_us\\":%%d,\\"p90_us\\":%%d," ..
    "\\"p99_us\\":%%d,\\"max_us\\":%%d}\\n",
    summary.requests, summary.duration, e.connect, e.read, e.write, e.status, e.timeout,
    latency:percentile(50), latency:percentile(90), latency:percentile(99), latency.max))
end
"""


def write_script(path: Path, tokens: list[str], method: str = "GET") -> Path:
    """Write the script: ``method`` requests with each of ``tokens`` in turn (or none)."""
    tokens_lua = ",\n".join(json.dumps(t) for t in tokens)
    path.write_text(LUA % {"tokens": tokens_lua, "marker": MARKER, "method": json.dumps(method)})
    return path


@dataclass
class RunResult:
    connections: int
    requests: int
    seconds: float
    errors: int  # connect + read + write + timeouts + non-2xx/3xx answers
    non_2xx: int
    p50_ms: float
    p90_ms: float
    p99_ms: float
    max_ms: float
    wrk_cpu: float  # CPU seconds wrk used
    server_cpu: float = 0.0  # CPU seconds the server's processes used, filled by the caller
    server_rss_mb: float = 0.0  # the worker's resident set after the run, filled by the caller
    db_cpu: float = 0.0  # CPU seconds of the bench database's PostgreSQL backends, likewise

    @property
    def rps(self) -> float:
        return self.requests / self.seconds if self.seconds else 0.0


def run(
    url: str,
    script: Path,
    *,
    connections: int,
    seconds: float,
    cpus: str | None,
    timeout: float = 5.0,
) -> RunResult:
    """One wrk run of ``seconds`` with one thread and ``connections`` connections."""
    argv = pinned(
        [
            "wrk", "-t1", f"-c{connections}", f"-d{seconds:g}s", f"--timeout={timeout:g}s",
            "--latency", "-s", str(script), url,
        ],
        cpus,
    )  # fmt: skip
    popen = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    output = popen.stdout.read()
    _, status, rusage = os.wait4(popen.pid, 0)
    popen.returncode = os.waitstatus_to_exitcode(status)
    line = next((ln for ln in output.splitlines() if ln.startswith(MARKER)), None)
    if popen.returncode != 0 or line is None:
        raise RuntimeError(f"wrk failed ({popen.returncode}):\n{output}")
    data = json.loads(line[len(MARKER) :])
    errors = sum(data[k] for k in ("connect", "read", "write", "status", "timeout"))
    return RunResult(
        connections=connections,
        requests=data["requests"],
        seconds=data["duration_us"] / 1e6,
        errors=errors,
        non_2xx=data["status"],
        p50_ms=data["p50_us"] / 1000,
        p90_ms=data["p90_us"] / 1000,
        p99_ms=data["p99_us"] / 1000,
        max_ms=data["max_us"] / 1000,
        wrk_cpu=rusage.ru_utime + rusage.ru_stime,
    )
