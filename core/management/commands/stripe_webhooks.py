"""python manage.py stripe_webhooks setup [--base-url URL]

Registers Bazaar's two webhook endpoints (platform events, and Connect events from sellers'
accounts) with whichever Stripe the settings name: the offline sandbox, or Stripe itself with a
real key. Safe to run again: an endpoint already pointing at this site is kept.
"""

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from core import stripe_client
from core.errors import StripeUnavailable
from core.stripe_webhooks import ensure_webhook_endpoints


class Command(BaseCommand):
    help = "Register this site's Stripe webhook endpoints (platform and Connect events)."

    def add_arguments(self, parser):
        sub = parser.add_subparsers(dest="action", required=True)
        setup = sub.add_parser("setup", help="Create the webhook endpoints for this site.")
        setup.add_argument(
            "--base-url",
            default=settings.SITE_URL,
            help="The site's public address (default: SITE_URL). Stripe itself only delivers "
            "to addresses it can reach.",
        )

    def handle(self, *args, action, base_url, **options):
        try:
            endpoints = stripe_client.call(ensure_webhook_endpoints, base_url)
        except StripeUnavailable as exc:
            raise CommandError(exc.message) from exc
        for endpoint in endpoints:
            kind = "Connect" if endpoint.application else "platform"
            self.stdout.write(f"Webhook endpoint ({kind} events): {endpoint.url}")
