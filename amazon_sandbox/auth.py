"""Login with Amazon (api.amazon.com/auth/o2/token) and the access tokens SP-API calls carry.

Refresh and access tokens are signed (django.core.signing) rather than stored: they name the
selling partner and the app they were issued to, so a token the library cached in one test is
still understood in the next, whose database no longer has the rows of the first. Authorization
codes are stored, because Amazon accepts each one once.
"""

from datetime import timedelta
from urllib.parse import parse_qs, urlencode

from django.core import signing
from django.utils import timezone
from django.utils.crypto import get_random_string

from amazon_sandbox.http import ApiFailure, json_answer
from amazon_sandbox.models import SandboxAuthorizationCode

ACCESS_TOKEN_SECONDS = 3600
CODE_SECONDS = 300
_REFRESH_SALT = "amazon_sandbox.refresh_token"
_ACCESS_SALT = "amazon_sandbox.access_token"


def refresh_token(*, selling_partner_id, client_id) -> str:
    return "Atzr|" + signing.dumps({"sp": selling_partner_id, "cid": client_id}, salt=_REFRESH_SALT)


def _access_token(*, selling_partner_id, client_id) -> str:
    return "Atza|" + signing.dumps({"sp": selling_partner_id, "cid": client_id}, salt=_ACCESS_SALT)


def authorization_code(*, selling_partner_id, application_id) -> str:
    code = "ANDsandbox" + get_random_string(20)
    SandboxAuthorizationCode.objects.create(
        code=code, selling_partner_id=selling_partner_id, application_id=application_id
    )
    return code


def _lwa_error(status, error, description):
    return json_answer(status, {"error_description": description, "error": error})


def token(body: bytes):
    """POST /auth/o2/token, form-encoded: grant_type refresh_token or authorization_code."""
    form = {key: values[0] for key, values in parse_qs(body.decode()).items()}
    client_id, client_secret = form.get("client_id", ""), form.get("client_secret", "")
    if not client_id or not client_secret:
        return _lwa_error(401, "invalid_client", "Client authentication failed")
    grant_type = form.get("grant_type")
    if grant_type == "refresh_token":
        try:
            claims = signing.loads(
                form.get("refresh_token", "").removeprefix("Atzr|"), salt=_REFRESH_SALT
            )
        except signing.BadSignature:
            claims = None
        if not claims or claims["cid"] != client_id:
            return _lwa_error(
                400, "invalid_grant", "The request has an invalid grant parameter : refresh_token"
            )
        return _tokens(claims["sp"], client_id, refresh=form["refresh_token"])
    if grant_type == "authorization_code":
        code = (
            SandboxAuthorizationCode.objects.select_for_update()
            .filter(code=form.get("code", ""), used=False)
            .first()
        )
        if code is None or code.created < timezone.now() - timedelta(seconds=CODE_SECONDS):
            return _lwa_error(
                400, "invalid_grant", "The request has an invalid grant parameter : code"
            )
        code.used = True
        code.save(update_fields=["used"])
        return _tokens(code.selling_partner_id, client_id, refresh=None)
    return _lwa_error(
        400, "unsupported_grant_type", "The authorization grant type is not supported"
    )


def _tokens(selling_partner_id, client_id, *, refresh):
    return json_answer(
        200,
        {
            "access_token": _access_token(
                selling_partner_id=selling_partner_id, client_id=client_id
            ),
            "refresh_token": refresh
            or refresh_token(selling_partner_id=selling_partner_id, client_id=client_id),
            "token_type": "bearer",
            "expires_in": ACCESS_TOKEN_SECONDS,
        },
    )


def selling_partner(headers) -> str:
    """The selling partner whose access token the call carries, or a 403 as SP-API answers it."""
    raw = headers.get("x-amz-access-token", "")
    try:
        claims = signing.loads(
            raw.removeprefix("Atza|"), salt=_ACCESS_SALT, max_age=ACCESS_TOKEN_SECONDS
        )
    except signing.BadSignature:
        raise ApiFailure(
            403,
            "Unauthorized",
            "Access to requested resource is denied.",
            "The access token you provided is revoked, malformed or invalid.",
        ) from None
    return claims["sp"]


def consent_redirect(*, redirect_uri, state, selling_partner_id, application_id) -> str:
    """Where the consent page sends the seller once they confirm, as Seller Central does."""
    code = authorization_code(selling_partner_id=selling_partner_id, application_id=application_id)
    query = urlencode(
        {"state": state, "selling_partner_id": selling_partner_id, "spapi_oauth_code": code}
    )
    return f"{redirect_uri}{'&' if '?' in redirect_uri else '?'}{query}"
