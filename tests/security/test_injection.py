"""SQL injection attempts in every string parameter and in cursors: never a
server error, never another tenant's data, every table intact afterwards.
Text that PostgreSQL cannot take (NUL) or that is over the length limit is a
400 naming the parameter; LIKE wildcards in ``search`` are literal."""

from __future__ import annotations

import asyncio
import base64
import datetime as dt
from typing import Any
from urllib.parse import quote

import httpx
import msgspec
import pytest

from services.api.paging import Cursor, encode_cursor
from tests.security.conftest import GLOBEX_CUSTOMER, GLOBEX_INVOICE, Served, table_counts

pytestmark = pytest.mark.integration

PAYLOADS = [
    "'",
    "''",
    '"',
    "`",
    "' OR '1'='1",
    "' OR 1=1 --",
    "1' OR '1'='1' /*",
    "*/ OR 1=1 /*",
    "'; DROP TABLE billing.api_keys; --",
    "'); DROP TABLE billing_read.invoices; --",
    "x'; UPDATE billing.api_keys SET revoked_at = now(); --",
    "' UNION SELECT tenant_id, key_hash FROM billing.api_keys --",
    "acme' AND tenant_id = 'globex",
    "globex",
    "$1",
    "$$; DROP TABLE x; $$",
    "E'\\x27'",
    "\\",
    "\\'",
    "\\\\%",
    "%",
    "_",
    "%%",
    "%_%",
    "[a-z]%",
    "-- comment",
    "/*",
    ";",
    "\x00",
    "a\x00b",
    "'\x00--",
    "\r\n",
    "\t",
    "Zürich-€",
    "ＳＥＬＥＣＴ",
    "\u202e'--",
    "𝕊𝕖𝕔🙂",
    "\ufeff'",
    "null",
    "NULL",
    "true",
    "0",
    "-1",
    "1e309",
    "NaN",
    "9" * 30,
    "A" * 1000,
    "A" * 1001,
    "é" * 1001,
]

# (path, string parameters) — every free-text parameter of the API.
TEXT_FILTERS = [
    "customerId",
    "excludeCustomerId",
    "billingScheduleId",
    "excludeBillingScheduleId",
    "search",
    "excludeSearch",
    "invoiceNumber",
    "excludeInvoiceNumber",
]
# Typed parameters get the same strings: they must be refused, cleanly.
TYPED = [
    "invoiceStatus",
    "excludeInvoiceStatus",
    "invoicePaymentStatus",
    "excludeInvoicePaymentStatus",
    "invoiceCurrency",
    "excludeInvoiceCurrency",
    "dueBefore",
    "dueAfter",
    "sentBefore",
    "sentAfter",
    "invoiceBefore",
    "invoiceAfter",
    "excludeZeroQuantity",
    "netTotal",
    "excludeNetTotal",
    "minPosition",
]
PAGING = ["limit", "sortBy", "sortOrder", "after", "before"]
PERIOD = {"start_date": "2026-01-01", "end_date": "2026-12-31"}
TARGETS: list[tuple[str, list[str], dict[str, str]]] = [
    ("/invoices/summary", TEXT_FILTERS + TYPED, {}),
    ("/invoices/list-summary", TEXT_FILTERS + TYPED + PAGING, {}),
    ("/v1/invoices", TEXT_FILTERS + TYPED + PAGING, {}),
    (
        "/v1/invoices/totals",
        [
            "client_id",
            "series_id",
            "currency",
            "is_paid",
            "document_type",
            "reporting_currency",
            "start_date",
            "end_date",
        ],
        PERIOD,
    ),
    ("/v1/summary", ["asOf", "minPosition"], {}),
    ("/customers/cus-0/invoices/summary", ["asOf"], {}),
    ("/v1/customers/cus-0/summary", ["asOf"], {}),
    ("/v1/invoices/summaries", ["minPosition"], {}),
]
PATHS = [
    ("/customers/{}/invoices/summary", "id"),
    ("/v1/customers/{}/summary", "customerId"),
    ("/v1/invoices/{}", "invoiceId"),
]
# What only globex has: none of it may show in acme's answers.
GLOBEX_MARKS = ("GLOBEX", GLOBEX_CUSTOMER, GLOBEX_INVOICE, "7777", "8888")


