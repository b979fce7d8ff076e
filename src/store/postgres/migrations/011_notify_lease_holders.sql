-- Who holds a notification's lease (claimed when due) and a feed run's: a holder registered in `workers` whose
-- liveness lock is free has died, and its leases are taken over at once instead of after their minute
-- (store/postgres/liveness.ts). Leases taken by a gateway of an older version name no holder and run out as before.
ALTER TABLE notifications ADD COLUMN leased_by TEXT;
ALTER TABLE notify_feeds ADD COLUMN run_leased_by TEXT;
-- The reap forgets a dead worker only once it holds nothing: found here, not by reading every notification.
CREATE INDEX notifications_leased_by ON notifications (leased_by) WHERE leased_by IS NOT NULL;
