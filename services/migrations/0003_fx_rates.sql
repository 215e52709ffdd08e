-- FX rates operators load (`billing fx load`): 1 unit of base = rate units of
-- quote. One current rate per pair; as_of says which day it is for.
CREATE TABLE billing.fx_rates (
    base       text        NOT NULL,
    quote      text        NOT NULL,
    rate       numeric     NOT NULL CHECK (rate > 0),
    as_of      date        NOT NULL,
    loaded_at  timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (base, quote),
    CHECK (base <> quote)
);
