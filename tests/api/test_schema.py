"""The OpenAPI document describes every `/api/` endpoint, and the docs work offline."""

import pytest
from django.urls import URLPattern, URLResolver, get_resolver

from accounts import openapi


def _routes(patterns, prefix=""):
    for pattern in patterns:
        if isinstance(pattern, URLResolver):
            yield from _routes(pattern.url_patterns, prefix + str(pattern.pattern))
        elif isinstance(pattern, URLPattern):
            yield prefix + str(pattern.pattern)


def test_every_api_endpoint_is_described_and_nothing_else():
    served = {
        route
        for route in _routes(get_resolver().url_patterns)
        if route.startswith("api/") and not route.startswith(("api/schema/", "api/docs/"))
    }
    described = {str(pattern.pattern) for pattern in openapi.urlpatterns}
    assert served == described


def test_schema_is_openapi_3_json_with_error_shape(client):
    response = client.get("/api/schema/", HTTP_ACCEPT="application/json")
    assert response.status_code == 200
    document = response.json()
    assert document["openapi"].startswith("3.")
    assert set(document["components"]["schemas"]["Error"]["properties"]) == {"error", "detail"}
    me = document["paths"]["/api/v1/auth/me"]["get"]
    assert set(me["responses"]) >= {"200", "401"}


@pytest.mark.django_db
def test_interactive_docs_are_served_without_the_internet(client):
    response = client.get("/api/docs/")
    assert response.status_code == 200
    html = response.content.decode()
    assert "/static/drf_spectacular_sidecar/swagger-ui-dist/" in html
    assert "https://" not in html.split("<body")[0]
