from django.conf import settings
from django.contrib import admin
from django.urls import include, path
from django.utils.csp import CSP
from django.views.decorators.csp import csp_override

from . import views


def _built_on_first_request(build):
    """Return a view that builds the real one with ``build()`` at its first request, so
    that a process that never serves it never imports what it needs."""
    built = []

    def view(request, *args, **kwargs):
        if not built:
            built.append(build())
        return built[0](request, *args, **kwargs)

    return view


def _schema():
    from drf_spectacular.views import SpectacularAPIView

    return SpectacularAPIView.as_view(urlconf="accounts.openapi")


def _api_docs():
    from drf_spectacular.views import SpectacularSwaggerSplitView

    # Swagger UI's page has an inline <style> and its components set inline styles; its
    # script is loaded from the page's own URL (the split view), so scripts stay strict.
    return csp_override({**settings.SECURE_CSP, "style-src": [CSP.SELF, CSP.UNSAFE_INLINE]})(
        SpectacularSwaggerSplitView.as_view(url_name="schema")
    )


# Django tries the patterns in order and none overlap: the busiest come first.
urlpatterns = [
    path("", include("accounts.urls")),
    path("healthz", views.healthz, name="healthz"),
    path("readyz", views.readyz, name="readyz"),
    path("metrics", views.metrics, name="metrics"),
    path("admin/", admin.site.urls),
    path("api/schema/", _built_on_first_request(_schema), name="schema"),
    path("api/docs/", _built_on_first_request(_api_docs), name="api-docs"),
    path(f"{settings.STATIC_URL.strip('/')}/<path:path>", views.static_file, name="static"),
]

handler400 = "authsite.views.bad_request"
handler403 = "authsite.views.permission_denied"
handler404 = "authsite.views.not_found"
handler500 = "authsite.views.server_error"
