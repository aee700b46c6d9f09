"""The default cache (authsite/cache.py) culls what has expired before anything alive."""

import time

from django.core.cache.backends.locmem import LocMemCache as DjangosLocMemCache

from authsite.cache import LocMemCache


def _filled(backend):
    cache = backend("test-cull", {"OPTIONS": {"MAX_ENTRIES": 10}})
    cache.clear()
    for index in range(4):
        cache.set(f"live{index}", index, 600)
    for index in range(6):
        cache.set(f"expiring{index}", index, 0.05)
    time.sleep(0.1)
    for index in range(6):
        cache.set(f"new{index}", index, 600)
    return cache


def test_live_entries_outlast_expired_ones_when_the_cache_is_full():
    cache = _filled(LocMemCache)
    assert [cache.get(f"live{index}") for index in range(4)] == [0, 1, 2, 3]
    assert [cache.get(f"new{index}") for index in range(6)] == [0, 1, 2, 3, 4, 5]


def test_django_s_own_culls_live_entries_in_the_same_case():
    cache = _filled(DjangosLocMemCache)
    alive = [cache.get(f"live{index}") for index in range(4)]
    alive += [cache.get(f"new{index}") for index in range(6)]
    assert None in alive
