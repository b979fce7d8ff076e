// PostgreSQL: the notification engine's tables (store/notify-records.ts). A commit writes each table with one
// statement over unnest()ed arrays (a batch can hold a thousand decisions); rows that several processes may
// write at once (dedup keys, notifications, engagement and type stats) go in key order, so two commits
// cannot deadlock, and a batch naming one row twice is folded first (ON CONFLICT DO UPDATE may touch a row
// once per statement). Due notifications are claimed FOR UPDATE SKIP LOCKED, a click is one atomic UPDATE.
// Recurring feeds: notify-feeds.ts; the scale engagement weights are on: notify-weights.ts.
import { decisionFromRow, notificationFromRow, userFromRow } from '../rows.ts';
import {
  foldKeys, foldWrites, KeysTaken, pair, writesOnScale, type NotificationRecord, type NotifyRepo, type NotifyState, type NotifyWrites,
} from '../notify-records.ts';
import { Params, type PgDb, type Sql } from './db.ts';
import { deadWorkers, type Liveness } from './liveness.ts';
import type { PublishInTx } from './messages.ts';
import { createFeedsRepo } from './notify-feeds.ts';
import { lockedScale, onOneScale, readScale, rebaseWeights, SCALE_COLUMNS } from './notify-weights.ts';
import { pageClause } from './paging.ts';

/** Weights as stored (onOneScale: all on the scale the read answers with). */
const counts = (r: Record<string, unknown>) => ({ shownW: Number(r.shown_w), clickedW: Number(r.clicked_w) });

const byKey = <T>(items: Map<string, T>) => [...items.entries()].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)).map(([, v]) => v);

const INSERT_USERS_SQL = `
INSERT INTO users (id, tz, created_at, updated_at)
SELECT id, tz, $3::bigint, $3::bigint FROM unnest($1::text[], $2::text[]) AS t(id, tz) ORDER BY id
ON CONFLICT (id) DO NOTHING`;

// A key still held keeps its first decision; an expired one is taken over.
const INSERT_KEYS_SQL = `
INSERT INTO notify_keys AS k (key, user_id, decision_id, expires_at)
SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::bigint[]) AS t(key, user_id, decision_id, expires_at) ORDER BY key
ON CONFLICT (key) DO UPDATE SET decision_id = excluded.decision_id, expires_at = excluded.expires_at WHERE k.expires_at <= $5
RETURNING key`;

const INSERT_DECISIONS_SQL = `
INSERT INTO notify_decisions (id, user_id, event_type, decision, reason, score, variant, notification_id, event_key, params, occurred_at, decided_at, duplicate_of)
SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[], $6::float8[], $7::text[], $8::text[], $9::text[], $10::text[],
  $11::bigint[], $12::bigint[], $13::text[])`;

// Inserted, or updating the row with the same id while it is pending (as on SQLite).
const UPSERT_NOTIFICATIONS_SQL = `
INSERT INTO notifications (id, user_id, event_type, status, reason, critical, variant, text, params, event_key, occurred_at, due_at,
  expires_at, sent_at, clicked_at, destination, message_id, created_at, updated_at, lease_until, leased_by)
SELECT *, NULL::bigint, NULL::text FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[], $6::boolean[], $7::text[], $8::text[], $9::text[],
  $10::text[], $11::bigint[], $12::bigint[], $13::bigint[], $14::bigint[], $15::bigint[], $16::text[], $17::text[], $18::bigint[], $19::bigint[])
  AS t(id, user_id, event_type, status, reason, critical, variant, text, params, event_key, occurred_at, due_at, expires_at, sent_at,
       clicked_at, destination, message_id, created_at, updated_at)
ORDER BY id
ON CONFLICT (id) DO UPDATE SET user_id = excluded.user_id, event_type = excluded.event_type, status = excluded.status, reason = excluded.reason,
  critical = excluded.critical, variant = excluded.variant, text = excluded.text, params = excluded.params, event_key = excluded.event_key,
  occurred_at = excluded.occurred_at, due_at = excluded.due_at, expires_at = excluded.expires_at, sent_at = excluded.sent_at,
  clicked_at = excluded.clicked_at, destination = excluded.destination, message_id = excluded.message_id, created_at = excluded.created_at,
  updated_at = excluded.updated_at,
  -- A held one re-held keeps its lease (it is due later anyway); a sent or dropped one is released.
  lease_until = CASE WHEN excluded.status = 'pending' THEN notifications.lease_until ELSE NULL END,
  leased_by = CASE WHEN excluded.status = 'pending' THEN notifications.leased_by ELSE NULL END
  -- Never back from sent or dropped: an event coalescing into a notification another process just sent loses.
  WHERE notifications.status = 'pending'`;

