-- Provisioning jobs (store/jobs.rs): their progress, shared by every replica so that the
-- dashboard's progress bar works behind a load balancer; a finished job is never changed again.
CREATE TABLE provision_jobs (
    id TEXT PRIMARY KEY NOT NULL,
    state TEXT NOT NULL,
    done BIGINT NOT NULL,
    total BIGINT NOT NULL,
    outcome TEXT,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL
);
CREATE INDEX provision_jobs_by_time ON provision_jobs (updated_at);
