"""For tests that talk to the sandbox through the real stripe SDK, with no host project's
configuration: a StripeClient whose HTTP layer is the sandbox.

    from stripe_sandbox.testing import client
    account = client().v1.accounts.create(params={"type": "express", "country": "US"})
"""

import stripe

from stripe_sandbox.core import API_VERSION
from stripe_sandbox.transport import SandboxHTTPClient

# The sandbox takes any test-mode secret key.
SECRET_KEY = "sk_test_StripeSandboxTesting0000"


def client():
    """A StripeClient answered in-process by the sandbox, pinned to the version it speaks."""
    return stripe.StripeClient(
        api_key=SECRET_KEY,
        stripe_version=API_VERSION,
        max_network_retries=0,
        http_client=SandboxHTTPClient(),
    )
