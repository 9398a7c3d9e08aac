-- 3: deputy sales (issue #6). One row per sale a wallet fetched, keyed by (device, counter);
-- status 0 requested, 1 paid, 2 claimed (only ever grows).
CREATE TABLE deputy_sales (
    device_id BLOB NOT NULL REFERENCES devices(id),
    counter INTEGER NOT NULL,
    amount INTEGER NOT NULL,
    currency TEXT NOT NULL,
    amount_msat INTEGER NOT NULL,
    quote_currency TEXT,
    quote_rate_per_btc REAL,
    quote_source TEXT,
    payment_hash BLOB NOT NULL UNIQUE,
    created_at INTEGER NOT NULL,
    invoice TEXT,
    status INTEGER NOT NULL DEFAULT 0,
    paid_at INTEGER,
    claimed_at INTEGER,
    PRIMARY KEY (device_id, counter)
);
CREATE INDEX deputy_sales_by_status ON deputy_sales (status, device_id);
