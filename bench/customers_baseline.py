"""The collections view's baseline (served by bench/baseline_api.py): GET
/v1/customers computed the common way, by aggregating the tenant's invoice
rows per customer and currency at request time. Same parameters, paging and
response builders as the product, so the bodies are identical and the
benchmark compares only where the figures come from."""

from __future__ import annotations

from collections.abc import Mapping

import msgspec

from services.api.rows import Connection
from services.api.v1.customers.endpoints import customer_list, customer_query
from services.api.v1.customers.queries import standing_page
from services.api.v1.customers.schemas import V1CustomerList

# The columns of the product's sources, from tenant $1's invoice rows,
# overdue as of $2.
_RECEIVABLE = "status = 'SENT' AND balance > 0"
SOURCE = f"""
SELECT tenant_id, customer_id, currency,
       (array_agg(customer_name ORDER BY issue_date DESC, invoice_id DESC)
            FILTER (WHERE customer_name IS NOT NULL))[1] AS customer_name,
       count(*) AS invoice_count, coalesce(sum(gross) FILTER (WHERE status = 'SENT'), 0) AS revenue,
       count(*) FILTER (WHERE {_RECEIVABLE}) AS receivable_count,
       coalesce(sum(balance) FILTER (WHERE {_RECEIVABLE}), 0) AS receivable_balance,
       count(*) FILTER (WHERE {_RECEIVABLE} AND due_date < $2::date) AS overdue_count,
       coalesce(sum(balance) FILTER (WHERE {_RECEIVABLE} AND due_date < $2::date), 0) AS overdue_balance,
       coalesce(min(due_date) FILTER (WHERE {_RECEIVABLE} AND due_date < $2::date), 'infinity') AS oldest_due_date,
       max(last_paid_at) AS last_paid_at
FROM billing_read.invoices WHERE tenant_id = $1
GROUP BY tenant_id, customer_id, currency
"""
PARAMETERS = ("asOf", "currency", "hasOverdue", "sortBy", "sortOrder", "before", "after", "limit")


async def customers(conn: Connection, tenant: str, query: Mapping[str, str]) -> V1CustomerList:
    """The current figures (no ``asOf``), as the product answers them."""
    q = msgspec.structs.replace(customer_query(*(query.get(name) for name in PARAMETERS)), tenant_id=tenant)
    return customer_list(q, await standing_page(conn, q, SOURCE))
