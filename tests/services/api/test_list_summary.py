"""GET /invoices/list-summary (Sequence) and GET /v1/invoices: items, sorting
and keyset cursor pagination."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from typing import Any

import asyncpg
import httpx
import pytest

from services.api import paging
from tests.factories import InvoiceBuilder, line
from tests.projected import project
from tests.services.api.conftest import ModuleApi
from tests.services.api.dataset import Known, catalogue

pytestmark = pytest.mark.integration

KNOWN, EVENTS = catalogue()
KNOWN_BY_ID = {k.id: k for k in KNOWN.values()}
PATHS = ("/invoices/list-summary", "/v1/invoices")


@pytest.fixture(scope="module")
async def catalogue_api(module_api: ModuleApi) -> ModuleApi:
    await project(module_api.conn, EVENTS)
    return module_api


def sort_key(sort_by: str, sort_order: str = "ASC") -> Callable[[Known], tuple[Any, ...]]:
    """The order of ``sort_by`` ascending; for DESC, reversed (never-sent
    invoices last in both)."""
    tail = lambda k: (k.number, k.id)  # noqa: E731
    never_sent = dt.date.min if sort_order == "DESC" else dt.date.max
    return {
        "issueDate": lambda k: (k.issue_date, *tail(k)),
        "dueDate": lambda k: (k.due_date, *tail(k)),
        "accountingDate": lambda k: (k.accounting_date, *tail(k)),
        "sentDate": lambda k: (k.sent_date or never_sent, *tail(k)),
        "invoiceNumber": tail,
        "grossTotal": lambda k: (k.gross, *tail(k)),
    }[sort_by]


async def test_a_list_item_has_exactly_the_fields_of_the_seed_page(
    catalogue_api: ModuleApi, seed_schema: Callable[[str, Any], None]
) -> None:
    response = await catalogue_api.acme.get("/invoices/list-summary", params={"customerId": "cus-1"})
    a, b = KNOWN["A"], KNOWN["B"]
    assert response.text == (
        '{"items":['
        f'{{"id":"{b.id}","invoiceNumber":"INV-2026-002","status":"SENT","currency":"EUR",'
        '"grossTotal":250.50,"customerId":"cus-1","customerLegalCompanyName":"cus-1 Ltd",'
        '"billingPeriod":null,"dueDate":"2026-02-15","accountingDate":"2026-01-15","links":[]},'
        f'{{"id":"{a.id}","invoiceNumber":"INV-2026-001","status":"DRAFT","currency":"EUR",'
        '"grossTotal":120.00,"customerId":"cus-1","customerLegalCompanyName":"cus-1 Ltd",'
        '"billingPeriod":{"start":"2025-12-01","endInclusive":"2025-12-31"},'
        '"dueDate":"2026-02-10","accountingDate":"2026-01-12","links":[]}],'
        '"pagination":{"after":null,"before":null,"totalResultSize":2}}'
    )
    seed_schema("ListInvoiceSummariesResponse", response.json())


@pytest.mark.parametrize(
    "sort_by", ["issueDate", "dueDate", "accountingDate", "sentDate", "invoiceNumber", "grossTotal"]
)
@pytest.mark.parametrize("sort_order", ["ASC", "DESC"])
async def test_items_come_in_the_requested_order_with_ties_broken_by_number_then_id(
    catalogue_api: ModuleApi, sort_by: str, sort_order: str
) -> None:
    expected = sorted(KNOWN.values(), key=sort_key(sort_by, sort_order), reverse=sort_order == "DESC")
    for path in PATHS:
        response = await catalogue_api.acme.get(path, params={"sortBy": sort_by, "sortOrder": sort_order})
        assert [i["id"] for i in response.json()["items"]] == [k.id for k in expected]


@pytest.mark.parametrize("sort_order", [None, "DESC", "ASC"])
async def test_never_sent_invoices_sort_last_by_sent_date_in_either_order(
    catalogue_api: ModuleApi, sort_order: str | None
) -> None:
    never_sent = {k.id for k in KNOWN.values() if k.sent_date is None}
    assert 0 < len(never_sent) < len(KNOWN)
    query = {"sortBy": "sentDate"} | ({"sortOrder": sort_order} if sort_order else {})
    for path in PATHS:
        # Pages of two: the never-sent invoices come after every sent one across pages too.
        ids = [i for page in await walk(catalogue_api.acme, path, {**query, "limit": "2"}, "after") for i in page]
        assert len(ids) == len(KNOWN)
        assert set(ids[-len(never_sent) :]) == never_sent, (path, sort_order)
        sent = [KNOWN_BY_ID[i].sent_date for i in ids[: -len(never_sent)]]
        assert sent == sorted(sent, reverse=sort_order != "ASC")


async def test_the_default_order_is_issue_date_descending(catalogue_api: ModuleApi) -> None:
    response = await catalogue_api.acme.get("/invoices/list-summary")
    expected = sorted(KNOWN.values(), key=sort_key("issueDate"), reverse=True)
    assert [i["id"] for i in response.json()["items"]] == [k.id for k in expected]


async def walk(
    http: httpx.AsyncClient,
    path: str,
    query: dict[str, str],
    direction: str,
    start: str | None = None,
    between: Callable[[], Any] | None = None,
) -> list[list[str]]:
    """Pages of ids, following ``direction`` ('after' or 'before') cursors."""
    pages: list[list[str]] = []
    cursor = start
    while True:
        page_query = dict(query)
        if cursor is not None:
            page_query[direction] = cursor
        response = await http.get(path, params=page_query)
        assert response.status_code == 200, response.text
        body = response.json()
        pages.append([i["id"] for i in body["items"]])
        cursor = body["pagination"][direction]
        if cursor is None:
            return pages
        if between is not None:
            await between()


@pytest.mark.parametrize("sort_by", ["issueDate", "sentDate", "grossTotal"])
async def test_walking_pages_forward_then_back_visits_every_item_once_and_returns_to_the_first(
    catalogue_api: ModuleApi, sort_by: str
) -> None:
    query = {"limit": "2", "sortBy": sort_by, "sortOrder": "ASC"}
    for path in PATHS:
        forward = await walk(catalogue_api.acme, path, query, "after")
        assert [len(p) for p in forward] == [2, 2, 2, 1]
        expected = [k.id for k in sorted(KNOWN.values(), key=sort_key(sort_by))]
        assert [i for p in forward for i in p] == expected
        last = await catalogue_api.acme.get(
            path, params={**query, "after": await cursor_after(catalogue_api.acme, path, query, pages=3)}
        )
        back = await walk(catalogue_api.acme, path, query, "before", last.json()["pagination"]["before"])
        assert back == list(reversed(forward[:-1]))


async def cursor_after(http: httpx.AsyncClient, path: str, query: dict[str, str], pages: int) -> str:
    cursor = None
    for _ in range(pages):
        response = await http.get(path, params={**query, **({"after": cursor} if cursor else {})})
        cursor = response.json()["pagination"]["after"]
    assert cursor is not None
    return cursor


async def test_the_first_and_last_pages_have_null_cursors_on_their_outer_side(catalogue_api: ModuleApi) -> None:
    first = (await catalogue_api.acme.get("/invoices/list-summary", params={"limit": "3"})).json()
    assert first["pagination"]["before"] is None and first["pagination"]["after"] is not None
    assert first["pagination"]["totalResultSize"] == 7
    everything = (await catalogue_api.acme.get("/invoices/list-summary", params={"limit": "7"})).json()
    assert everything["pagination"] == {"after": None, "before": None, "totalResultSize": 7}
    nothing = (await catalogue_api.acme.get("/invoices/list-summary", params={"search": "nope"})).json()
    assert nothing == {"items": [], "pagination": {"after": None, "before": None, "totalResultSize": 0}}


async def test_a_filtered_list_paginates_within_the_filter(catalogue_api: ModuleApi) -> None:
    query = {"limit": "1", "invoiceStatus": "SENT", "sortOrder": "ASC"}
    pages = await walk(catalogue_api.acme, "/v1/invoices", query, "after")
    assert pages == [[KNOWN["B"].id], [KNOWN["C"].id], [KNOWN["E"].id]]


async def test_another_tenants_invoices_never_appear_in_the_list(catalogue_api: ModuleApi) -> None:
    for path in PATHS:
        mine = (await catalogue_api.acme.get(path, params={"invoiceNumber": "INV-2026-001"})).json()
        theirs = (await catalogue_api.globex.get(path)).json()
        assert [i["id"] for i in mine["items"]] == [KNOWN["A"].id]
        assert len(theirs["items"]) == 1 and theirs["items"][0]["id"] != KNOWN["A"].id
        assert theirs["pagination"]["totalResultSize"] == 1


def other_sort_cursor() -> str:
    return paging.encode_cursor(paging.Cursor("dueDate", "DESC", ("2026-01-01", "X", "x")))


BAD_PAGING = [
    ({"limit": "0"}, "limit"),
    ({"limit": "101"}, "limit"),
    ({"limit": "ten"}, "limit"),
    ({"limit": "-1"}, "limit"),
    ({"sortBy": "amount"}, "sortBy"),
    ({"sortOrder": "UP"}, "sortOrder"),
    ({"sortOrder": "desc"}, "sortOrder"),
    ({"after": "not-a-cursor"}, "after"),
    ({"before": "WzEsWyJ4Il1d"}, "before"),
    ({"after": "eyJhIjoxfQ"}, "after"),
    ({"after": other_sort_cursor()}, "after"),
    ({"before": other_sort_cursor(), "sortBy": "dueDate", "sortOrder": "ASC"}, "before"),
    ({"after": paging.encode_cursor(paging.Cursor("issueDate", "DESC", ("not-a-date", "X", "x")))}, "after"),
    ({"after": paging.encode_cursor(paging.Cursor("issueDate", "DESC", ("2026-01-01",)))}, "after"),
]


@pytest.mark.parametrize("query, parameter", BAD_PAGING)
async def test_bad_paging_parameters_are_a_400_problem_naming_them(
    catalogue_api: ModuleApi, query: dict[str, str], parameter: str
) -> None:
    for path in PATHS:
        response = await catalogue_api.acme.get(path, params=query)
        assert response.status_code == 400, response.text
        assert response.json()["parameter"] == parameter


async def test_before_and_after_together_are_refused(catalogue_api: ModuleApi) -> None:
    page = (await catalogue_api.acme.get("/invoices/list-summary", params={"limit": "2"})).json()
    cursor = page["pagination"]["after"]
    response = await catalogue_api.acme.get(
        "/invoices/list-summary", params={"limit": "2", "after": cursor, "before": cursor}
    )
    assert response.status_code == 400 and response.json()["parameter"] == "before"


# Pagination while invoices arrive ------------------------------------------------

START = dt.date(2026, 1, 1)


def invoice_on(day: int, number: str) -> InvoiceBuilder:
    return InvoiceBuilder(
        number=number,
        issue_date=START + dt.timedelta(days=day),
        due_date=START + dt.timedelta(days=day + 30),
        lines=[line(net=100 * (abs(day) + 1))],
    )


def strictly_ordered(items: list[dict[str, Any]], descending: bool) -> bool:
    keys = [(i["issueDate"], i["invoiceNumber"], i["id"]) for i in items]
    return keys == sorted(keys, reverse=descending) and len(set(keys)) == len(keys)


@pytest.mark.parametrize("direction", ["after", "before"])
async def test_pages_never_skip_or_repeat_an_item_while_new_invoices_arrive(
    conn: asyncpg.Connection, client: httpx.AsyncClient, direction: str
) -> None:
    # 30 invoices over 15 days, two a day (ties on the issue date).
    originals = [invoice_on(day // 2, f"N-{day:03d}") for day in range(30)]
    await project(conn, [b.created() for b in originals])
    arrivals = iter(range(100))

    async def more_invoices() -> None:
        # New invoices before, inside (on existing days, as ties) and after the range.
        n = next(arrivals)
        batch = [invoice_on(-1 - n, f"A-{n}"), invoice_on(n % 15, f"M-{n}"), invoice_on(20 + n, f"Z-{n}")]
        await project(conn, [b.created() for b in batch])

    query = {"limit": "7"}
    seen: list[dict[str, Any]] = []
    cursor = None
    if direction == "before":
        # Go to the last page first (nothing arrives meanwhile), then walk back.
        last = (await client.get("/v1/invoices", params=query)).json()
        while last["pagination"]["after"] is not None:
            last = (await client.get("/v1/invoices", params={**query, "after": last["pagination"]["after"]})).json()
        seen = list(reversed(last["items"]))
        cursor = last["pagination"]["before"]
    while True:
        page_query = dict(query)
        if cursor is not None:
            page_query[direction] = cursor
        body = (await client.get("/v1/invoices", params=page_query)).json()
        items = body["items"]
        seen.extend(items if direction == "after" else reversed(items))
        cursor = body["pagination"][direction]
        if cursor is None:
            break
        await more_invoices()
    # Every original exactly once, in order, whatever arrived meanwhile.
    assert strictly_ordered(seen, descending=direction == "after")
    ids = [i["id"] for i in seen]
    assert len(ids) == len(set(ids))
    assert {b.invoice_id for b in originals} <= set(ids)
    arrived = next(arrivals)
    assert arrived >= 4  # invoices did arrive on the way
    total = (await client.get("/v1/invoices", params={"limit": "1"})).json()["pagination"]["totalResultSize"]
    assert total == 30 + 3 * arrived
