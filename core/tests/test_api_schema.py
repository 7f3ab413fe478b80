"""The schema generator documents the errors DRF answers with, from what each view is made of."""

import pytest

pytestmark = pytest.mark.django_db


@pytest.fixture
def schema(api_client):
    response = api_client.get("/api/v1/schema/", {"format": "json"})
    assert response.status_code == 200
    return response.json()


def responses(schema, path, method):
    return schema["paths"][path][method]["responses"]


def test_a_bad_token_is_a_documented_401_wherever_tokens_are_read(schema, api_client):
    # Categories need no sign-in, but a token that does not check out is still refused.
    answer = api_client.get("/api/v1/categories/", HTTP_AUTHORIZATION="Token nonsense")

    assert answer.status_code == 401
    assert "401" in responses(schema, "/api/v1/categories/", "get")
    # Getting a token reads none: nothing to refuse.
    assert "401" not in responses(schema, "/api/v1/auth/token/", "post")


def test_pages_past_the_last_and_unknown_ids_are_documented_404s(schema, api_client):
    assert api_client.get("/api/v1/categories/", {"page": 99}).status_code == 404
    assert "404" in responses(schema, "/api/v1/categories/", "get")
    assert "404" in responses(schema, "/api/v1/listings/{id}/", "get")
    # No path parameter, no page: nothing to miss.
    assert "404" not in responses(schema, "/api/v1/me/", "get")


def test_input_errors_and_unreadable_bodies_are_documented(schema, api_client):
    answer = api_client.post("/api/v1/auth/token/", "email=x", content_type="text/plain")

    assert answer.status_code == 415
    token = responses(schema, "/api/v1/auth/token/", "post")
    assert {"400", "415"} <= set(token)
    # A filter can be refused; a page number or size cannot (they are a 404 or ignored).
    assert "400" in responses(schema, "/api/v1/listings/", "get")
    assert "400" not in responses(schema, "/api/v1/conversations/", "get")


def test_permissions_and_rate_limits_are_documented_where_they_apply(schema):
    # Only sellers manage listings; signing in is enough to read your own profile.
    assert "403" in responses(schema, "/api/v1/seller/listings/", "get")
    assert "403" not in responses(schema, "/api/v1/me/", "get")
    # Placing an order has a budget, reading your orders has none.
    assert "429" in responses(schema, "/api/v1/orders/", "post")
    assert "429" not in responses(schema, "/api/v1/orders/", "get")


def test_every_error_has_a_body_and_views_keep_their_own_descriptions(schema):
    for path, operations in schema["paths"].items():
        for method, operation in operations.items():
            for code, response in operation["responses"].items():
                if code[0] in "45":
                    body = response["content"]["application/json"]["schema"]["$ref"]
                    expected = "FieldErrors" if code == "400" else "ErrorDetail"
                    assert body.endswith(f"/{expected}"), (method, path, code)

    pay = responses(schema, "/api/v1/orders/{id}/pay/", "post")
    assert (
        pay["403"]["description"] == "Only the buyer can pay, once their email address is confirmed"
    )
    detail = schema["components"]["schemas"]["ErrorDetail"]
    assert detail["required"] == ["detail"]
