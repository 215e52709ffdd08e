"""Keyset pagination over the filtered invoices, shared by the invoice lists
(Sequence's list-summary, /v1/invoices): the paging parameters, the opaque
cursors, one page of stored invoices with the cursors of its neighbours, and
the ``pagination`` object of the answers.
"""

from __future__ import annotations

import base64
import binascii
import datetime as dt
from types import GenericAlias
from typing import Annotated, Any, NamedTuple

import msgspec
from msgspec import Meta

from services.api import params
from services.api.filters import InvoiceFilter, Sql
from services.api.invoice_rows import INVOICE_FIELDS, StoredInvoice, stored_invoices
from services.api.params import Param
from services.api.problems import BadParameter
from services.api.rows import Connection

DEFAULT_LIMIT = 20
MAX_LIMIT = 100
SORT_ORDERS = ("ASC", "DESC")

# The tenant's number of invoices, from the summary table (no filter).
INVOICE_COUNT = """
SELECT coalesce(sum(invoice_count), 0)::bigint FROM billing_read.currency_totals WHERE tenant_id = $1
"""
# {where}: filter fragments (filters.py); {keyset}: a keyset bound; {order}: a sort.
FILTERED_COUNT = "SELECT count(*)::bigint FROM billing_read.invoices WHERE tenant_id = $1{where}"
INVOICE_PAGE = (
    "SELECT " + INVOICE_FIELDS + "\nFROM billing_read.invoices\n"
    "WHERE tenant_id = $1{where}{keyset}\nORDER BY {order}\nLIMIT {limit}"
)
INVOICE_EXISTS = "SELECT EXISTS (SELECT 1 FROM billing_read.invoices WHERE tenant_id = $1{where}{keyset})"


class SortColumn(NamedTuple):
    column: str  # the value kept in cursors: a StoredInvoice field
    expression: str  # what is sorted ({} = the column or a parameter)
    type: Any  # its Python type in a cursor
    sql_type: str
    # What is sorted in DESC lists, when not ``expression``.
    descending: str | None = None

    def sorted_as(self, sort_order: str) -> str:
        """The expression sorted in a list of ``sort_order`` (ASC, DESC)."""
        return self.descending if sort_order == "DESC" and self.descending else self.expression


def _plain(column: str, kind: type, sql_type: str) -> SortColumn:
    return SortColumn(column, "{}", kind, sql_type)


_NUMBER = _plain("invoice_number", str, "text")
_ID = _plain("invoice_id", str, "text")
# Sort keys of invoice lists: each ends with the invoice id, so the order is
# total and keyset pagination never skips or repeats an item.
SORTS: dict[str, tuple[SortColumn, ...]] = {
    "issueDate": (_plain("issue_date", dt.date, "date"), _NUMBER, _ID),
    "dueDate": (_plain("due_date", dt.date, "date"), _NUMBER, _ID),
    "accountingDate": (_plain("accounting_date", dt.date, "date"), _NUMBER, _ID),
    # Never-sent invoices come last in either order: sorted as if sent at the
    # end of time ascending, at its beginning descending.
    "sentDate": (
        SortColumn(
            "sent_date", "coalesce({}, 'infinity'::date)", dt.date | None, "date", "coalesce({}, '-infinity'::date)"
        ),
        _NUMBER,
        _ID,
    ),
    "invoiceNumber": (_NUMBER, _ID),
    # Minor units: mixed currencies order by their numbers (fine for browsing).
    "grossTotal": (_plain("gross", int, "bigint"), _NUMBER, _ID),
}
DEFAULT_SORT = "issueDate"


# Cursors ---------------------------------------------------------------------


class Cursor(msgspec.Struct, array_like=True, frozen=True):
    """Keyset position in a sorted list: the sort, and the sort key of an item
    (its last element the invoice id). ``inclusive`` makes the item itself part
    of the page it points to (used when a page came back empty)."""

    sort_by: str
    sort_order: str
    key: tuple[Any, ...]
    inclusive: bool = False


_CURSOR_VERSION = 1


