import pytest
from djstripe.models import WebhookEndpoint

from core import stripe_client


@pytest.fixture
def every_event_type(stripe_sandbox):
    """Bazaar's endpoints subscribed to every event type ("*"), not only those Bazaar handles:
    these tests check that dj-stripe takes every payload the sandbox sends."""
    api = stripe_client.client().v1
    for endpoint in WebhookEndpoint.objects.all():
        api.webhook_endpoints.update(endpoint.id, params={"enabled_events": ["*"]})
    return stripe_sandbox
