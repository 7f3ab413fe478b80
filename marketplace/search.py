"""Searching listings: what a buyer typed, applied to a queryset of listings.

PostgreSQL: full-text search on each listing's search vector (title, then store and category
names, then description; kept current by triggers, marketplace/models.py), every word required,
the last one as a prefix so results follow the typing ("walnut la" finds "Walnut lamp"), ranked
with the title weighing most. When that finds nothing the query is probably misspelt: each word
the catalogue does not use is replaced by the most similar one it does (pg_trgm over the
vocabulary, SearchTerm, which a trigger keeps current), the same full-text search runs with the
corrected words, and the result says what it searched for instead ("Showing results for
walnut"). Both use an index (migrations 0008 and 0009).

Ordered by relevance, a broad search ranks its newest BAZAAR_SEARCH_RANK_CANDIDATES matches (1,000
unless configured), not all of them (`rank_candidates`). Ranking reads every match's vector:
a word a third of the catalogue uses ("ceramic") read 36,000 rows at 100,000 listings (140 ms of
the database's time per request, and ten times that at a million), where the newest thousand
come off the primary key's index in about a millisecond. A search matching fewer is ranked
whole, as before; the other sorts, the counts and the facets cover every match.

SQLite (`make run`): every word must appear in the title, description, store or category name,
case-insensitively; the same API, without stemming, ranking or typo tolerance.

Any input is safe: the query is reduced to its words (letters and digits) before it reaches the
database, so quotes, operators, backslashes or NUL characters can neither break nor steer it.
"""

import re
from dataclasses import dataclass

from django.conf import settings
from django.contrib.postgres.search import SearchQuery, SearchRank
from django.db import connection
from django.db.models import Case, F, FloatField, Q, QuerySet, Value, When
from django.db.models.functions import Cast

from marketplace.models import SEARCH_CONFIG

# More words than a person types into a search box are ignored, and so is the rest of a word
# longer than any real one.
MAX_WORDS = 10
MAX_WORD_LENGTH = 40
# Letters and digits of any script; everything else (punctuation, operators, _) separates words.
WORD = re.compile(r"[^\W_]+")

# ts_rank's weights of the D, C, B and A parts of the vector: description (C), store and
# category names (B), title (A). PostgreSQL's defaults, written down because ranking relies on
# a title match outweighing any number of description matches.
RANK_WEIGHTS = [0.1, 0.2, 0.4, 1.0]


@dataclass(frozen=True)
class SearchResult:
    """The listings found, each annotated with `rank` (higher is more relevant), and whether
    they were found by correcting the words typed, and to what."""

    queryset: QuerySet
    fuzzy: bool = False
    # What was searched for instead of the words typed, when fuzzy: "walnut lamp" for "wallnut
    # lamp".
    corrected_query: str | None = None
    # The queryset the search was applied to (rank_candidates).
    unsearched: QuerySet | None = None


def search_words(text):
    return [word[:MAX_WORD_LENGTH] for word in WORD.findall(text or "")][:MAX_WORDS]


def listing_search(queryset, text):
    """Listings of `queryset` matching `text`, annotated with `rank`. Blank text changes
    nothing (and annotates no rank); text without a single word finds nothing."""
    if not (text or "").strip():
        return SearchResult(queryset)
    words = search_words(text)
    if not words:
        return SearchResult(queryset.none().annotate(rank=Value(0.0, output_field=FloatField())))
    if connection.vendor != "postgresql":
        return SearchResult(_contains_every_word(queryset, words))
    typed = [word.lower() for word in words]
    known, corrected = _vocabulary(typed)
    found = _full_text(queryset, words)
    # Every word is one the catalogue uses: the words are searched as typed, with no check of
    # whether they find anything (that check read every match, as the list then does again).
    # Known words that never meet find nothing, and nothing is corrected.
    if all(known) or _any(found) or corrected == typed:
        return SearchResult(found, unsearched=queryset)
    # An unknown word may still match through stemming ("lamps" finds "lamp", which is the
    # word the vocabulary holds): only when the words find nothing are they corrected.
    return SearchResult(
        _full_text(queryset, corrected),
        fuzzy=True,
        corrected_query=" ".join(corrected),
        unsearched=queryset,
    )


