"""Reading the catalog for the search page: filters, free text, keyset pages, capped counts.

Built to cost the same on page 1 and page 5,000 of a million rows:

- Pages are keyset (cursor) pages: "rows after (sort key, id)", walked along the model's
  (started_at, id) and (duration, id) indexes, never OFFSET. A cursor is signed, so a page link
  cannot be edited into something else; a tampered one is refused with InvalidCursor.
- Counts stop at a cap: COUNT(*) over a LIMIT subquery ("1,000+ results"), never over the
  table. A search is counted once, on its first page; the cursors carry the figure onwards.
- Free text is one expression over every searched field (SearchText). On PostgreSQL a GIN
  trigram index on that very expression (migration 0003) answers `LIKE '%term%'` for terms of
  3+ characters; shorter terms match whole values through btree indexes instead, because a
  trigram index cannot narrow down a 1- or 2-character pattern.

Unknown sort keys sort as the largest value (NULLS FIRST going down, NULLS LAST going up):
PostgreSQL's default for the model's DESC indexes, so the same index serves both directions.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime

from django.core import signing
from django.db.models import F, Func, Q, QuerySet, TextField
from django.db.models.functions import Lower

from .models import Recording, RecordingState

# --- sorting -------------------------------------------------------------------------------

# name -> (model field, descending); the id breaks ties in the same direction.
SORTS = {
    "-started": ("started_at", True),
    "started": ("started_at", False),
    "-duration": ("duration", True),
    "duration": ("duration", False),
}
DEFAULT_SORT = "-started"
PAGE_SIZES = (25, 50, 100)
DEFAULT_PAGE_SIZE = 25
COUNT_CAP = 1000


def ordering(key: str, descending: bool) -> list:
    if descending:
        return [F(key).desc(nulls_first=True), F("id").desc()]
    return [F(key).asc(nulls_last=True), F("id").asc()]


# --- free text -----------------------------------------------------------------------------

TRIGRAM = 3  # shortest term a trigram index can narrow down
MAX_TERMS = 8
# Typed phone numbers: "+1 (415) 555-2001" is searched as "+14155552001", the stored form.
PHONE_LIKE = re.compile(r"^\+?[\d\s().\-/]+$")
PHONE_MIN_DIGITS = 7
# What a short term is compared with, whole: each has a btree index.
EXACT_FIELDS = ("caller", "callee", "vendor_call_id", "external_id")


def search_terms(text: str) -> list[str]:
    """The words of a query, each of which must match; a typed phone number is one word."""
    text = text.strip()
    if not text:
        return []
    digits = re.sub(r"\D", "", text)
    if PHONE_LIKE.match(text) and len(digits) >= PHONE_MIN_DIGITS:
        return [("+" if text.startswith("+") else "") + digits]
    terms = list(dict.fromkeys(text.split()))  # unique, in the order typed
    return terms[:MAX_TERMS]


class SearchText(Func):
    """Every searched field in one string: caller, callee, call id, external id, participants
    and the values (not the keys) of the metadata.

    The PostgreSQL rendering must stay exactly the expression indexed by migration
    0003_search_indexes (test_search.py checks that the index is used): change both together.
    """

    output_field = TextField()

    def __init__(self):
        super().__init__(*(F(name) for name in (*EXACT_FIELDS, "participants", "metadata")))

    def _columns(self, compiler) -> list[str]:
        columns = []
        for expression in self.get_source_expressions():
            sql, params = compiler.compile(expression)
            assert not params  # plain columns only: the SQL must be the indexed expression
            columns.append(sql)
        return columns

    def as_postgresql(self, compiler, connection, **extra):
        *texts, participants, metadata = self._columns(compiler)
        values = (
            f"jsonb_path_query_array({metadata}, "
            """'strict $.** ? (@.type() != "object" && @.type() != "array")')"""
        )
        parts = [*texts, f"({participants})::text", f"({values})::text"]
        return "(" + " || ' ' || ".join(parts) + ")", []

    def as_sql(self, compiler, connection, **extra):
        # SQLite (and anything else): stored JSON is text already; json_tree yields the values.
        *texts, participants, metadata = self._columns(compiler)
        # {metadata} is a compiled column reference (no parameters, asserted above).
        values = (
            f"COALESCE((SELECT group_concat(value, ' ') FROM json_tree({metadata}) "  # noqa: S608
            "WHERE type NOT IN ('object', 'array')), '')"
        )
        parts = [*texts, participants, values]
        return "(" + " || ' ' || ".join(parts) + ")", []


def matching_text(queryset: QuerySet, terms: list[str]) -> QuerySet:
    """Rows in which every term appears (3+ characters) or equals a field (shorter terms)."""
    queryset = queryset.alias(search_text=SearchText())
    for term in terms:
        if len(term) >= TRIGRAM:
            # icontains renders UPPER(expr) LIKE UPPER('%term%'): the indexed expression.
            queryset = queryset.filter(search_text__icontains=term)
        else:
            exact = Q()
            for name in EXACT_FIELDS:
                exact |= Q(**{name: term})
            queryset = queryset.filter(exact)
    return queryset


# --- filters -------------------------------------------------------------------------------


LIST_FIELDS = (
    "account__name",
    "account__kind",
    "external_id",
    "started_at",
    "duration",
    "direction",
    "caller",
    "callee",
    "format",
    "state",
    "storage_key",  # Recording.playable
)


@dataclass(frozen=True)
class Filters:
    """What a search asks for; empty values filter nothing. Times are aware datetimes."""

    q: str = ""
    account_id: int | None = None
    kind: str = ""
    started_from: datetime | None = None  # inclusive
    started_before: datetime | None = None  # exclusive
    duration_min: float | None = None
    duration_max: float | None = None
    direction: str = ""
    format: str = ""
    state: str = ""
    masked: bool | None = None

    @property
    def active(self) -> bool:
        return self != Filters()


def _listing() -> QuerySet:
    # Only what a results row shows: no metadata, and none of the account's settings.
    return Recording.objects.select_related("account").only(*LIST_FIELDS)


def recordings_matching(filters: Filters) -> QuerySet:
    queryset = _listing()
    conditions = {
        "account_id": filters.account_id,
        "account__kind": filters.kind or None,
        "started_at__gte": filters.started_from,
        "started_at__lt": filters.started_before,
        "duration__gte": filters.duration_min,
        "duration__lte": filters.duration_max,
        "direction": filters.direction or None,
        "state": filters.state or None,
    }
    queryset = queryset.filter(**{k: v for k, v in conditions.items() if v is not None})
    if filters.format:
        # lower(format): the expression migration 0003 indexes; vendors differ in case.
        queryset = queryset.alias(format_lower=Lower("format")).filter(
            format_lower=filters.format.lower()
        )
    if filters.masked is True:
        queryset = queryset.filter(state=RecordingState.MASKED)
    elif filters.masked is False:
        queryset = queryset.exclude(state=RecordingState.MASKED)
    terms = search_terms(filters.q)
    if terms:
        queryset = matching_text(queryset, terms)
    return queryset


def count_capped(queryset: QuerySet, cap: int | None = None) -> tuple[int, bool]:
    """(count, more): counts at most cap + 1 rows, so a million matches cost what 1,001 do."""
    cap = COUNT_CAP if cap is None else cap
    found = queryset.order_by().values("pk")[: cap + 1].count()
    return min(found, cap), found > cap


def catalog_has_recordings() -> bool:
    return Recording.objects.exists()


# --- cursors -------------------------------------------------------------------------------

CURSOR_SALT = "catalog.search.cursor"
MAX_CURSOR_LENGTH = 300
NOT_OURS = "That page link is not one the portal made."


class InvalidCursor(ValueError):
    """A page link that was edited, belongs to another sort order or is otherwise unusable."""


@dataclass(frozen=True)
class Cursor:
    """A position in one sort order (a row's sort key and id), the number of the page it leads
    to, and the search's capped count, taken once on its first page and carried from there."""

    sort: str
    value: datetime | float | None
    id: int
    page: int
    count: int = 0
    more: bool = False

    def encode(self) -> str:
        value = self.value.isoformat() if isinstance(self.value, datetime) else self.value
        payload = [self.sort, value, self.id, self.page, self.count, int(self.more)]
        return signing.Signer(salt=CURSOR_SALT).sign_object(payload)

    @classmethod
    def decode(cls, token: str, sort: str) -> Cursor:
        if len(token) > MAX_CURSOR_LENGTH:
            raise InvalidCursor(NOT_OURS)
        try:
            payload = signing.Signer(salt=CURSOR_SALT).unsign_object(token)
        except (signing.BadSignature, ValueError, UnicodeError):
            raise InvalidCursor(NOT_OURS) from None
        try:
            cursor_sort, value, pk, page, count, more = payload
        except (TypeError, ValueError):
            raise InvalidCursor(NOT_OURS) from None
        if cursor_sort != sort:
            raise InvalidCursor("That page link belongs to another sort order.")
        numbers = (pk, page, count, more)
        if not all(type(n) is int for n in numbers) or pk < 1 or page < 1 or count < 0:
            raise InvalidCursor(NOT_OURS)
        value = _sort_value(SORTS[sort][0], value)
        return cls(sort, value, pk, page, count, bool(more))

    @classmethod
    def at(cls, row: Recording, page: Page, number: int) -> Cursor:
        key = SORTS[page.sort][0]
        return cls(page.sort, getattr(row, key), row.pk, number, page.count, page.more)


def _sort_value(key: str, value) -> datetime | float | None:
    if value is None:
        return None
    if key == "started_at" and isinstance(value, str):
        try:
            parsed = datetime.fromisoformat(value)
        except ValueError:
            parsed = None
        if parsed is not None and parsed.tzinfo is not None:
            return parsed
    elif key == "duration" and type(value) in (int, float):
        return float(value)
    raise InvalidCursor(NOT_OURS)


# --- keyset pages --------------------------------------------------------------------------


@dataclass
class Page:
    rows: list[Recording]
    sort: str = DEFAULT_SORT
    number: int = 1
    first: bool = True  # nothing comes before this page
    has_next: bool = False
    has_previous: bool = False
    count: int = 0  # matches, up to COUNT_CAP
    more: bool = False  # more than COUNT_CAP

    @property
    def next(self) -> Cursor | None:
        return Cursor.at(self.rows[-1], self, self.number + 1) if self.has_next else None

    @property
    def previous(self) -> Cursor | None:
        if self.has_previous and self.rows:
            return Cursor.at(self.rows[0], self, self.number - 1)
        return None


def _after(key: str, descending: bool, value, pk: int) -> list[Q]:
    """The rows after (value, pk) in the sort order, as segments fetched one after another.

    Each segment is a range one index scan serves (key <= value, then the ids), so the cost
    does not depend on how deep the cursor is. Unknown keys (NULL) sort as the largest value,
    hence a second segment when the walk crosses from known keys to unknown ones or back.
    """
    isnull, known = Q(**{f"{key}__isnull": True}), Q(**{f"{key}__isnull": False})
    after_id = Q(**{f"id__{'lt' if descending else 'gt'}": pk})
    if value is None:
        rest = isnull & after_id
        return [rest, known] if descending else [rest]
    strict, inclusive = ("lt", "lte") if descending else ("gt", "gte")
    # key <= value bounds the index scan; the OR only drops the ties already shown.
    rest = Q(**{f"{key}__{inclusive}": value}) & (Q(**{f"{key}__{strict}": value}) | after_id)
    return [rest] if descending else [rest, isnull]


def _fetch(queryset: QuerySet, sort: str, reverse: bool, cursor: Cursor | None, limit: int):
    key, descending = SORTS[sort]
    descending ^= reverse
    order = ordering(key, descending)
    if cursor is None:
        return list(queryset.order_by(*order)[:limit])
    rows: list[Recording] = []
    for segment in _after(key, descending, cursor.value, cursor.id):
        rows += queryset.filter(segment).order_by(*order)[: limit - len(rows)]
        if len(rows) >= limit:
            break
    return rows


def keyset_page(
    queryset: QuerySet,
    *,
    sort: str = DEFAULT_SORT,
    size: int = DEFAULT_PAGE_SIZE,
    after: Cursor | None = None,
    before: Cursor | None = None,
) -> Page:
    """One page of `size` rows after (or before) a cursor; page 1 without either. Uncounted."""
    if before is not None:
        rows = _fetch(queryset, sort, True, before, size + 1)
        if len(rows) <= size:
            # Back at the start: show the real first page, full, rather than a short one.
            return keyset_page(queryset, sort=sort, size=size)
        rows = rows[:size][::-1]
        number = max(before.page, 2)
        return Page(rows, sort, number, first=False, has_next=True, has_previous=True)
    rows = _fetch(queryset, sort, False, after, size + 1)
    return Page(
        rows[:size],
        sort,
        number=after.page if after else 1,
        first=after is None,
        has_next=len(rows) > size,
        has_previous=after is not None,
    )


def _first_page_counted(queryset: QuerySet, sort: str, size: int) -> Page:
    """Page 1 of a free-text search and its count, reading the matches once.

    For text, the trigram index hands over candidate rows that must each be read and
    rechecked: that is the cost, and a page query plus a COUNT would pay it twice. So: up to
    COUNT_CAP + 1 matches' (id, sort key), in no order, which the database may stop collecting
    early. At most COUNT_CAP of them: that is every match, sorted here, and the page's rows are
    read by id. More: the matches are dense, and an ordered page query finds its rows early.
    """
    key, descending = SORTS[sort]
    keyed = list(queryset.order_by().values_list("pk", key)[: COUNT_CAP + 1])
    if len(keyed) > COUNT_CAP:
        page = keyset_page(queryset, sort=sort, size=size)
        page.count, page.more = COUNT_CAP, True
        return page
    # The database's order: unknown keys as the largest, ties by id in the same direction.
    keyed.sort(key=lambda item: (item[1] is None, item[1] or 0, item[0]), reverse=descending)
    wanted = [pk for pk, _ in keyed[:size]]
    found = _listing().in_bulk(wanted)  # by primary key: the text is not matched again
    rows = [found[pk] for pk in wanted if pk in found]
    return Page(rows, sort, has_next=len(keyed) > size, count=len(keyed))


def search(
    filters: Filters,
    *,
    sort: str = DEFAULT_SORT,
    size: int = DEFAULT_PAGE_SIZE,
    after: Cursor | None = None,
    before: Cursor | None = None,
) -> Page:
    """The page a search shows, counted: on page 1, and carried by the cursors after it."""
    queryset = recordings_matching(filters)
    cursor = after or before
    if cursor is None and search_terms(filters.q):
        return _first_page_counted(queryset, sort, size)
    page = keyset_page(queryset, sort=sort, size=size, after=after, before=before)
    if cursor is not None:
        # Counted when the search began; rows arriving since do not change the figure.
        page.count, page.more = cursor.count, cursor.more
    elif page.has_next:
        page.count, page.more = count_capped(queryset)
    else:
        page.count = len(page.rows)  # everything is on this page
    return page
