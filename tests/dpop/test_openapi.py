"""The OpenAPI document describes DPoP: the header on every operation, the DPoP
security scheme, the token type, the refusals and the headers they carry."""

import pytest

pytestmark = pytest.mark.django_db


@pytest.fixture
def document(client):
    return client.get("/api/schema/", HTTP_ACCEPT="application/json").json()


def operations(document):
    for methods in document["paths"].values():
        yield from methods.values()


def test_every_operation_takes_a_dpop_header_and_may_refuse_it(document):
    for operation in operations(document):
        headers = {p["name"] for p in operation["parameters"] if p["in"] == "header"}
        assert "DPoP" in headers, operation["operationId"]
        refused = operation["responses"]["401"]
        assert "invalid_dpop_proof" in refused["description"]
        assert "use_dpop_nonce" in refused["description"]
        assert {"WWW-Authenticate", "DPoP-Nonce"} <= set(refused["headers"])


def test_the_dpop_scheme_and_token_type_are_described(document):
    assert document["components"]["securitySchemes"]["dpopAuth"]["scheme"] == "DPoP"
    me = document["paths"]["/api/v1/auth/me"]["get"]
    assert {"dpopAuth": []} in me["security"]
    assert document["components"]["schemas"]["TokenTypeEnum"]["enum"] == ["Bearer", "DPoP"]
