-- Schema for the relay feature (filled in by that work; a no-op until then).
SELECT 1;
