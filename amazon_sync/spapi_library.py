"""amazon_sync.spapi's calls bound to python-amazon-sp-api (`sp_api`): its clients on our httpx
client, Login with Amazon, and its errors turned into SpApiError. Imported by spapi on first
use only (spapi._library): the library costs each process about 5 MB, and web workers serving
pages never call Amazon."""

import threading
from collections import OrderedDict

import httpx
from django.conf import settings
from sp_api.api import FeedsV20210630, ListingsItemsV20210801
from sp_api.auth import AccessTokenClient
from sp_api.auth.exceptions import AuthorizationError
from sp_api.base import Marketplaces, SellingApiException
from sp_api.base._transport_httpx import HttpxTransport
from sp_api.base.credential_provider import CredentialProvider, FromCodeCredentialProvider
from sp_api.base.helpers import fill_query_params, sp_endpoint

from amazon_sync import spapi


def region_of(marketplace_id) -> str:
    """NA, EU or FE for an Amazon marketplace id."""
    return _region(_marketplace(marketplace_id))


def authorize_auth_code(code):
    """Login with Amazon's answer to an authorization code (the refresh token in it)."""
    client = _token_client(refresh_token=None)
    try:
        return client.authorize_auth_code(code)
    except AuthorizationError as exc:
        raise _lwa_error(exc) from exc
    except httpx.HTTPError as exc:
        raise spapi.SpApiError(f"Login with Amazon did not answer: {exc}") from exc


def _bind(library_client):
    """Route a library client's requests through our httpx client. python-amazon-sp-api keeps
    its transport in `_transport` (an HttpxTransport, which takes a ready httpx client); pinned in
    requirements.txt, and every call here goes through it in the tests."""
    library_client._transport = HttpxTransport(client=spapi._http_client())
    return library_client


class _AccessTokenClient(AccessTokenClient):
    """The library's Login with Amazon client (its token cache, its requests), on our transport."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        _bind(self)


def _token_client(*, refresh_token):
    credentials = CredentialProvider(
        credentials=spapi._lwa_credentials(), credential_providers=[FromCodeCredentialProvider]
    ).credentials
    return _AccessTokenClient(refresh_token=refresh_token, credentials=credentials)


def _marketplace(marketplace_id) -> Marketplaces:
    for marketplace in Marketplaces:
        if marketplace.marketplace_id == marketplace_id:
            return marketplace
    raise spapi.SpApiError(f"{marketplace_id!r} is not an Amazon marketplace this client knows.")


def _region(marketplace: Marketplaces) -> str:
    """NA, EU or FE: the SP-API endpoint's region (sellingpartnerapi-na.amazon.com...)."""
    return marketplace.endpoint.split("sellingpartnerapi-")[-1].split(".")[0].upper()


# Library clients made per thread and kept (the last LIBRARY_CLIENTS_KEPT): making one costs
# ~0.2 s, as it builds two httpx clients (TLS contexts) before ours replaces them. A library
# client is not shared between threads: it notes the method of the call in flight on itself.
LIBRARY_CLIENTS_KEPT = 32
_library_clients = threading.local()


def _library_client(api_class, creds: spapi.Credentials):
    kept = getattr(_library_clients, "clients", None)
    if kept is None:
        kept = _library_clients.clients = OrderedDict()
    key = (
        api_class,
        creds,
        settings.AMAZON_LWA_CLIENT_ID,
        settings.AMAZON_LWA_CLIENT_SECRET,
        settings.AMAZON_SPAPI_TRANSPORT,
        settings.AMAZON_SPAPI_TIMEOUT_SECONDS,
    )
    if key in kept:
        kept.move_to_end(key)
        return kept[key]
    client = api_class(
        _marketplace(creds.marketplace_id),
        refresh_token=creds.refresh_token,
        credentials=spapi._lwa_credentials(),
        # Only the credentials given here: not the environment, config files or AWS secrets.
        credential_providers=[FromCodeCredentialProvider],
        auth_token_client_class=_AccessTokenClient,
        timeout=settings.AMAZON_SPAPI_TIMEOUT_SECONDS,
    )
    kept[key] = _bind(client)
    while len(kept) > LIBRARY_CLIENTS_KEPT:
        kept.popitem(last=False)
    return kept[key]


def call(creds, api, operation, *args, **kwargs):
    client = _library_client(APIS[api], creds)
    try:
        return getattr(client, operation)(*args, **kwargs)
    except SellingApiException as exc:
        raise _api_error(exc) from exc
    except AuthorizationError as exc:
        # Login with Amazon refused the seller's refresh token (revoked, or not this app's).
        raise _lwa_error(exc) from exc
    except httpx.HTTPError as exc:
        raise spapi.SpApiError(f"Amazon did not answer: {exc}") from exc


def _api_error(exc: SellingApiException) -> spapi.SpApiError:
    errors = exc.error if isinstance(exc.error, list) else []
    first = errors[0] if errors else {}
    message = first.get("message") or "Amazon refused the request."
    details = first.get("details")
    if details:
        message = f"{message} {details}"
    status = getattr(exc, "code", 0) or 0
    code = first.get("code", "")
    if status == 429:
        return spapi.SpApiThrottled(message, retry_after=spapi._retry_after(exc.headers), code=code)
    return spapi.SpApiError(message, status=status if status != 999 else 0, code=code)


def _lwa_error(exc: AuthorizationError) -> spapi.SpApiError:
    message = exc.message or "Login with Amazon refused the authorization."
    return spapi.SpApiError(message, status=exc.status_code or 0, code=str(exc.error_code or ""))


class _FeedDocuments(FeedsV20210630):
    """getFeedDocument's answer alone (the library's helper also downloads, on its own client)."""

    @sp_endpoint("/feeds/2021-06-30/documents/{}", method="GET")
    def feed_document(self, feed_document_id, **kwargs):
        return self._request(
            fill_query_params(kwargs.pop("path"), feed_document_id),
            params=kwargs,
            add_marketplace=False,
        )


# The library's APIs spapi calls, by the names it gives them.
APIS = {
    "listings": ListingsItemsV20210801,
    "feeds": FeedsV20210630,
    "feed_documents": _FeedDocuments,
}
