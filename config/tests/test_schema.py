"""The OpenAPI schema is valid and complete, and its documentation pages load only local assets."""

import re

import pytest
import yaml
from django.core.management import call_command

pytestmark = pytest.mark.django_db

API_PATHS = [
    "/api/v1/",
    "/api/v1/auth/token/",
    "/api/v1/auth/logout/",
    "/api/v1/auth/logout-all/",
    "/api/v1/auth/signup/",
    "/api/v1/me/",
    "/api/v1/me/seller-profile/",
    "/api/v1/categories/",
    "/api/v1/categories/{slug}/",
    "/api/v1/stores/",
    "/api/v1/stores/{slug}/",
    "/api/v1/listings/",
    "/api/v1/listings/{id}/",
    "/api/v1/seller/listings/",
    "/api/v1/seller/listings/{id}/",
    "/api/v1/seller/listings/{id}/submit/",
    "/api/v1/seller/listings/{id}/withdraw/",
    "/api/v1/seller/listings/{id}/archive/",
    "/api/v1/seller/listings/{id}/restore/",
    "/api/v1/seller/listings/{id}/images/",
    "/api/v1/seller/listings/{id}/images/{image_id}/",
]


@pytest.fixture
def schema(api_client):
    response = api_client.get("/api/v1/schema/", {"format": "json"})
    assert response.status_code == 200
    return response.json()


def test_schema_endpoint_serves_openapi_3_with_every_api_path(schema):
    assert schema["openapi"].startswith("3.")
    assert schema["info"]["title"] == "Bazaar API"
    for path in API_PATHS:
        assert path in schema["paths"], path


def test_schema_describes_listing_filters_and_money_fields(schema):
    params = {p["name"] for p in schema["paths"]["/api/v1/listings/"]["get"]["parameters"]}
    assert {
        "q",
        "category",
        "kind",
        "store",
        "currency",
        "min_price",
        "max_price",
        "sort",
    } <= params
    # The catalogue pages by cursor (no OFFSET at any depth): no page number.
    assert {"cursor", "page_size"} <= params and "page" not in params
    listing = schema["components"]["schemas"]["ListingOutput"]["properties"]
    assert listing["price_cents"]["type"] == "integer"
    assert listing["price_display"]["type"] == "string"


def test_schema_separates_input_from_output(schema):
    create = schema["paths"]["/api/v1/seller/listings/"]["post"]
    request_ref = create["requestBody"]["content"]["application/json"]["schema"]["$ref"]
    response_ref = create["responses"]["201"]["content"]["application/json"]["schema"]["$ref"]
    assert request_ref.endswith("/ListingInputRequest")
    assert response_ref.endswith("/SellerListingOutput")
    # Seller listings cannot be deleted, only archived.
    assert "delete" not in schema["paths"]["/api/v1/seller/listings/{id}/"]
    upload = schema["paths"]["/api/v1/seller/listings/{id}/images/"]["post"]
    assert list(upload["requestBody"]["content"]) == ["multipart/form-data"]


def test_schema_documents_the_token_scheme_and_its_lifetime(schema):
    scheme = schema["components"]["securitySchemes"]["tokenAuth"]
    assert (scheme["type"], scheme["in"], scheme["name"]) == ("apiKey", "header", "Authorization")
    assert "Token <token>" in scheme["description"]
    assert "expires 30 days after it is issued" in scheme["description"]
    assert {"tokenAuth": []} in schema["paths"]["/api/v1/me/"]["get"]["security"]
    token = schema["components"]["schemas"]["TokenOutput"]["properties"]
    assert token["expiry"]["format"] == "date-time"
    assert "BAZAAR_API_TOKEN_TTL_HOURS" in token["expiry"]["description"]
    for path in ("/api/v1/auth/logout/", "/api/v1/auth/logout-all/"):
        operation = schema["paths"][path]["post"]
        assert set(operation["responses"]) == {"204", "401"}
        assert operation["security"] == [{"tokenAuth": []}]


def test_schema_yaml_is_served_by_default(api_client):
    response = api_client.get("/api/v1/schema/")

    assert response.status_code == 200
    assert "/api/v1/listings/" in yaml.safe_load(response.content)["paths"]


def test_spectacular_validates_without_warnings(tmp_path):
    target = tmp_path / "schema.yaml"

    call_command("spectacular", "--validate", "--fail-on-warn", "--file", str(target))

    assert "/api/v1/listings/" in yaml.safe_load(target.read_text())["paths"]


def _policy(response):
    directives = [part.split() for part in response["Content-Security-Policy"].split(";")]
    return {words[0]: words[1:] for words in directives if words}


def _script_sources(html):
    return re.findall(r"<script\b([^>]*)>(.*?)</script>", html, flags=re.S)


def _assert_no_inline_scripts_and_only_local_assets(html):
    scripts = _script_sources(html)
    assert scripts, "the page loads its scripts"
    for attributes, body in scripts:
        assert 'src="' in attributes
        assert not body.strip(), "inline <script> is refused by the Content-Security-Policy"
    for url in re.findall(r'(?:src|href)="([^"]+)"', html):
        assert url.startswith("/"), f"{url} is not served by this site"
    assert "//" not in "".join(re.findall(r'(?:src|href)="([^"]+)"', html))


def test_swagger_docs_page_uses_local_assets_and_no_inline_script(client):
    response = client.get("/api/v1/docs/")

    assert response.status_code == 200
    html = response.content.decode()
    assert "/static/drf_spectacular_sidecar/swagger-ui-dist/swagger-ui-bundle.js" in html
    assert "/static/drf_spectacular_sidecar/swagger-ui-dist/swagger-ui.css" in html
    _assert_no_inline_scripts_and_only_local_assets(html)
    policy = _policy(response)
    assert policy["script-src"] == ["'self'"]
    # The page's own <style> block is allowed by its hash, not by allowing inline styles.
    assert "'unsafe-inline'" not in policy["style-src"]
    assert any(source.startswith("'sha256-") for source in policy["style-src"])


def test_swagger_start_up_script_points_at_the_schema(client):
    html = client.get("/api/v1/docs/").content.decode()
    (script_url,) = re.findall(r'<script src="(/api/v1/docs/[^"]*)"', html)

    response = client.get(script_url.replace("&amp;", "&"))

    assert response.status_code == 200
    assert response["Content-Type"].startswith("application/javascript")
    assert "/api/v1/schema/" in response.content.decode()


def test_the_api_root_is_an_index_not_a_404(client):
    response = client.get("/api/v1/")

    assert response.status_code == 200
    body = response.json()
    assert body["schema"] == "http://testserver/api/v1/schema/"
    assert body["docs"] == "http://testserver/api/v1/docs/"
    assert body["links"]["listings"] == "http://testserver/api/v1/listings/"
    for url in body["links"].values():
        assert client.get(url).status_code in (200, 401, 403)
