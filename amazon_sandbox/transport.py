"""httpx's transport, answered by the sandbox instead of Amazon: give it to an httpx.Client (or
name it in AMAZON_SPAPI_TRANSPORT) and Login with Amazon, the SP-API and feed document URLs are
answered in-process. Any other address fails as an unreachable host would."""

import httpx

from amazon_sandbox import feeds, router


class SandboxTransport(httpx.BaseTransport):
    def handle_request(self, request: httpx.Request) -> httpx.Response:
        url = str(request.url)
        if not _answered(url):
            raise httpx.ConnectError(f"The Amazon sandbox does not answer {url}.", request=request)
        answer = router.handle(request.method, url, request.headers, request.read())
        return httpx.Response(answer.status, headers=answer.headers, content=answer.body)


def _answered(url):
    host = httpx.URL(url).host
    return (
        host == router.LWA_HOST
        or bool(router.SP_API_HOST.match(host))
        or url.startswith(feeds.documents_base())
    )
