-- Payers (store/payers.rs): Bolt Cards and token-signing devices, the tap sessions a card
-- reading opens, and the payments made for them. Ids, UIDs and hashes are lower-case hex.
-- A payer and a payment are written only by compare-and-set on version.
CREATE TABLE payers (
    id TEXT PRIMARY KEY NOT NULL,
    kind TEXT NOT NULL,
    name TEXT NOT NULL,
    state TEXT NOT NULL,
    uid TEXT UNIQUE,
    key_version BIGINT NOT NULL,
    program_code_hash TEXT UNIQUE,
    program_expires_at BIGINT NOT NULL,
    counter BIGINT,
    per_payment_msat BIGINT NOT NULL,
    per_day_msat BIGINT NOT NULL,
    pin_limit_msat BIGINT,
    pin_hash TEXT,
    pin_failures BIGINT NOT NULL,
    day BIGINT NOT NULL,
    day_spent_msat BIGINT NOT NULL,
    created_at BIGINT NOT NULL,
    version BIGINT NOT NULL
);
CREATE TABLE payer_taps (
    k1_hash TEXT PRIMARY KEY NOT NULL,
    payer_id TEXT NOT NULL REFERENCES payers (id),
    counter BIGINT NOT NULL,
    expires_at BIGINT NOT NULL,
    used BOOLEAN NOT NULL
);
CREATE INDEX payer_taps_by_expiry ON payer_taps (expires_at);
CREATE TABLE payer_payments (
    payment_hash TEXT PRIMARY KEY NOT NULL,
    payer_id TEXT NOT NULL REFERENCES payers (id),
    kind TEXT NOT NULL,
    counter BIGINT NOT NULL,
    amount_msat BIGINT NOT NULL,
    fee_msat BIGINT,
    state TEXT NOT NULL,
    invoice TEXT NOT NULL,
    failure TEXT,
    created_at BIGINT NOT NULL,
    settled_at BIGINT,
    version BIGINT NOT NULL
);
CREATE INDEX payer_payments_by_payer ON payer_payments (payer_id, created_at);
CREATE INDEX payer_payments_by_state ON payer_payments (state, created_at);
