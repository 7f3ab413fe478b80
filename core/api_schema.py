"""The API's OpenAPI schema documents the errors DRF actually answers with, for every operation.

drf-spectacular writes the responses a view declares and nothing else, so a client reading the
schema would not learn that a bad token is a 401 or a page past the last one a 404. This
AutoSchema adds them from what the view is made of (its authentication, permissions, throttles,
parameters and request body), not by hand per view, and gives every error a body: the views'
own descriptions are kept.
"""

from drf_spectacular.openapi import AutoSchema as SpectacularAutoSchema
from drf_spectacular.plumbing import ResolvedComponent
from rest_framework.authentication import SessionAuthentication
from rest_framework.permissions import SAFE_METHODS, AllowAny, IsAuthenticated
from rest_framework.permissions import IsAuthenticatedOrReadOnly as ReadOnlyForAnonymous
from rest_framework.throttling import ScopedRateThrottle

from core.pagination import KeysetPagination

# Query parameters whose bad values DRF's paginators answer with a 404 or ignore, never a 400.
PAGINATION_PARAMETERS = {"page", "page_size", "limit", "cursor"}

ERROR_DESCRIPTIONS = {
    400: "Invalid input: messages per field ({field: [message]}), or a `detail`",
    401: "The API token sent is not valid (expired or revoked), or none was sent and this "
    "needs one",
    403: "You may not do this: `detail` says why",
    404: "Not found, or not yours; for a list, a page past the last one",
    415: "The request body is not in a media type this operation reads",
    429: "Too many requests: try again after the number of seconds in Retry-After",
}

ERROR_DETAIL = ResolvedComponent(
    name="ErrorDetail",
    type=ResolvedComponent.SCHEMA,
    object="ErrorDetail",
    schema={
        "type": "object",
        "description": "Why the request was refused, for a person.",
        "properties": {
            "detail": {"type": "string"},
            "code": {"type": "string", "description": "For a refusal by a marketplace rule."},
        },
        "required": ["detail"],
    },
)

FIELD_ERRORS = ResolvedComponent(
    name="FieldErrors",
    type=ResolvedComponent.SCHEMA,
    object="FieldErrors",
    schema={
        "description": "Messages per field ({field: [message]}, nested for nested fields), "
        "`detail` for the request as a whole; for a list body, one entry per item.",
        "oneOf": [
            {"type": "object", "additionalProperties": {}},
            {"type": "array", "items": {}},
        ],
    },
)


class AutoSchema(SpectacularAutoSchema):
    def get_operation(self, path, path_regex, path_prefix, method, registry):
        operation = super().get_operation(path, path_regex, path_prefix, method, registry)
        if operation is None:
            return None
        responses = operation["responses"]
        for code in self._error_codes(operation):
            responses.setdefault(str(code), {"description": ERROR_DESCRIPTIONS[code]})
        for code, response in responses.items():
            if code.startswith(("4", "5")) and "content" not in response:
                component = FIELD_ERRORS if code == "400" else ERROR_DETAIL
                self.registry.register_on_missing(component)
                response["content"] = {"application/json": {"schema": component.ref}}
        return operation

    def _error_codes(self, operation):
        """The 4xx DRF can answer this operation with, whatever its view does."""
        view = self.view
        parameters = operation.get("parameters", [])
        authenticators = view.get_authenticators()
        permissions = view.get_permissions()
        codes = set()
        # Keyset pagination answers a bad cursor, page size or a page number with a 400.
        keyset = any(p["in"] == "query" and p["name"] == "cursor" for p in parameters) and (
            issubclass(getattr(view, "pagination_class", None) or object, KeysetPagination)
        )
        if (
            keyset
            or "requestBody" in operation
            or any(
                p["in"] in ("query", "header") and p["name"] not in PAGINATION_PARAMETERS
                for p in parameters
            )
        ):
            codes.add(400)
        if authenticators:
            # A token that does not check out is refused, even where no sign-in is needed.
            codes.add(401)
        csrf = self.method not in SAFE_METHODS and any(
            isinstance(a, SessionAuthentication) for a in authenticators
        )
        if csrf or any(
            not isinstance(p, (AllowAny, IsAuthenticated, ReadOnlyForAnonymous))
            for p in permissions
        ):
            codes.add(403)
        if any(p["in"] == "path" for p in parameters) or (
            not keyset
            and any(p["in"] == "query" and p["name"] in ("page", "cursor") for p in parameters)
        ):
            codes.add(404)
        if "requestBody" in operation:
            codes.add(415)
        if any(self._throttled(throttle) for throttle in view.get_throttles()):
            codes.add(429)
        return sorted(codes)

    def _throttled(self, throttle):
        if isinstance(throttle, ScopedRateThrottle):
            # A scope of None (this action has no budget) lets every request through.
            return getattr(self.view, throttle.scope_attr, None) is not None
        return True
