-- Shared counters for rate limits (per-endpoint delivery limits; inbound limits later).
CREATE TABLE counters (
  key TEXT COLLATE "C" PRIMARY KEY,
  count BIGINT NOT NULL,
  expires_at BIGINT NOT NULL
);
CREATE INDEX counters_expires ON counters (expires_at);
