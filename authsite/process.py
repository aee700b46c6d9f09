"""What a server process does once the project is loaded, before its first request."""

import gc

from django.urls import get_resolver


def freeze_loaded_objects() -> None:
    """Load the URLconf and its views, then freeze every object loaded so far, which
    lives as long as the process, out of the cyclic garbage collector's reach."""
    get_resolver().url_patterns  # noqa: B018  (loads the URLconf)
    gc.freeze()
