-- Gateway processes that prove they are alive with an advisory lock keyed by their worker id (store/postgres/liveness.ts):
-- a lease whose holder is listed here and no longer holds its lock is taken back at once. A holder not listed (a
-- gateway of an older version) keeps its leases until they run out. Rows of dead workers holding nothing are pruned.
CREATE TABLE workers (
  id TEXT PRIMARY KEY,
  started_at BIGINT NOT NULL
);
