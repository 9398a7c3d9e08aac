-- Rate limits of open routes (store/rate.rs): one token bucket per scope and client, shared by
-- every replica; written only by compare-and-set on version.
CREATE TABLE rate_buckets (
    key TEXT PRIMARY KEY NOT NULL,
    tokens DOUBLE PRECISION NOT NULL,
    updated_at_ms BIGINT NOT NULL,
    version BIGINT NOT NULL
);
CREATE INDEX rate_buckets_by_time ON rate_buckets (updated_at_ms);
