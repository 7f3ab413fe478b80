"""python manage.py stripe_webhooks setup [--base-url URL]

Registers Bazaar's two webhook endpoints (platform events, and Connect events from sellers'
accounts) with whichever Stripe the settings name: the offline sandbox, or Stripe itself with a
real key; subscribes them to exactly the event types Bazaar handles and stores their signing
secrets. The one step that makes Stripe tell Bazaar about payments. Safe to run again (after a
deploy that handles a new event type, say): the endpoints are brought up to date.
"""

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from core import stripe_client
from core.errors import StripeUnavailable
from core.stripe_webhooks import HANDLED_EVENT_TYPES, ensure_webhook_endpoints


class Command(BaseCommand):
    help = "Register this site's Stripe webhook endpoints (platform and Connect events)."

    def add_arguments(self, parser):
        sub = parser.add_subparsers(dest="action", required=True)
        setup = sub.add_parser(
            "setup", help="Create or update the webhook endpoints for this site."
        )
        setup.add_argument(
            "--base-url",
            default=settings.SITE_URL,
            help="The site's public address (default: SITE_URL). Stripe itself only delivers "
            "to addresses it can reach.",
        )

    def handle(self, *args, action, base_url, **options):
        try:
            changes = stripe_client.call(ensure_webhook_endpoints, base_url)
        except StripeUnavailable as exc:
            raise CommandError(exc.message) from exc
        for change in changes:
            self.stdout.write(
                f"Webhook endpoint ({change.kind} events): {change.url} [{change.action}]"
            )
        events = ", ".join(sorted(HANDLED_EVENT_TYPES))
        self.stdout.write(f"Events: {events}")
