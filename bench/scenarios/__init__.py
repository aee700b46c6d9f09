"""The four goals of docs/benchmarks.md, each run against both builds: the hot path with the
memory goal and the bare-Django reference (``hot``), the login storm (``storm``, on the
identity provider and the prepared logins of ``logins``), refresh rotation
(``refresh``), and what they share (``base``: the settings, the run's state, the
placement on the cores, the measured wrk run).

Placement on the 2 cores: one server process on core 0, the load generator (wrk, or
this process's asyncio client) and the identity provider on core 1, except for the
refresh goal, whose server has both cores. PostgreSQL and Redis are not pinned. Runs of
the two builds alternate, so that anything else the machine does weighs on both alike,
and each ratio is taken between runs made side by side.
"""
