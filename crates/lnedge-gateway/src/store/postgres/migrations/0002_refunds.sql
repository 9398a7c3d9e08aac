-- 2: refunds of failed vends, attested devices, sessions and LNURL-auth challenges (issue #5).
-- Ids and hashes BYTEA, times and amounts BIGINT. A refund's state is its name ('due', 'claimed', 'paid', 'expired'); tokens are stored as
-- SHA-256 hashes only.
CREATE TABLE refunds (
    payment_hash BYTEA PRIMARY KEY,
    device_id BYTEA NOT NULL,
    pool_id BYTEA NOT NULL,
    idx BIGINT NOT NULL,
    amount_msat BIGINT NOT NULL,
    state TEXT NOT NULL CHECK (state IN ('due', 'claimed', 'paid', 'expired')),
    attested BOOLEAN NOT NULL,
    created_at BIGINT NOT NULL,
    expires_at BIGINT NOT NULL,
    k1 BYTEA UNIQUE,
    claim_invoice TEXT,
    claimed_at BIGINT,
    paid_at BIGINT,
    last_error TEXT
);
CREATE INDEX refunds_by_time ON refunds (created_at);
CREATE TABLE attested_devices (
    device_id BYTEA PRIMARY KEY REFERENCES devices(id)
);
CREATE TABLE sessions (
    token_hash BYTEA PRIMARY KEY,
    subject TEXT NOT NULL,
    payment_hash BYTEA,
    created_at BIGINT NOT NULL,
    expires_at BIGINT NOT NULL
);
CREATE INDEX sessions_by_payment ON sessions (payment_hash);
CREATE TABLE auth_challenges (
    k1 BYTEA PRIMARY KEY,
    token_hash BYTEA NOT NULL,
    created_at BIGINT NOT NULL,
    expires_at BIGINT NOT NULL,
    linking_key TEXT
);
