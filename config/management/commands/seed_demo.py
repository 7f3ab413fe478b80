"""`python manage.py seed_demo`: a small, fixed marketplace to click through.

The data goes through the same services a person's actions would (sign-up, seller onboarding,
listing create/submit, staff review), so it obeys the marketplace's rules and leaves an audit
trail. Running it again finds what is already there and creates nothing new.

Every listing gets a picture and every store a logo, drawn from their titles by
config/demo_pictures.py (uploaded through the same services and image rule as a seller's), and
the listings are created one seller at a time in turn, so the newest come from every store.

Every demo account signs in with the password DEMO_PASSWORD ("bazaar-demo-123").
"""

import io
from dataclasses import dataclass
from datetime import time
from itertools import zip_longest
from pathlib import Path

from django.conf import settings
from django.core.files.uploadedfile import SimpleUploadedFile
from django.core.management import call_command
from django.core.management.base import BaseCommand
from django.db import transaction

from accounts.connect import connect_account_refresh, connect_onboarding_link_create
from accounts.models import User
from accounts.selectors import seller_can_accept_payments
from accounts.services import email_mark_verified, seller_onboard, user_signup
from config.demo_pictures import listing_picture, store_logo
from core.money import to_minor_units
from favourites.services import listing_favourite_add, store_favourite_add
from marketplace import services
from marketplace.models import Category, Listing, ListingKind, ListingStatus
from messaging.services import inquiry_send, message_send

DEMO_PASSWORD = "bazaar-demo-123"
LOGINS_FILE_NAME = "demo-logins.txt"  # in settings.VAR_DIR, for bin/run_dev.py
STAFF_EMAIL = "admin@bazaar.local"

CATEGORIES = [
    # slug, name, description
    ("ceramics", "Ceramics & Pottery", "Hand-thrown and hand-built pieces for table and home."),
    ("woodwork", "Woodwork", "Boards, bowls and furniture made from solid wood."),
    ("art-prints", "Art & Prints", "Original artwork and limited-edition prints."),
    ("home-living", "Home & Living", "Textiles, lighting and small things for the home."),
    ("lessons", "Lessons & Workshops", "Learn a craft from the people who make things."),
    ("design-services", "Design Services", "Logos, illustration and branding, made to order."),
]


@dataclass(frozen=True)
class SellerSpec:
    key: str
    email: str
    full_name: str
    display_name: str
    store_name: str
    country: str
    currency: str
    bio: str
    tagline: str
    about: str


SELLERS = [
    SellerSpec(
        key="maya",
        email="maya@bazaar.local",
        full_name="Maya Okafor",
        display_name="Maya Okafor",
        store_name="Okafor Ceramics",
        country="US",
        currency="usd",
        bio="Stoneware made one piece at a time in a small studio in Portland.",
        tagline="Stoneware for everyday tables",
        about="I have been throwing pots for twelve years. Everything is food safe and fired "
        "to cone 6 in an electric kiln.",
    ),
    SellerSpec(
        key="lukas",
        email="lukas@bazaar.local",
        full_name="Lukas Brandt",
        display_name="Lukas Brandt",
        store_name="Brandt Woodworks",
        country="DE",
        currency="eur",
        bio="Boards, bowls and small furniture from local oak, walnut and cherry.",
        tagline="Solid wood, made to last",
        about="A one-person workshop near Freiburg. Wood comes from fallen trees in the region.",
    ),
    SellerSpec(
        key="priya",
        email="priya@bazaar.local",
        full_name="Priya Shah",
        display_name="Priya Shah Studio",
        store_name="Priya Shah Studio",
        country="GB",
        currency="gbp",
        bio="Illustration, prints and brand design from a studio in Leeds.",
        tagline="Illustration and identity design",
        about="I draw by hand and finish digitally. Commissions open most months.",
    ),
]


@dataclass(frozen=True)
class BuyerSpec:
    email: str
    full_name: str


BUYERS = [
    BuyerSpec(email="sam@bazaar.local", full_name="Sam Rivera"),
    BuyerSpec(email="alex@bazaar.local", full_name="Alex Kim"),
]

