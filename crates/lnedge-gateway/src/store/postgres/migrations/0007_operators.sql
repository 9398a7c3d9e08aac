-- The dashboard's people (store/operators.rs): operator accounts (written only by
-- compare-and-set on version), their sessions (by the SHA-256 of the token, never the token)
-- and the append-only audit log of their changes.
CREATE TABLE operators (
    name TEXT PRIMARY KEY NOT NULL,
    role TEXT NOT NULL,
    password_hash TEXT,
    linking_key TEXT,
    enabled BOOLEAN NOT NULL,
    created_at BIGINT NOT NULL,
    version BIGINT NOT NULL
);
CREATE UNIQUE INDEX operators_by_linking_key ON operators (linking_key);
CREATE TABLE operator_sessions (
    token_hash BYTEA PRIMARY KEY NOT NULL,
    operator TEXT NOT NULL REFERENCES operators (name),
    csrf_token TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    expires_at BIGINT NOT NULL
);
CREATE INDEX operator_sessions_by_operator ON operator_sessions (operator);
CREATE INDEX operator_sessions_by_expiry ON operator_sessions (expires_at);
CREATE TABLE audit_log (
    id BIGSERIAL PRIMARY KEY,
    at BIGINT NOT NULL,
    actor TEXT NOT NULL,
    action TEXT NOT NULL,
    target TEXT NOT NULL,
    detail TEXT NOT NULL
);
