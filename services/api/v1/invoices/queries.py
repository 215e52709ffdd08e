"""The /v1 invoices' reads: one stored invoice by id. (The list reads pages
of invoices: paging.invoice_page.)"""

from __future__ import annotations

from services.api.invoice_rows import INVOICE_FIELDS, StoredInvoice
from services.api.rows import Connection

ONE_INVOICE = f"""
SELECT {INVOICE_FIELDS} FROM billing_read.invoices WHERE tenant_id = $1 AND invoice_id = $2
"""


async def one_invoice(conn: Connection, tenant_id: str, invoice_id: str) -> StoredInvoice | None:
    record = await conn.fetchrow(ONE_INVOICE, tenant_id, invoice_id)
    return None if record is None else StoredInvoice(*record)
