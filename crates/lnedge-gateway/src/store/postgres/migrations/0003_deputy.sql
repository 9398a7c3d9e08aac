-- 3: deputy sales (issue #6). One row per sale a wallet fetched, keyed by (device, counter);
-- status 0 requested, 1 paid, 2 claimed (only ever grows).
CREATE TABLE deputy_sales (
    device_id BYTEA NOT NULL REFERENCES devices(id),
    counter BIGINT NOT NULL,
    amount BIGINT NOT NULL,
    currency TEXT NOT NULL,
    amount_msat BIGINT NOT NULL,
    quote_currency TEXT,
    quote_rate_per_btc DOUBLE PRECISION,
    quote_source TEXT,
    payment_hash BYTEA NOT NULL UNIQUE,
    created_at BIGINT NOT NULL,
    invoice TEXT,
    status SMALLINT NOT NULL DEFAULT 0,
    paid_at BIGINT,
    claimed_at BIGINT,
    PRIMARY KEY (device_id, counter)
);
CREATE INDEX deputy_sales_by_status ON deputy_sales (status, device_id);
