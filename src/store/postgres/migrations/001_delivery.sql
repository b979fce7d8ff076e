-- The delivery engine: endpoints, messages (the outbox), deliveries (queue + retry state + lease + history),
-- attempts (one row per HTTP try), idempotency keys, background jobs, settings.
-- Times are BIGINT milliseconds since the epoch; JSON is kept as TEXT (exactly as written, like SQLite);
-- ids and keys use the "C" collation so they sort byte-wise, as SQLite does (cursor paging relies on it).

CREATE TABLE settings (
  key TEXT COLLATE "C" PRIMARY KEY,
  value TEXT NOT NULL
);

CREATE TABLE endpoints (
  id TEXT COLLATE "C" PRIMARY KEY,
  name TEXT NOT NULL,
  provider TEXT,
  url TEXT NOT NULL,
  auth_kind TEXT NOT NULL,
  auth_public TEXT NOT NULL,
  auth_sealed TEXT,
  custom_headers TEXT NOT NULL,
  content_type TEXT NOT NULL,
  signing BOOLEAN NOT NULL,
  timeout_seconds DOUBLE PRECISION NOT NULL,
  retry_schedule TEXT,
  max_attempts INTEGER,
  is_active BOOLEAN NOT NULL,
  disabled_reason TEXT,
  disabled_at BIGINT,
  event_types TEXT,
  rate_limit_per_second DOUBLE PRECISION,
  ordered BOOLEAN NOT NULL,
  secrets_sealed TEXT NOT NULL,
  failing_since BIGINT,
  last_success_at BIGINT,
  created_at BIGINT NOT NULL,
  updated_at BIGINT NOT NULL
);
CREATE INDEX endpoints_provider ON endpoints (provider);

CREATE TABLE messages (
  id TEXT COLLATE "C" PRIMARY KEY,
  event_type TEXT NOT NULL,
  payload TEXT,
  ordering_key TEXT,
  idempotency_key TEXT,
  created_at BIGINT NOT NULL,
  expired BOOLEAN NOT NULL DEFAULT FALSE
);
CREATE INDEX messages_event_type ON messages (event_type, id);
CREATE INDEX messages_unexpired ON messages (created_at) WHERE NOT expired;

CREATE TABLE idempotency_keys (
  key TEXT COLLATE "C" PRIMARY KEY,
  message_id TEXT COLLATE "C" NOT NULL,
  created_at BIGINT NOT NULL
);
CREATE INDEX idempotency_keys_created ON idempotency_keys (created_at);

CREATE TABLE deliveries (
  seq BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  id TEXT COLLATE "C" NOT NULL UNIQUE,
  message_id TEXT COLLATE "C" NOT NULL,
  endpoint_id TEXT COLLATE "C" NOT NULL,
  event_type TEXT NOT NULL,
  ordering_key TEXT COLLATE "C",
  status TEXT NOT NULL,
  attempts INTEGER NOT NULL DEFAULT 0,
  next_attempt_at BIGINT,
  locked_by TEXT,
  locked_until BIGINT,
  one_shot BOOLEAN NOT NULL DEFAULT FALSE,
  last_status_code INTEGER,
  last_error TEXT,
  created_at BIGINT NOT NULL,
  updated_at BIGINT NOT NULL,
  sent_at BIGINT
);
-- (next_attempt_at, seq) is the claim order, so a claim reads this index in order.
CREATE INDEX deliveries_due ON deliveries (next_attempt_at, seq) WHERE status = 'pending';
CREATE INDEX deliveries_leased ON deliveries (locked_until) WHERE status = 'sending';
CREATE INDEX deliveries_fifo ON deliveries (endpoint_id, ordering_key, seq)
  WHERE ordering_key IS NOT NULL AND status IN ('pending', 'sending');
CREATE INDEX deliveries_message ON deliveries (message_id);
CREATE INDEX deliveries_endpoint ON deliveries (endpoint_id, status, created_at);
CREATE INDEX deliveries_status ON deliveries (status, created_at);

CREATE TABLE attempts (
  id TEXT COLLATE "C" PRIMARY KEY,
  delivery_id TEXT COLLATE "C" NOT NULL,
  message_id TEXT COLLATE "C" NOT NULL,
  endpoint_id TEXT COLLATE "C" NOT NULL,
  attempted_at BIGINT NOT NULL,
  status_code INTEGER,
  duration_ms DOUBLE PRECISION NOT NULL,
  error_kind TEXT,
  error TEXT,
  response_body TEXT,
  expired BOOLEAN NOT NULL DEFAULT FALSE
);
CREATE INDEX attempts_delivery ON attempts (delivery_id, attempted_at);
CREATE INDEX attempts_endpoint ON attempts (endpoint_id);
CREATE INDEX attempts_unexpired ON attempts (attempted_at) WHERE NOT expired;

CREATE TABLE jobs (
  id TEXT COLLATE "C" PRIMARY KEY,
  kind TEXT NOT NULL,
  params TEXT NOT NULL,
  progress TEXT NOT NULL,
  status TEXT NOT NULL,
  total BIGINT NOT NULL DEFAULT 0,
  done BIGINT NOT NULL DEFAULT 0,
  error TEXT,
  locked_by TEXT,
  locked_until BIGINT,
  created_at BIGINT NOT NULL,
  updated_at BIGINT NOT NULL
);
CREATE INDEX jobs_open ON jobs (created_at) WHERE status IN ('queued', 'running');
