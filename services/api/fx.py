"""FX rates that operators load, and grand totals converted with them.

A rate (base, quote) means: 1 unit of ``base`` = ``rate`` units of ``quote``.
Rates live in ``billing.fx_rates`` (one current rate per pair); ``billing fx
load`` writes them from a CSV file (``currency,rate[,as_of]``) or arguments.
A grand total is the exact sum of every amount times its rate, rounded once,
half-even, to the reporting currency's minor units.
"""

from __future__ import annotations

import csv
import datetime as dt
import decimal
import io
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
