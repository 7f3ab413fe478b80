"""The API's documentation page (Swagger UI), served under the strict Content-Security-Policy."""

import base64
import hashlib
import re

from drf_spectacular.utils import extend_schema
from drf_spectacular.views import SpectacularSwaggerSplitView


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