APPROVED = ListingStatus.APPROVED
# Demo services of at most this long get weekly hours: lessons, workshops, consultations.
BOOKABLE_MAX_MINUTES = 180
DEMO_WEEKLY_HOURS = [
    *(
        {"weekday": weekday, "start_time": time(9), "end_time": time(17)}
        for weekday in range(5)  # Monday to Friday
    ),
    {"weekday": 5, "start_time": time(10), "end_time": time(14)},
]
PENDING = ListingStatus.PENDING_REVIEW
REJECTED = ListingStatus.REJECTED
PRODUCT = ListingKind.PRODUCT
SERVICE = ListingKind.SERVICE


@dataclass(frozen=True)
class ListingSpec:
    seller: str
    title: str
    kind: str
    category: str
    price: str  # major units in the seller's currency
    description: str
    stock: int | None = None
    duration_minutes: int | None = None
    status: str = APPROVED
    rejection_reason: str = ""


LISTINGS = [
    # Okafor Ceramics (USD)
    ListingSpec(
        "maya",
        "Speckled stoneware mug",
        PRODUCT,
        "ceramics",
        "28.00",
        "A 12 oz mug with a speckled oatmeal glaze and a thumb rest.",
        stock=24,
    ),
    ListingSpec(
        "maya",
        "Set of four dinner plates",
        PRODUCT,
        "ceramics",
        "120.00",
        "Four 10-inch plates in a matte white glaze with a raw clay rim.",
        stock=6,
    ),
    ListingSpec(
        "maya",
        "Serving bowl, ocean glaze",
        PRODUCT,
        "ceramics",
        "64.00",
        "A wide serving bowl in a deep blue glaze that pools green at the rim.",
        stock=5,
    ),
    ListingSpec(
        "maya",
        "Bud vase trio",
        PRODUCT,
        "home-living",
        "45.00",
        "Three small vases for single stems, each a little different.",
        stock=10,
    ),
    ListingSpec(
        "maya",
        "Pour-over coffee dripper",
        PRODUCT,
        "ceramics",
        "38.50",
        "Fits standard #2 filters; glazed inside, bare clay outside.",
        stock=12,
    ),
    ListingSpec(
        "maya",
        "Wheel-throwing taster lesson",
        SERVICE,
        "lessons",
        "75.00",
        "Two hours at the wheel for a complete beginner; clay and firing included.",
        duration_minutes=120,
    ),
    ListingSpec(
        "maya",
        "Private glazing workshop",
        SERVICE,
        "lessons",
        "150.00",
        "Mix and test your own glazes in a half-day session for up to two people.",
        duration_minutes=240,
        status=PENDING,
    ),
    ListingSpec(
        "maya",
        "Seconds box, mixed pottery",
        PRODUCT,
        "ceramics",
        "40.00",
        "Three to five pieces with small glaze flaws.",
        stock=8,
        status=REJECTED,
        rejection_reason="Please show the actual flaws in the photos and list the "
        "pieces a buyer receives.",
    ),
    # Brandt Woodworks (EUR)
    ListingSpec(
        "lukas",
        "Walnut cutting board",
        PRODUCT,
        "woodwork",
        "85.00",
        "Edge-grain walnut, 40 x 25 cm, finished with food-safe oil.",
        stock=7,
    ),
    ListingSpec(
        "lukas",
        "Oak end-grain chopping block",
        PRODUCT,
        "woodwork",
        "140.00",
        "A heavy end-grain block that is kind to knife edges.",
        stock=3,
    ),
    ListingSpec(
        "lukas",
        "Cherry salad bowl",
        PRODUCT,
        "woodwork",
        "95.00",
        "Turned from one piece of cherry, 30 cm across.",
        stock=4,
    ),
    ListingSpec(
        "lukas",
        "Set of six wooden spoons",
        PRODUCT,
        "home-living",
        "36.00",
        "Carved spoons in mixed hardwoods for stirring and serving.",
        stock=15,
    ),
    ListingSpec(
        "lukas",
        "Floating wall shelf, oak",
        PRODUCT,
        "home-living",
        "110.00",
        "An 80 cm shelf with hidden brackets; holds up to 20 kg.",
        stock=5,
    ),
    ListingSpec(
        "lukas",
        "Spoon carving workshop",
        SERVICE,
        "lessons",
        "65.00",
        "Carve your own spoon with hand tools in one afternoon.",
        duration_minutes=180,
    ),
    ListingSpec(
        "lukas",
        "Custom furniture consultation",
        SERVICE,
        "design-services",
        "50.00",
        "An hour to plan a made-to-measure piece, with a sketch and a quote.",
        duration_minutes=60,
    ),
    ListingSpec(
        "lukas",
        "Board oil refill, 250 ml",
        PRODUCT,
        "woodwork",
        "14.50",
        "The same mineral oil and beeswax finish used in the workshop.",
        stock=40,
        status=PENDING,
    ),
    # Priya Shah Studio (GBP)
    ListingSpec(
        "priya",
        "Botanical print, A3",
        PRODUCT,
        "art-prints",
        "32.00",
        "Giclee print of an ink drawing of wild garlic on cotton rag paper.",
        stock=30,
    ),
    ListingSpec(
        "priya",
        "City skyline print, A2",
        PRODUCT,
        "art-prints",
        "48.00",
        "A limited edition of fifty, signed and numbered.",
        stock=50,
    ),
    ListingSpec(
        "priya",
        "Illustrated greeting cards, pack of 8",
        PRODUCT,
        "art-prints",
        "16.00",
        "Eight blank cards with envelopes, four designs.",
        stock=60,
    ),
    ListingSpec(
        "priya",
        "Linen tea towel, hand-printed",
        PRODUCT,
        "home-living",
        "18.00",
        "Screen-printed by hand with a lemon pattern.",
        stock=25,
    ),
    ListingSpec(
        "priya",
        "Logo design package",
        SERVICE,
        "design-services",
        "450.00",
        "Three concepts, two rounds of changes and final files for print and web.",
        duration_minutes=600,
    ),
    ListingSpec(
        "priya",
        "Pet portrait commission",
        SERVICE,
        "art-prints",
        "120.00",
        "A hand-drawn portrait of your pet from photos, delivered as a print and file.",
        duration_minutes=300,
    ),
    ListingSpec(
        "priya",
        "Brand illustration day rate",
        SERVICE,
        "design-services",
        "380.00",
        "A full day of illustration for your brand or campaign.",
        duration_minutes=480,
    ),
    ListingSpec(
        "priya",
        "Sketchbook drawing class",
        SERVICE,
        "lessons",
        "40.00",
        "An evening class on drawing from observation; materials provided.",
        duration_minutes=150,
    ),
]


