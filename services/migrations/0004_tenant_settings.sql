-- Settings operators keep per tenant. reporting_currency: the currency of
-- Contazen's grand total (grand_total_<code>) for the tenant, set with
-- `billing fx currency TENANT CODE`. Without one, the API uses the tenant's
-- only invoice currency, or BILLING_REPORTING_CURRENCY when it has several.
CREATE TABLE billing.tenant_settings (
    tenant_id           text        PRIMARY KEY,
    reporting_currency  text        CHECK (reporting_currency ~ '^[A-Z]{3}$'),
    updated_at          timestamptz NOT NULL DEFAULT now()
);
