"""API tokens for mobile clients (django-rest-knox).

POST /api/v1/auth/token/ (or sign-up) hands out a token and its expiry; the client sends
`Authorization: Token <token>` until then. A token stops working when it expires
(BAZAAR_API_TOKEN_TTL_HOURS after it was issued), when the client signs out
(POST /api/v1/auth/logout/), when it signs out everywhere (POST /api/v1/auth/logout-all/), and
when the password changes or is reset: every token of that person is revoked
(accounts.services.user_password_changed). Only a hash of each token is stored.
"""

from django.conf import settings
from drf_spectacular.extensions import OpenApiAuthenticationExtension
from knox.auth import TokenAuthentication


class ApiTokenAuthentication(TokenAuthentication):
    """knox's token check, under Bazaar's name (settings and the schema refer to this one)."""


def token_lifetime_text():
    hours = int(settings.REST_KNOX["TOKEN_TTL"].total_seconds() // 3600)
    if hours % 24 == 0:
        days = hours // 24
        return f"{days} day{'s' if days != 1 else ''}"
    return f"{hours} hour{'s' if hours != 1 else ''}"


class ApiTokenScheme(OpenApiAuthenticationExtension):
    """The schema's description of the token: how to send it and how long it lives.
    drf-spectacular ships one for knox; this one says Bazaar's lifetime and how to revoke."""

    target_class = "accounts.authentication.ApiTokenAuthentication"
    name = "tokenAuth"
    priority = 1

    def get_security_definition(self, auto_schema):
        return {
            "type": "apiKey",
            "in": "header",
            "name": "Authorization",
            "description": (
                "Send `Authorization: Token <token>` with the token from POST "
                "/api/v1/auth/token/ or /api/v1/auth/signup/. A token expires "
                f"{token_lifetime_text()} after it is issued (the `expiry` in that answer); "
                "then the API answers 401 and the app signs in again. POST "
                "/api/v1/auth/logout/ revokes the token, /api/v1/auth/logout-all/ every token "
                "of the account; changing or resetting the password revokes them all too."
            ),
        }
