"""The cross-site cookie policy, applied to every response (see accounts/cookies.py).

Async-native: under ASGI it adds no thread hop."""

from asgiref.sync import iscoroutinefunction, markcoroutinefunction
from django.conf import settings

from .cookies import apply_policy


class CookiePolicyMiddleware:
    sync_capable = True
    async_capable = True

    def __init__(self, get_response):
        self.get_response = get_response
        self.is_async = iscoroutinefunction(get_response)
        if self.is_async:
            markcoroutinefunction(self)

    def _apply(self, request, response):
        if response.cookies:
            apply_policy(
                response.cookies,
                samesite=settings.COOKIE_SAMESITE,
                secure=settings.COOKIE_SECURE,
                partitioned=settings.COOKIE_PARTITIONED,
                user_agent=request.headers.get("User-Agent", ""),
            )
        return response

    def __call__(self, request):
        if self.is_async:
            return self.__acall__(request)
        return self._apply(request, self.get_response(request))

    async def __acall__(self, request):
        return self._apply(request, await self.get_response(request))
