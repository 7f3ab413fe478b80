"""The stripe SDK's HTTP layer, answered by the sandbox instead of api.stripe.com."""

from stripe._http_client import HTTPClient

from stripe_sandbox.router import handle


class SandboxHTTPClient(HTTPClient):
    name = "bazaar-stripe-sandbox"

    def request(self, method, url, headers, post_data=None, *, _usage=None):
        return handle(method, url, headers, post_data)

    def request_stream(self, method, url, headers, post_data=None, *, _usage=None):
        body, status, response_headers = handle(method, url, headers, post_data)
        return _Stream(body if isinstance(body, bytes) else body.encode()), status, response_headers

    def close(self):
        pass


class _Stream:
    def __init__(self, data):
        self._data = data

    def read(self, *args):
        data, self._data = self._data, b""
        return data