const ADD_ENGAGEMENT_SQL = `
INSERT INTO notify_engagement AS g (user_id, event_type, shown_w, clicked_w)
SELECT * FROM unnest($1::text[], $2::text[], $3::float8[], $4::float8[]) AS t(user_id, event_type, shown_w, clicked_w) ORDER BY user_id, event_type
ON CONFLICT (user_id, event_type) DO UPDATE SET shown_w = g.shown_w + excluded.shown_w, clicked_w = g.clicked_w + excluded.clicked_w`;

const ADD_TYPE_STATS_SQL = `
INSERT INTO notify_type_stats AS s (event_type, variant, shown_w, clicked_w)
SELECT * FROM unnest($1::text[], $2::text[], $3::float8[], $4::float8[]) AS t(event_type, variant, shown_w, clicked_w) ORDER BY event_type, variant
ON CONFLICT (event_type, variant) DO UPDATE SET shown_w = s.shown_w + excluded.shown_w, clicked_w = s.clicked_w + excluded.clicked_w`;

// Rows another claim holds are skipped; one whose lease a concurrent claim has just set is re-checked
// against its new version and left out, so no two claims return the same notification. A lease whose holder died
// (`dead`, liveness.ts) is taken over whatever its time.
const claimDueSql = (dead: string) => `
WITH ${dead}, due AS (
  SELECT id FROM notifications
  WHERE status = 'pending' AND due_at <= $1 AND (lease_until IS NULL OR lease_until < $1 OR leased_by IN (SELECT id FROM dead))
  ORDER BY due_at, id
  LIMIT $3
  FOR UPDATE SKIP LOCKED
)
UPDATE notifications n SET lease_until = $2, leased_by = $4 FROM due WHERE n.id = due.id
RETURNING n.*`;

// Marks a sent notification clicked once; only the statement that does adds the weight to the user's
// engagement and to the type's pooled ('') and variant rows (each row once, also when the variant is null).
// A concurrent second click waits for the row, re-reads clicked_at and matches nothing.
const CLICK_SQL = `
WITH c AS (
  UPDATE notifications SET clicked_at = $2, updated_at = $2 WHERE id = $1 AND status = 'sent' AND clicked_at IS NULL
  RETURNING user_id, event_type, coalesce(variant, '') AS variant
), e AS (
  UPDATE notify_engagement g SET clicked_w = g.clicked_w + $3 FROM c WHERE g.user_id = c.user_id AND g.event_type = c.event_type
), s AS (
  UPDATE notify_type_stats t SET clicked_w = t.clicked_w + $3 FROM c WHERE t.event_type = c.event_type AND t.variant IN ('', c.variant)
)
SELECT count(*) AS n FROM c`;

/** foldWrites, plus the key order the statements need (rows several processes write go in key order: no deadlocks). */
function insertParams(writes: NotifyWrites, now: number) {
  const w = foldWrites(writes);
  const keys = new Map(foldKeys(w.keys, now).map((k) => [k.key, k]));
  const keyed = <T>(rows: T[], key: (r: T) => string) => byKey(new Map(rows.map((r) => [key(r), r])));
  return {
    users: w.newUsers, keys: byKey(keys), notifications: keyed(w.notifications, (n) => n.id),
    engagement: keyed(w.engagement, (e) => pair(e.userId, e.eventType)), typeStats: keyed(w.typeStats, (s) => pair(s.eventType, s.variant)),
  };
}

