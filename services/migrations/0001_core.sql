-- Shared tables: the event store, held and quarantined events, partition
-- positions, outcome counts and the registry of projection versions. The
-- read models themselves live in one schema per projection version
-- (projections/schema.sql), so a new version can be rebuilt beside the live one.

CREATE SCHEMA IF NOT EXISTS billing;

-- Every applied event, in per-invoice sequence order. seq is the global append
-- order: a replay catches up by reading seq > the last one it applied.
CREATE TABLE billing.event_store (
    seq           bigint GENERATED ALWAYS AS IDENTITY,
    tenant_id     text        NOT NULL,
    invoice_id    text        NOT NULL,
    sequence      integer     NOT NULL,
    event_id      text        NOT NULL,
    type          text        NOT NULL,
    event_time    timestamptz NOT NULL,
    topic         text        NOT NULL,
    partition     integer     NOT NULL,
    kafka_offset  bigint      NOT NULL,
    -- The CloudEvent as structured-mode JSON (binary-mode events are re-encoded).
    body          bytea       NOT NULL,
    stored_at     timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (tenant_id, invoice_id, sequence)
);
CREATE UNIQUE INDEX event_store_seq ON billing.event_store (seq);

-- For ad-hoc SQL over the store.
CREATE VIEW billing.event_store_json AS
SELECT seq, tenant_id, invoice_id, sequence, event_id, type, event_time,
       topic, partition, kafka_offset, convert_from(body, 'UTF8')::jsonb AS event, stored_at
FROM billing.event_store;

-- Accepted events waiting for an earlier sequence of their invoice.
CREATE TABLE billing.held_events (
    tenant_id     text        NOT NULL,
    invoice_id    text        NOT NULL,
    sequence      integer     NOT NULL,
    event_id      text        NOT NULL,
    topic         text        NOT NULL,
    partition     integer     NOT NULL,
    kafka_offset  bigint      NOT NULL,
    body          bytea       NOT NULL,
    held_at       timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (tenant_id, invoice_id, sequence)
);
CREATE INDEX held_events_held_at ON billing.held_events (held_at);

-- Events that can never apply, with their raw bytes and where they were read.
CREATE TABLE billing.quarantine (
    id             bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    topic          text        NOT NULL,
    partition      integer     NOT NULL,
    kafka_offset   bigint      NOT NULL,
    kafka_key      bytea,
    raw            bytea,
    header_keys    text[]      NOT NULL DEFAULT '{}',
    header_values  bytea[]     NOT NULL DEFAULT '{}',
    reason         text        NOT NULL,
    detail         text        NOT NULL,
    event_id       text,
    tenant_id      text,
    invoice_id     text,
    sequence       integer,
    event_type     text,
    quarantined_at timestamptz NOT NULL DEFAULT now(),
    -- Retries: open until a retry applies it (or finds it a duplicate).
    status         text        NOT NULL DEFAULT 'open',
    retried_at     timestamptz,
    retry_outcome  text
);
CREATE INDEX quarantine_reason ON billing.quarantine (reason, quarantined_at);
CREATE INDEX quarantine_tenant ON billing.quarantine (tenant_id, quarantined_at);

-- The next Kafka offset to read per partition, written in the same transaction
-- as the rows that offset produced: the projections' exactly-once anchor.
CREATE TABLE billing.partition_positions (
    topic            text        NOT NULL,
    partition        integer     NOT NULL,
    next_offset      bigint      NOT NULL,
    last_event_time  timestamptz,
    updated_at       timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (topic, partition)
);

-- Outcome counts per partition (sharded so workers never share a row).
CREATE TABLE billing.event_outcomes (
    topic      text    NOT NULL,
    partition  integer NOT NULL,
    outcome    text    NOT NULL,
    reason     text    NOT NULL DEFAULT '',
    count      bigint  NOT NULL,
    PRIMARY KEY (topic, partition, outcome, reason)
);

-- Projection versions: one schema each; exactly one is active.
CREATE TABLE billing.projection_versions (
    version         integer     PRIMARY KEY,
    schema_name     text        NOT NULL UNIQUE,
    status          text        NOT NULL CHECK (status IN ('building', 'active', 'retired')),
    ddl_hash        text        NOT NULL,
    applied_seq     bigint      NOT NULL DEFAULT 0,
    created_at      timestamptz NOT NULL DEFAULT now(),
    promoted_at     timestamptz,
    retired_at      timestamptz
);
CREATE UNIQUE INDEX projection_versions_one_active
    ON billing.projection_versions ((true)) WHERE status = 'active';
