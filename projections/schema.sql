-- The read models of one projection version, created in schema {schema}.
-- Summary rows are sharded by the Kafka partition that produced them, so
-- workers owning different partitions never write the same row; readers sum
-- the shards. Money: bigint minor units per invoice, numeric for sums (no
-- overflow however many invoices add up).

CREATE TABLE {schema}.invoices (
    tenant_id             text        NOT NULL,
    invoice_id            text        NOT NULL,
    partition             integer     NOT NULL,
    invoice_number        text        NOT NULL,
    customer_id           text        NOT NULL,
    customer_name         text,
    currency              text        NOT NULL,
    issue_date            date        NOT NULL,
    due_date              date        NOT NULL,
    accounting_date       date        NOT NULL,
    billing_period_start  date,
    billing_period_end    date,
    billing_schedule_id   text,
    series_id             text,
    document_type         text        NOT NULL,
    net                   bigint      NOT NULL,
    tax                   bigint      NOT NULL,
    gross                 bigint      NOT NULL,
    usage_gross           bigint      NOT NULL,
    fixed_gross           bigint      NOT NULL,
    recurring_gross       bigint      NOT NULL,
    one_time_gross        bigint      NOT NULL,
    quantity_is_zero      boolean     NOT NULL,
    status                text        NOT NULL,
    payment_status        text        NOT NULL,
    amount_paid           bigint      NOT NULL,
    balance               bigint      NOT NULL,
    overpaid              bigint      NOT NULL,
    -- The balance split by charge type and recurrence (docs/figures.md#balance-split).
    balance_usage         bigint      NOT NULL,
    balance_fixed         bigint      NOT NULL,
    balance_recurring     bigint      NOT NULL,
    balance_one_time      bigint      NOT NULL,
    payment_count         integer     NOT NULL,
    last_paid_at          timestamptz,
    last_payment_amount   bigint,
    sent_at               timestamptz,
    sent_date             date,
    voided_at             timestamptz,
    void_reason           text,
    event_ids             text[]      NOT NULL,
    payment_ids           text[]      NOT NULL,
    payment_times         timestamptz[] NOT NULL,
    payment_amounts       bigint[]    NOT NULL,
    sent_recorded_at      timestamptz,
    voided_recorded_at    timestamptz,
    created_at            timestamptz,
    updated_at            timestamptz,
    PRIMARY KEY (tenant_id, invoice_id)
);
-- Every index below is read by the API at scale (EXPLAIN on a loaded
-- dataset). Each one is written by every insert, and no update is HOT: a
-- sent or voided event changes status (indexed here and in the partial
-- indexes' predicates), a payment last_paid_at (the latest payment's index),
-- so fillfactor would only leave pages emptier. The primary key: the
-- worker's loads and upserts, one invoice's read, the joins from payments.
-- Invoice lists sorted by issue date (the default), a page per index range.
CREATE INDEX invoices_by_issue_date ON {schema}.invoices (tenant_id, issue_date, invoice_number, invoice_id);
-- A customer's invoices: customer filters, its latest invoice and dates, the
-- standing rows' recompute.
CREATE INDEX invoices_by_customer ON {schema}.invoices (tenant_id, customer_id, currency);
-- Invoice lists filtered by status and due date (what is open, what is late):
-- their total is an index-only count of the matching entries instead of a
-- visit to the tenant's rows; pages filtered by due date find their rows.
-- (Filtered summaries are answered by invoice_cells, so no figure is included.)
CREATE INDEX invoices_by_status_due_date ON {schema}.invoices (tenant_id, status, due_date);
-- The read API's first/latest dates and latest payment of SENT invoices per
-- currency and kind of lines (has recurring / one-time lines): one index
-- probe each, whatever the number of invoices.
CREATE INDEX invoices_sent_by_issue_date ON {schema}.invoices
    (tenant_id, currency, (recurring_gross > 0), (one_time_gross > 0), issue_date)
    WHERE status = 'SENT';
CREATE INDEX invoices_sent_by_accounting_date ON {schema}.invoices
    (tenant_id, currency, (recurring_gross > 0), (one_time_gross > 0), accounting_date)
    WHERE status = 'SENT';
-- The same dates as of a past date and as known at a time
-- (services/api/point_in_time.py): the invoices sent by then, in date order,
-- with what tells whether they were SENT then, without a visit to the rows.
CREATE INDEX invoices_ever_sent_by_issue_date ON {schema}.invoices (tenant_id, currency, issue_date)
    INCLUDE (sent_at, sent_recorded_at, voided_at, voided_recorded_at) WHERE sent_at IS NOT NULL;
CREATE INDEX invoices_ever_sent_by_accounting_date ON {schema}.invoices (tenant_id, currency, accounting_date)
    INCLUDE (sent_at, sent_recorded_at, voided_at, voided_recorded_at) WHERE sent_at IS NOT NULL;
CREATE INDEX invoices_sent_by_last_payment ON {schema}.invoices
    (tenant_id, currency, (recurring_gross > 0), (one_time_gross > 0), last_paid_at, invoice_id)
    WHERE status = 'SENT' AND last_paid_at IS NOT NULL;

-- The summary figures: one column per field of projections.figures.Figures,
-- in its order, counts bigint and amounts numeric (a test compares them). What
-- each figure means: docs/figures.md#summary-figures.
CREATE TABLE {schema}.currency_totals (
    tenant_id   text    NOT NULL,
    currency    text    NOT NULL,
    partition   integer NOT NULL,
    invoice_count         bigint  NOT NULL DEFAULT 0,
    gross_total           numeric NOT NULL DEFAULT 0,
    draft_count           bigint  NOT NULL DEFAULT 0,
    draft_gross           numeric NOT NULL DEFAULT 0,
    sent_count            bigint  NOT NULL DEFAULT 0,
    sent_net              numeric NOT NULL DEFAULT 0,
    sent_tax              numeric NOT NULL DEFAULT 0,
    sent_gross            numeric NOT NULL DEFAULT 0,
    voided_count          bigint  NOT NULL DEFAULT 0,
    voided_gross          numeric NOT NULL DEFAULT 0,
    unpaid_count          bigint  NOT NULL DEFAULT 0,
    unpaid_gross          numeric NOT NULL DEFAULT 0,
    partially_paid_count  bigint  NOT NULL DEFAULT 0,
    partially_paid_gross  numeric NOT NULL DEFAULT 0,
    paid_count            bigint  NOT NULL DEFAULT 0,
    paid_gross            numeric NOT NULL DEFAULT 0,
    collected             numeric NOT NULL DEFAULT 0,
    paid_capped           numeric NOT NULL DEFAULT 0,
    overpaid              numeric NOT NULL DEFAULT 0,
    invoiced_count        bigint  NOT NULL DEFAULT 0,
    invoiced_gross        numeric NOT NULL DEFAULT 0,
    received              numeric NOT NULL DEFAULT 0,
    receivable_count      bigint  NOT NULL DEFAULT 0,
    receivable_balance    numeric NOT NULL DEFAULT 0,
    receivable_usage      numeric NOT NULL DEFAULT 0,
    receivable_fixed      numeric NOT NULL DEFAULT 0,
    receivable_recurring  numeric NOT NULL DEFAULT 0,
    receivable_one_time   numeric NOT NULL DEFAULT 0,
    PRIMARY KEY (tenant_id, currency, partition)
);

-- The same figures per customer: the customer, then every column of the
-- per-currency table.
CREATE TABLE {schema}.customer_totals (
    customer_id text    NOT NULL,
    LIKE {schema}.currency_totals INCLUDING DEFAULTS,
    PRIMARY KEY (tenant_id, customer_id, currency, partition)
);

-- Receivable balances bucketed by due date: overdue as of D is the sum of the
-- rows with due_date < D, exact at query time with no sweeper. The figures are
-- the receivable_* ones (projections.figures.RECEIVABLE).
CREATE TABLE {schema}.currency_receivable (
    tenant_id   text    NOT NULL,
    currency    text    NOT NULL,
    due_date    date    NOT NULL,
    partition   integer NOT NULL,
    receivable_count      bigint  NOT NULL DEFAULT 0,
    receivable_balance    numeric NOT NULL DEFAULT 0,
    receivable_usage      numeric NOT NULL DEFAULT 0,
    receivable_fixed      numeric NOT NULL DEFAULT 0,
    receivable_recurring  numeric NOT NULL DEFAULT 0,
    receivable_one_time   numeric NOT NULL DEFAULT 0,
    PRIMARY KEY (tenant_id, currency, due_date, partition)
);

CREATE TABLE {schema}.customer_receivable (
    customer_id text    NOT NULL,
    LIKE {schema}.currency_receivable INCLUDING DEFAULTS,
    PRIMARY KEY (tenant_id, customer_id, currency, due_date, partition)
);

-- Filtered summaries (projections/cells.py): invoice count and gross total per
-- currency and one date of one dimension (due, issue, sent), apart per status
-- and payment status (a pair of columns each). A date range is one index
-- range: a row per day, currency and partition, however many invoices; a
-- status filter picks the columns.
CREATE TABLE {schema}.invoice_cells (
    tenant_id      text    NOT NULL,
    dimension      text    NOT NULL,
    day            date    NOT NULL,
    currency       text    NOT NULL,
    partition      integer NOT NULL,
    draft_unpaid_count           bigint  NOT NULL DEFAULT 0,
    draft_unpaid_gross           numeric NOT NULL DEFAULT 0,
    draft_partially_paid_count   bigint  NOT NULL DEFAULT 0,
    draft_partially_paid_gross   numeric NOT NULL DEFAULT 0,
    draft_paid_count             bigint  NOT NULL DEFAULT 0,
    draft_paid_gross             numeric NOT NULL DEFAULT 0,
    sent_unpaid_count            bigint  NOT NULL DEFAULT 0,
    sent_unpaid_gross            numeric NOT NULL DEFAULT 0,
    sent_partially_paid_count    bigint  NOT NULL DEFAULT 0,
    sent_partially_paid_gross    numeric NOT NULL DEFAULT 0,
    sent_paid_count              bigint  NOT NULL DEFAULT 0,
    sent_paid_gross              numeric NOT NULL DEFAULT 0,
    voided_unpaid_count          bigint  NOT NULL DEFAULT 0,
    voided_unpaid_gross          numeric NOT NULL DEFAULT 0,
    voided_partially_paid_count  bigint  NOT NULL DEFAULT 0,
    voided_partially_paid_gross  numeric NOT NULL DEFAULT 0,
    voided_paid_count            bigint  NOT NULL DEFAULT 0,
    voided_paid_gross            numeric NOT NULL DEFAULT 0,
    -- The figures ride in the key's index: a range is an index-only scan of
    -- adjacent entries (a tenant's rows lie scattered over the heap), for
    -- about 1.5 µs more per event on the upsert (make bench-profile).
    PRIMARY KEY (tenant_id, dimension, day, currency, partition) INCLUDE (
        draft_unpaid_count, draft_unpaid_gross, draft_partially_paid_count,
        draft_partially_paid_gross, draft_paid_count, draft_paid_gross, sent_unpaid_count,
        sent_unpaid_gross, sent_partially_paid_count, sent_partially_paid_gross, sent_paid_count,
        sent_paid_gross, voided_unpaid_count, voided_unpaid_gross, voided_partially_paid_count,
        voided_partially_paid_gross, voided_paid_count, voided_paid_gross
    )
);

-- Time (docs/figures.md#as-of): every invoice's contribution to the figures
-- along business time, as dated changes. A row says: from the end of business
-- day `day` (UTC) on, the invoice's figures change by these amounts; it was
-- recorded at `recorded_at` (the transaction that applied its events). The
-- figures of any set of invoices as of D and as known at T are the sums of
-- their rows with day <= D and recorded_at <= T. A batch that changes an
-- invoice appends the difference between its old and new timeline.
-- Its columns: the invoice, then those of the per-currency table.
CREATE TABLE {schema}.invoice_changes (
    invoice_id   text        NOT NULL,
    customer_id  text        NOT NULL,
    due_date     date        NOT NULL,
    day          date        NOT NULL,
    recorded_at  timestamptz NOT NULL DEFAULT now(),
    LIKE {schema}.currency_totals INCLUDING DEFAULTS
);
-- One invoice's change fits a bigint (as its gross does); sums are numeric.
-- bigint also copies ~30 times faster than numeric from the worker.
DO $$
DECLARE
    figure text;
BEGIN
    FOR figure IN
        SELECT column_name FROM information_schema.columns
        WHERE table_schema = '{schema}' AND table_name = 'invoice_changes' AND data_type = 'numeric'
    LOOP
        EXECUTE format('ALTER TABLE {schema}.invoice_changes ALTER COLUMN %I TYPE bigint', figure);
    END LOOP;
END $$;
CREATE INDEX invoice_changes_by_customer ON {schema}.invoice_changes (tenant_id, customer_id, currency, day);
-- "As known at T": the rows recorded after T are subtracted from the sums.
CREATE INDEX invoice_changes_by_recorded_at ON {schema}.invoice_changes (tenant_id, recorded_at);

-- The changes summed per business day: the figures as of D are the current
-- ones minus the rows with day > D (few for a recent D).
CREATE TABLE {schema}.currency_daily (
    day         date    NOT NULL,
    LIKE {schema}.currency_totals INCLUDING DEFAULTS,
    PRIMARY KEY (tenant_id, currency, day, partition)
);

-- Overdue and aging at any D without a scan of due dates: a receivable change
-- on `day` of an invoice due on `due_date` counts, at the end of D, as at
-- least N days past due when max(day, due_date + N) <= D. Summed per N in
-- (1, 31, 61, 91) and that first day (`from_day`), overdue at D is the
-- receivable total minus the rows of N = 1 with from_day > D, and each aging
-- bucket the difference of two thresholds.
CREATE TABLE {schema}.currency_overdue_from (
    tenant_id     text    NOT NULL,
    currency      text    NOT NULL,
    days_past_due integer NOT NULL,
    from_day      date    NOT NULL,
    partition     integer NOT NULL,
    receivable_count      bigint  NOT NULL DEFAULT 0,
    receivable_balance    numeric NOT NULL DEFAULT 0,
    receivable_usage      numeric NOT NULL DEFAULT 0,
    receivable_fixed      numeric NOT NULL DEFAULT 0,
    receivable_recurring  numeric NOT NULL DEFAULT 0,
    receivable_one_time   numeric NOT NULL DEFAULT 0,
    PRIMARY KEY (tenant_id, currency, days_past_due, from_day, partition)
);

-- Every applied payment with its business time (paid_at) and record time:
-- the latest payment as of any date and as known at any time.
CREATE TABLE {schema}.payments (
    tenant_id    text        NOT NULL,
    invoice_id   text        NOT NULL,
    customer_id  text        NOT NULL,
    currency     text        NOT NULL,
    payment_id   text        NOT NULL,
    paid_at      timestamptz NOT NULL,
    amount       bigint      NOT NULL,
    recorded_at  timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (tenant_id, invoice_id, payment_id)
);
CREATE INDEX payments_by_paid_at ON {schema}.payments (tenant_id, currency, paid_at);

-- The collections view (GET /v1/customers; projections/standing.py): one row
-- per tenant, currency and customer, to which every transaction that changes
-- the customer's invoices adds its changes (recomputing it whole only where
-- deltas cannot), overdue as of as_of_day and right until stale_from (null:
-- no receivable balance falls due later).
-- oldest_due_date is the oldest due date among the overdue invoices
-- ('infinity' when none is overdue, so those rows sort after every overdue one).
-- name_issue_date and name_invoice_id: the invoice the name is from.
CREATE TABLE {schema}.customer_standing (
    tenant_id           text        NOT NULL,
    currency            text        NOT NULL,
    customer_id         text        NOT NULL,
    customer_name       text,
    invoice_count       bigint      NOT NULL DEFAULT 0,
    revenue             numeric     NOT NULL DEFAULT 0,
    receivable_count    bigint      NOT NULL DEFAULT 0,
    receivable_balance  numeric     NOT NULL DEFAULT 0,
    overdue_count       bigint      NOT NULL DEFAULT 0,
    overdue_balance     numeric     NOT NULL DEFAULT 0,
    oldest_due_date     date        NOT NULL DEFAULT 'infinity',
    last_paid_at        timestamptz,
    as_of_day           date        NOT NULL DEFAULT '-infinity',
    stale_from          date,
    name_issue_date     date,
    name_invoice_id     text,
    PRIMARY KEY (tenant_id, currency, customer_id)
);
-- One index per sort, ties by customer id: each page is one index scan.
CREATE INDEX customer_standing_by_overdue ON {schema}.customer_standing
    (tenant_id, currency, overdue_balance, customer_id);
CREATE INDEX customer_standing_by_receivable ON {schema}.customer_standing
    (tenant_id, currency, receivable_balance, customer_id);
CREATE INDEX customer_standing_by_revenue ON {schema}.customer_standing (tenant_id, currency, revenue, customer_id);
CREATE INDEX customer_standing_by_oldest_due ON {schema}.customer_standing
    (tenant_id, currency, oldest_due_date, customer_id);
CREATE INDEX customer_standing_by_invoice_count ON {schema}.customer_standing
    (tenant_id, currency, invoice_count, customer_id);
CREATE INDEX customer_standing_by_customer ON {schema}.customer_standing (tenant_id, customer_id, currency);
-- Rows whose overdue figures a day has made stale (the day roll, and the
-- read's check that none is), and rows computed for a day after a reader's
-- today (a clock ahead): normally none, so each probe finds nothing at once.
CREATE INDEX customer_standing_stale ON {schema}.customer_standing (stale_from, tenant_id)
    WHERE stale_from IS NOT NULL;
CREATE INDEX customer_standing_as_of ON {schema}.customer_standing (as_of_day, tenant_id);

-- The timelines' sums per calendar month (projections/store.py), kept
-- beside the per-day ones: a month, quarter or year series reads a row per
-- month wholly inside its range and per-day rows only for the partial months
-- at its ends (about 30 times fewer rows). `month` and `from_month`: the
-- first day of the month of `day` and of `from_day`.
CREATE TABLE {schema}.currency_monthly (
    month       date    NOT NULL,
    LIKE {schema}.currency_totals INCLUDING DEFAULTS,
    PRIMARY KEY (tenant_id, currency, month, partition)
);
CREATE TABLE {schema}.currency_overdue_monthly (
    tenant_id     text    NOT NULL,
    currency      text    NOT NULL,
    days_past_due integer NOT NULL,
    from_month    date    NOT NULL,
    partition     integer NOT NULL,
    receivable_count      bigint  NOT NULL DEFAULT 0,
    receivable_balance    numeric NOT NULL DEFAULT 0,
    receivable_usage      numeric NOT NULL DEFAULT 0,
    receivable_fixed      numeric NOT NULL DEFAULT 0,
    receivable_recurring  numeric NOT NULL DEFAULT 0,
    receivable_one_time   numeric NOT NULL DEFAULT 0,
    PRIMARY KEY (tenant_id, currency, days_past_due, from_month, partition)
);
