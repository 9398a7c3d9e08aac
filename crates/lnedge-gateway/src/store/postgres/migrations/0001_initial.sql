-- 1: initial schema. Ids and hashes are BYTEA, amounts, counters, u32s and times BIGINT
-- (checked on the way in), ledger states a code (0 unused, 1 offered, 2 claimed, 3 dispensed,
-- 4 failed) plus their progress rank, which only ever grows.
CREATE TABLE devices (
    id BYTEA PRIMARY KEY,
    name TEXT NOT NULL,
    enabled BOOLEAN NOT NULL DEFAULT TRUE,
    last_sync_counter BIGINT NOT NULL DEFAULT 0,
    created_at BIGINT NOT NULL
);
CREATE TABLE products (
    device_id BYTEA NOT NULL REFERENCES devices(id) ON DELETE CASCADE,
    id INTEGER NOT NULL,
    position INTEGER NOT NULL,
    description TEXT NOT NULL,
    price_kind SMALLINT NOT NULL CHECK (price_kind IN (0, 1)),
    price_msat BIGINT,
    currency TEXT,
    amount_minor BIGINT,
    PRIMARY KEY (device_id, id)
);
CREATE TABLE seqs (
    device_id BYTEA NOT NULL REFERENCES devices(id) ON DELETE CASCADE,
    product INTEGER NOT NULL,
    next_seq BIGINT NOT NULL,
    PRIMARY KEY (device_id, product)
);
CREATE TABLE pools (
    ord BIGINT GENERATED ALWAYS AS IDENTITY,
    id BYTEA PRIMARY KEY,
    device_id BYTEA NOT NULL REFERENCES devices(id),
    created_at BIGINT NOT NULL,
    expires_at BIGINT NOT NULL,
    bytes BYTEA NOT NULL
);
CREATE INDEX pools_by_device ON pools (device_id, created_at, ord);
CREATE TABLE entries (
    pool_id BYTEA NOT NULL REFERENCES pools(id),
    idx BIGINT NOT NULL,
    product INTEGER NOT NULL,
    seq BIGINT NOT NULL,
    payment_hash BYTEA NOT NULL UNIQUE,
    amount_msat BIGINT NOT NULL,
    state SMALLINT NOT NULL,
    state_rank SMALLINT NOT NULL,
    PRIMARY KEY (pool_id, idx)
);
CREATE TABLE payments (
    payment_hash BYTEA PRIMARY KEY,
    amount_msat BIGINT NOT NULL,
    paid_at BIGINT NOT NULL,
    quote_currency TEXT,
    quote_rate_per_btc DOUBLE PRECISION,
    quote_source TEXT
);
CREATE INDEX payments_by_time ON payments (paid_at);
