"""The API documents itself: a valid OpenAPI schema naming every endpoint, and a docs page whose
scripts and styles come from this server and pass its Content-Security-Policy."""

import re

import pytest
from openapi_spec_validator import validate

pytestmark = pytest.mark.django_db

ENDPOINTS = {
    ("get", "/api/v1/templates"),
    ("get", "/api/v1/products"),
    ("get", "/api/v1/campaigns/{campaign_id}"),
    ("get", "/api/v1/messages/{message_id}"),
    ("post", "/api/v1/campaigns/{campaign_id}/send"),
}


def test_the_schema_is_valid_openapi_and_documents_every_endpoint(client):
    response = client.get("/api/v1/openapi.json")
    assert response.status_code == 200
    schema = response.json()
    validate(schema)
    documented = {(m, p) for p, item in schema["paths"].items() for m in item}
    assert documented == ENDPOINTS
    assert schema["components"]["securitySchemes"] == {
        "TokenAuth": {"type": "http", "scheme": "bearer"}
    }
    send = schema["paths"]["/api/v1/campaigns/{campaign_id}/send"]["post"]
    assert {"202", "401", "403", "404", "409", "422", "429"} <= set(send["responses"])
    assert "Idempotency-Key" in [p["name"] for p in send["parameters"]]
    for path, item in schema["paths"].items():
        for method, operation in item.items():
            assert operation.get("description"), f"{method} {path} says nothing"


def test_the_docs_page_loads_its_files_from_this_server(client):
    page = client.get("/api/v1/docs")
    assert page.status_code == 200
    html = page.content.decode()
    policy = page["Content-Security-Policy"]
    assert "script-src 'self'" in policy and "unsafe-inline" not in policy
    # The only inline script is the settings, a JSON data block the browser never runs.
    inline = re.findall(r"<script(?![^>]*\bsrc=)([^>]*)>", html)
    assert inline == [' type="application/json" id="swagger-settings"']
    assets = re.findall(r'(?:src|href)="(/static/[^"]+)"', html)
    assert any(a.endswith(".js") for a in assets) and any(a.endswith(".css") for a in assets)
    for asset in assets:
        response = client.get(asset)
        assert response.status_code == 200, asset
    assert '"url": "/api/v1/openapi.json"' in html


def test_the_docs_need_no_login_but_the_pages_still_do(client):
    assert client.get("/api/v1/openapi.json").status_code == 200
    assert client.get("/campaigns/").status_code == 302
