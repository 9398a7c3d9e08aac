-- The async relay (issue #7): payees, the hashes they committed to, and the relay's state machine.
CREATE TABLE relay_payees (
    id TEXT PRIMARY KEY,
    name TEXT NOT NULL,
    webhook_url TEXT,
    created_at INTEGER NOT NULL
);

CREATE TABLE relay_hashes (
    payment_hash BLOB PRIMARY KEY CHECK (length(payment_hash) = 32),
    payee_id TEXT NOT NULL REFERENCES relay_payees (id),
    committed_at INTEGER NOT NULL,
    used INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX relay_hashes_unused ON relay_hashes (payee_id, used, committed_at);

CREATE TABLE relay_payments (
    payment_hash BLOB PRIMARY KEY REFERENCES relay_hashes (payment_hash),
    payee_id TEXT NOT NULL REFERENCES relay_payees (id),
    state TEXT NOT NULL,
    version INTEGER NOT NULL,
    amount_msat INTEGER NOT NULL,
    description TEXT NOT NULL,
    bolt11 TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    expires_at INTEGER NOT NULL,
    held_amount_msat INTEGER,
    claim_deadline_height INTEGER,
    held_at INTEGER,
    fee_msat INTEGER,
    claim_bolt11 TEXT,
    attempts INTEGER NOT NULL,
    preimage BLOB,
    notified INTEGER NOT NULL,
    notify_attempts INTEGER NOT NULL,
    next_notify_at INTEGER NOT NULL,
    reason TEXT,
    updated_at INTEGER NOT NULL
);
CREATE INDEX relay_payments_by_state ON relay_payments (state);
CREATE INDEX relay_payments_by_payee ON relay_payments (payee_id, created_at);
