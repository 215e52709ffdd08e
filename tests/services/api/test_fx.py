"""FX rates: parsing, exact grand totals, and `billing fx load` / `fx list`."""

from __future__ import annotations

import asyncio
import datetime as dt
import os
import sys
from decimal import Decimal
from pathlib import Path

import asyncpg
import pytest

from services.api import fx

REPOSITORY = Path(__file__).resolve().parents[3]

TODAY = dt.date(2026, 11, 21)


def test_a_csv_file_gives_one_rate_per_line_with_its_date_or_the_default() -> None:
    rates = fx.parse_csv("currency,rate,as_of\nUSD,0.92,2026-11-20\n\nJPY, 0.0061\n", "EUR", TODAY)
    assert rates == [
        fx.Rate("USD", "EUR", Decimal("0.92"), dt.date(2026, 11, 20)),
        fx.Rate("JPY", "EUR", Decimal("0.0061"), TODAY),
    ]


@pytest.mark.parametrize(
    "text, message",
    [
        ("USD\n", "line 1"),
        ("USD,abc\n", "not a number"),
        ("USD,-1\n", "positive"),
        ("XXX,1\n", "ISO 4217"),
        ("USD,1,2026-13-20\n", "as_of"),
    ],
)
def test_a_bad_csv_line_is_refused_with_its_line_number(text: str, message: str) -> None:
    with pytest.raises(fx.FxError, match=message):
        fx.parse_csv(text, "EUR", TODAY)


def test_a_rate_argument_may_carry_its_date() -> None:
    assert fx.parse_argument("USD=0.92@2026-11-20", "EUR", TODAY).as_of == dt.date(2026, 11, 20)
    assert fx.parse_argument("GBP=1.15", "EUR", TODAY) == fx.Rate("GBP", "EUR", Decimal("1.15"), TODAY)
    with pytest.raises(fx.FxError):
        fx.parse_argument("USD:0.92", "EUR", TODAY)


def test_the_grand_total_is_the_exact_sum_rounded_once_half_even() -> None:
    rates = {"USD": fx.Rate("USD", "EUR", Decimal("0.5"), TODAY), "GBP": fx.Rate("GBP", "EUR", Decimal("0.5"), TODAY)}
    # 0.01 x 0.5 twice: 0.005 + 0.005 = 0.01 (rounding each part would give 0.00).
    total = fx.grand_total({"USD": Decimal("0.01"), "GBP": Decimal("0.01")}, "EUR", rates)
    assert total.amount == Decimal("0.01")
    assert fx.grand_total({"USD": Decimal("0.01")}, "EUR", rates).amount == Decimal("0.00")  # 0.005 -> 0.00
    assert fx.grand_total({"USD": Decimal("0.03")}, "EUR", rates).amount == Decimal("0.02")  # 0.015 -> 0.02
    assert fx.grand_total({"EUR": Decimal("1.25")}, "EUR", {}).amount == Decimal("1.25")
    missing = fx.grand_total({"USD": Decimal("1"), "JPY": Decimal("1"), "KWD": Decimal("1")}, "EUR", rates)
    assert missing.amount is None
    assert missing.unavailable == "no EUR rate for JPY, KWD"


def billing(*args: str, env: dict[str, str], stdin: bytes = b"") -> asyncio.Future[tuple[int, str, str]]:
    async def run() -> tuple[int, str, str]:
        process = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "services.cli",
            *args,
            env=env,
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
            cwd=REPOSITORY,
        )
        out, err = await process.communicate(stdin)
        return process.returncode or 0, out.decode(), err.decode()

    return asyncio.ensure_future(run())


