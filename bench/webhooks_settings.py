"""Settings the webhooks and release benches run gunicorn and the Celery worker with: the
product's production settings (from the environment bench/webhooks_stack.py generates) with the
offline Stripe sandbox answering in-process, as Stripe's API would over the network. The product
carries no bench code: these are the only differences.

- stripe_sandbox installed, its URLs mounted (bench/webhooks_urls.py) and its HTTP client named,
  as development does (production never chooses the sandbox by itself);
- that client timed (bench.webhooks_sandbox.TimedSandboxClient), so the benches can tell the
  sandbox's own time from Bazaar's.
"""

from config.settings import *  # noqa: F403
from config.settings import INSTALLED_APPS

INSTALLED_APPS = [*INSTALLED_APPS, "stripe_sandbox"]
ROOT_URLCONF = "bench.webhooks_urls"
STRIPE_HTTP_CLIENT = "bench.webhooks_sandbox.TimedSandboxClient"
# Deliveries the sandbox makes are posted to the endpoint's URL (the bench's gunicorn), as
# Stripe posts them.
STRIPE_SANDBOX_WEBHOOK_DELIVERY = "http"
