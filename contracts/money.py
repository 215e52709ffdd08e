"""Exact money: decimal strings on the wire, integer minor units inside.

Wire grammar: ``^-?[0-9]+(\\.[0-9]+)?$``, ASCII digits only. No exponent, no
sign other than a leading ``-``, no spaces, no ``NaN``/``Infinity``, no bare
``.5`` or ``1.``. JSON numbers are refused by the schema (a float cannot carry
an exact amount).

Precision is strict: an amount may not have more decimals than its currency's
ISO 4217 exponent, *even when the extra decimals are zeros* (``"1.230"`` is
rejected for EUR). A publisher that sends more digits than the currency has is
computing in some other precision; accepting its zeros would hide the day the
digits are not zeros. Fewer decimals are fine (``"12.5"`` is 1250 cents).

Amounts are bounded by ``MAX_MINOR`` (10**15, ten trillion euros) so that an
invoice's sums stay far inside a 64-bit integer (over 9,000 maximal amounts fit
in a PostgreSQL ``bigint``) and aggregates over many invoices stay exact in
``numeric``.

Parsing is plain ``str``/``int`` work, no ``Decimal``: it is on the decode hot
path.
"""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType

import msgspec

from contracts.currencies import ISO_4217
from contracts.errors import ContractError, Reason, quoted

MAX_MINOR: int = 10**15
"""Largest accepted absolute amount, in minor units."""

# A plain decimal string longer than this is out of range in every currency
# (16 significant digits at most, plus zeros); checked before int() so that a
# megabyte of digits costs nothing.
_MAX_WHOLE_DIGITS = len(str(MAX_MINOR))


class Currency(msgspec.Struct, frozen=True):
    """An ISO 4217 currency: its code, minor-unit exponent and display symbol."""

    code: str
    exponent: int
    symbol: str


_BY_CODE = {code: Currency(code=code, exponent=exponent, symbol=symbol or code) for code, exponent, symbol in ISO_4217}
CURRENCIES: Mapping[str, Currency] = MappingProxyType(_BY_CODE)

# 10**k for every exponent in the table: pads "12.5" EUR to 1250 cents.
_SCALE: tuple[int, ...] = tuple(10**k for k in range(max(c.exponent for c in _BY_CODE.values()) + 1))


def currency(code: str, *, field: str = "currency") -> Currency:
    """The currency of an upper-case ISO 4217 code; UNKNOWN_CURRENCY otherwise."""
    found = _BY_CODE.get(code)
    if found is None:
        raise ContractError(
            Reason.UNKNOWN_CURRENCY,
            f"{field}: {quoted(code)} is not an ISO 4217 currency code with minor units (upper-case, e.g. 'EUR')",
        )
    return found


def is_plain_decimal(text: str) -> bool:
    """Whether ``text`` matches ``^[0-9]+(\\.[0-9]+)?$`` (ASCII, unsigned)."""
    whole, dot, fraction = text.partition(".")
    # isdigit() alone accepts "²" and Arabic-Indic digits; isascii() narrows
    # it to 0-9.
    return text.isascii() and whole.isdigit() and (not dot or fraction.isdigit())


def decimal_sign(amount: str, *, field: str = "amount") -> int:
    """-1, 0 or 1 for a plain decimal string, without knowing its currency.

    Raises INVALID_MONEY when ``amount`` is not in the wire grammar.
    """
    negative = amount.startswith("-")
    digits = amount[1:] if negative else amount
    if not is_plain_decimal(digits):
        raise _invalid(amount, field)
    if not digits.strip("0."):
        return 0
    return -1 if negative else 1


def try_minor(amount: str, exponent: int) -> int | None:
    """Minor units of an ordinary non-negative amount, or None.

    The fast path for hot loops: it returns what ``to_minor`` returns for a
    non-negative amount with at most ``exponent`` decimals, within
    ``MAX_MINOR`` and without a run of leading zeros, and None for anything
    else; ``to_minor`` then gives the value or the reason.
    """
    whole, dot, fraction = amount.partition(".")
    if (
        len(fraction) <= exponent
        and len(whole) <= _MAX_WHOLE_DIGITS
        and whole.isdigit()
        and amount.isascii()
        and (fraction.isdigit() or not dot)
    ):
        minor = int(whole + fraction) * _SCALE[exponent - len(fraction)]
        if minor <= MAX_MINOR:
            return minor
    return None


def to_minor(amount: str, code: str, *, field: str = "amount") -> int:
    """Integer minor units of a decimal string in currency ``code``.

    ``"1250.50", "EUR"`` -> 125050. A leading ``-`` is accepted (callers decide
    the sign rules). Raises ContractError: UNKNOWN_CURRENCY, INVALID_MONEY,
    MONEY_PRECISION (more decimals than the currency has) or
    AMOUNT_OUT_OF_RANGE (``|result| > MAX_MINOR``).
    """
    exponent = currency(code).exponent
    negative = amount.startswith("-")
    digits = amount[1:] if negative else amount
    whole, dot, fraction = digits.partition(".")
    # The grammar of is_plain_decimal, inlined next to the other checks.
    if not (digits.isascii() and whole.isdigit() and (not dot or fraction.isdigit())):
        raise _invalid(amount, field)
    if len(fraction) > exponent:
        raise ContractError(
            Reason.MONEY_PRECISION,
            f"{field}: {quoted(amount)} has {len(fraction)} decimals, {code} allows {exponent}",
        )
    if len(whole) > _MAX_WHOLE_DIGITS:
        whole = whole.lstrip("0")
        if len(whole) > _MAX_WHOLE_DIGITS:
            raise _out_of_range(amount, code, field)
    minor = int(whole + fraction) * _SCALE[exponent - len(fraction)]
    if minor > MAX_MINOR:
        raise _out_of_range(amount, code, field)
    return -minor if negative else minor


def format_minor(minor: int, code: str) -> str:
    """The wire string of ``minor`` units: ``125050, "EUR"`` -> ``"1250.50"``.

    Always prints exactly the currency's decimals, so that
    ``to_minor(format_minor(x, c), c) == x``.
    """
    exponent = currency(code).exponent
    if exponent == 0:
        return str(minor)
    sign = "-" if minor < 0 else ""
    digits = str(abs(minor)).rjust(exponent + 1, "0")
    return f"{sign}{digits[:-exponent]}.{digits[-exponent:]}"


def _invalid(amount: str, field: str) -> ContractError:
    return ContractError(
        Reason.INVALID_MONEY,
        f"{field}: {quoted(amount)} is not a plain decimal string like '1250.50'",
    )


def _out_of_range(amount: str, code: str, field: str) -> ContractError:
    return ContractError(
        Reason.AMOUNT_OUT_OF_RANGE,
        f"{field}: {quoted(amount)} is beyond the largest accepted amount {format_minor(MAX_MINOR, code)} {code}",
    )
