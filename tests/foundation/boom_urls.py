"""A URLconf for one test: an /api/ view that fails unexpectedly, to see the 500 page."""

from django.urls import include, path


def explode(request):
    raise RuntimeError("an unexpected failure")


urlpatterns = [
    path("api/v1/explode", explode),
    path("explode", explode),
    path("", include("authsite.urls")),
]

handler500 = "authsite.views.server_error"
