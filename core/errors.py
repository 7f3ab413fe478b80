"""Domain errors. Services raise these; the API's exception handler, views and admin actions
turn them into a 400/403/404/409 or a message a person can act on.

StripeUnavailable is the one error for "Stripe could not do it": core.stripe_client.call() turns
every error of the stripe SDK into it, with a message a person can act on.
"""


class DomainError(Exception):
    """A rule of the marketplace said no. `message` is written for the person who asked."""

    status_code = 400
    code = "invalid"

    def __init__(self, message, *, field=None, code=None):
        super().__init__(message)
        self.message = message
        self.field = field
        if code:
            self.code = code

    def as_dict(self):
        if self.field:
            return {self.field: [self.message]}
        return {"detail": self.message}


class ValidationFailed(DomainError):
    """Input broke a rule. `errors` maps field names to messages, like a form's errors."""

    def __init__(self, errors: dict[str, list[str] | str]):
        self.errors = {k: v if isinstance(v, list) else [v] for k, v in errors.items()}
        first = next(iter(self.errors.values()))[0] if self.errors else "Invalid input."
        super().__init__(first)

    def as_dict(self):
        return self.errors


class InvalidTransition(DomainError):
    """The record is not in a state that allows this move."""

    status_code = 409
    code = "invalid_transition"


class NotAllowed(DomainError):
    status_code = 403
    code = "not_allowed"


class StripeUnavailable(Exception):
    """Stripe could not be reached or refused the request; `message` says what to do.
    `request_id` is Stripe's id of the refused request (None when Stripe was not reached).
    `detail` is Stripe's own text, written for developers: for staff and logs, not for buyers."""

    def __init__(
        self,
        message,
        *,
        code=None,
        decline_code=None,
        param=None,
        request_id=None,
        retryable=True,
        detail="",
    ):
        super().__init__(message)
        self.message = message
        self.detail = detail or message
        # False when Stripe refused the request itself (a declined card, an invalid request):
        # sending it again gives the same answer. True when it may go through later.
        self.retryable = retryable
        self.code = code
        self.decline_code = decline_code
        self.param = param
        self.request_id = request_id
