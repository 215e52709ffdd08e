"""Every summary table of a version, defined as set-based SQL aggregates over
its per-invoice rows (invoices, invoice_changes): a definition apart from the
fold's summed deltas. A rebuild fills the tables with them once, after its bulk
COPY; ``verify`` recomputes the figures with them to check a version.

Each definition selects the table's key columns (the ``partition`` shard
included, in the table's column order), then its figures.
"""

from __future__ import annotations

from projections import cells
from projections.figures import RECEIVABLE, TOTALS
from projections.store import ALL_SUM_TABLES, CELL_TABLES, SUM_TABLES, TIMELINE_SUM_TABLES, grouped_changes

# Each summary figure, defined again in SQL over the invoice rows.
FIGURE_SQL: dict[str, str] = {
    "invoice_count": "count(*)",
    "gross_total": "sum(gross)",
    "draft_count": "count(*) FILTER (WHERE status = 'DRAFT')",
    "draft_gross": "sum(gross) FILTER (WHERE status = 'DRAFT')",
    "sent_count": "count(*) FILTER (WHERE status = 'SENT')",
    "sent_net": "sum(net) FILTER (WHERE status = 'SENT')",
    "sent_tax": "sum(tax) FILTER (WHERE status = 'SENT')",
    "sent_gross": "sum(gross) FILTER (WHERE status = 'SENT')",
    "voided_count": "count(*) FILTER (WHERE status = 'VOIDED')",
    "voided_gross": "sum(gross) FILTER (WHERE status = 'VOIDED')",
    "unpaid_count": "count(*) FILTER (WHERE status = 'SENT' AND payment_status = 'UNPAID')",
    "unpaid_gross": "sum(gross) FILTER (WHERE status = 'SENT' AND payment_status = 'UNPAID')",
    "partially_paid_count": "count(*) FILTER (WHERE status = 'SENT' AND payment_status = 'PARTIALLY_PAID')",
    "partially_paid_gross": "sum(gross) FILTER (WHERE status = 'SENT' AND payment_status = 'PARTIALLY_PAID')",
    "paid_count": "count(*) FILTER (WHERE status = 'SENT' AND payment_status = 'PAID')",
    "paid_gross": "sum(gross) FILTER (WHERE status = 'SENT' AND payment_status = 'PAID')",
    "collected": "sum(amount_paid) FILTER (WHERE status <> 'VOIDED')",
    "paid_capped": "sum(least(amount_paid, gross)) FILTER (WHERE status = 'SENT')",
    "overpaid": "sum(greatest(amount_paid - gross, 0)) FILTER (WHERE status <> 'VOIDED')",
    "invoiced_count": "count(*) FILTER (WHERE sent_at IS NOT NULL)",
    "invoiced_gross": "sum(gross) FILTER (WHERE sent_at IS NOT NULL)",
    "received": "sum(amount_paid)",
    "receivable_count": "count(*) FILTER (WHERE status = 'SENT' AND balance > 0)",
    "receivable_balance": "sum(balance) FILTER (WHERE status = 'SENT' AND balance > 0)",
    "receivable_usage": "sum(balance_usage) FILTER (WHERE status = 'SENT' AND balance > 0)",
    "receivable_fixed": "sum(balance_fixed) FILTER (WHERE status = 'SENT' AND balance > 0)",
    "receivable_recurring": "sum(balance_recurring) FILTER (WHERE status = 'SENT' AND balance > 0)",
    "receivable_one_time": "sum(balance_one_time) FILTER (WHERE status = 'SENT' AND balance > 0)",
}
assert tuple(FIGURE_SQL) == TOTALS, "every figure needs its SQL definition"


def invoice_figures_sql(schema: str, keys: tuple[str, ...], figures: tuple[str, ...]) -> str:
    """The figures of the invoice rows grouped by ``keys`` (the receivable
    tables: of the receivable invoices only)."""
    key_list = ", ".join(keys)
    where = " WHERE status = 'SENT' AND balance > 0" if figures == RECEIVABLE else ""
    return (
        f"SELECT {key_list}, "
        + ", ".join(f"coalesce({FIGURE_SQL[f]}, 0) AS {f}" for f in figures)
        + f" FROM {schema}.invoices{where} GROUP BY {key_list}"
    )


def timeline_sums_sql(schema: str, table: str) -> str:
    """One of the timelines' sum tables, from the version's timeline rows."""
    return grouped_changes(table, f"{schema}.invoice_changes")


# The filter cells (projections/cells.py) over the invoice rows: each invoice
# counted once per dimension it has a date in.
_COMBINATION = "status = '{}' AND payment_status = '{}'"
CELLS_SQL = (
    "SELECT tenant_id, d.dimension, d.day, currency, partition, "
    + ", ".join(
        f"count(*) FILTER (WHERE {_COMBINATION.format(*c)}), "
        f"coalesce(sum(gross) FILTER (WHERE {_COMBINATION.format(*c)}), 0)"
        for c in cells.COMBINATIONS
    )
    + "\nFROM {schema}.invoices\nCROSS JOIN LATERAL (VALUES "
    + ", ".join(f"('{dimension}', {column})" for dimension, column in cells.DATE_COLUMNS)
    + ") AS d(dimension, day)\nWHERE d.day IS NOT NULL\nGROUP BY 1, 2, 3, 4, 5\n"
)


def definition(schema: str, table: str) -> str:
    """Any summary table's rows (keys, partition included, then figures)."""
    if table in SUM_TABLES:
        keys, figures = SUM_TABLES[table]
        return invoice_figures_sql(schema, tuple(name for name, _ in keys), figures)
    if table in TIMELINE_SUM_TABLES:
        return timeline_sums_sql(schema, table)
    if table in CELL_TABLES:
        return CELLS_SQL.format(schema=schema)
    raise KeyError(table)


def fill_sql(schema: str, table: str) -> str:
    """INSERT … SELECT of an empty summary table from its definition."""
    keys, figures = ALL_SUM_TABLES[table]
    columns = ", ".join((*(name for name, _ in keys), *figures))
    return f"INSERT INTO {schema}.{table} ({columns}) {definition(schema, table)}"
