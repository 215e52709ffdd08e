"""Money at the API's edge: integer minor units inside; out as decimal
strings in major units (the /v1 API, Flexprice) or as exact JSON numbers
where a published shape says number (Sequence, Partner Center, Contazen:
a Decimal, rendered with its exact digits by reading.json_response). The
exponents come from the ISO 4217 table in contracts."""

from __future__ import annotations

from decimal import Decimal
from typing import Annotated

from msgspec import Meta

from contracts import format_minor

Money = Annotated[str, Meta(description='Decimal string in major units, e.g. "1250.50"', examples=["1250.50"])]


def text(minor: int, currency: str) -> str:
    """Minor units -> a decimal string in major units (EUR 125050 -> "1250.50")."""
    return format_minor(minor, currency)


def number(minor: int, currency: str) -> Decimal:
    """Minor units -> an exact Decimal in major units (EUR 125050 -> 1250.50)."""
    return Decimal(format_minor(minor, currency))
