"""The API's SQL, as named constants. Every query is scoped by tenant ($1) and
reads the active projection version through the billing_read views."""

CURRENCY_TOTALS = """
SELECT currency, sum(invoice_count)::bigint AS invoice_count, sum(gross_total) AS gross_total
FROM billing_read.currency_totals
WHERE tenant_id = $1
GROUP BY currency
HAVING sum(invoice_count) > 0
ORDER BY currency
"""
