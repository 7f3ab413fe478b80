"""Helpers of the sandbox's own tests."""

from urllib.parse import urlencode


def lwa(client, **form):
    """POST to Login with Amazon's token endpoint, form-encoded as Amazon requires."""
    return client.post(
        "/amazon-sandbox/lwa/auth/o2/token",
        urlencode(form),
        content_type="application/x-www-form-urlencoded",
    )
