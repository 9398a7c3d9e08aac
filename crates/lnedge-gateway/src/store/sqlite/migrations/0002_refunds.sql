-- 2: refunds of failed vends, attested devices, sessions and LNURL-auth challenges (issue #5).
-- Ids and hashes BLOB, times and amounts INTEGER. A refund's state is its name ('due', 'claimed', 'paid', 'expired'); tokens are stored as
-- SHA-256 hashes only.
CREATE TABLE refunds (
    payment_hash BLOB PRIMARY KEY NOT NULL,
    device_id BLOB NOT NULL,
    pool_id BLOB NOT NULL,
    idx INTEGER NOT NULL,
    amount_msat INTEGER NOT NULL,
    state TEXT NOT NULL CHECK (state IN ('due', 'claimed', 'paid', 'expired')),
    attested INTEGER NOT NULL,
    created_at INTEGER NOT NULL,
    expires_at INTEGER NOT NULL,
    k1 BLOB UNIQUE,
    claim_invoice TEXT,
    claimed_at INTEGER,
    paid_at INTEGER,
    last_error TEXT
);
CREATE INDEX refunds_by_time ON refunds (created_at);
CREATE TABLE attested_devices (
    device_id BLOB PRIMARY KEY NOT NULL REFERENCES devices(id)
);
CREATE TABLE sessions (
    token_hash BLOB PRIMARY KEY NOT NULL,
    subject TEXT NOT NULL,
    payment_hash BLOB,
    created_at INTEGER NOT NULL,
    expires_at INTEGER NOT NULL
);
CREATE INDEX sessions_by_payment ON sessions (payment_hash);
CREATE TABLE auth_challenges (
    k1 BLOB PRIMARY KEY NOT NULL,
    token_hash BLOB NOT NULL,
    created_at INTEGER NOT NULL,
    expires_at INTEGER NOT NULL,
    linking_key TEXT
);
