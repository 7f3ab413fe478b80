"""The API's index (GET /api/v1/) and documentation page (Swagger UI), served under the strict
Content-Security-Policy."""

import base64
import hashlib
import re

from django.urls import reverse
from drf_spectacular.utils import extend_schema
from drf_spectacular.views import SpectacularSwaggerSplitView
from rest_framework import serializers
from rest_framework.permissions import AllowAny
from rest_framework.response import Response
from rest_framework.views import APIView


def _allow_own_inline_styles(response):
    """Let the page's own fixed <style> blocks through the Content-Security-Policy by their hash,
    rather than allowing every inline style."""
    blocks = re.findall(r"<style>(.*?)</style>", response.content.decode(), flags=re.S)
    hashes = [
        f"'sha256-{base64.b64encode(hashlib.sha256(b.encode()).digest()).decode()}'" for b in blocks
    ]
    if hashes:
        response._csp_update = {"style-src": hashes}
    return response


class ApiDocsView(SpectacularSwaggerSplitView):
    """Swagger UI with its start-up script served as a file (?script), not inline: the strict
    Content-Security-Policy refuses inline scripts. Its assets come from the sidecar in /static/."""

    url_name = "api-schema"

    @extend_schema(exclude=True)
    def get(self, request, *args, **kwargs):
        response = super().get(request, *args, **kwargs)
        response.add_post_render_callback(_allow_own_inline_styles)
        return response


class ApiIndexSerializer(serializers.Serializer):
    name = serializers.CharField()
    version = serializers.CharField()
    schema = serializers.URLField(help_text="The OpenAPI 3 schema of this API.")
    docs = serializers.URLField(help_text="The schema, browsable (Swagger UI).")
    authentication = serializers.CharField()
    links = serializers.DictField(
        child=serializers.URLField(), help_text="The main collections, by name."
    )


class ApiIndexView(APIView):
    """GET /api/v1/: where to start: the schema, the docs, how to sign in and the main
    collections, so a client (or a person) who opens the root is not met with a 404."""

    permission_classes = (AllowAny,)

    @extend_schema(
        operation_id="api_index",
        tags=["api"],
        summary="The API's index: schema, docs and the main collections",
        responses={200: ApiIndexSerializer},
    )
    def get(self, request):
        def link(name):
            return request.build_absolute_uri(reverse(name))

        return Response(
            {
                "name": "Bazaar API",
                "version": "v1",
                "schema": link("api-schema"),
                "docs": link("api-docs"),
                "authentication": (
                    f"POST {reverse('api-auth-token')} with email and password for a token; "
                    "send it as 'Authorization: Token <token>'."
                ),
                "links": {
                    "listings": link("api-listing-list"),
                    "stores": link("api-store-list"),
                    "categories": link("api-category-list"),
                    "me": link("api-me"),
                    "orders": link("api-order-list"),
                    "notifications": link("api-notification-list"),
                    "favourite_listings": link("api-favourite-listings"),
                    "favourite_stores": link("api-favourite-stores"),
                    "seller_balance": link("api-seller-balance"),
                    "seller_payouts": link("api-seller-payouts"),
                },
            }
        )
