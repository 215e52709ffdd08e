"""FX rates that operators load, and grand totals converted with them.

A rate (base, quote) means: 1 unit of ``base`` = ``rate`` units of ``quote``.
Rates live in ``billing.fx_rates`` (one current rate per pair); ``billing fx
load`` writes them from a file — our CSV (``currency,rate[,as_of]``) or the
ECB's daily reference rates, as CSV (``eurofxref.csv``) or XML
(``eurofxref-daily.xml``): ``parse_rates_file`` tells them apart — or from
arguments. A grand total is the exact sum of every amount times its rate,
rounded once, half-even, to the reporting currency's minor units.

Each tenant has a reporting currency (``reporting_currency``): the one an
operator set (``billing fx currency TENANT CODE``, table
``billing.tenant_settings``), else the tenant's only invoice currency, else
the ``BILLING_REPORTING_CURRENCY`` setting.
"""

from __future__ import annotations

import csv
import datetime as dt
import decimal
import io
import xml.etree.ElementTree as ET
from collections.abc import Iterable, Mapping
from decimal import Decimal

import asyncpg
import msgspec

from contracts import CURRENCIES
from services.api.rows import Connection

UPSERT = """
INSERT INTO billing.fx_rates (base, quote, rate, as_of, loaded_at)
SELECT base, quote, rate, as_of, now()
FROM unnest($1::text[], $2::text[], $3::numeric[], $4::date[]) AS r(base, quote, rate, as_of)
ON CONFLICT (base, quote) DO UPDATE
SET rate = excluded.rate, as_of = excluded.as_of, loaded_at = excluded.loaded_at
"""
LIST = "SELECT base, quote, rate, as_of, loaded_at FROM billing.fx_rates ORDER BY quote, base"
# The rates into a reporting currency ($1) of some currencies ($2).
RATES_INTO = """
SELECT base, rate, as_of FROM billing.fx_rates WHERE quote = $1 AND base = ANY($2::text[]) ORDER BY base
"""


# The tenant's own reporting currency, else its only invoice currency (None
# when it has none set and invoices in several currencies, or none).
TENANT_REPORTING_CURRENCY = """
SELECT coalesce(
    (SELECT reporting_currency FROM billing.tenant_settings WHERE tenant_id = $1),
    (SELECT min(currency) FROM billing_read.currency_totals
     WHERE tenant_id = $1 AND invoice_count > 0 HAVING count(DISTINCT currency) = 1)
)
"""
SET_REPORTING_CURRENCY = """
INSERT INTO billing.tenant_settings (tenant_id, reporting_currency) VALUES ($1, $2)
ON CONFLICT (tenant_id) DO UPDATE SET reporting_currency = excluded.reporting_currency, updated_at = now()
"""
GET_REPORTING_CURRENCY = "SELECT reporting_currency FROM billing.tenant_settings WHERE tenant_id = $1"

# ECB rates are "1 EUR = r units of currency"; ours are "1 unit of currency =
# x units of the quote", x = r(quote) / r(currency). The quotient is computed
# in Decimal, exact whenever it has at most this many significant digits
# (1 / 1.25 = 0.8) and otherwise rounded half-even to them (1 / 1.0543):
# a relative error below 1e-27, far below a minor unit of any grand total.
ECB_RATE_DIGITS = 28
ECB_BASE = "EUR"


class FxError(ValueError):
    """A rate that cannot be loaded; the message says which and why."""


class Rate(msgspec.Struct, frozen=True):
    base: str
    quote: str
    rate: Decimal
    as_of: dt.date
    loaded_at: dt.datetime | None = None


def _code(value: str, where: str) -> str:
    code = value.strip()
    if code not in CURRENCIES:
        raise FxError(f"{where}: {value!r} is not an ISO 4217 currency code")
    return code


def _rate(value: str, where: str) -> Decimal:
    try:
        rate = Decimal(value.strip())
    except decimal.InvalidOperation:
        raise FxError(f"{where}: rate {value!r} is not a number") from None
    if not rate.is_finite() or rate <= 0:
        raise FxError(f"{where}: rate {value!r} must be a positive number")
    return rate


def _date(value: str | None, default: dt.date, where: str) -> dt.date:
    if value is None or not value.strip():
        return default
    try:
        return dt.date.fromisoformat(value.strip())
    except ValueError:
        raise FxError(f"{where}: as_of {value!r} is not a date (YYYY-MM-DD)") from None