def rank_candidates(found, *, unsearched):
    """The matches of a search (`found`, `listing_search(...).queryset` as ordered since) to
    order by relevance: its newest BAZAAR_SEARCH_RANK_CANDIDATES (see the module's docstring).
    PostgreSQL only; SQLite's fallback ranks by a flag and is left whole.

    The candidates are taken from `unsearched` (the queryset the search was applied to) by
    primary key, ranked and ordered as `found` is: filtering by the search again would have
    PostgreSQL collect every match twice, and misjudge how many rows the two conditions together
    leave (8 of 927), joining the stores by comparing each candidate with every store."""
    if connection.vendor != "postgresql" or unsearched is None:
        return found
    newest = found.order_by("-pk").values("pk")[: settings.BAZAAR_SEARCH_RANK_CANDIDATES]
    return (
        unsearched.filter(pk__in=newest)
        .annotate(rank=found.query.annotations["rank"])
        .order_by(*found.query.order_by)
    )


def _any(found):
    """Whether the full-text search found anything, in one query that stays fast when it did not.

    exists() (LIMIT 1) is planned as a sequential scan expecting an early match, as PostgreSQL
    guesses that a prefix matches about 0.5% of rows: with no match it reads every row (0.9 s at
    100,000 listings). Asking for the first match in an order no index provides (id + 0) makes it
    collect the matches from the GIN index instead: instant when there are none.
    """
    first = found.order_by().annotate(first=F("pk") + 0).order_by("first").values("pk")[:1]
    return bool(list(first))


def _full_text(queryset, words):
    # Each word is letters and digits only, so joining them is a well-formed tsquery whatever
    # was typed. Stemming applies to the prefix too: "lamps" and "lamp" both become 'lamp':*.
    raw = " & ".join([*words[:-1], f"{words[-1]}:*"])
    query = SearchQuery(raw, search_type="raw", config=SEARCH_CONFIG)
    # ts_rank is a float4, which Python reads as the nearest float8 of its shortest text: a
    # cursor holding that value never equals the float4 again (PostgreSQL widens it exactly), so
    # listings of equal rank across a page break were skipped. As a float8 it reads back exactly.
    return queryset.filter(search_vector=query).annotate(
        rank=Cast(SearchRank(F("search_vector"), query, weights=RANK_WEIGHTS), FloatField())
    )


# For each typed word (lowercased): whether the catalogue uses it, and the word to search for
# instead: itself if known, else the known word most similar to it (pg_trgm's similarity above
# pg_trgm.similarity_threshold, 0.3 unless configured; the closest, then the shorter, then the
# first alphabetically), else itself. The last word is known when some word starts with it: it
# is the prefix being typed ("walnut la").
VOCABULARY_WORDS = """
SELECT known, CASE WHEN known THEN typed ELSE coalesce(
    (SELECT word FROM marketplace_searchterm
     WHERE word %% typed
     ORDER BY similarity(word, typed) DESC, char_length(word), word
     LIMIT 1),
    typed
) END
FROM (
    SELECT typed, n, EXISTS (
        SELECT 1 FROM marketplace_searchterm
        WHERE word = typed OR (n = %(last)s AND word LIKE typed || '%%')
    ) AS known
    FROM unnest(%(words)s::text[]) WITH ORDINALITY AS typed_words(typed, n)
) AS typed_words
ORDER BY n
"""


def _vocabulary(words):
    """Which of the (lowercased) words the catalogue uses, and the words with each unknown one
    replaced by the catalogue's most similar word (SearchTerm): one query over a few thousand
    words, through their indexes."""
    with connection.cursor() as cursor:
        cursor.execute(VOCABULARY_WORDS, {"words": words, "last": len(words)})
        rows = cursor.fetchall()
    return [row[0] for row in rows], [row[1] for row in rows]


def _contains_every_word(queryset, words):
    for word in words:
        queryset = queryset.filter(
            Q(title__icontains=word)
            | Q(description__icontains=word)
            | Q(store__name__icontains=word)
            | Q(category__name__icontains=word)
        )
    # No ranking engine here: listings with every word in their title come first.
    in_title = Q()
    for word in words:
        in_title &= Q(title__icontains=word)
    return queryset.annotate(
        rank=Case(
            When(in_title, then=Value(1.0)),
            default=Value(0.0),
            output_field=FloatField(),
        )
    )