def forged_cursors() -> dict[str, str]:
    """Cursors an attacker builds by hand, for sortBy=invoiceNumber&sortOrder=DESC."""

    def raw(value: Any) -> str:
        return base64.urlsafe_b64encode(msgspec.json.encode(value)).rstrip(b"=").decode()

    forged = {f"key {p!r}": encode_cursor(Cursor("invoiceNumber", "DESC", (p, p))) for p in PAYLOADS}
    forged.update(
        {
            "not base64": "%%%not-base64%%%",
            "not JSON": base64.urlsafe_b64encode(b"'; DROP TABLE x; --").decode(),
            "a JSON object": raw({"sort_by": "invoiceNumber"}),
            "version 2": raw([2, ["invoiceNumber", "DESC", ["a", "b"], False]]),
            "another sort": raw([1, ["grossTotal", "DESC", [1, "a", "b"], False]]),
            "SQL as the sort": raw([1, ["invoice_number; DROP TABLE x", "DESC", ["a", "b"], False]]),
            "SQL as the order": raw([1, ["invoiceNumber", "DESC; DROP TABLE x", ["a", "b"], False]]),
            "numbers for text": raw([1, ["invoiceNumber", "DESC", [1, 2], False]]),
            "too short a key": raw([1, ["invoiceNumber", "DESC", ["a"], False]]),
            "too long a key": raw([1, ["invoiceNumber", "DESC", ["a", "b", "c"], False]]),
            "nested key": raw([1, ["invoiceNumber", "DESC", [["a"], {"b": 1}], False]]),
            "NUL in the key": raw([1, ["invoiceNumber", "DESC", ["a\u0000", "b"], False]]),
            "huge": raw([1, ["invoiceNumber", "DESC", ["a" * 5000, "b"], False]]),
        }
    )
    return forged


def forged_typed_cursors() -> dict[tuple[str, str], str]:
    """(sortBy, name) -> a cursor with a key its sort's column types cannot take."""

    def raw(sort: str, key: list[Any]) -> str:
        value = [1, [sort, "DESC", key, False]]
        return base64.urlsafe_b64encode(msgspec.json.encode(value)).rstrip(b"=").decode()

    return {
        ("grossTotal", "beyond bigint"): raw("grossTotal", [2**63, "a", "b"]),
        ("grossTotal", "below bigint"): raw("grossTotal", [-(2**63) - 1, "a", "b"]),
        ("grossTotal", "a float"): raw("grossTotal", [1.5, "a", "b"]),
        ("grossTotal", "SQL"): raw("grossTotal", ["1; DROP TABLE x", "a", "b"]),
        ("issueDate", "SQL date"): raw("issueDate", ["2026-01-01'; DROP TABLE x; --", "a", "b"]),
        ("issueDate", "not a date"): raw("issueDate", ["2026-02-30", "a", "b"]),
        ("sentDate", "infinity"): raw("sentDate", ["infinity", "a", "b"]),
        ("dueDate", "year 0"): raw("dueDate", ["0000-01-01", "a", "b"]),
    }


class Attempts:
    def __init__(self) -> None:
        self.count = 0
        self.wrong: list[str] = []


async def attempt(
    http: httpx.AsyncClient,
    limit: asyncio.Semaphore,
    attempts: Attempts,
    path: str,
    params: dict[str, str],
    named: str | None,
    payload: str,
) -> None:
    async with limit:
        response = await http.get(path, params=params)
    attempts.count += 1
    where = f"{path} {named}={payload[:40]!r}"
    if response.status_code >= 500 or response.status_code not in (200, 400, 404):
        attempts.wrong.append(f"{where}: {response.status_code} {response.text[:200]}")
        return
    if any(mark in response.text for mark in GLOBEX_MARKS):
        attempts.wrong.append(f"{where}: another tenant's data: {response.text[:200]}")
    if response.status_code == 400:
        body = response.json()
        if response.headers["content-type"] != "application/problem+json" or not body.get("detail"):
            attempts.wrong.append(f"{where}: 400 without a problem: {response.text[:200]}")
        must_name = "\x00" in payload or len(payload) > 1000
        if must_name and named is not None and body.get("parameter") != named:
            attempts.wrong.append(f"{where}: the 400 does not name {named}: {response.text[:200]}")


