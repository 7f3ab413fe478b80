"""python manage.py stripe_sandbox status | advance --days N | deliver [--reverse]
    | onboard ACCOUNT_LINK_URL [--business-name NAME] [--support-email EMAIL] [--outcome ...]
    | dispute-close DISPUTE_ID --won|--lost

Steers the offline Stripe: its clock, its webhook deliveries, the hosted onboarding page a
connected account's holder would fill in (for demo data, without a browser), and the card
network's decision on a dispute.
"""

from urllib.parse import urlsplit

from django.core.management.base import BaseCommand, CommandError
from django.db import transaction

from stripe_sandbox import control, core
from stripe_sandbox.currencies import format_amount
from stripe_sandbox.resources import accounts

# Stripe's test bank account that pays out normally (the onboarding page offers it first).
TEST_BANK_ACCOUNT = "000123456789"


class Command(BaseCommand):
    help = (
        "Steer the offline Stripe sandbox: move its clock, deliver events, complete onboarding, "
        "decide disputes."
    )

    def add_arguments(self, parser):
        sub = parser.add_subparsers(dest="action", required=True)
        sub.add_parser("status", help="Show the clock and webhook deliveries.")
        advance = sub.add_parser("advance", help="Move the sandbox clock forward.")
        advance.add_argument("--days", type=int, default=0)
        advance.add_argument("--hours", type=int, default=0)
        advance.add_argument("--minutes", type=int, default=0)
        deliver = sub.add_parser("deliver", help="Send the webhook deliveries not yet accepted.")
        deliver.add_argument("--reverse", action="store_true")
        onboard = sub.add_parser(
            "onboard",
            help="Fill in the hosted onboarding page an account link opens, as its holder would.",
        )
        onboard.add_argument("link_url", help="The account link's url (POST /v1/account_links).")
        onboard.add_argument("--business-name", default="")
        onboard.add_argument("--support-email", default="")
        onboard.add_argument(
            "--outcome",
            choices=accounts.OUTCOMES,
            default=accounts.OUTCOME_COMPLETE,
            help="complete: charges and payouts enabled; due / past_due: details left owing.",
        )
        close = sub.add_parser(
            "dispute-close",
            help="Decide a dispute as the card network would (open or under review).",
        )
        close.add_argument("dispute_id", help="The dispute's id (dp_...).")
        outcome = close.add_mutually_exclusive_group(required=True)
        outcome.add_argument("--won", action="store_true", help="The disputed amount comes back.")
        outcome.add_argument("--lost", action="store_true", help="The funds stay withdrawn.")

    def handle(self, *args, action, **options):
        if action == "advance":
            self._advance(**options)
        elif action == "deliver":
            statuses = control.deliver_pending(reverse=options["reverse"])
            self.stdout.write(f"Delivered {len(statuses)} webhook(s): {statuses}")
        elif action == "onboard":
            self._onboard(**options)
        elif action == "dispute-close":
            self._dispute_close(**options)
        else:
            pending = len(control.pending_deliveries())
            self.stdout.write(f"Clock: {core.now()} (+{core.clock_offset()}s)")
            self.stdout.write(f"Webhook deliveries not yet accepted: {pending}")

    def _advance(self, *, days, hours, minutes, **options):
        total = (days * 24 + hours) * 60 + minutes
        if total <= 0:
            raise CommandError("Say how far to move the clock, e.g. --days 2.")
        control.advance_clock(minutes=total)
        self.stdout.write(f"Sandbox clock is now {core.now()} (+{core.clock_offset()}s).")

    def _onboard(self, *, link_url, business_name, support_email, outcome, **options):
        link_id = urlsplit(link_url).path.rstrip("/").rsplit("/", 1)[-1]
        try:
            # One transaction: the link is locked while it is opened and submitted, and the
            # account's webhooks go out once it commits.
            with transaction.atomic():
                link, _ = accounts.onboarding_open(link_id)
                accounts.onboarding_submit(
                    link_id,
                    link["session"],
                    outcome=outcome,
                    profile={"name": business_name, "support_email": support_email},
                    bank_account_number=TEST_BANK_ACCOUNT,
                    ip="127.0.0.1",
                    user_agent="manage.py stripe_sandbox onboard",
                )
        except accounts.LinkUnusable as exc:
            raise CommandError(
                f"{link_url} cannot be used: account links open once, before they expire. "
                "Create a new one."
            ) from exc
        account = core.get_any(link["account"])
        self.stdout.write(
            f"{account['id']} onboarded ({outcome}): charges "
            f"{'enabled' if account['charges_enabled'] else 'disabled'}, payouts "
            f"{'enabled' if account['payouts_enabled'] else 'disabled'}."
        )

    def _dispute_close(self, *, dispute_id, won, **options):
        try:
            dispute = control.dispute_close(dispute_id, won=won)
        except ValueError as exc:
            raise CommandError(f"{dispute_id}: {exc}") from exc
        amount = format_amount(dispute["amount"], dispute["currency"])
        reinstated = sum(t["amount"] for t in dispute["balance_transactions"] if t["amount"] > 0)
        line = f"{dispute_id} ({amount} on {dispute['charge']}) is {dispute['status']}"
        if reinstated:
            line += f": {format_amount(reinstated, dispute['currency'])} reinstated"
        self.stdout.write(line + ".")
