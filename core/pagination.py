"""Pagination for the API and the pages.

StandardPagination: page numbers, for the per-person lists (orders, messages, notifications,
payouts), which stay short.

Keyset (cursor) pagination, for the lists over the whole catalogue, which grow with it and are
scrolled deep (mobile infinite scroll): a page is "the rows after this one in the list's order",
a WHERE on the sort columns that an index answers, so page 200 costs what page 1 costs. OFFSET
would read and throw away every row before the page, and a COUNT(*) would read them all.

The order is the queryset's own ORDER BY (the filter's `sort` sets it: marketplace/filters.py),
whatever its columns and directions, annotations included; the primary key is added as a last
tie-breaker when the order does not end with it, so every row has one place. The cursor carries
the values of the row it starts from, signed (django.core.signing): a client cannot forge one to
probe other columns, and a tampered, truncated or stale cursor (one made for another sort) is a
field error, never a 500. The sort columns must not be NULL (they are not, in the catalogue),
and an annotation's value must come back from Python as the database had it: declare its
output_field as the SQL type it has (a float8 or float4 as FloatField, a numeric as DecimalField),
or the row it stops at never compares equal to the cursor.
"""

from collections import OrderedDict
from dataclasses import dataclass
from urllib.parse import urlencode

from django.core import signing
from django.core.exceptions import FieldDoesNotExist
from django.core.exceptions import ValidationError as DjangoValidationError
from django.db.models import F, OrderBy, Q
from rest_framework.exceptions import ValidationError
from rest_framework.pagination import BasePagination, PageNumberPagination
from rest_framework.response import Response
from rest_framework.utils.urls import replace_query_param


class StandardPagination(PageNumberPagination):
    page_size = 20
    page_size_query_param = "page_size"
    max_page_size = 100


CURSOR_PARAM = "cursor"
_SALT = "core.pagination.cursor"
BAD_CURSOR = "This cursor is not valid: follow the `next` or `previous` link of a page."
OTHER_ORDER = (
    "This cursor belongs to another sort order: start again from the first page of this one."
)


class BadCursor(Exception):
    """A cursor that was not made by this site for this list's order."""


@dataclass(frozen=True)
class KeysetPage:
    rows: list
    next_cursor: str | None
    previous_cursor: str | None


def _ordering(queryset):
    """The queryset's order as [(name, descending)], ending with the primary key."""
    query = queryset.query
    terms = list(query.order_by) or (
        list(query.get_meta().ordering) if query.default_ordering else []
    )
    ordering = []
    for term in terms:
        if isinstance(term, OrderBy) and isinstance(term.expression, F):
            ordering.append((term.expression.name, term.descending))
        elif isinstance(term, str) and term and term != "?":
            ordering.append((term.lstrip("-"), term.startswith("-")))
        else:
            raise TypeError(f"Keyset pagination cannot order by {term!r}.")
    pk_name = query.get_meta().pk.name
    ordering = [("pk" if name == pk_name else name, desc) for name, desc in ordering]
    if not ordering or ordering[-1][0] != "pk":
        ordering.append(("pk", ordering[-1][1] if ordering else False))
    return ordering


def _field(queryset, name):
    query = queryset.query
    if name in query.annotations:
        return query.annotations[name].output_field
    meta = query.get_meta()
    try:
        return meta.pk if name == "pk" else meta.get_field(name)
    except FieldDoesNotExist:
        raise TypeError(f"Keyset pagination cannot order by {name!r}.") from None


def _position(row, ordering):
    values = []
    for name, _ in ordering:
        value = getattr(row, name)
        values.append(value.isoformat() if hasattr(value, "isoformat") else value)
    return values


def _fingerprint(ordering):
    return ",".join(f"{'-' if desc else ''}{name}" for name, desc in ordering)


def encode_cursor(*, ordering, row, backwards):
    return signing.dumps(
        {"o": _fingerprint(ordering), "v": _position(row, ordering), "b": backwards},
        salt=_SALT,
        compress=True,
    )


def decode_cursor(cursor, *, queryset, ordering):
    """The (values, backwards) a cursor stands for, checked against this list's order."""
    try:
        data = signing.loads(cursor, salt=_SALT)
    except (signing.BadSignature, ValueError, TypeError, UnicodeError):
        raise BadCursor(BAD_CURSOR) from None
    if not isinstance(data, dict) or not isinstance(data.get("v"), list):
        raise BadCursor(BAD_CURSOR)
    if data.get("o") != _fingerprint(ordering) or len(data["v"]) != len(ordering):
        raise BadCursor(OTHER_ORDER)
    try:
        values = [
            _field(queryset, name).to_python(raw)
            for (name, _), raw in zip(ordering, data["v"], strict=True)
        ]
    except (DjangoValidationError, TypeError, ValueError):
        raise BadCursor(BAD_CURSOR) from None
    if any(value is None for value in values):
        raise BadCursor(BAD_CURSOR)
    return values, bool(data.get("b"))


def _after(ordering, values):
    """The lexicographic "comes after this position" for mixed directions:
    a >= x AND ((a > x) OR (a = x AND b > y) OR (a = x AND b = y AND c > z) ...).

    The first bound says nothing the OR does not, but PostgreSQL can start an index scan from it:
    under the OR alone it read every row before the cursor and dropped them one by one (4,000
    rows at the 200th page of 20), which made a deep page cost what OFFSET does."""
    condition = Q()
    for i, (name, desc) in enumerate(ordering):
        term = Q(**{n: v for (n, _), v in zip(ordering[:i], values[:i], strict=True)})
        term &= Q(**{f"{name}__{'lt' if desc else 'gt'}": values[i]})
        condition |= term
    first, desc = ordering[0]
    return Q(**{f"{first}__{'lte' if desc else 'gte'}": values[0]}) & condition


