"""docs/benchmarks.md and docs/benchmarks-throughput.png from one run's results: the
page and the plot (``page``), the run's machine, versions and settings (``summary``),
the tables of the hot path, refresh and memory goals (``goals``), of the login storm
(``storm``), and of the reference and the profiles (``context``).

The generated part of docs/benchmarks.md lies between two HTML comments and is replaced
by every run; everything outside them (the engineers' "Changes and their effect", the
tool-access backfill numbers) is kept as it is. A missing file is created with those
sections as placeholders.
"""
