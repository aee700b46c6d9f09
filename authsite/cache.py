"""The default cache: Django's local-memory cache, culled only of what has expired.

Django's ``LocMemCache`` culls a third of its entries, live or not, once it holds
MAX_ENTRIES. The cache holds logins in flight and rate-limit counters, which must live
until they expire: this one removes the expired entries first and culls live ones only
when more than MAX_ENTRIES are alive (CACHE_MAX_ENTRIES, 200,000 by default).
"""

import time

from django.core.cache.backends import locmem


class LocMemCache(locmem.LocMemCache):
    def _cull(self):
        now = time.time()
        expired = [key for key, expiry in self._expire_info.items() if expiry and expiry <= now]
        for key in expired:
            self._delete(key)
        if len(self._cache) >= self._max_entries:
            super()._cull()
