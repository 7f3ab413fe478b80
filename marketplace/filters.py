"""One FilterSet for browsing listings, used by the browse pages and the API alike."""

import django_filters
from django.conf import settings

from core.money import MoneyError, to_minor_units
from marketplace.models import Category, ListingKind, Store
from marketplace.search import SearchResult, listing_search, rank_candidates

SORTS = {
    # Only with a search (the default then); without one it is the default order, newest.
    "relevance": ("-rank", "-id"),
    "newest": ("-created_at", "-id"),
    "oldest": ("created_at", "id"),
    "price_asc": ("price_cents", "id"),
    "price_desc": ("-price_cents", "-id"),
    "title": ("title", "id"),
}


class ListingFilter(django_filters.FilterSet):
    q = django_filters.CharFilter(method="filter_q", label="Search")
    category = django_filters.ModelChoiceFilter(
        queryset=Category.objects.all(), to_field_name="slug", empty_label="All categories"
    )
    kind = django_filters.ChoiceFilter(choices=ListingKind.choices, empty_label="Any kind")
    store = django_filters.ModelChoiceFilter(
        queryset=Store.objects.all(), to_field_name="slug", label="Store"
    )
    currency = django_filters.ChoiceFilter(
        choices=[(c, c.upper()) for c in settings.BAZAAR_CURRENCIES], empty_label="Any currency"
    )
    # Prices are typed in major units ("12.50") and compared in the listing's minor units.
    min_price = django_filters.NumberFilter(
        method="filter_min_price", label="Min price", min_value=0
    )
    max_price = django_filters.NumberFilter(
        method="filter_max_price", label="Max price", min_value=0
    )
    sort = django_filters.ChoiceFilter(
        method="filter_sort",
        label="Sort by",
        empty_label=None,
        choices=[
            ("relevance", "Relevance"),
            ("newest", "Newest"),
            ("oldest", "Oldest"),
            ("price_asc", "Price: low to high"),
            ("price_desc", "Price: high to low"),
            ("title", "Title"),
        ],
    )

    # q and sort are applied by filter_queryset, after the other filters: whether the words
    # found anything (or similar words must be tried) is decided within the filtered listings,
    # and sorting by relevance needs the search's rank.
    SEARCH_AND_SORT = ("q", "sort")

    def filter_queryset(self, queryset):
        data = self.form.cleaned_data
        for name, value in data.items():
            if name not in self.SEARCH_AND_SORT:
                queryset = self.filters[name].filter(queryset, value)
        self.search = listing_search(queryset, data.get("q", ""))
        queryset = self.search.queryset
        searching = "rank" in queryset.query.annotations
        sort = data.get("sort") or ("relevance" if searching else "")
        if sort == "relevance" and not searching:
            sort = "newest"
        self.by_relevance = sort == "relevance"
        return queryset.order_by(*SORTS[sort]) if sort else queryset

    @property
    def page_qs(self):
        """The listings to page through: `qs`, except that a search ordered by relevance ranks
        its newest matches only (marketplace/search.py, rank_candidates). Counts and facets use
        `qs`, every match."""
        queryset = self.qs
        if not getattr(self, "by_relevance", False):
            return queryset
        return rank_candidates(queryset, unsearched=self.search.unsearched)

    @property
    def fuzzy(self):
        """Whether the listings were found by correcting the words searched for."""
        self.qs  # noqa: B018 (the search runs with the filters)
        return getattr(self, "search", SearchResult(None)).fuzzy

    @property
    def corrected_query(self):
        """What was searched for instead of the words typed, when fuzzy ("walnut" for "wallnut")."""
        self.qs  # noqa: B018 (the search runs with the filters)
        return getattr(self, "search", SearchResult(None)).corrected_query

    def filter_q(self, queryset, name, value):
        return listing_search(queryset, value).queryset

    def _cents(self, value):
        currency = self.form.cleaned_data.get("currency") or settings.BAZAAR_DEFAULT_CURRENCY
        try:
            return to_minor_units(value, currency)
        except MoneyError:
            # Finer than a cent: compare on the rounded-down cent rather than fail a search.
            return int(value * 100)

    def filter_min_price(self, queryset, name, value):
        return queryset.filter(price_cents__gte=self._cents(value))

    def filter_max_price(self, queryset, name, value):
        return queryset.filter(price_cents__lte=self._cents(value))

    def filter_sort(self, queryset, name, value):
        if value == "relevance" and "rank" not in queryset.query.annotations:
            value = "newest"
        return queryset.order_by(*SORTS.get(value, SORTS["newest"]))
