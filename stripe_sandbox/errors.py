"""Stripe's error shapes (https://stripe.com/docs/api/errors)."""


class StripeSandboxError(Exception):
    status = 400
    type = "invalid_request_error"

    def __init__(self, message, *, param=None, code=None, **extra):
        super().__init__(message)
        self.message = message
        self.param = param
        self.code = code
        self.extra = extra

    def body(self, request_id):
        error = {"type": self.type, "message": self.message, "request_log_url": ""}
        if self.param:
            error["param"] = self.param
        if self.code:
            error["code"] = self.code
        error.update(self.extra)
        error["request_log_url"] = f"https://dashboard.stripe.com/test/logs/{request_id}"
        return {"error": error}


class InvalidRequest(StripeSandboxError):
    pass


class ResourceMissing(StripeSandboxError):
    status = 404

    def __init__(self, kind, object_id, param="id"):
        super().__init__(f"No such {kind}: '{object_id}'", param=param, code="resource_missing")


class AuthenticationError(StripeSandboxError):
    status = 401
    type = "invalid_request_error"


class IdempotencyError(StripeSandboxError):
    status = 400
    type = "idempotency_error"


class IdempotencyKeyInUse(IdempotencyError):
    """Another request with the same Idempotency-Key is still running. Nothing is stored for this
    one, so it may be retried (the stripe SDK retries a 409 on its own)."""

    status = 409

    def __init__(self, key):
        super().__init__(
            "There is currently another in-progress request using this Idempotent Key (that "
            "probably means you submitted twice, and the other request is still going through): "
            f"{key}. Please try again later.",
            code="idempotency_key_in_use",
        )


class CardError(StripeSandboxError):
    status = 402
    type = "card_error"


class PermissionError_(StripeSandboxError):
    status = 403
    type = "invalid_request_error"


class RateLimited(StripeSandboxError):
    """Stripe's answer beyond its rate limit (the stripe SDK raises stripe.RateLimitError)."""

    status = 429

    def __init__(self):
        super().__init__(
            "Too many requests hit the API too quickly. We recommend an exponential backoff of "
            "your requests.",
            code="rate_limit",
        )