def encode_cursor(cursor: Cursor) -> str:
    raw = msgspec.json.encode((_CURSOR_VERSION, cursor))
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def decode_cursor(parameter: str, value: str, sort_by: str, sort_order: str, key_types: tuple[type, ...]) -> Cursor:
    """The cursor in ``value``, checked against the request's sort."""
    try:
        raw = base64.urlsafe_b64decode(value + "=" * (-len(value) % 4))
        version, cursor = msgspec.json.decode(raw, type=tuple[int, Cursor])
        if version != _CURSOR_VERSION:
            raise ValueError(version)
    except (binascii.Error, ValueError, msgspec.DecodeError):
        raise BadParameter(parameter, "malformed cursor: use a cursor from a previous page") from None
    if (cursor.sort_by, cursor.sort_order) != (sort_by, sort_order):
        raise BadParameter(
            parameter,
            f"this cursor belongs to sortBy={cursor.sort_by}&sortOrder={cursor.sort_order}, "
            f"not sortBy={sort_by}&sortOrder={sort_order}",
        )
    try:
        key = msgspec.convert(list(cursor.key), GenericAlias(tuple, key_types))
    except msgspec.ValidationError:
        raise BadParameter(parameter, "malformed cursor: use a cursor from a previous page") from None
    # A forged cursor must not reach the database with what it cannot take:
    # NUL characters in text, integers beyond bigint.
    for part in key:
        if (isinstance(part, str) and "\x00" in part) or (isinstance(part, int) and not -(2**63) <= part < 2**63):
            raise BadParameter(parameter, "malformed cursor: use a cursor from a previous page")
    return Cursor(cursor.sort_by, cursor.sort_order, key, cursor.inclusive)


# Parameters ------------------------------------------------------------------

BEFORE = Param("before", "Cursor: the page before the one this cursor came from.", length_factor=4)
AFTER = Param("after", "Cursor: the page after the one this cursor came from.", length_factor=4)
LIMIT = Param(
    "limit",
    f"Items per page, 1 to {MAX_LIMIT} (default {DEFAULT_LIMIT}).",
    {"type": "integer", "minimum": 1, "maximum": MAX_LIMIT},
)
SORT_BY = Param(
    "sortBy",
    f"Sort key: {', '.join(SORTS)} (default {DEFAULT_SORT}); ties by invoice number, then id.",
    {"enum": list(SORTS)},
)
SORT_ORDER = Param("sortOrder", "ASC or DESC (default DESC).", {"enum": list(SORT_ORDERS)})


class Page(msgspec.Struct, frozen=True):
    sort_by: str
    sort_order: str
    limit: int
    after: Cursor | None = None
    before: Cursor | None = None


def page_size(value: str | None) -> int:
    if value is None or value == "":
        return DEFAULT_LIMIT
    if not (value.isascii() and value.isdigit()) or not 1 <= int(value) <= MAX_LIMIT:
        raise BadParameter(LIMIT.name, f"expected an integer from 1 to {MAX_LIMIT}, got {value!r}")
    return int(value)


async def page_parameters(
    before: Annotated[str | None, BEFORE.query()] = None,
    after: Annotated[str | None, AFTER.query()] = None,
    limit: Annotated[str | None, LIMIT.query()] = None,
    sort_by: Annotated[str | None, SORT_BY.query()] = None,
    sort_order: Annotated[str | None, SORT_ORDER.query()] = None,
) -> Page:
    """Cursor pagination parameters, validated (a cursor must match the sort).
    A Litestar dependency: ``dependencies={"page": Provide(page_parameters)}``."""
    by = params.choice(SORT_BY.name, sort_by, SORTS, DEFAULT_SORT)
    order = params.choice(SORT_ORDER.name, sort_order, SORT_ORDERS, "DESC")
    size = page_size(limit)
    if before and after:
        raise BadParameter(BEFORE.name, "give either before or after, not both")
    types = tuple(c.type for c in SORTS[by])
    return Page(
        sort_by=by,
        sort_order=order,
        limit=size,
        after=decode_cursor(AFTER.name, after, by, order, types) if after else None,
        before=decode_cursor(BEFORE.name, before, by, order, types) if before else None,
    )


# One page --------------------------------------------------------------------


