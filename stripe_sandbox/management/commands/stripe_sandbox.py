"""python manage.py stripe_sandbox status | advance --days N | deliver [--reverse]"""

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from stripe_sandbox import control, core
from stripe_sandbox.models import SandboxWebhookDelivery


class Command(BaseCommand):
    help = "Steer the offline Stripe sandbox: move its clock, deliver events."

    def add_arguments(self, parser):
        sub = parser.add_subparsers(dest="action", required=True)
        sub.add_parser("status", help="Show the clock and webhook deliveries.")
        advance = sub.add_parser("advance", help="Move the sandbox clock forward.")
        advance.add_argument("--days", type=int, default=0)
        advance.add_argument("--hours", type=int, default=0)
        advance.add_argument("--minutes", type=int, default=0)
        deliver = sub.add_parser("deliver", help="Send the webhook deliveries not yet accepted.")
        deliver.add_argument("--reverse", action="store_true")

    def handle(self, *args, action, **options):
        if not settings.STRIPE_SANDBOX:
            raise CommandError("STRIPE_SECRET_KEY is set: Bazaar talks to Stripe, not the sandbox.")
        if action == "advance":
            minutes = (options["days"] * 24 + options["hours"]) * 60 + options["minutes"]
            if minutes <= 0:
                raise CommandError("Say how far to move the clock, e.g. --days 2.")
            control.advance_clock(minutes=minutes)
            self.stdout.write(f"Sandbox clock is now {core.now()} (+{core.clock_offset()}s).")
        elif action == "deliver":
            statuses = control.deliver_pending(reverse=options["reverse"])
            self.stdout.write(f"Delivered {len(statuses)} webhook(s): {statuses}")
        else:
            pending = SandboxWebhookDelivery.objects.exclude(
                status=SandboxWebhookDelivery.Status.DELIVERED
            ).count()
            self.stdout.write(f"Clock: {core.now()} (+{core.clock_offset()}s)")
            self.stdout.write(f"Webhook deliveries not yet accepted: {pending}")
