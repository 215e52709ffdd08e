"""Partner Center's read: the currencies with SENT invoices, each with its
figures and the dates of its SENT invoices per kind of lines."""

from __future__ import annotations

import msgspec

from projections.figures import Figures
from services.api import figures
from services.api.figures import KindDates
from services.api.rows import Connection


class SentCurrency(msgspec.Struct, frozen=True):
    currency: str
    figures: Figures
    kinds: list[KindDates]


async def sent_currencies(conn: Connection, tenant_id: str) -> list[SentCurrency]:
    totals = await figures.currency_summary(conn, tenant_id)
    kinds = await figures.sent_dates_by_kind(conn, tenant_id)
    return [
        SentCurrency(t.currency, t.figures, [k for k in kinds if k.currency == t.currency])
        for t in totals
        if t.figures.sent_count > 0
    ]
