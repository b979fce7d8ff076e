-- The notification engine: decisions (the analytics source), notifications (pending, sent, dropped), dedup
-- keys, engagement as weighted sums (see store/notify-records.ts), per-type overrides and recurring feeds.
CREATE TABLE notify_keys (
  key TEXT PRIMARY KEY,
  user_id TEXT NOT NULL,
  decision_id TEXT NOT NULL,
  expires_at INTEGER NOT NULL
) WITHOUT ROWID;
CREATE INDEX notify_keys_expiry ON notify_keys (expires_at);
CREATE INDEX notify_keys_user ON notify_keys (user_id);

CREATE TABLE notify_decisions (
  id TEXT PRIMARY KEY,
  user_id TEXT NOT NULL,
  event_type TEXT NOT NULL,
  decision TEXT NOT NULL,
  reason TEXT NOT NULL,
  score REAL,
  variant TEXT,
  notification_id TEXT,
  event_key TEXT NOT NULL,
  params TEXT NOT NULL,
  occurred_at INTEGER NOT NULL,
  decided_at INTEGER NOT NULL,
  duplicate_of TEXT
);
CREATE INDEX notify_decisions_user ON notify_decisions (user_id, id);
CREATE INDEX notify_decisions_time ON notify_decisions (decided_at);

CREATE TABLE notifications (
  id TEXT PRIMARY KEY,
  user_id TEXT NOT NULL,
  event_type TEXT NOT NULL,
  status TEXT NOT NULL,
  reason TEXT,
  critical INTEGER NOT NULL,
  variant TEXT,
  text TEXT,
  params TEXT NOT NULL,
  event_key TEXT NOT NULL,
  occurred_at INTEGER NOT NULL,
  due_at INTEGER,
  expires_at INTEGER NOT NULL,
  lease_until INTEGER,
  sent_at INTEGER,
  clicked_at INTEGER,
  destination TEXT,
  message_id TEXT,
  created_at INTEGER NOT NULL,
  updated_at INTEGER NOT NULL
);
CREATE INDEX notifications_due ON notifications (due_at) WHERE status = 'pending';
CREATE INDEX notifications_pending ON notifications (user_id, event_type) WHERE status = 'pending';
CREATE INDEX notifications_user ON notifications (user_id);
CREATE INDEX notifications_sent ON notifications (user_id, sent_at) WHERE status = 'sent';

CREATE TABLE notify_engagement (
  user_id TEXT NOT NULL,
  event_type TEXT NOT NULL,
  shown_w REAL NOT NULL,
  clicked_w REAL NOT NULL,
  PRIMARY KEY (user_id, event_type)
) WITHOUT ROWID;

CREATE TABLE notify_type_stats (
  event_type TEXT NOT NULL,
  variant TEXT NOT NULL,
  shown_w REAL NOT NULL,
  clicked_w REAL NOT NULL,
  PRIMARY KEY (event_type, variant)
) WITHOUT ROWID;

CREATE TABLE notify_event_types (
  name TEXT PRIMARY KEY,
  settings TEXT NOT NULL,
  updated_at INTEGER NOT NULL
);

CREATE TABLE notify_feeds (
  id TEXT PRIMARY KEY,
  name TEXT NOT NULL UNIQUE,
  cron TEXT NOT NULL,
  tz TEXT NOT NULL,
  event_type TEXT NOT NULL,
  user_ids TEXT,
  params TEXT NOT NULL,
  is_active INTEGER NOT NULL,
  next_run_at INTEGER,
  last_run_at INTEGER,
  created_at INTEGER NOT NULL,
  updated_at INTEGER NOT NULL
);
CREATE INDEX notify_feeds_due ON notify_feeds (next_run_at) WHERE is_active = 1;