def keyset_page(queryset, *, cursor, page_size):
    """One page of `queryset` from `cursor` (None: the first page), in the queryset's order.

    One query for the rows (page_size + 1 of them, to know if more follow) plus the queryset's
    own prefetches; no COUNT, no OFFSET. Raises BadCursor for a cursor not made for this order.
    """
    ordering = _ordering(queryset)
    backwards = False
    if cursor:
        values, backwards = decode_cursor(cursor, queryset=queryset, ordering=ordering)
        walk = [(name, desc != backwards) for name, desc in ordering]
        queryset = queryset.filter(_after(walk, values))
    walk_order = [f"{'-' if desc != backwards else ''}{name}" for name, desc in ordering]
    rows = list(queryset.order_by(*walk_order)[: page_size + 1])
    more = len(rows) > page_size
    rows = rows[:page_size]
    if backwards:
        rows.reverse()
    # Coming forwards from a cursor, there is a row before this page (the cursor's own);
    # coming backwards to a page, there is one after it.
    has_next = more if not backwards else bool(cursor)
    has_previous = more if backwards else bool(cursor)
    if not rows:
        return KeysetPage(rows=[], next_cursor=None, previous_cursor=None)
    return KeysetPage(
        rows=rows,
        next_cursor=(
            encode_cursor(ordering=ordering, row=rows[-1], backwards=False) if has_next else None
        ),
        previous_cursor=(
            encode_cursor(ordering=ordering, row=rows[0], backwards=True) if has_previous else None
        ),
    )


class KeysetPagination(BasePagination):
    """DRF pagination by signed cursor, in whatever order the view's queryset has (see the
    module's docstring). The response is {next, previous, results}: there is no `count` (it
    would read every matching row) and no `page` (a `page` parameter is a 400 naming `cursor`,
    so an app still counting pages fails loudly instead of reading page 1 over and over)."""

    page_size = 20
    page_size_query_param = "page_size"
    max_page_size = 100
    cursor_query_param = CURSOR_PARAM

    def get_page_size(self, request):
        raw = request.query_params.get(self.page_size_query_param)
        if raw in (None, ""):
            return self.page_size
        try:
            size = int(raw)
        except ValueError:
            size = 0
        if size < 1:
            raise ValidationError({self.page_size_query_param: ["A whole number from 1 up."]})
        return min(size, self.max_page_size)

    def paginate_queryset(self, queryset, request, view=None):
        if "page" in request.query_params:
            raise ValidationError(
                {
                    "page": [
                        "This list is paged by cursor, not by page number: follow the `next` "
                        "link, or pass its `cursor`."
                    ]
                }
            )
        self.request = request
        try:
            page = keyset_page(
                queryset,
                cursor=request.query_params.get(self.cursor_query_param),
                page_size=self.get_page_size(request),
            )
        except BadCursor as exc:
            raise ValidationError({self.cursor_query_param: [str(exc)]}) from None
        self.page = page
        return page.rows

    def _link(self, cursor):
        if cursor is None:
            return None
        url = self.request.build_absolute_uri()
        return replace_query_param(url, self.cursor_query_param, cursor)

    def get_next_link(self):
        return self._link(self.page.next_cursor)

    def get_previous_link(self):
        return self._link(self.page.previous_cursor)

    def get_paginated_response(self, data):
        return Response(
            OrderedDict(
                [
                    ("next", self.get_next_link()),
                    ("previous", self.get_previous_link()),
                    ("results", data),
                ]
            )
        )

    def get_paginated_response_schema(self, schema):
        return {
            "type": "object",
            "required": ["next", "previous", "results"],
            "properties": {
                "next": {
                    "type": "string",
                    "nullable": True,
                    "format": "uri",
                    "description": "The next page (the same query with its `cursor`); null on "
                    "the last page.",
                },
                "previous": {
                    "type": "string",
                    "nullable": True,
                    "format": "uri",
                    "description": "The page before; null on the first page.",
                },
                "results": schema,
            },
        }

    def get_schema_operation_parameters(self, view):
        return [
            {
                "name": self.cursor_query_param,
                "required": False,
                "in": "query",
                "description": "Where the page starts: the opaque value from a page's `next` or "
                "`previous` link (signed; tied to the list's sort). Leave out for the first "
                "page. The list has no page numbers and no total count.",
                "schema": {"type": "string"},
            },
            {
                "name": self.page_size_query_param,
                "required": False,
                "in": "query",
                "description": f"Rows per page, at most {self.max_page_size} "
                f"(default {self.page_size}).",
                "schema": {"type": "integer", "minimum": 1},
            },
        ]


def page_links(request, page, *, param=CURSOR_PARAM):
    """The querystrings of a keyset page's Previous and Next links on a page: the request's own
    query (filters, sort) with the cursor replaced, and any old `page` number dropped."""

    def link(cursor):
        if cursor is None:
            return None
        query = request.GET.copy()
        query.pop("page", None)
        query[param] = cursor
        return "?" + urlencode(sorted(query.lists()), doseq=True)

    return link(page.previous_cursor), link(page.next_cursor)


def capped_count(queryset, *, cap):
    """How many rows `queryset` has, counting no further than cap + 1: a result above `cap`
    means "more than cap". SELECT COUNT(*) FROM (SELECT id ... LIMIT cap + 1): the database
    stops after cap + 1 rows where COUNT(*) would read every matching one."""
    return queryset.order_by().values("pk")[: cap + 1].count()
