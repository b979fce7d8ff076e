-- The notification engine: decisions (the analytics source), notifications (pending, sent, dropped), dedup
-- keys, engagement as weighted sums (see store/notify-records.ts), per-type overrides and recurring feeds.
-- As in 001: JSON is TEXT (exactly as written, like SQLite); ids, keys and the columns results are sorted by
-- use the "C" collation so they sort byte-wise, as SQLite does (cursor paging relies on it).
CREATE TABLE notify_keys (
  key TEXT COLLATE "C" PRIMARY KEY,
  user_id TEXT COLLATE "C" NOT NULL,
  decision_id TEXT COLLATE "C" NOT NULL,
  expires_at BIGINT NOT NULL
);
CREATE INDEX notify_keys_expiry ON notify_keys (expires_at);
CREATE INDEX notify_keys_user ON notify_keys (user_id);

CREATE TABLE notify_decisions (
  id TEXT COLLATE "C" PRIMARY KEY,
  user_id TEXT COLLATE "C" NOT NULL,
  event_type TEXT COLLATE "C" NOT NULL,
  decision TEXT COLLATE "C" NOT NULL,
  reason TEXT COLLATE "C" NOT NULL,
  score DOUBLE PRECISION,
  variant TEXT,
  notification_id TEXT COLLATE "C",
  event_key TEXT NOT NULL,
  params TEXT NOT NULL,
  occurred_at BIGINT NOT NULL,
  decided_at BIGINT NOT NULL,
  duplicate_of TEXT COLLATE "C"
);
CREATE INDEX notify_decisions_user ON notify_decisions (user_id, id);
CREATE INDEX notify_decisions_time ON notify_decisions (decided_at);

CREATE TABLE notifications (
  id TEXT COLLATE "C" PRIMARY KEY,
  user_id TEXT COLLATE "C" NOT NULL,
  event_type TEXT COLLATE "C" NOT NULL,
  status TEXT NOT NULL,
  reason TEXT,
  critical BOOLEAN NOT NULL,
  variant TEXT COLLATE "C",
  text TEXT,
  params TEXT NOT NULL,
  event_key TEXT NOT NULL,
  occurred_at BIGINT NOT NULL,
  due_at BIGINT,
  expires_at BIGINT NOT NULL,
  lease_until BIGINT,
  sent_at BIGINT,
  clicked_at BIGINT,
  destination TEXT,
  message_id TEXT COLLATE "C",
  created_at BIGINT NOT NULL,
  updated_at BIGINT NOT NULL
);
CREATE INDEX notifications_due ON notifications (due_at) WHERE status = 'pending';
CREATE INDEX notifications_pending ON notifications (user_id, event_type) WHERE status = 'pending';
CREATE INDEX notifications_user ON notifications (user_id);
CREATE INDEX notifications_sent ON notifications (user_id, sent_at) WHERE status = 'sent';

CREATE TABLE notify_engagement (
  user_id TEXT COLLATE "C" NOT NULL,
  event_type TEXT COLLATE "C" NOT NULL,
  shown_w DOUBLE PRECISION NOT NULL,
  clicked_w DOUBLE PRECISION NOT NULL,
  PRIMARY KEY (user_id, event_type)
);

CREATE TABLE notify_type_stats (
  event_type TEXT COLLATE "C" NOT NULL,
  variant TEXT COLLATE "C" NOT NULL,
  shown_w DOUBLE PRECISION NOT NULL,
  clicked_w DOUBLE PRECISION NOT NULL,
  PRIMARY KEY (event_type, variant)
);

CREATE TABLE notify_event_types (
  name TEXT COLLATE "C" PRIMARY KEY,
  settings TEXT NOT NULL,
  updated_at BIGINT NOT NULL
);

CREATE TABLE notify_feeds (
  id TEXT COLLATE "C" PRIMARY KEY,
  name TEXT COLLATE "C" NOT NULL UNIQUE,
  cron TEXT NOT NULL,
  tz TEXT NOT NULL,
  event_type TEXT NOT NULL,
  user_ids TEXT,
  params TEXT NOT NULL,
  is_active BOOLEAN NOT NULL,
  next_run_at BIGINT,
  last_run_at BIGINT,
  created_at BIGINT NOT NULL,
  updated_at BIGINT NOT NULL
);
CREATE INDEX notify_feeds_due ON notify_feeds (next_run_at) WHERE is_active;
