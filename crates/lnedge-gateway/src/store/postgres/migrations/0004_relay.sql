-- The async relay (issue #7): payees, the hashes they committed to, and the relay's state machine.
CREATE TABLE relay_payees (
    id TEXT PRIMARY KEY,
    name TEXT NOT NULL,
    webhook_url TEXT,
    created_at BIGINT NOT NULL
);

CREATE TABLE relay_hashes (
    payment_hash BYTEA PRIMARY KEY CHECK (length(payment_hash) = 32),
    payee_id TEXT NOT NULL REFERENCES relay_payees (id),
    committed_at BIGINT NOT NULL,
    used BOOLEAN NOT NULL DEFAULT FALSE
);
CREATE INDEX relay_hashes_unused ON relay_hashes (payee_id, used, committed_at);

CREATE TABLE relay_payments (
    payment_hash BYTEA PRIMARY KEY REFERENCES relay_hashes (payment_hash),
    payee_id TEXT NOT NULL REFERENCES relay_payees (id),
    state TEXT NOT NULL,
    version BIGINT NOT NULL,
    amount_msat BIGINT NOT NULL,
    description TEXT NOT NULL,
    bolt11 TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    expires_at BIGINT NOT NULL,
    held_amount_msat BIGINT,
    claim_deadline_height BIGINT,
    held_at BIGINT,
    fee_msat BIGINT,
    claim_bolt11 TEXT,
    attempts BIGINT NOT NULL,
    preimage BYTEA,
    notified BOOLEAN NOT NULL,
    notify_attempts BIGINT NOT NULL,
    next_notify_at BIGINT NOT NULL,
    reason TEXT,
    updated_at BIGINT NOT NULL
);
CREATE INDEX relay_payments_by_state ON relay_payments (state);
CREATE INDEX relay_payments_by_payee ON relay_payments (payee_id, created_at);
