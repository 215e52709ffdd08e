"""Change notices: what a committed batch changed, per tenant, announced with
PostgreSQL's NOTIFY for the API's live stream (services/api/stream/).

The notices are sent inside the batch's transaction: PostgreSQL delivers
them when, and only if, it commits, so nothing uncommitted is announced and
a rolled-back batch announces nothing. One statement sends every tenant's
notice of a batch. A notice is one JSON object (``Notice``) under
``MAX_PAYLOAD`` bytes (PostgreSQL refuses 8000 and more): a tenant whose
changed customers do not fit is sent ``"customers": "many"``.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Literal

import asyncpg
import msgspec

from projections.invoice import InvoiceState

CHANNEL = "billing_changes"
# Every tenant: a switch-over to a rebuilt version changes every figure at once.
EVERY_TENANT = "*"
MAX_PAYLOAD = 7900
MANY: Literal["many"] = "many"


class Notice(msgspec.Struct, kw_only=True, omit_defaults=True):
    tenant: str
    # ``topic:partition=next_offset,…`` as X-Projection-Position states it:
    # the partitions the batch moved, as its commit left them.
    position: str | None = None
    currencies: list[str] = []
    customers: list[str] | Literal["many"] = []
    # Set (the reason) when what changed is not known: read everything again.
    refetch: str | None = None


_ENCODER = msgspec.json.Encoder()


def position_token(topic: str, next_offsets: Mapping[int, int]) -> str:
    return ",".join(f"{topic}:{partition}={offset}" for partition, offset in sorted(next_offsets.items()))


def encode(notice: Notice) -> str:
    """The notice as a payload that fits, listing customers only when they do."""
    payload = _ENCODER.encode(notice)
    if len(payload) > MAX_PAYLOAD:
        payload = _ENCODER.encode(msgspec.structs.replace(notice, customers=MANY))
    return payload.decode()


def notices(invoices: Iterable[InvoiceState], position: str | None) -> list[Notice]:
    """One notice per tenant of the changed invoices."""
    currencies: dict[str, set[str]] = {}
    customers: dict[str, set[str]] = {}
    for state in invoices:
        currencies.setdefault(state.tenant_id, set()).add(state.currency)
        customers.setdefault(state.tenant_id, set()).add(state.customer_id)
    return [
        Notice(
            tenant=tenant,
            position=position,
            currencies=sorted(currencies[tenant]),
            customers=sorted(customers[tenant]),
        )
        for tenant in sorted(currencies)
    ]


async def send(conn: asyncpg.Connection, sent: Iterable[Notice]) -> None:
    """Queue the notices on ``conn``'s transaction (delivered at its commit)."""
    payloads = [encode(notice) for notice in sent]
    if payloads:
        await conn.execute("SELECT pg_notify($1, p) FROM unnest($2::text[]) AS p", CHANNEL, payloads)


async def batch_applied(
    conn: asyncpg.Connection, topic: str, invoices: Iterable[InvoiceState], next_offsets: Mapping[int, int]
) -> None:
    """Announce a batch's changes, with the positions it leaves its partitions at."""
    await send(conn, notices(invoices, position_token(topic, next_offsets) if next_offsets else None))


async def invoices_changed(conn: asyncpg.Connection, invoices: Iterable[InvoiceState]) -> None:
    """Announce changes made outside a batch of the log (a retried quarantined
    event, a released held one): no position moved."""
    await send(conn, notices(invoices, None))


async def refetch_everything(conn: asyncpg.Connection, reason: str) -> None:
    """Tell every tenant's subscribers to read everything again (at commit)."""
    await send(conn, [Notice(tenant=EVERY_TENANT, refetch=reason)])
