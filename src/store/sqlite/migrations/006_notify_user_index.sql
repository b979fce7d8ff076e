-- A user's decisions are found through notify_decision_users, written in bulk behind the decisions
-- (store/sqlite/decision-index.ts) instead of by an index on notify_decisions (user_id): on SQLite every
-- decision would otherwise rewrite one random index page in the WAL (and again at the checkpoint), about half
-- of all bytes written per event. Decisions get an ever-increasing `seq` (AUTOINCREMENT: never reused after a
-- deletion), the bulk writer's watermark; the rows past the watermark are read by a short range scan.
-- Dedup keys are deleted with their decision, so they need no user index either.

CREATE TABLE notify_decisions_new (
  seq INTEGER PRIMARY KEY AUTOINCREMENT,
  id TEXT NOT NULL UNIQUE,
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
INSERT INTO notify_decisions_new (id, user_id, event_type, decision, reason, score, variant, notification_id, event_key, params, occurred_at, decided_at, duplicate_of)
  SELECT id, user_id, event_type, decision, reason, score, variant, notification_id, event_key, params, occurred_at, decided_at, duplicate_of
    FROM notify_decisions ORDER BY id;
DROP TABLE notify_decisions;
ALTER TABLE notify_decisions_new RENAME TO notify_decisions;
CREATE INDEX notify_decisions_time ON notify_decisions (decided_at);

CREATE TABLE notify_decision_users (
  user_id TEXT NOT NULL,
  seq INTEGER NOT NULL,
  PRIMARY KEY (user_id, seq)
) WITHOUT ROWID;
INSERT INTO notify_decision_users (user_id, seq) SELECT user_id, seq FROM notify_decisions;
INSERT INTO settings (key, value) VALUES ('notify.decision_users_seq', (SELECT CAST(coalesce(max(seq), 0) AS TEXT) FROM notify_decisions));

DROP INDEX notify_keys_user;
CREATE INDEX notify_keys_decision ON notify_keys (decision_id);
