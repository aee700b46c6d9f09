import pytest


def test_healthz_answers_without_database(client):
    # No django_db mark: any database access in this test raises.
    response = client.get("/healthz")
    assert response.status_code == 200
    assert response.json() == {"status": "ok"}


@pytest.mark.django_db
def test_readyz_ok_when_database_answers(client):
    response = client.get("/readyz")
    assert response.status_code == 200
    assert response.json()["status"] == "ok"


def test_api_404_is_json(client):
    response = client.get("/api/v1/no-such-thing")
    assert response.status_code == 404
    assert response["Content-Type"] == "application/json"
    assert response.json()["error"] == "not_found"


def test_api_405_is_json(client):
    response = client.delete("/api/v1/auth/csrf")
    assert response.status_code == 405
    assert response.json()["error"] == "method_not_allowed"
    assert response["Allow"] == "GET"


def test_csrf_endpoint_sets_cookie(client):
    response = client.get("/api/v1/auth/csrf")
    assert response.status_code == 200
    assert response.json()["csrf_token"]
    assert "csrftoken" in response.cookies


def test_unexpected_failure_on_the_api_is_a_json_500_without_traceback(client, settings):
    settings.ROOT_URLCONF = "tests.foundation.boom_urls"
    client.raise_request_exception = False
    response = client.get("/api/v1/explode")
    assert response.status_code == 500
    assert response["Content-Type"] == "application/json"
    assert response.json()["error"] == "server_error"
    assert "Traceback" not in response.content.decode()
    assert "RuntimeError" not in response.content.decode()
    page = client.get("/explode")
    assert page.status_code == 500
    assert page["Content-Type"].startswith("text/html")