def parse_csv(text: str, quote: str, default_as_of: dt.date) -> list[Rate]:
    """Rates from ``currency,rate[,as_of]`` lines (a header line is skipped)."""
    rates = []
    for number, row in enumerate(csv.reader(io.StringIO(text)), start=1):
        cells = [c.strip() for c in row]
        if not any(cells) or cells[0].startswith("#"):
            continue
        if number == 1 and cells[0].lower() in ("currency", "base"):
            continue
        if len(cells) not in (2, 3):
            raise FxError(f"line {number}: expected currency,rate[,as_of], got {','.join(row)!r}")
        where = f"line {number}"
        rates.append(
            Rate(
                base=_code(cells[0], where),
                quote=quote,
                rate=_rate(cells[1], where),
                as_of=_date(cells[2] if len(cells) == 3 else None, default_as_of, where),
            )
        )
    return rates


def parse_argument(text: str, quote: str, default_as_of: dt.date) -> Rate:
    """A rate from ``USD=0.92`` or ``USD=0.92@2026-11-20``."""
    base, sep, rest = text.partition("=")
    if not sep:
        raise FxError(f"{text!r}: expected CURRENCY=RATE[@YYYY-MM-DD]")
    rate, _, as_of = rest.partition("@")
    return Rate(
        base=_code(base, text),
        quote=quote,
        rate=_rate(rate, text),
        as_of=_date(as_of or None, default_as_of, text),
    )


def _ecb_date(value: str, where: str) -> dt.date:
    """``2026-12-01`` (XML) or ``1 December 2026`` / ``01 December 2026`` (CSV)."""
    text = value.strip()
    for parse in (dt.date.fromisoformat, lambda t: dt.datetime.strptime(t, "%d %B %Y").date()):
        try:
            return parse(text)
        except ValueError:
            continue
    raise FxError(f"{where}: {value!r} is not a date (2026-12-01 or 1 December 2026)")


def from_ecb(per_euro: Mapping[str, Decimal], quote: str, as_of: dt.date) -> list[Rate]:
    """Rates into ``quote`` of every currency of an ECB table (``per_euro``:
    1 EUR = rate units of the currency), the euro included."""
    table = {ECB_BASE: Decimal(1), **per_euro}
    if quote not in table:
        raise FxError(f"the ECB rates have no {quote} rate: load them --to EUR or to one of their currencies")
    context = decimal.Context(prec=ECB_RATE_DIGITS, rounding=decimal.ROUND_HALF_EVEN)
    return [
        Rate(base=code, quote=quote, rate=context.divide(table[quote], per_currency), as_of=as_of)
        for code, per_currency in sorted(table.items())
        if code != quote
    ]


def parse_ecb_csv(text: str, quote: str) -> list[Rate]:
    """The ECB's ``eurofxref.csv``: a header ``Date, USD, JPY, …`` and one row
    ``1 December 2026, 1.0543, 162.50, …`` (N/A and empty cells skipped)."""
    rows = [[cell.strip() for cell in row] for row in csv.reader(io.StringIO(text)) if any(c.strip() for c in row)]
    if len(rows) < 2 or not rows[0] or rows[0][0].lower() != "date":
        raise FxError("ECB CSV: expected a header 'Date, USD, …' and a row of rates")
    if len(rows) > 2:
        raise FxError(f"ECB CSV: expected one row of rates (the daily file), got {len(rows) - 1}")
    header, values = rows
    as_of = _ecb_date(values[0], "ECB CSV")
    per_euro: dict[str, Decimal] = {}
    for column, (code, value) in enumerate(zip(header[1:], values[1:], strict=False), start=2):
        if not code or not value or value.upper() == "N/A":
            continue
        where = f"ECB CSV column {column}"
        per_euro[_code(code, where)] = _rate(value, where)
    return from_ecb(per_euro, quote, as_of)


def parse_ecb_xml(text: str, quote: str) -> list[Rate]:
    """The ECB's ``eurofxref-daily.xml``: ``<Cube currency='USD' rate='1.0543'/>``
    under ``<Cube time='2026-12-01'>`` (of a file with several days, the newest)."""
    try:
        root = ET.fromstring(text)
    except ET.ParseError as error:
        raise FxError(f"ECB XML: {error}") from None
    days = [e for e in root.iter() if e.tag.rpartition("}")[2] == "Cube" and e.get("time")]
    if not days:
        raise FxError("ECB XML: no <Cube time='YYYY-MM-DD'> element")
    dated = [(_ecb_date(day.get("time", ""), "ECB XML time"), day) for day in days]
    as_of, newest = max(dated, key=lambda pair: pair[0])
    per_euro: dict[str, Decimal] = {}
    for cube in newest:
        code, rate = cube.get("currency"), cube.get("rate")
        if code is None or rate is None:
            continue
        where = f"ECB XML {code}"
        per_euro[_code(code, where)] = _rate(rate, where)
    if not per_euro:
        raise FxError(f"ECB XML: no rates under <Cube time='{as_of}'>")
    return from_ecb(per_euro, quote, as_of)


