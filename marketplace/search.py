"""Searching listings: what a buyer typed, applied to a queryset of listings.

PostgreSQL: full-text search on each listing's search vector (title, then store and category
names, then description; kept current by triggers, marketplace/models.py), every word required,
the last one as a prefix so results follow the typing ("walnut la" finds "Walnut lamp"), ranked
with the title weighing most. When that finds nothing the query is probably misspelt: listings
whose title has a word similar to each typed word are returned instead (pg_trgm), and the result
says it was such a fuzzy match. Both use an index (migration 0008).

SQLite (`make run`): every word must appear in the title, description, store or category name,
case-insensitively; the same API, without stemming, ranking or typo tolerance.

Any input is safe: the query is reduced to its words (letters and digits) before it reaches the
database, so quotes, operators, backslashes or NUL characters can neither break nor steer it.
"""

import re
from dataclasses import dataclass
from functools import reduce
from operator import add

from django.contrib.postgres.search import SearchQuery, SearchRank, TrigramWordSimilarity
from django.db import connection
from django.db.models import Case, F, FloatField, Q, QuerySet, Value, When

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
    they were found by similar words rather than the words typed."""

    queryset: QuerySet
    fuzzy: bool = False


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
    found = _full_text(queryset, words)
    if _any(found):
        return SearchResult(found)
    return SearchResult(_similar_words(queryset, words), fuzzy=True)


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
    return queryset.filter(search_vector=query).annotate(
        rank=SearchRank(F("search_vector"), query, weights=RANK_WEIGHTS)
    )


def _similar_words(queryset, words):
    # `title %> word`: the title has a stretch similar to the word (pg_trgm's word_similarity
    # above pg_trgm.word_similarity_threshold, 0.6 unless configured): "wallnut" finds "Walnut
    # lamp". The operator, unlike a comparison with word_similarity(), uses the trigram index.
    for word in words:
        queryset = queryset.filter(title__trigram_word_similar=word)
    similarity = reduce(add, (TrigramWordSimilarity(word, "title") for word in words))
    return queryset.annotate(rank=similarity)


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
