-- 1: initial schema. Ids and hashes are BLOBs, amounts and times INTEGER (i64, checked on the
-- way in), ledger states a code (0 unused, 1 offered, 2 claimed, 3 dispensed, 4 failed) plus
-- their progress rank, which only ever grows.
CREATE TABLE devices (
    id BLOB PRIMARY KEY NOT NULL,
    name TEXT NOT NULL,
    enabled INTEGER NOT NULL DEFAULT 1,
    last_sync_counter INTEGER NOT NULL DEFAULT 0,
    created_at INTEGER NOT NULL
);
CREATE TABLE products (
    device_id BLOB NOT NULL REFERENCES devices(id) ON DELETE CASCADE,
    id INTEGER NOT NULL,
    position INTEGER NOT NULL,
    description TEXT NOT NULL,
    price_kind INTEGER NOT NULL CHECK (price_kind IN (0, 1)),
    price_msat INTEGER,
    currency TEXT,
    amount_minor INTEGER,
    PRIMARY KEY (device_id, id)
);
CREATE TABLE seqs (
    device_id BLOB NOT NULL REFERENCES devices(id) ON DELETE CASCADE,
    product INTEGER NOT NULL,
    next_seq INTEGER NOT NULL,
    PRIMARY KEY (device_id, product)
);
CREATE TABLE pools (
    ord INTEGER PRIMARY KEY AUTOINCREMENT,
    id BLOB NOT NULL UNIQUE,
    device_id BLOB NOT NULL REFERENCES devices(id),
    created_at INTEGER NOT NULL,
    expires_at INTEGER NOT NULL,
    bytes BLOB NOT NULL
);
CREATE INDEX pools_by_device ON pools (device_id, created_at, ord);
CREATE TABLE entries (
    pool_id BLOB NOT NULL REFERENCES pools(id),
    idx INTEGER NOT NULL,
    product INTEGER NOT NULL,
    seq INTEGER NOT NULL,
    payment_hash BLOB NOT NULL UNIQUE,
    amount_msat INTEGER NOT NULL,
    state INTEGER NOT NULL,
    state_rank INTEGER NOT NULL,
    PRIMARY KEY (pool_id, idx)
);
CREATE TABLE payments (
    payment_hash BLOB PRIMARY KEY NOT NULL,
    amount_msat INTEGER NOT NULL,
    paid_at INTEGER NOT NULL,
    quote_currency TEXT,
    quote_rate_per_btc REAL,
    quote_source TEXT
);
CREATE INDEX payments_by_time ON payments (paid_at);
