"""The catalogue bench/browse loads: a few sellers' stores, the categories, and N approved
listings with varied titles, descriptions and prices.

Listings go in by PostgreSQL's COPY, 50,000 rows a statement (COPY_CHUNK; on SQLite, where
the smoke test runs it, by executemany), so the rows bypass the ORM: every column is named and
filled here, and a column another change adds must either have a database default or a trigger
that fills it (a search vector) or be added below. The search vocabulary's trigger is off during
the load, and the vocabulary is filled once at the end (VOCABULARY_MIGRATION); the table's
indexes other than its primary key are dropped for the load and built again after it. Rows are drawn
from a seeded generator, so two databases of the same size hold the same catalogue.
bench/browse runs it in `manage.py shell` against the database it creates, then VACUUM ANALYZE
(outside a transaction).
"""

import importlib
import itertools
import random
from contextlib import contextmanager
from datetime import timedelta

import pgtrigger
from django.db import connection, transaction
from django.utils import timezone

from accounts.models import SellerProfile, User
from marketplace.models import Category, Listing, ListingKind, ListingStatus, Store

SEED = 16
# Each store's listings come in at its own pace; the home page takes them store by store.
STORES = 40
CHUNK = 10_000
# Listings per COPY statement on PostgreSQL. The search vocabulary's trigger runs AFTER each row,
# and PostgreSQL queues those events until the statement ends: one COPY of a million rows held a
# million queued events and ran them at the end, over half an hour on a busy 2-core machine,
# where statements of this size keep the queue short.
COPY_CHUNK = 50_000
VOCABULARY_TRIGGER = "marketplace.Listing:listing_search_terms"
VOCABULARY_MIGRATION = importlib.import_module("marketplace.migrations.0009_search_vocabulary")

CATEGORIES = [
    ("Ceramics", "ceramics"),
    ("Furniture", "furniture"),
    ("Lighting", "lighting"),
    ("Textiles", "textiles"),
    ("Jewellery", "jewellery"),
    ("Kitchen", "kitchen"),
    ("Prints and art", "prints-and-art"),
    ("Toys", "toys"),
    ("Stationery", "stationery"),
    ("Garden", "garden"),
    ("Lessons", "lessons"),
    ("Repairs", "repairs"),
]
SERVICE_CATEGORIES = ("lessons", "repairs")

MATERIALS = (
    "walnut oak ash cherry maple birch pine teak bamboo ceramic stoneware porcelain earthenware "
    "terracotta linen wool cotton silk leather brass copper silver gold pewter glass rattan "
    "willow cork felt hemp jute marble slate concrete enamel"
).split()
ADJECTIVES = (
    "handmade hand-thrown hand-carved hand-turned hand-woven hand-stitched rustic minimalist "
    "vintage-style modern speckled glazed matte polished brushed hammered knitted embroidered "
    "printed painted reclaimed oiled waxed sturdy delicate oversized small large tiny tall low "
    "round square oval curved folding stackable nesting reversible personalised"
).split()
COLOURS = (
    "natural white black charcoal sage olive forest navy indigo teal ochre mustard rust "
    "terracotta blush cream sand grey amber honey"
).split()
# What is for sale in each category, comma-separated (some are two words).
OBJECTS = {
    slug: [thing.strip() for thing in things.split(",")]
    for slug, things in {
        "ceramics": "mug, vase, bowl, plate, planter, teapot, jug, cup, platter, tumbler, dish",
        "furniture": "stool, chair, bench, side table, shelf, cabinet, desk, sideboard, bookcase",
        "lighting": "lamp, desk lamp, floor lamp, pendant light, lampshade, sconce, lantern",
        "textiles": "blanket, cushion, throw, rug, scarf, tote bag, apron, napkins, quilt",
        "jewellery": "ring, necklace, bracelet, earrings, pendant, brooch, cufflinks",
        "kitchen": "chopping board, spoon, ladle, knife rack, canister, coaster set, trivet",
        "prints-and-art": "print, poster, etching, painting, linocut, sculpture, wall hanging",
        "toys": "puzzle, rattle, toy train, doll, stacking blocks, spinning top, rocking horse",
        "stationery": "notebook, journal, planner, greeting card, bookmark, pen, pencil case",
        "garden": "planter, bird feeder, trellis, plant pot, birdhouse, wind chime",
        "lessons": "pottery lesson, woodturning class, weaving workshop, jewellery class",
        "repairs": "furniture repair, lamp rewiring, chair recaning, ring resizing",
    }.items()
}
FEATURES = [
    "Each piece is made to order in our workshop, so no two are exactly alike.",
    "Finished with a food-safe oil and buffed by hand.",
    "Fired twice at high temperature for a durable, dishwasher-safe glaze.",
    "The grain and colour vary from piece to piece; the photos show a typical one.",
    "Sized to sit comfortably on a desk, a shelf or a bedside table.",
    "Made from offcuts of our larger work, so nothing goes to waste.",
    "Ships wrapped in recycled paper and a sturdy box.",
    "Comes with care instructions and a small note from the maker.",
    "Wipe clean with a damp cloth; avoid harsh detergents.",
    "The lamp takes a standard E27 bulb (not included) and has a braided cable.",
    "Solid joints, no screws: it is built to be handed down.",
    "Available in several colours; tell us yours in a message before ordering.",
    "Personalisation is free: add initials or a short date.",
    "We use sustainably sourced materials from small local suppliers.",
    "Light enough to move around the house, heavy enough not to tip over.",
    "A lovely gift for a housewarming, a wedding or a birthday.",
    "Dimensions are approximate; each one is measured before it is sent.",
    "Pairs well with the other pieces of the same collection in our store.",
]
SERVICE_FEATURES = [
    "Sessions take place in our studio; all tools and materials are included.",
    "Suitable for complete beginners; small groups, plenty of time to ask questions.",
    "We will confirm the details with you by message after booking.",
    "Bring an old piece and leave with it working like new.",
]
FIRST_NAMES = (
    "Maya Lukas Priya Tomasz Ines Kwame Sofia Aiko Mateo Leila Jonas Amara Noor Felix Chloe "
    "Dev Hana Oskar Zara Emil"
).split()
SURNAMES = (
    "Okafor Brandt Shah Nowak Ferreira Mensah Rossi Tanaka Garcia Haddad Berg Diallo Khan "
    "Weber Martin Patel Kim Larsen Ali Novak"
).split()
STORE_WORDS = "Ceramics Woodworks Studio Workshop Atelier Makers Goods Home Craft Loom".split()
# (share of listings, lowest and highest price in minor units): everyday, mid, premium, rare.
PRICE_BANDS = [(0.55, 500, 6_000), (0.30, 6_000, 40_000), (0.13, 40_000, 300_000)]
PRICE_TOP = (300_000, 2_000_000)
CURRENCIES = [("usd", 0.7), ("eur", 0.2), ("gbp", 0.1)]