def parse_rates_file(text: str, quote: str, default_as_of: dt.date) -> list[Rate]:
    """Rates from a file in any of the formats ``billing fx load --file`` reads:
    ECB XML (it starts with ``<``), ECB CSV (its first cell is ``Date``), or
    ours (``currency,rate[,as_of]``). ECB files carry their own date."""
    stripped = text.lstrip("\ufeff \t\r\n")
    if stripped.startswith("<"):
        return parse_ecb_xml(stripped, quote)
    first = stripped.split("\n", 1)[0].split(",", 1)[0].strip().lower()
    if first == "date":
        return parse_ecb_csv(stripped, quote)
    return parse_csv(text, quote, default_as_of)


async def load(conn: asyncpg.Connection, rates: Iterable[Rate]) -> int:
    """Store ``rates`` (replacing the current rate of each pair)."""
    by_pair = {(r.base, r.quote): r for r in rates}
    for base, quote in by_pair:
        if base == quote:
            raise FxError(f"{base}: a currency needs no rate into itself")
    chosen = list(by_pair.values())
    await conn.execute(
        UPSERT,
        [r.base for r in chosen],
        [r.quote for r in chosen],
        [r.rate for r in chosen],
        [r.as_of for r in chosen],
    )
    return len(chosen)


async def list_rates(conn: asyncpg.Connection) -> list[Rate]:
    return [Rate(**dict(r.items())) for r in await conn.fetch(LIST)]


async def rates_into(conn: Connection, quote: str, bases: Iterable[str]) -> dict[str, Rate]:
    wanted = sorted(set(bases) - {quote})
    if not wanted:
        return {}
    rows = await conn.fetch(RATES_INTO, quote, wanted)
    return {r["base"]: Rate(base=r["base"], quote=quote, rate=r["rate"], as_of=r["as_of"]) for r in rows}


async def set_reporting_currency(conn: asyncpg.Connection, tenant_id: str, code: str) -> None:
    """The tenant's reporting currency from now on (``billing fx currency``)."""
    if not tenant_id:
        raise FxError("tenant id must not be empty")
    await conn.execute(SET_REPORTING_CURRENCY, tenant_id, _code(code.upper(), "reporting currency"))


async def tenant_setting(conn: asyncpg.Connection, tenant_id: str) -> str | None:
    """The reporting currency set for the tenant, if any."""
    code: str | None = await conn.fetchval(GET_REPORTING_CURRENCY, tenant_id)
    return code


async def reporting_currency(conn: Connection, tenant_id: str, default: str) -> str:
    """The tenant's reporting currency: its own setting, else its only invoice
    currency, else ``default`` (the BILLING_REPORTING_CURRENCY setting)."""
    code: str | None = await conn.fetchval(TENANT_REPORTING_CURRENCY, tenant_id)
    return code or default


class GrandTotal(msgspec.Struct, frozen=True):
    quote: str
    amount: Decimal | None
    rates: list[Rate]
    missing: list[str]

    @property
    def unavailable(self) -> str | None:
        if not self.missing:
            return None
        return f"no {self.quote} rate for {', '.join(self.missing)}"


def grand_total(amounts: Mapping[str, Decimal], quote: str, rates: Mapping[str, Rate]) -> GrandTotal:
    """The sum of ``amounts`` (major units per currency) in ``quote``: exact
    products, one half-even rounding to ``quote``'s minor units at the end."""
    missing = sorted(code for code in amounts if code != quote and code not in rates)
    used = [rates[code] for code in sorted(amounts) if code in rates]
    if missing:
        return GrandTotal(quote=quote, amount=None, rates=used, missing=missing)
    with decimal.localcontext() as exact:
        exact.prec = 200  # far beyond any product of an amount and a rate
        total = sum(
            (amount if code == quote else amount * rates[code].rate for code, amount in amounts.items()),
            Decimal(0),
        )
        step = Decimal(1).scaleb(-CURRENCIES[quote].exponent)
        rounded = total.quantize(step, rounding=decimal.ROUND_HALF_EVEN)
    return GrandTotal(quote=quote, amount=rounded, rates=used, missing=[])