async def test_injection_attempts_change_nothing_and_leak_nothing(serve: Any) -> None:
    served: Served = await serve()
    before = await table_counts(served.conn)
    keys_before = await served.conn.fetch("SELECT * FROM billing.api_keys ORDER BY id")
    attempts = Attempts()
    limit = asyncio.Semaphore(8)
    async with served.client(served.acme_key) as http:
        jobs = []
        for path, names, base in TARGETS:
            for name in names:
                for payload in PAYLOADS:
                    jobs.append(attempt(http, limit, attempts, path, {**base, name: payload}, name, payload))
        for template, name in PATHS:
            for payload in PAYLOADS:
                path = template.format(quote(payload, safe=""))
                jobs.append(attempt(http, limit, attempts, path, {}, name, payload))
        for side in ("after", "before"):
            for label, cursor in forged_cursors().items():
                params = {"sortBy": "invoiceNumber", "sortOrder": "DESC", side: cursor}
                jobs.append(attempt(http, limit, attempts, "/v1/invoices", params, side, label))
            for (sort, label), cursor in forged_typed_cursors().items():
                params = {"sortBy": sort, "sortOrder": "DESC", side: cursor}
                jobs.append(attempt(http, limit, attempts, "/invoices/list-summary", params, side, label))
        await asyncio.gather(*jobs)
    print(f"injection attempts: {attempts.count}")
    assert not attempts.wrong, "\n".join(attempts.wrong[:30])
    assert await table_counts(served.conn) == before
    assert await served.conn.fetch("SELECT * FROM billing.api_keys ORDER BY id") == keys_before
    assert attempts.count > 2000


async def test_text_that_postgresql_cannot_take_is_a_400_naming_the_parameter(serve: Any) -> None:
    served: Served = await serve()
    async with served.client(served.acme_key) as http:
        for name in [*TEXT_FILTERS, "client_id", "series_id"]:
            response = await http.get(
                "/v1/invoices/totals" if name in ("client_id", "series_id") else "/v1/invoices",
                params={**PERIOD, name: "INV\x00-1"},
            )
            assert response.status_code == 400, (name, response.text)
            assert response.json()["parameter"] == name
            assert "NUL" in response.json()["detail"]
        response = await http.get("/v1/invoices/inv%00x")
        assert response.status_code == 400 and response.json()["parameter"] == "invoiceId"
        response = await http.get("/v1/customers/c%00/summary")
        assert response.status_code == 400 and response.json()["parameter"] == "customerId"


async def test_like_wildcards_and_quotes_match_literally(serve: Any) -> None:
    served: Served = await serve()
    async with served.client(served.acme_key) as http:

        async def numbers(**params: str) -> list[str]:
            body = (await http.get("/v1/invoices", params={"limit": "100", **params})).json()
            return sorted(i["invoiceNumber"] for i in body["items"])

        assert await numbers(search="%") == ["100%_OFF"]
        assert await numbers(search="_") == ["100%_OFF"]
        assert await numbers(search="%_") == ["100%_OFF"]
        assert await numbers(search="\\") == ["back\\slash"]
        assert await numbers(search="'") == ["O'Brien-1"]
        assert await numbers(search='"') == ['dq"1']
        assert await numbers(search="--") == ["semi;colon--"]
        assert await numbers(search="zürich-€") == ["Zürich-€-1"]
        assert await numbers(invoiceNumber="O'Brien-1") == ["O'Brien-1"]
        assert await numbers(invoiceNumber="' OR '1'='1") == []
        assert await numbers(customerId="' OR '1'='1") == []
        everything = await numbers()
        assert await numbers(excludeSearch="%") == sorted(n for n in everything if n != "100%_OFF")
        assert await numbers(excludeInvoiceNumber="' OR '1'='1") == everything
        # A cursor page through the tricky numbers reaches every invoice exactly once.
        seen: list[str] = []
        params = {"sortBy": "invoiceNumber", "sortOrder": "ASC", "limit": "2"}
        while True:
            body = (await http.get("/v1/invoices", params=params)).json()
            seen += [i["invoiceNumber"] for i in body["items"]]
            if body["pagination"]["after"] is None:
                break
            params["after"] = body["pagination"]["after"]
        assert sorted(seen) == everything and len(seen) == len(set(seen))


def test_dates_in_forged_cursors_are_checked_like_any_date() -> None:
    # The typed forgeries above rely on msgspec refusing what is not a date.
    with pytest.raises(msgspec.ValidationError):
        msgspec.convert(["2026-02-30"], tuple[dt.date])