/** `liveness`: due notifications and feed runs are claimed only while the claimer holds its lock; a dead holder's are taken over. */
export function createNotifyRepo(db: PgDb, liveness: Liveness, publishInTx: PublishInTx, idempotencyTtlMs: () => number): NotifyRepo {
  async function writeAll(sql: Sql, w: NotifyWrites, now: number): Promise<void> {
    const p = insertParams(w, now);
    if (p.users.length) await sql.run(INSERT_USERS_SQL, [p.users.map((u) => u.id), p.users.map((u) => u.tz), now]);
    if (p.keys.length) {
      const taken = await sql.all(INSERT_KEYS_SQL, [p.keys.map((k) => k.key), p.keys.map((k) => k.userId), p.keys.map((k) => k.decisionId), p.keys.map((k) => k.expiresAt), now]);
      if (taken.length < p.keys.length) {
        const ours = new Set(taken.map((r) => String(r.key)));
        throw new KeysTaken(p.keys.map((k) => k.key).filter((k) => !ours.has(k)));
      }
    }
    const d = w.decisions;
    if (d.length) {
      await sql.run(INSERT_DECISIONS_SQL, [
        d.map((x) => x.id), d.map((x) => x.userId), d.map((x) => x.eventType), d.map((x) => x.decision), d.map((x) => x.reason), d.map((x) => x.score),
        d.map((x) => x.variant), d.map((x) => x.notificationId), d.map((x) => x.eventKey), d.map((x) => JSON.stringify(x.params)),
        d.map((x) => x.occurredAt), d.map((x) => x.decidedAt), d.map((x) => x.duplicateOf),
      ]);
    }
    const n = p.notifications;
    if (n.length) {
      await sql.run(UPSERT_NOTIFICATIONS_SQL, [
        n.map((x) => x.id), n.map((x) => x.userId), n.map((x) => x.eventType), n.map((x) => x.status), n.map((x) => x.reason), n.map((x) => x.critical),
        n.map((x) => x.variant), n.map((x) => x.text), n.map((x) => JSON.stringify(x.params)), n.map((x) => x.eventKey), n.map((x) => x.occurredAt),
        n.map((x) => x.dueAt), n.map((x) => x.expiresAt), n.map((x) => x.sentAt), n.map((x) => x.clickedAt), n.map((x) => x.destination),
        n.map((x) => x.messageId), n.map((x) => x.createdAt), n.map((x) => x.updatedAt),
      ]);
    }
    // FOR SHARE: no rebase (FOR UPDATE) between this read and the adds.
    const { engagement: e, typeStats: s } = p.engagement.length || p.typeStats.length
      ? writesOnScale({ ...p, shift: w.shift, halfLifeMs: w.halfLifeMs }, await lockedScale(sql, 'SHARE'), now)
      : p;
    if (e.length) await sql.run(ADD_ENGAGEMENT_SQL, [e.map((x) => x.userId), e.map((x) => x.eventType), e.map((x) => x.shownW), e.map((x) => x.clickedW)]);
    if (s.length) await sql.run(ADD_TYPE_STATS_SQL, [s.map((x) => x.eventType), s.map((x) => x.variant), s.map((x) => x.shownW), s.map((x) => x.clickedW)]);
  }

  return {
    async loadState({ userIds, keys, types, now, sendsSince }) {
      // Independent reads: issued together, they share the pool's connections instead of queueing on one.
      const { result, scale } = await onOneScale(() => Promise.all([
        userIds.length ? db.all('SELECT * FROM users WHERE id = ANY($1::text[])', [userIds]) : [],
        keys.length ? db.all('SELECT key, decision_id, expires_at FROM notify_keys WHERE key = ANY($1::text[]) AND expires_at > $2', [keys, now]) : [],
        userIds.length
          ? db.all(
            `SELECT user_id, event_type, sent_at, critical FROM notifications
              WHERE status = 'sent' AND user_id = ANY($1::text[]) AND sent_at >= $2 ORDER BY sent_at, id`,
            [userIds, sendsSince],
          )
          : [],
        userIds.length ? db.all("SELECT * FROM notifications WHERE status = 'pending' AND user_id = ANY($1::text[]) ORDER BY id", [userIds]) : [],
        userIds.length ? db.all(`SELECT *, ${SCALE_COLUMNS} FROM notify_engagement WHERE user_id = ANY($1::text[])`, [userIds]) : [],
        types.length ? db.all(`SELECT *, ${SCALE_COLUMNS} FROM notify_type_stats WHERE event_type = ANY($1::text[])`, [types]) : [],
        readScale(db),
      ]), (r) => [r[6], r[4], r[5]]);
      const [users, seen, sends, pending, engagement, typeStats] = result;
      const state: NotifyState = { users: new Map(), seenKeys: new Map(), keyExpiry: new Map(), sends: new Map(), pending: new Map(), engagement: new Map(), typeStats: new Map(), ...scale };
      for (const r of users) state.users.set(String(r.id), userFromRow(r));
      for (const r of seen) {
        state.seenKeys.set(String(r.key), String(r.decision_id));
        state.keyExpiry.set(String(r.key), Number(r.expires_at));
      }
      for (const r of sends) {
        const id = String(r.user_id);
        let mine = state.sends.get(id);
        if (!mine) state.sends.set(id, (mine = []));
        mine.push({ eventType: String(r.event_type), sentAt: Number(r.sent_at), critical: r.critical === true });
      }
      for (const r of pending) {
        const n = notificationFromRow(r);
        state.pending.set(pair(n.userId, n.eventType), n);
      }
      for (const r of engagement) state.engagement.set(pair(String(r.user_id), String(r.event_type)), counts(r));
      for (const r of typeStats) state.typeStats.set(pair(String(r.event_type), String(r.variant)), counts(r));
      return state;
    },

    async commit(w, route, now) {
      await db.tx(async (sql) => {
        await writeAll(sql, w, now);
        if (w.messages.length) await publishInTx(sql, w.messages, route, now - idempotencyTtlMs());
      });
    },

    async claimDue(now, leaseUntil, limit, holder) {
      if (!(await liveness.hold(holder, now))) return [];
      const judge = liveness.judges(holder);
      const rows = await db.all(claimDueSql(deadWorkers(db, judge)), [now, leaseUntil, limit, holder], `botgate_notify_claim_${judge ? 'judging' : 'expired'}`);
      return rows.map(notificationFromRow).sort((a, b) => (a.dueAt! - b.dueAt!) || (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
    },

    async releaseLeases() {
      return db.run('UPDATE notifications SET lease_until = NULL, leased_by = NULL WHERE lease_until IS NOT NULL');
    },

    async notification(id) {
      const row = await db.get('SELECT * FROM notifications WHERE id = $1', [id]);
      return row ? notificationFromRow(row) : null;
    },

    async latestSentOf(userIds, since) {
      const out = new Map<string, NotificationRecord>();
      const rows = await db.all(
        "SELECT * FROM notifications WHERE status = 'sent' AND user_id = ANY($1::text[]) AND sent_at >= $2 ORDER BY sent_at",
        [userIds, since],
      );
      for (const r of rows) out.set(String(r.user_id), notificationFromRow(r));
      return out;
    },

    async latestSent(userId, eventType, since) {
      const row = eventType === null
        ? await db.get("SELECT * FROM notifications WHERE status = 'sent' AND user_id = $1 AND sent_at >= $2 ORDER BY sent_at DESC LIMIT 1", [userId, since])
        : await db.get(
          "SELECT * FROM notifications WHERE status = 'sent' AND user_id = $1 AND event_type = $2 AND sent_at >= $3 ORDER BY sent_at DESC LIMIT 1",
          [userId, eventType, since],
        );
      return row ? notificationFromRow(row) : null;
    },

    async click(id, at, weight) {
      // FOR SHARE: the weight on the scale no rebase moves before the click's adds.
      const done = await db.tx(async (sql) => sql.get(CLICK_SQL, [id, at, weight(await lockedScale(sql, 'SHARE'))], 'botgate_notify_click'));
      if (Number(done?.n) === 1) return 'recorded';
      const row = await db.get('SELECT status FROM notifications WHERE id = $1', [id]);
      return row && row.status === 'sent' ? 'duplicate' : 'not_found';
    },

    async decisions(filter, page) {
      const params = new Params();
      const where: string[] = [];
      if (filter.userId !== undefined) where.push(`user_id = ${params.add(filter.userId)}`);
      if (filter.eventType !== undefined) where.push(`event_type = ${params.add(filter.eventType)}`);
      if (filter.reason !== undefined) where.push(`reason = ${params.add(filter.reason)}`);
      if (filter.since !== undefined) where.push(`decided_at >= ${params.add(filter.since)}`);
      return (await db.all(`SELECT * FROM notify_decisions ${pageClause(page, where, params)}`, params.values)).map(decisionFromRow);
    },

    async reasonCounts(since) {
      const rows = await db.all(
        'SELECT event_type, decision, reason, COUNT(*) AS n FROM notify_decisions WHERE decided_at >= $1 GROUP BY event_type, decision, reason ORDER BY event_type, decision, reason',
        [since],
      );
      return rows.map((r) => ({ eventType: String(r.event_type), decision: String(r.decision), reason: String(r.reason), count: Number(r.n) }));
    },

    async outcomeCounts(since) {
      const rows = await db.all(
        'SELECT event_type, status, reason, COUNT(*) AS n FROM notifications WHERE created_at >= $1 GROUP BY event_type, status, reason ORDER BY event_type, status, reason',
        [since],
      );
      return rows.map((r) => ({ eventType: String(r.event_type), status: String(r.status), reason: r.reason === null ? null : String(r.reason), count: Number(r.n) }));
    },

    async typeStats(eventType) {
      const { result: [rows], scale } = await onOneScale(() => Promise.all([
        db.all(`SELECT variant, shown_w, clicked_w, ${SCALE_COLUMNS} FROM notify_type_stats WHERE event_type = $1`, [eventType]),
        readScale(db),
      ]), (r) => [r[1], r[0]]);
      return { ...scale, variants: new Map(rows.map((r) => [String(r.variant), counts(r)])) };
    },

    rebase: (from, to, at) => rebaseWeights(db, from, to, at),

    async overrides() {
      const rows = await db.all('SELECT name, settings FROM notify_event_types');
      return new Map(rows.map((r) => [String(r.name), JSON.parse(String(r.settings)) as Record<string, unknown>]));
    },
    async putOverride(name, settings, now) {
      await db.run(
        'INSERT INTO notify_event_types (name, settings, updated_at) VALUES ($1, $2, $3) ON CONFLICT (name) DO UPDATE SET settings = excluded.settings, updated_at = excluded.updated_at',
        [name, JSON.stringify(settings), now],
      );
    },
    async deleteOverride(name) {
      return (await db.run('DELETE FROM notify_event_types WHERE name = $1', [name])) > 0;
    },

    async putUser(id, patch, now) {
      // One statement: created when missing, else the given fields patched (the row locked meanwhile).
      const row = await db.get(
        `INSERT INTO users AS u (id, tz, preferences, created_at, updated_at) VALUES ($1, $3, coalesce($5, '{}'), $6, $6)
         ON CONFLICT (id) DO UPDATE SET tz = CASE WHEN $2 THEN excluded.tz ELSE u.tz END,
           preferences = CASE WHEN $4 THEN excluded.preferences ELSE u.preferences END,
           updated_at = CASE WHEN $2 OR $4 OR $7 THEN excluded.updated_at ELSE u.updated_at END
         RETURNING *, (xmax = 0) AS inserted`,
        [id, patch.tz !== undefined, patch.tz ?? null, patch.preferences !== undefined, patch.preferences === undefined ? null : JSON.stringify(patch.preferences), now, patch.touch === true],
      );
      return { user: userFromRow(row!), created: row!.inserted === true };
    },

    async exportUser(id) {
      const user = await db.get('SELECT * FROM users WHERE id = $1', [id]);
      if (!user) return null;
      const conversations = 'SELECT id FROM conversations WHERE user_id = $1';
      const { result, scale } = await onOneScale(() => Promise.all([
        db.all('SELECT kind, value FROM identities WHERE user_id = $1 ORDER BY kind, value', [id]),
        db.all('SELECT * FROM conversations WHERE user_id = $1 ORDER BY id', [id]),
        // With the events its conversations sent out of them (webhooks, handoff events: migration 007).
        db.all(
          `SELECT id, event_type, payload, conversation_id, direction, reply_to, created_at FROM messages WHERE conversation_id IN (${conversations})
           UNION ALL SELECT id, event_type, payload, conversation_id, direction, reply_to, created_at FROM messages
             WHERE ordering_key IN (${conversations}) AND ordering_key IS NOT NULL AND conversation_id IS NULL ORDER BY id`,
          [id],
        ),
        db.all('SELECT * FROM notify_decisions WHERE user_id = $1 ORDER BY id', [id]),
        db.all('SELECT * FROM notifications WHERE user_id = $1 ORDER BY id', [id]),
        db.all(`SELECT event_type, shown_w, clicked_w, ${SCALE_COLUMNS} FROM notify_engagement WHERE user_id = $1 ORDER BY event_type`, [id]),
        db.all(`SELECT * FROM handoffs WHERE conversation_id IN (${conversations}) ORDER BY id`, [id]),
        readScale(db),
      ]), (r) => [r[7], r[5]]);
      const [identities, convs, messages, decisions, notifications, engagement, handoffs] = result;
      // BIGINT columns arrive as strings: numbers, as SQLite gives them.
      return {
        user: userFromRow(user),
        identities: identities.map((r) => ({ kind: String(r.kind), value: String(r.value) })),
        conversations: convs.map((r) => ({
          ...r, memory: JSON.parse(String(r.memory)), last_prompt: JSON.parse(String(r.last_prompt)),
          created_at: Number(r.created_at), updated_at: Number(r.updated_at), last_message_at: Number(r.last_message_at),
        })),
        messages: messages.map((r) => ({ ...r, payload: r.payload === null ? null : JSON.parse(String(r.payload)), created_at: Number(r.created_at) })),
        decisions: decisions.map(decisionFromRow),
        notifications: notifications.map(notificationFromRow),
        engagement: engagement.map((r) => ({ eventType: String(r.event_type), ...counts(r) })),
        handoffs: handoffs.map((r) => ({
          ...r, requested_at: Number(r.requested_at), updated_at: Number(r.updated_at),
          assigned_at: r.assigned_at === null ? null : Number(r.assigned_at), closed_at: r.closed_at === null ? null : Number(r.closed_at),
        })),
        ...scale,
      };
    },

    async deleteUser(id) {
      return db.tx(async (sql) => {
        if (!(await sql.get('SELECT 1 FROM users WHERE id = $1 FOR UPDATE', [id]))) return false;
        /** Messages with their deliveries, attempts and idempotency keys. */
        const dropMessages = async (messages: string[]) => {
          if (!messages.length) return;
          const deliveries = (await sql.all('DELETE FROM deliveries WHERE message_id = ANY($1::text[]) RETURNING id', [messages])).map((r) => String(r.id));
          if (deliveries.length) await sql.run('DELETE FROM attempts WHERE delivery_id = ANY($1::text[])', [deliveries]);
          await sql.run('DELETE FROM idempotency_keys WHERE message_id = ANY($1::text[])', [messages]);
          await sql.run('DELETE FROM messages WHERE id = ANY($1::text[])', [messages]);
        };
        const conversationIds = (await sql.all('DELETE FROM conversations WHERE user_id = $1 RETURNING id', [id])).map((r) => String(r.id));
        if (conversationIds.length) {
          await sql.run('DELETE FROM handoffs WHERE conversation_id = ANY($1::text[])', [conversationIds]);
          await dropMessages((await sql.all('SELECT id FROM messages WHERE conversation_id = ANY($1::text[])', [conversationIds])).map((r) => String(r.id)));
          // The events the conversations sent out of themselves (webhooks, handoff events to subscribers).
          await dropMessages((await sql.all('SELECT id FROM messages WHERE ordering_key = ANY($1::text[]) AND ordering_key IS NOT NULL AND conversation_id IS NULL', [conversationIds])).map((r) => String(r.id)));
        }
        // Notifications sent to an endpoint are messages outside any conversation: they go too.
        await dropMessages((await sql.all('SELECT message_id FROM notifications WHERE user_id = $1 AND message_id IS NOT NULL', [id])).map((r) => String(r.message_id)));
        // In commit's order (keys, decisions, notifications, engagement), so the two cannot deadlock.
        for (const table of ['notify_keys', 'notify_decisions', 'notifications', 'notify_engagement', 'identities']) await sql.run(`DELETE FROM ${table} WHERE user_id = $1`, [id]);
        // Out of every feed too, or its next run would bring the user back.
        await sql.run(
          `UPDATE notify_feeds SET user_ids = (
             SELECT coalesce(json_agg(u.v ORDER BY u.n), '[]'::json)::text FROM json_array_elements_text(notify_feeds.user_ids::json) WITH ORDINALITY AS u(v, n) WHERE u.v <> $1)
           WHERE user_ids IS NOT NULL AND user_ids::jsonb ? $1`,
          [id],
        );
        await sql.run('DELETE FROM users WHERE id = $1', [id]);
        return true;
      });
    },

    async purgeKeys(before, limit = 1_000_000_000) {
      return db.run('DELETE FROM notify_keys WHERE key IN (SELECT key FROM notify_keys WHERE expires_at < $1 ORDER BY expires_at LIMIT $2 FOR UPDATE SKIP LOCKED)', [before, limit]);
    },

    feeds: createFeedsRepo(db, liveness),
  };
}
