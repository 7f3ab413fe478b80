"""What bench/webhooks posts: Bazaar's webhook endpoints registered with the sandbox (their
signing secrets stored, as `manage.py stripe_webhooks setup` does), `sellers` sellers with their
Express accounts made through the product's own services, and one real `account.updated` event
the sandbox emitted about one of them: the template of the events posted (each gets its own
event id and one of the sellers' accounts, so processing one re-reads and mirrors that account).

Run inside Django (bench/webhooks runs it with `manage.py shell -c`); writes a JSON file.
"""

import json

from django.utils import timezone
from djstripe.models import WebhookEndpoint

from accounts.connect import connect_account_start
from accounts.models import User
from accounts.services import seller_onboard
from core import stripe_client
from core.stripe_webhooks import ensure_webhook_endpoints
from stripe_sandbox import control


def make_seller(number):
    user = User.objects.create_user(
        email=f"bench-seller-{number}@bazaar.test", email_verified_at=timezone.now()
    )
    return seller_onboard(
        user=user,
        display_name=f"Bench seller {number}",
        country="US",
        default_currency="usd",
        store_name=f"Bench store {number}",
    )


def prepare(*, base_url, sellers, out):
    # Deliveries stay held: the bench posts its own events, not the sandbox's.
    control.hold_webhooks(True)
    ensure_webhook_endpoints(base_url)
    accounts = [
        connect_account_start(seller_profile=make_seller(number)).stripe_account_id
        for number in range(sellers)
    ]
    account = stripe_client.client().v1.accounts.retrieve(accounts[0]).to_dict()
    template = control.emit("account.updated", account, account=accounts[0])
    # Events about connected accounts go to the Connect endpoint.
    endpoint = next(e for e in WebhookEndpoint.objects.all() if e.application)
    with open(out, "w") as fp:
        json.dump(
            {
                "path": "/" + endpoint.url.split("/", 3)[3],
                "secret": endpoint.secret,
                "template": template,
                "accounts": accounts,
            },
            fp,
        )
