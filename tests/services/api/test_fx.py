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
