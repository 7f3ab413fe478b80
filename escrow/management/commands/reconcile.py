"""`python manage.py reconcile`: compare the ledger with Stripe now and print what differs.

The same run the daily Celery job makes (escrow.tasks.reconcile_with_stripe); it is stored and
shown in the admin under Reconciliation runs. Differences are for people to explain, so the
command reports them and exits 0 either way. `--days N` reads Stripe's balance transactions at
least N days back (by default: since the last run that found them all booked).
"""

from datetime import UTC

from django.core.management.base import BaseCommand, CommandError

from escrow.reconcile import reconcile, stripe_window_start


def _amount(cents):
    return "-" if cents is None else str(cents)


class Command(BaseCommand):
    help = "Compare Bazaar's ledger with Stripe and list the differences."

    def add_arguments(self, parser):
        parser.add_argument(
            "--days",
            type=int,
            default=None,
            help="Read Stripe's balance transactions at least this many days back.",
        )

    def handle(self, *args, **options):
        days = options["days"]
        if days is not None and days < 0:
            raise CommandError("--days takes a number of days, 0 or more.")
        since = stripe_window_start(days=days).astimezone(UTC)
        run = reconcile(since=since)
        count = run.difference_count
        orders = run.orders_checked
        summary = (
            f"Reconciliation run #{run.pk}: {orders} order{'' if orders == 1 else 's'} checked, "
            f"{count} difference{'' if count == 1 else 's'}. Stripe's balance transactions "
            f"read from {since:%Y-%m-%d %H:%M} UTC."
        )
        style = self.style.SUCCESS if count == 0 else self.style.WARNING
        self.stdout.write(style(summary))
        for difference in run.differences.all():
            where = f"order #{difference.order_id}" if difference.order_id else "-"
            self.stdout.write(
                f"- [{difference.kind}] {where} {difference.stripe_object_id or '-'}: "
                f"{difference.message} (ours {_amount(difference.ours_cents)}, "
                f"Stripe {_amount(difference.stripe_cents)})"
            )