@pytest.mark.integration
async def test_operators_load_rates_from_a_file_and_arguments_and_list_them(
    database_url: str, conn: asyncpg.Connection, tmp_path: Path
) -> None:
    env = {**os.environ, "BILLING_DATABASE_URL": database_url, "BILLING_LOG_FORMAT": "console"}
    rates = tmp_path / "rates.csv"
    rates.write_text("currency,rate,as_of\nUSD,0.92,2026-11-20\nJPY,0.0061,2026-11-20\n")
    code, out, err = await billing("fx", "load", "--to", "EUR", "--file", str(rates), "GBP=1.15@2026-11-19", env=env)
    assert (code, out.strip()) == (0, "loaded 3 rates into EUR"), err
    code, _, _ = await billing("fx", "load", "--to", "RON", "--file", "-", env=env, stdin=b"EUR,4.97,2026-11-20\n")
    assert code == 0
    # A new rate for a pair replaces the old one.
    code, _, _ = await billing("fx", "load", "USD=0.93@2026-11-21", env=env)
    assert code == 0
    rows = await conn.fetch("SELECT base, quote, rate::text, as_of FROM billing.fx_rates ORDER BY quote, base")
    assert [tuple(r) for r in rows] == [
        ("GBP", "EUR", "1.15", dt.date(2026, 11, 19)),
        ("JPY", "EUR", "0.0061", dt.date(2026, 11, 20)),
        ("USD", "EUR", "0.93", dt.date(2026, 11, 21)),
        ("EUR", "RON", "4.97", dt.date(2026, 11, 20)),
    ]
    code, out, _ = await billing("fx", "list", env=env)
    assert code == 0
    assert [line.split("\t")[:4] for line in out.splitlines()] == [
        ["GBP", "EUR", "1.15", "2026-11-19"],
        ["JPY", "EUR", "0.0061", "2026-11-20"],
        ["USD", "EUR", "0.93", "2026-11-21"],
        ["EUR", "RON", "4.97", "2026-11-20"],
    ]


@pytest.mark.integration
async def test_bad_rates_are_refused_and_nothing_is_loaded(database_url: str, conn: asyncpg.Connection) -> None:
    env = {**os.environ, "BILLING_DATABASE_URL": database_url, "BILLING_LOG_FORMAT": "console"}
    for args in (["XXX=1"], ["EUR=1"], ["USD=0"], [], ["USD=1", "--to", "EURO"]):
        code, _, err = await billing("fx", "load", *args, env=env)
        assert code == 2, args
        assert err.startswith("fx load: ")
    assert await conn.fetchval("SELECT count(*) FROM billing.fx_rates") == 0


# The ECB's daily reference rates, as its two files write them.
ECB_CSV = (
    "Date, USD, JPY, BGN, CZK, RON, GBP, ISK, \n"
    "1 December 2026, 1.0543, 162.50, 1.9558, 24.301, 4.9750, 0.8325, N/A, \n"
)
ECB_XML = """<?xml version="1.0" encoding="UTF-8"?>
<gesmes:Envelope xmlns:gesmes="http://www.gesmes.org/xml/2002-08-01" xmlns="http://www.ecb.int/vocabulary/2002-08-01/eurofxref">
    <gesmes:subject>Reference rates</gesmes:subject>
    <gesmes:Sender><gesmes:name>European Central Bank</gesmes:name></gesmes:Sender>
    <Cube>
        <Cube time='2026-12-01'>
            <Cube currency='USD' rate='1.0543'/>
            <Cube currency='JPY' rate='162.50'/>
            <Cube currency='RON' rate='4.9750'/>
            <Cube currency='GBP' rate='0.8325'/>
        </Cube>
    </Cube>
</gesmes:Envelope>
"""
DECEMBER_1 = dt.date(2026, 12, 1)


def by_base(rates: list[fx.Rate]) -> dict[str, tuple[str, Decimal, dt.date]]:
    return {r.base: (r.quote, r.rate, r.as_of) for r in rates}


def test_ecb_rates_into_the_euro_are_the_exact_decimal_inverse() -> None:
    rates = by_base(fx.parse_rates_file(ECB_CSV, "EUR", TODAY))
    assert set(rates) == {"USD", "JPY", "BGN", "CZK", "RON", "GBP"}  # N/A and empty cells skipped
    # 1 EUR = 162.50 JPY: 1 JPY = 1 / 162.50 EUR, which does not terminate: 28 significant digits.
    assert rates["JPY"] == ("EUR", Decimal("0.006153846153846153846153846154"), DECEMBER_1)
    assert rates["GBP"][1] == Decimal(1) / Decimal("0.8325")
    # Half-even at the 28th digit; within 1e-27 of the exact inverse.
    usd = rates["USD"][1]
    assert usd == Decimal("0.9484966328369534288153277056")
    assert len(usd.as_tuple().digits) == fx.ECB_RATE_DIGITS
    assert abs(usd * Decimal("1.0543") - 1) < Decimal("1e-27")
    exact = fx.parse_rates_file("Date, CHF\n2 December 2026, 1.25\n", "EUR", TODAY)
    assert exact == [fx.Rate("CHF", "EUR", Decimal("0.8"), dt.date(2026, 12, 2))]


