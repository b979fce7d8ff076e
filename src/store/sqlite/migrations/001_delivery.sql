-- The delivery engine: endpoints, messages (the outbox), deliveries (queue + retry state + lease + history),
-- attempts (one row per HTTP try), idempotency keys, background jobs, settings.

CREATE TABLE settings (
  key TEXT PRIMARY KEY,
  value TEXT NOT NULL
) WITHOUT ROWID;

CREATE TABLE endpoints (
  id TEXT PRIMARY KEY,
  name TEXT NOT NULL,
  provider TEXT,
  url TEXT NOT NULL,
  auth_kind TEXT NOT NULL,
  auth_public TEXT NOT NULL,
  auth_sealed TEXT,
  custom_headers TEXT NOT NULL,
  content_type TEXT NOT NULL,
  signing INTEGER NOT NULL,
  timeout_seconds REAL NOT NULL,
  retry_schedule TEXT,
  max_attempts INTEGER,
  is_active INTEGER NOT NULL,
  disabled_reason TEXT,
  disabled_at INTEGER,
  event_types TEXT,
  rate_limit_per_second REAL,
  ordered INTEGER NOT NULL,
  secrets_sealed TEXT NOT NULL,
  failing_since INTEGER,
  last_success_at INTEGER,
  created_at INTEGER NOT NULL,
  updated_at INTEGER NOT NULL
);
CREATE INDEX endpoints_provider ON endpoints (provider);

CREATE TABLE messages (
  id TEXT PRIMARY KEY,
  event_type TEXT NOT NULL,
  payload TEXT,
  ordering_key TEXT,
  idempotency_key TEXT,
  created_at INTEGER NOT NULL,
  expired INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX messages_event_type ON messages (event_type, id);
CREATE INDEX messages_unexpired ON messages (created_at) WHERE expired = 0;

CREATE TABLE idempotency_keys (
  key TEXT PRIMARY KEY,
  message_id TEXT NOT NULL,
  created_at INTEGER NOT NULL
) WITHOUT ROWID;
CREATE INDEX idempotency_keys_created ON idempotency_keys (created_at);

CREATE TABLE deliveries (
  seq INTEGER PRIMARY KEY AUTOINCREMENT,
  id TEXT NOT NULL UNIQUE,
  message_id TEXT NOT NULL,
  endpoint_id TEXT NOT NULL,
  event_type TEXT NOT NULL,
  ordering_key TEXT,
  status TEXT NOT NULL,
  attempts INTEGER NOT NULL DEFAULT 0,
  next_attempt_at INTEGER,
  locked_by TEXT,
  locked_until INTEGER,
  one_shot INTEGER NOT NULL DEFAULT 0,
  last_status_code INTEGER,
  last_error TEXT,
  created_at INTEGER NOT NULL,
  updated_at INTEGER NOT NULL,
  sent_at INTEGER
);
CREATE INDEX deliveries_due ON deliveries (next_attempt_at) WHERE status = 'pending';
CREATE INDEX deliveries_fifo ON deliveries (endpoint_id, ordering_key, seq)
  WHERE ordering_key IS NOT NULL AND status IN ('pending', 'sending');
CREATE INDEX deliveries_message ON deliveries (message_id);
CREATE INDEX deliveries_endpoint ON deliveries (endpoint_id, status, created_at);
CREATE INDEX deliveries_status ON deliveries (status, created_at);

-- Attempts are read by delivery, never by their own id: the id is a column, not an index.
CREATE TABLE attempts (
  id TEXT NOT NULL,
  delivery_id TEXT NOT NULL,
  message_id TEXT NOT NULL,
  endpoint_id TEXT NOT NULL,
  attempted_at INTEGER NOT NULL,
  status_code INTEGER,
  duration_ms REAL NOT NULL,
  error_kind TEXT,
  error TEXT,
  response_body TEXT,
  expired INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX attempts_delivery ON attempts (delivery_id, attempted_at);
CREATE INDEX attempts_unexpired ON attempts (attempted_at) WHERE expired = 0;

CREATE TABLE jobs (
  id TEXT PRIMARY KEY,
  kind TEXT NOT NULL,
  params TEXT NOT NULL,
  progress TEXT NOT NULL,
  status TEXT NOT NULL,
  total INTEGER NOT NULL DEFAULT 0,
  done INTEGER NOT NULL DEFAULT 0,
  error TEXT,
  locked_by TEXT,
  locked_until INTEGER,
  created_at INTEGER NOT NULL,
  updated_at INTEGER NOT NULL
);
CREATE INDEX jobs_open ON jobs (created_at) WHERE status IN ('queued', 'running');