def in_turns(specs):
    """The listings one seller at a time in turn (each seller's in their own order), so the
    newest listings, on the home page and in browse, come from every store."""
    by_seller = {}
    for spec in specs:
        by_seller.setdefault(spec.seller, []).append(spec)
    rounds = zip_longest(*by_seller.values())
    return [spec for round_ in rounds for spec in round_ if spec is not None]


class Command(BaseCommand):
    help = (
        "Create demo users, stores, categories and listings (safe to run again). "
        f"Every demo account's password is {DEMO_PASSWORD!r}."
    )

    def handle(self, *args, **options):
        self.created = {"users": 0, "sellers": 0, "categories": 0, "listings": 0}
        with transaction.atomic():
            staff = self._staff()
            categories = {slug: self._category(slug, name, text) for slug, name, text in CATEGORIES}
            sellers = {spec.key: self._seller(spec) for spec in SELLERS}
            for spec in BUYERS:
                self._user(spec.email, spec.full_name)
            for spec in SELLERS:
                self._logo(sellers[spec.key])
            for spec in in_turns(LISTINGS):
                self._listing(spec, sellers[spec.seller], categories, staff)
            self._bookable_hours(sellers)
            self._conversation()
            self._favourites()
        # Only the offline sandbox can finish onboarding for a seller (its `stripe_sandbox`
        # command exists only when settings install it, without a Stripe key); with real Stripe,
        # each seller fills in Stripe's own onboarding page.
        if settings.STRIPE_SANDBOX:
            for spec in SELLERS:
                self._connect(sellers[spec.key], spec)
        self._report()

    def _connect(self, seller, spec):
        """Finish a demo seller's Stripe onboarding on the sandbox's hosted page, so buyers can
        pay them straight away."""
        if seller_can_accept_payments(seller):
            return
        connected, url = connect_onboarding_link_create(
            seller_profile=seller.seller_profile,
            return_url=settings.SITE_URL + "/accounts/connect/return/",
            refresh_url=settings.SITE_URL + "/accounts/connect/refresh/",
        )
        call_command(
            "stripe_sandbox",
            "onboard",
            url,
            "--business-name",
            spec.store_name,
            "--support-email",
            spec.email,
            stdout=io.StringIO(),
        )
        connect_account_refresh(stripe_account_id=connected.stripe_account_id)
        self.created["connected accounts"] = self.created.get("connected accounts", 0) + 1

    # --- people ---------------------------------------------------------------------------------

    def _user(self, email, full_name):
        user = User.objects.filter(email__iexact=email).first()
        if user is None:
            user = user_signup(
                email=email, password=DEMO_PASSWORD, full_name=full_name, send_confirmation=False
            )
            self.created["users"] += 1
        # Demo people can buy and sell at once: their addresses count as confirmed.
        return email_mark_verified(user=user, actor=None)

    def _staff(self):
        user = User.objects.filter(email__iexact=STAFF_EMAIL).first()
        if user is None:
            user = User.objects.create_superuser(
                email=STAFF_EMAIL, password=DEMO_PASSWORD, full_name="Bazaar Staff"
            )
            self.created["users"] += 1
        return email_mark_verified(user=user, actor=None)

    def _seller(self, spec):
        user = self._user(spec.email, spec.full_name)
        if not user.is_seller:
            seller_onboard(
                user=user,
                display_name=spec.display_name,
                country=spec.country,
                default_currency=spec.currency,
                bio=spec.bio,
                store_name=spec.store_name,
            )
            user.refresh_from_db()
            services.store_update(
                store=user.store,
                actor=user,
                tagline=spec.tagline,
                about=spec.about,
                contact_email=spec.email,
            )
            self.created["sellers"] += 1
        return user

    # --- catalogue ------------------------------------------------------------------------------

    def _category(self, slug, name, description):
        category, created = Category.objects.get_or_create(
            slug=slug,
            defaults={
                "name": name,
                "description": description,
                "position": [c[0] for c in CATEGORIES].index(slug),
            },
        )
        self.created["categories"] += int(created)
        return category

    def _logo(self, seller):
        """A drawn logo for a demo store that has none (the seller may have uploaded their own)."""
        store = seller.store
        if store.logo:
            return
        services.store_update(store=store, actor=seller, logo=store_logo(store.name))
        self.created["store logos"] = self.created.get("store logos", 0) + 1

    def _listing(self, spec, seller, categories, staff):
        store = seller.store
        if Listing.objects.filter(store=store, title=spec.title).exists():
            return
        currency = seller.seller_profile.default_currency
        listing = services.listing_create(
            store=store,
            actor=seller,
            kind=spec.kind,
            title=spec.title,
            description=spec.description,
            category=categories[spec.category],
            price_cents=to_minor_units(spec.price, currency),
            currency=currency,
            stock=spec.stock,
            duration_minutes=spec.duration_minutes,
        )
        services.listing_image_add(
            listing=listing,
            actor=seller,
            image=listing_picture(spec.title),
            alt_text=f"{spec.title} (demo picture)",
        )
        listing = services.listing_submit(listing=listing, actor=seller)
        if spec.status == APPROVED:
            services.listing_approve(listing=listing, actor=staff)
        elif spec.status == REJECTED:
            services.listing_reject(listing=listing, actor=staff, reason=spec.rejection_reason)
        self.created["listings"] += 1

    def _bookable_hours(self, sellers):
        """Weekday hours (and a short Saturday) for the demo's sessions of a few hours, so a
        buyer can pick a time on their pages; the day-long jobs stay ordered without a time (and
        can be split into milestones)."""
        for seller in sellers.values():
            sessions = Listing.objects.filter(
                store=seller.store,
                kind=ListingKind.SERVICE,
                status=ListingStatus.APPROVED,
                duration_minutes__lte=BOOKABLE_MAX_MINUTES,
                availability__isnull=True,
            )
            for listing in sessions:
                services.service_availability_set(
                    listing=listing,
                    actor=seller,
                    time_zone=seller.time_zone,
                    buffer_minutes=15,
                    horizon_days=60,
                    min_notice_minutes=12 * 60,
                    windows=DEMO_WEEKLY_HOURS,
                    exceptions=[],
                )
                self.created["bookable services"] = self.created.get("bookable services", 0) + 1

    # --- messages -------------------------------------------------------------------------------

    def _conversation(self):
        """A buyer's question with an attachment and the seller's answer, so the inbox and the
        unread badge have something to show."""
        buyer = User.objects.get(email__iexact=BUYERS[0].email)
        if buyer.conversations_as_buyer.exists():
            return
        listing = Listing.objects.filter(status=ListingStatus.APPROVED).order_by("pk").first()
        if listing is None:
            return
        sketch = SimpleUploadedFile(
            "shelf-measurements.txt",
            b"Shelf: 80 cm wide, 24 cm deep.\nWould two of these fit side by side?\n",
            content_type="text/plain",
        )
        question = inquiry_send(
            listing=listing,
            buyer=buyer,
            body="Hi! Would this fit on my shelf? I attached the measurements.",
            files=[sketch],
        )
        message_send(
            conversation=question.conversation,
            sender=listing.store.owner,
            body="Thanks for asking. Yes, two fit side by side with a little room to spare.",
        )
        self.created["demo conversation"] = 1

    def _favourites(self):
        """The first buyer saved two listings and a store, so /favourites/ has something."""
        buyer = User.objects.get(email__iexact=BUYERS[0].email)
        listings = list(Listing.objects.filter(status=ListingStatus.APPROVED).order_by("pk")[:2])
        if not listings:
            return
        saved = sum(listing_favourite_add(user=buyer, listing_id=x.pk)[1] for x in listings)
        saved += store_favourite_add(user=buyer, store_slug=listings[0].store.slug)[1]
        if saved:
            self.created["favourites"] = saved

    # --- output ---------------------------------------------------------------------------------

    def _report(self):
        created = {k: v for k, v in self.created.items() if v}
        if created:
            summary = ", ".join(f"{count} {what}" for what, count in created.items())
            self.stdout.write(self.style.SUCCESS(f"Created {summary}."))
        else:
            self.stdout.write("Demo data already present: nothing created.")

        rows = [(STAFF_EMAIL, DEMO_PASSWORD, "staff (admin at /admin/)")]
        rows += [(s.email, DEMO_PASSWORD, f"seller: {s.store_name}") for s in SELLERS]
        rows += [(b.email, DEMO_PASSWORD, "buyer") for b in BUYERS]
        header = ("email", "password", "role")
        widths = [max(len(row[i]) for row in [header, *rows]) for i in range(3)]

        def line(cells):
            return "  ".join(cell.ljust(width) for cell, width in zip(cells, widths, strict=True))

        table = [
            "Demo logins",
            line(header).rstrip(),
            line(["-" * w for w in widths]),
            *(line(row).rstrip() for row in rows),
        ]
        self.stdout.write("")
        for text in table:
            self.stdout.write(text)
        # `make run` prints them again once the site answers, below the startup logs.
        logins = Path(settings.VAR_DIR) / LOGINS_FILE_NAME
        logins.parent.mkdir(parents=True, exist_ok=True)
        logins.write_text("\n".join(table) + "\n")
