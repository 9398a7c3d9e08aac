-- Schema for the deputy feature (filled in by that work; a no-op until then).
SELECT 1;
