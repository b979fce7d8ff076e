-- Shared counters for rate limits (per-endpoint delivery limits; inbound limits later).
CREATE TABLE counters (
  key TEXT PRIMARY KEY,
  count INTEGER NOT NULL,
  expires_at INTEGER NOT NULL
) WITHOUT ROWID;
CREATE INDEX counters_expires ON counters (expires_at);
