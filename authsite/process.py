"""What a server process does once the project is loaded, before its first request."""

import gc

from django.urls import get_resolver


def freeze_loaded_objects() -> None:
    """Load the URLconf and its views, then freeze every object loaded so far: Django,
    the apps and the views live as long as the process, and once frozen the cyclic
    garbage collector's full passes no longer walk them (each pass over them paused
    every request in flight; docs/benchmarks.md has the effect on p99 latency)."""
    get_resolver().url_patterns  # noqa: B018  (loads the URLconf)
    gc.freeze()