def test_ecb_rates_into_another_currency_cross_through_the_euro() -> None:
    rates = by_base(fx.parse_rates_file(ECB_CSV, "RON", TODAY))
    assert rates["EUR"] == ("RON", Decimal("4.9750"), DECEMBER_1)  # the ECB's own figure, exact
    assert rates["USD"][1] == Decimal("4.9750") / Decimal("1.0543")
    assert "RON" not in rates
    with pytest.raises(fx.FxError, match="no CHF rate"):
        fx.parse_rates_file(ECB_CSV, "CHF", TODAY)


def test_the_ecb_xml_file_gives_the_same_rates_as_its_csv_file() -> None:
    xml = fx.parse_rates_file(ECB_XML, "EUR", TODAY)
    csv_rates = [r for r in fx.parse_rates_file(ECB_CSV, "EUR", TODAY) if r.base in {"USD", "JPY", "RON", "GBP"}]
    assert xml == csv_rates
    assert all(r.as_of == DECEMBER_1 for r in xml)
    # Several days (the 90-day file): the newest.
    history = ECB_XML.replace("<Cube>\n", "<Cube>\n<Cube time='2026-11-30'><Cube currency='USD' rate='2'/></Cube>\n", 1)
    assert by_base(fx.parse_rates_file(history, "EUR", TODAY))["USD"][2] == DECEMBER_1


@pytest.mark.parametrize(
    "text, message",
    [
        ("Date, USD\n", "expected a header"),
        ("Date, USD\n1 December 2026, abc\n", "not a number"),
        ("Date, USD\nyesterday, 1.05\n", "not a date"),
        ("Date, XYZ\n1 December 2026, 1.05\n", "ISO 4217"),
        ("Date, USD\n1 December 2026, 1.05\n2 December 2026, 1.06\n", "one row"),
        ("<Envelope><Cube/></Envelope>", "no <Cube time"),
        ("<Envelope><Cube time='2026-12-01'/></Envelope>", "no rates"),
        ("<Envelope>", "ECB XML"),
        ("<Envelope><Cube time='2026-12-01'><Cube currency='USD' rate='-1'/></Cube></Envelope>", "positive"),
    ],
)
def test_a_bad_ecb_file_is_refused_saying_why(text: str, message: str) -> None:
    with pytest.raises(fx.FxError, match=message):
        fx.parse_rates_file(text, "EUR", TODAY)


def test_our_own_csv_format_is_still_read_as_before() -> None:
    text = "currency,rate,as_of\nUSD,0.92,2026-11-20\n"
    assert fx.parse_rates_file(text, "EUR", TODAY) == fx.parse_csv(text, "EUR", TODAY)


@pytest.mark.integration
async def test_operators_load_ecb_files_and_set_a_tenants_reporting_currency(
    database_url: str, conn: asyncpg.Connection, tmp_path: Path
) -> None:
    env = {**os.environ, "BILLING_DATABASE_URL": database_url, "BILLING_LOG_FORMAT": "console"}
    (tmp_path / "eurofxref.csv").write_text(ECB_CSV)
    (tmp_path / "eurofxref-daily.xml").write_text(ECB_XML)
    code, out, err = await billing("fx", "load", "--to", "EUR", "--file", str(tmp_path / "eurofxref.csv"), env=env)
    assert (code, out.strip()) == (0, "loaded 6 rates into EUR"), err
    code, out, err = await billing(
        "fx", "load", "--to", "RON", "--file", str(tmp_path / "eurofxref-daily.xml"), env=env
    )
    assert (code, out.strip()) == (0, "loaded 4 rates into RON"), err
    stored = {
        (r["base"], r["quote"]): (r["rate"], r["as_of"])
        for r in await conn.fetch("SELECT base, quote, rate, as_of FROM billing.fx_rates")
    }
    assert stored[("USD", "EUR")] == (Decimal("0.9484966328369534288153277056"), DECEMBER_1)
    assert stored[("EUR", "RON")] == (Decimal("4.9750"), DECEMBER_1)

    code, out, _ = await billing("fx", "currency", "acme", env=env)
    assert (code, out.strip()) == (0, "acme: none set (its only invoice currency, else EUR)")
    code, out, _ = await billing("fx", "currency", "acme", "ron", env=env)
    assert (code, out.strip()) == (0, "acme: RON")
    assert await fx.tenant_setting(conn, "acme") == "RON"
    code, _, err = await billing("fx", "currency", "acme", "RONN", env=env)
    assert code == 2 and err.startswith("fx currency: ")
    assert await fx.tenant_setting(conn, "acme") == "RON"