class InvoicePage(msgspec.Struct, frozen=True):
    invoices: list[StoredInvoice]
    after: str | None
    before: str | None
    total: int


class Pagination(msgspec.Struct):
    after: Annotated[str | None, Meta(description="Cursor of the next page; null on the last")]
    before: Annotated[str | None, Meta(description="Cursor of the previous page; null on the first")]
    totalResultSize: Annotated[int, Meta(description="Number of items matching the filters")]

    @classmethod
    def of(cls, page: InvoicePage) -> Pagination:
        return cls(after=page.after, before=page.before, totalResultSize=page.total)


def _keyset(sql: Sql, page: Page, cursor: Cursor, forward: bool) -> str:
    """The bound ``(sort key) > / < (cursor key)`` in the direction of travel."""
    columns = SORTS[page.sort_by]
    ascending = (page.sort_order == "ASC") == forward
    op = ">" if ascending else "<"
    if cursor.inclusive:
        op += "="
    order = page.sort_order
    left = ", ".join(c.sorted_as(order).format(c.column) for c in columns)
    right = ", ".join(
        c.sorted_as(order).format(f"{sql.param(v)}::{c.sql_type}") for c, v in zip(columns, cursor.key, strict=True)
    )
    return f" AND ({left}) {op} ({right})"


def _order(page: Page, forward: bool) -> str:
    ascending = (page.sort_order == "ASC") == forward
    direction = "ASC" if ascending else "DESC"
    return ", ".join(f"{c.sorted_as(page.sort_order).format(c.column)} {direction}" for c in SORTS[page.sort_by])


def _cursor(page: Page, invoice: StoredInvoice, inclusive: bool = False) -> str:
    key = tuple(getattr(invoice, c.column) for c in SORTS[page.sort_by])
    return encode_cursor(Cursor(page.sort_by, page.sort_order, key, inclusive))


def _flip(cursor: Cursor) -> Cursor:
    """The complementary bound: items on the other side of the same item."""
    return Cursor(cursor.sort_by, cursor.sort_order, cursor.key, not cursor.inclusive)


async def invoice_page(conn: Connection, tenant_id: str, f: InvoiceFilter, page: Page) -> InvoicePage:
    """One page of the tenant's invoices matching ``f``, with the cursors of the
    neighbouring pages (None at either end) and the size of the whole set."""
    forward = page.before is None
    cursor = page.after or page.before
    sql = Sql(tenant_id).invoice_filter(f)
    where = sql.where
    keyset = "" if cursor is None else _keyset(sql, page, cursor, forward)
    query = INVOICE_PAGE.format(
        where=where, keyset=keyset, order=_order(page, forward), limit=sql.param(page.limit + 1)
    )
    invoices = stored_invoices(await conn.fetch(query, *sql.args))
    more = len(invoices) > page.limit
    invoices = invoices[: page.limit]
    if not forward:
        invoices.reverse()

    async def any_beyond(bound: Cursor, towards_end: bool) -> bool:
        probe = Sql(tenant_id).invoice_filter(f)
        bound_sql = _keyset(probe, page, bound, towards_end)
        exists: bool = await conn.fetchval(INVOICE_EXISTS.format(where=probe.where, keyset=bound_sql), *probe.args)
        return exists

    # The side we came from: is anything there (the cursor's item may have
    # left the filter since)?
    if cursor is None:
        behind = False
    else:
        behind = await any_beyond(_flip(cursor), not forward)
    if forward:
        has_next, has_previous = more, behind
    else:
        has_next, has_previous = behind, more
    if invoices:
        after = _cursor(page, invoices[-1]) if has_next else None
        before = _cursor(page, invoices[0]) if has_previous else None
    else:
        # An empty page (its items left the filter): point back at what is there.
        back = None if cursor is None else encode_cursor(_flip(cursor))
        after = back if has_next else None
        before = back if has_previous else None
    if f.is_empty:
        total: int = await conn.fetchval(INVOICE_COUNT, tenant_id)
    else:
        counting = Sql(tenant_id).invoice_filter(f)
        total = await conn.fetchval(FILTERED_COUNT.format(where=counting.where), *counting.args)
    return InvoicePage(invoices=invoices, after=after, before=before, total=total)
