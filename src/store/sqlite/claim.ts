// SQLite: claiming due deliveries. SQLite runs in-process, so the claim walks the due index from JavaScript
// (no window functions or temporary sorts): due order, per-endpoint caps, FIFO per ordering key, and a
// per-endpoint walk when a saturated endpoint's backlog fills the first part of the index.
import type { ClaimRequest } from '../store.ts';
import type { SqliteDb, Row } from './db.ts';

const CHUNK = 64;
/** Rows phase 1 reads at most; past it, and past a run of rows nobody can take, phase 2 seeks per endpoint. */
const BUDGET = 256;

// INDEXED BY: without statistics the planner may prefer another index and sort the whole backlog.
const SCAN_SQL = `
SELECT seq, endpoint_id, ordering_key, next_attempt_at FROM deliveries INDEXED BY deliveries_due
WHERE status = 'pending' AND next_attempt_at <= ?1 AND (next_attempt_at > ?2 OR (next_attempt_at = ?2 AND seq > ?3))
ORDER BY next_attempt_at, seq LIMIT ?4`;

// An endpoint's pending deliveries in creation order (deliveries_endpoint_pending), the due ones kept.
const SCAN_ENDPOINT_SQL = `
SELECT seq, endpoint_id, ordering_key, next_attempt_at, created_at FROM deliveries INDEXED BY deliveries_endpoint_pending
WHERE endpoint_id = ?1 AND status = 'pending' AND (created_at > ?2 OR (created_at = ?2 AND seq > ?3))
ORDER BY created_at, seq LIMIT ?4`;

// The head of an ordering key: its oldest unfinished delivery. Only a pending head may be sent.
const HEAD_SQL = `
SELECT seq, status FROM deliveries
WHERE endpoint_id = ? AND ordering_key = ? AND status IN ('pending', 'sending') ORDER BY seq LIMIT 1`;

const LEASE_SQL = `
UPDATE deliveries
SET status = 'sending', locked_by = ?1, updated_at = ?2,
    locked_until = ?2 + ?3 + CAST(1000 * (SELECT e.timeout_seconds FROM endpoints e WHERE e.id = deliveries.endpoint_id) AS INTEGER)
WHERE seq IN (SELECT value FROM json_each(?4)) AND +status = 'pending'
RETURNING id, message_id, endpoint_id, event_type, attempts, one_shot, ordering_key`;

/** Picks and leases due deliveries; must run inside a write transaction. Returns the leased rows. */
export function claimRows(db: SqliteDb, request: ClaimRequest): Row[] {
  const excluded = new Set(request.excludeEndpointIds);
  const room = new Map<string, number>(); // endpoint → how many more it may take; 0 = none
  const roomOf = (endpoint: string): number => {
    let left = room.get(endpoint);
    if (left === undefined) {
      const active = !excluded.has(endpoint) && db.get('SELECT 1 FROM endpoints WHERE id = ? AND is_active = 1', [endpoint]) !== undefined;
      left = active ? (request.endpointCaps[endpoint] ?? request.defaultEndpointCap) : 0;
      room.set(endpoint, left);
    }
    return left;
  };
  const heads = new Map<string, number | null>(); // ordering key → seq of its pending head (null: none may go)
  const picked: number[] = [];
  const taken = new Set<number>();

  /** Takes a row if its endpoint has room and it heads its ordering key; returns true when full. */
  const consider = (row: Row): boolean => {
    const endpoint = String(row.endpoint_id);
    if (roomOf(endpoint) <= 0) return false;
    const seq = Number(row.seq);
    if (taken.has(seq)) return false; // phase 2 may meet a row phase 1 took
    if (row.ordering_key !== null) {
      const key = `${endpoint}\u0000${String(row.ordering_key)}`;
      let head = heads.get(key);
      if (head === undefined) {
        const found = db.get(HEAD_SQL, [endpoint, String(row.ordering_key)]);
        head = found && found.status === 'pending' ? Number(found.seq) : null;
        heads.set(key, head);
      }
      if (head !== seq) return false;
      heads.set(key, null); // taken: the rest of the key waits for it
    }
    picked.push(seq);
    taken.add(seq);
    room.set(endpoint, roomOf(endpoint) - 1);
    return picked.length >= request.limit;
  };

  // Phase 1: the due index in order, up to a scan budget.
  let scanned = 0;
  let unwanted = 0; // rows in a row whose endpoint has no room
  let frontier = { t: -1, s: -1 };
  let exhausted = false;
  scan: while (scanned < BUDGET) {
    const rows = db.all(SCAN_SQL, [request.now, frontier.t, frontier.s, CHUNK]);
    for (const row of rows) {
      scanned++;
      frontier = { t: Number(row.next_attempt_at), s: Number(row.seq) };
      if (consider(row)) break scan;
      unwanted = roomOf(String(row.endpoint_id)) > 0 ? 0 : unwanted + 1;
      if (unwanted >= CHUNK) break scan;
    }
    if (rows.length < CHUNK) {
      exhausted = true;
      break;
    }
  }

  // Phase 2: the budget went on endpoints that cannot take more (a dead endpoint's backlog): seek the
  // rest endpoint by endpoint, so healthy endpoints behind it are never starved.
  if (!exhausted && picked.length < request.limit) {
    for (const { id } of db.all('SELECT id FROM endpoints WHERE is_active = 1') as { id: string }[]) {
      let cursor = { t: -1, s: -1 };
      while (roomOf(id) > 0 && picked.length < request.limit) {
        const rows = db.all(SCAN_ENDPOINT_SQL, [id, cursor.t, cursor.s, CHUNK]);
        for (const row of rows) {
          cursor = { t: Number(row.created_at), s: Number(row.seq) };
          if (Number(row.next_attempt_at) <= request.now && consider(row)) break;
        }
        if (rows.length < CHUNK) break;
      }
      if (picked.length >= request.limit) break;
    }
  }

  if (picked.length === 0) return [];
  return db.all(LEASE_SQL, [request.workerId, request.now, request.leaseGraceMs, JSON.stringify(picked)]);
}
