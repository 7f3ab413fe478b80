"""bench/browse's URLs: the product's, plus /bench/bare/ (only in bench.browse_settings)."""

from django.db import connection
from django.urls import path
from rest_framework import serializers
from rest_framework.permissions import AllowAny
from rest_framework.response import Response
from rest_framework.views import APIView

from config.urls import urlpatterns as product_urlpatterns

QUERY_HEADER = "X-Bench-Queries"


class QueryCountMiddleware:
    """Adds X-Bench-Queries: the SQL statements the default database ran for this request."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        executed = 0

        def count(execute, sql, params, many, context):
            nonlocal executed
            executed += 1
            return execute(sql, params, many, context)

        with connection.execute_wrapper(count):
            response = self.get_response(request)
        response[QUERY_HEADER] = str(executed)
        return response


class BareItemSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    title = serializers.CharField()
    price_cents = serializers.IntegerField()
    currency = serializers.CharField()


# A page of the size the listings API serves, fixed: what DRF and the middleware cost alone.
BARE_ITEMS = [
    {"id": n, "title": f"Bare item {n}", "price_cents": 1000 + n, "currency": "usd"}
    for n in range(1, 21)
]


class BareView(APIView):
    """20 fixed items through a serializer, with the API's default authentication, renderers and
    exception handler: no query, no template."""

    permission_classes = (AllowAny,)

    def get(self, request):
        items = BareItemSerializer(BARE_ITEMS, many=True).data
        return Response({"next": None, "previous": None, "results": items})


urlpatterns = [path("bench/bare/", BareView.as_view(), name="bench-bare"), *product_urlpatterns]
