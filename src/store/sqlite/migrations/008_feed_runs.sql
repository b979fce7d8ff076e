-- A feed's run under way: its scheduled time and a lease. advance() marks it when it moves next_run_at on, and
-- the run clears it once every user is decided; a run whose lease ran out (its process stopped in the middle)
-- is taken over and run again, its per-user idempotency keys making the users already decided duplicates.
ALTER TABLE notify_feeds ADD COLUMN run_at INTEGER;
ALTER TABLE notify_feeds ADD COLUMN run_lease_until INTEGER;
CREATE INDEX notify_feeds_running ON notify_feeds (run_lease_until) WHERE run_at IS NOT NULL;
