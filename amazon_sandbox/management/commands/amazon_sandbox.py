"""python manage.py amazon_sandbox status | assign-asin [SELLER SKU] [--asin B0...]
    | reject SELLER SKU --message TEXT | throttle N [--operation NAME] | process-feeds [FEED_ID]
    | consent CONSENT_URL [--selling-partner-id A...]

Steers the offline SP-API as Amazon's side would: finish processing listings (an ASIN, live),
reject one with an issue, answer the next calls 429, process the queued feeds, and confirm the
consent page a seller would see (for demo data, without a browser).
"""

from django.core.management.base import BaseCommand, CommandError

from amazon_sandbox import control
from amazon_sandbox.models import SandboxFeed, SandboxListing
from amazon_sandbox.router import RATE_LIMITS


class Command(BaseCommand):
    help = (
        "Steer the offline Amazon SP-API sandbox: assign ASINs, reject listings, throttle calls, "
        "process feeds, confirm the consent page."
    )

    def add_arguments(self, parser):
        sub = parser.add_subparsers(dest="action", required=True)
        sub.add_parser("status", help="Listings by state, feeds waiting, throttling.")
        assign = sub.add_parser(
            "assign-asin", help="A listing (or every pending one) gets its ASIN and goes live."
        )
        assign.add_argument("seller_id", nargs="?")
        assign.add_argument("sku", nargs="?")
        assign.add_argument("--asin")
        reject = sub.add_parser("reject", help="Amazon rejects a listing with an issue.")
        reject.add_argument("seller_id")
        reject.add_argument("sku")
        reject.add_argument("--message", required=True)
        reject.add_argument("--attribute", action="append", default=[], dest="attributes")
        throttle = sub.add_parser("throttle", help="Answer the next N calls 429 QuotaExceeded.")
        throttle.add_argument("count", type=int)
        throttle.add_argument("--operation", default="", choices=["", *RATE_LIMITS])
        process = sub.add_parser("process-feeds", help="Process the queued feeds (or one).")
        process.add_argument("feed_id", nargs="?")
        consent = sub.add_parser(
            "consent", help="Confirm Seller Central's consent page; prints where it redirects."
        )
        consent.add_argument("consent_url")
        consent.add_argument("--selling-partner-id")

    def handle(self, *args, action, **options):
        getattr(self, "_" + action.replace("-", "_"))(**options)

    def _status(self, **options):
        for state, label in SandboxListing.State.choices:
            count = SandboxListing.objects.filter(state=state).count()
            self.stdout.write(f"{label} listings: {count}")
        waiting = SandboxFeed.objects.filter(
            status__in=[SandboxFeed.Status.IN_QUEUE, SandboxFeed.Status.IN_PROGRESS]
        ).count()
        self.stdout.write(f"Feeds waiting: {waiting}")
        throttle = control.throttle_state()
        if throttle.throttle_remaining:
            scope = throttle.throttle_operation or "any operation"
            self.stdout.write(f"Throttling: the next {throttle.throttle_remaining} ({scope})")
        else:
            self.stdout.write("Throttling: off")

    def _assign_asin(self, *, seller_id, sku, asin, **options):
        if bool(seller_id) != bool(sku):
            raise CommandError("Name both the seller id and the SKU, or neither.")
        if not seller_id:
            count = control.assign_pending_asins()
            self.stdout.write(self.style.SUCCESS(f"{count} pending listing(s) got an ASIN."))
            return
        try:
            asin = control.assign_asin(seller_id, sku, asin=asin)
        except LookupError as exc:
            raise CommandError(str(exc)) from exc
        self.stdout.write(self.style.SUCCESS(f"{sku} is live with ASIN {asin}."))

    def _reject(self, *, seller_id, sku, message, attributes, **options):
        try:
            control.reject(seller_id, sku, message=message, attribute_names=attributes)
        except LookupError as exc:
            raise CommandError(str(exc)) from exc
        self.stdout.write(self.style.SUCCESS(f"{sku} was rejected: {message}"))

    def _throttle(self, *, count, operation, **options):
        if count < 0:
            raise CommandError("The number of calls cannot be negative.")
        control.throttle(count, operation=operation)
        self.stdout.write(self.style.SUCCESS(f"The next {count} call(s) answer 429."))

    def _process_feeds(self, *, feed_id, **options):
        processed = control.process_feeds(feed_id)
        if feed_id and not processed:
            raise CommandError(f"No queued feed {feed_id}.")
        for feed in processed:
            self.stdout.write(f"{feed.feed_id}: {feed.status}")
        self.stdout.write(self.style.SUCCESS(f"{len(processed)} feed(s) processed."))

    def _consent(self, *, consent_url, selling_partner_id, **options):
        try:
            self.stdout.write(control.consent(consent_url, selling_partner_id=selling_partner_id))
        except ValueError as exc:
            raise CommandError(str(exc)) from exc