LISTING_COLUMNS = (
    "store_id",
    "category_id",
    "kind",
    "title",
    "description",
    "price_cents",
    "currency",
    "stock",
    "duration_minutes",
    "status",
    "cancellation_policy",
    "transit_days",
    "rejection_reason",
    "submitted_at",
    "reviewed_at",
    "created_at",
    "updated_at",
)


def _price(rng):
    draw = rng.random()
    low, high = PRICE_TOP
    for share, band_low, band_high in PRICE_BANDS:
        if draw < share:
            low, high = band_low, band_high
            break
        draw -= share
    # Prices people set: whole amounts, some .50, some ending in 9.
    cents = rng.randint(low // 100, high // 100) * 100 + rng.choice((0, 0, 0, 50))
    return cents - 1 if rng.random() < 0.3 else cents


def _listing_text(rng, category_slug):
    thing = rng.choice(OBJECTS[category_slug])
    material = rng.choice(MATERIALS)
    adjective = rng.choice(ADJECTIVES)
    colour = rng.choice(COLOURS)
    title = rng.choice(
        (
            f"{adjective.capitalize()} {material} {thing}",
            f"{material.capitalize()} {thing} in {colour}",
            f"{adjective.capitalize()} {thing}, {colour} {material}",
            f"{colour.capitalize()} {material} {thing} ({adjective})",
        )
    )
    features = SERVICE_FEATURES if category_slug in SERVICE_CATEGORIES else FEATURES
    sentences = [
        f"A {adjective} {thing} made from {material}, finished in {colour}.",
        *rng.sample(features, k=min(len(features), rng.randint(2, 4))),
    ]
    if rng.random() < 0.4:
        extra = rng.choice(MATERIALS)
        sentences.append(
            f"Details in {extra}; it goes well with a {rng.choice(OBJECTS[category_slug])}."
        )
    return title[:140], " ".join(sentences)


def _sellers(rng):
    """The stores, made once per database (found again by their slugs on a second call)."""
    stores = []
    for index in range(STORES):
        slug = f"bench-store-{index:02d}"
        store = Store.objects.filter(slug=slug).first()
        if store is None:
            first, last = FIRST_NAMES[index % 20], SURNAMES[(index * 7) % 20]
            user = User.objects.create_user(
                f"bench-seller-{index:02d}@bazaar.local",
                password=None,
                full_name=f"{first} {last}",
                email_verified_at=timezone.now(),
            )
            country, currency = rng.choice((("US", "usd"), ("GB", "gbp"), ("DE", "eur")))
            SellerProfile.objects.create(
                user=user,
                display_name=f"{first} {last}",
                country=country,
                default_currency=currency,
            )
            name = f"{last} {STORE_WORDS[index % len(STORE_WORDS)]}"
            store = Store.objects.create(
                owner=user,
                name=name,
                slug=slug,
                tagline=f"Small-batch goods by {first} {last}",
                description=f"{name} makes things by hand, one at a time.",
                about=f"{first} started {name} in a shared workshop.",
            )
        stores.append(store)
    return stores


def _categories():
    return {
        slug: Category.objects.get_or_create(
            slug=slug, defaults={"name": name, "position": position}
        )[0]
        for position, (name, slug) in enumerate(CATEGORIES)
    }


def listing_rows(*, count, stores, categories, seed=SEED, now=None):
    """Yield `count` rows of LISTING_COLUMNS: approved, spread over the last two years."""
    rng = random.Random(seed)
    now = now or timezone.now()
    # Stores differ in size: a few busy ones, many small ones.
    store_weights = [1 / (rank + 1) for rank in range(len(stores))]
    store_ids = [store.pk for store in stores]
    slugs = list(categories)
    currency_codes = [code for code, _ in CURRENCIES]
    currency_weights = [share for _, share in CURRENCIES]
    span = timedelta(days=730).total_seconds()
    for index in range(count):
        slug = rng.choice(slugs)
        is_service = slug in SERVICE_CATEGORIES
        title, description = _listing_text(rng, slug)
        # Oldest first, so ids and creation times grow together as in a real catalogue.
        created = now - timedelta(seconds=span * (count - index) / count + rng.random())
        yield (
            rng.choices(store_ids, store_weights)[0],
            categories[slug].pk,
            (ListingKind.SERVICE if is_service else ListingKind.PRODUCT).value,
            title,
            description,
            _price(rng),
            rng.choices(currency_codes, currency_weights)[0],
            None if is_service else rng.choice((None, 0, 1, 3, 10, 25)),
            rng.choice((30, 60, 90, 120)) if is_service else None,
            ListingStatus.APPROVED.value,
            "",
            None,
            "",
            created,
            created,
            created,
            created,
        )


@contextmanager
def _indexes_built_after(cursor, table):
    """The table's indexes other than its primary key are dropped for the block and made again
    after it, as PostgreSQL's manual advises for a bulk load: the search vector's GIN index took
    each row's thirty-odd words one insertion at a time, and a million-listing load had done
    350,000 rows in 26 minutes on a busy 2-core machine, each 50,000 slower than the last."""
    cursor.execute(
        "SELECT indexname, indexdef FROM pg_indexes WHERE schemaname = current_schema() "
        "AND tablename = %s AND indexname NOT IN ("
        "  SELECT conname FROM pg_constraint WHERE conrelid = %s::regclass)",
        [table, table],
    )
    indexes = cursor.fetchall()
    # Django's foreign keys are checked at commit (DEFERRABLE INITIALLY DEFERRED): queued, those
    # checks would stop the indexes being made in the same transaction, and a million of them
    # waited in memory. Checked as each row goes in, they leave nothing pending.
    cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")
    for name, _definition in indexes:
        cursor.execute(f'DROP INDEX "{name}"')
    yield
    cursor.execute("SET LOCAL maintenance_work_mem = '256MB'")
    for _name, definition in indexes:
        cursor.execute(definition)


def populate(*, listings, seed=SEED):
    """Fill the current database with the bench catalogue: STORES stores, the categories and
    `listings` approved listings (added to whatever listings are already there)."""
    rng = random.Random(seed)
    with transaction.atomic():
        stores = _sellers(rng)
        categories = _categories()
        rows = listing_rows(count=listings, stores=stores, categories=categories, seed=seed)
        table = Listing._meta.db_table
        columns = ", ".join(LISTING_COLUMNS)
        with connection.cursor() as cursor:
            if connection.vendor == "postgresql":
                rows = iter(rows)
                # The vocabulary's trigger adds each row's words one INSERT at a time (over an
                # hour for a million rows): off for the load, and the words are added at the
                # end in one statement, the one migration 0009 filled the vocabulary with.
                with pgtrigger.ignore(VOCABULARY_TRIGGER), _indexes_built_after(cursor, table):
                    while chunk := list(itertools.islice(rows, COPY_CHUNK)):
                        with cursor.cursor.copy(f"COPY {table} ({columns}) FROM STDIN") as copy:
                            for row in chunk:
                                copy.write_row(row)
                with connection.schema_editor(atomic=False) as schema_editor:
                    VOCABULARY_MIGRATION.backfill_vocabulary(None, schema_editor)
            else:
                adapt = connection.ops.adapt_datetimefield_value
                sql = (
                    f"INSERT INTO {table} ({columns}) "
                    f"VALUES ({', '.join(['%s'] * len(LISTING_COLUMNS))})"
                )
                batch = []
                for row in rows:
                    batch.append(row[:-4] + tuple(adapt(value) for value in row[-4:]))
                    if len(batch) == CHUNK:
                        cursor.executemany(sql, batch)
                        batch = []
                if batch:
                    cursor.executemany(sql, batch)
