-- When a device last synced (the dashboard's "not synced for N days"); NULL: never.
ALTER TABLE devices ADD COLUMN last_sync_at BIGINT;
