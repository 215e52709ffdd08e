-- API keys per tenant, stored as SHA-256 hashes of the key (keys are 256-bit
-- random tokens, so an unsalted hash is enough to make a stolen table useless).
CREATE TABLE billing.api_keys (
    id          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    tenant_id   text        NOT NULL,
    name        text        NOT NULL DEFAULT '',
    prefix      text        NOT NULL,   -- first characters, to recognise a key in lists
    key_hash    bytea       NOT NULL UNIQUE,
    created_at  timestamptz NOT NULL DEFAULT now(),
    revoked_at  timestamptz
);
CREATE INDEX api_keys_tenant ON billing.api_keys (tenant_id);
