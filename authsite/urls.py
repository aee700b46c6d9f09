from django.conf import settings
from django.contrib import admin
from django.urls import include, path
from django.utils.csp import CSP
from django.views.decorators.csp import csp_override
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerSplitView

from . import views

# Swagger UI's page has an inline <style> and its components set inline styles; its
# script is loaded from the page's own URL (the split view), so scripts stay strict.
api_docs = csp_override({**settings.SECURE_CSP, "style-src": [CSP.SELF, CSP.UNSAFE_INLINE]})(
    SpectacularSwaggerSplitView.as_view(url_name="schema")
)

urlpatterns = [
    path("healthz", views.healthz, name="healthz"),
    path("readyz", views.readyz, name="readyz"),
    path("admin/", admin.site.urls),
    path("api/schema/", SpectacularAPIView.as_view(urlconf="accounts.openapi"), name="schema"),
    path("api/docs/", api_docs, name="api-docs"),
    path("", include("accounts.urls")),
]

handler400 = "authsite.views.bad_request"
handler403 = "authsite.views.permission_denied"
handler404 = "authsite.views.not_found"
handler500 = "authsite.views.server_error"
