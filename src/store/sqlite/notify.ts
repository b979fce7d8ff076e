// SQLite: the notification engine's tables (store/notify-records.ts).
import { decisionFromRow, notificationFromRow, userFromRow } from '../rows.ts';
import {
  foldKeys, foldWrites, KeysTaken, pair, rescaleSql, rescaleSteps, sameScale, scaleDistance, writesOnScale, type NotificationRecord, type NotifyRepo, type NotifyState,
  type WeightedCounts, type WeightScale,
} from '../notify-records.ts';
import type { SqliteDb } from './db.ts';
import type { PublishInTx } from './messages.ts';
import { USER_DECISION_SEQS } from './decision-index.ts';
import { createFeedsRepo } from './notify-feeds.ts';
import { pageClause } from './paging.ts';

const list = (values: string[]) => JSON.stringify(values);

function notificationParams(n: NotificationRecord): unknown[] {
  return [n.id, n.userId, n.eventType, n.status, n.reason, n.critical ? 1 : 0, n.variant, n.text, JSON.stringify(n.params), n.eventKey,
    n.occurredAt, n.dueAt, n.expiresAt, n.sentAt, n.clickedAt, n.destination, n.messageId, n.createdAt, n.updatedAt];
}

const ROWS_PER_STATEMENT = 100;

/** The scale the stored weights are on. */
function scaleNow(db: SqliteDb): WeightScale {
  const row = db.get('SELECT shift, half_life_ms FROM notify_weight_shift')!;
  return { shift: Number(row.shift), halfLifeMs: row.half_life_ms === null ? null : Number(row.half_life_ms) };
}

/** One step of a rebase (rescaleSteps) on a table's weights. */
const REBASE_SQL = (table: string) =>
  `UPDATE ${table} SET shown_w = ${rescaleSql('shown_w', ':factor', ':below', ':max')}, clicked_w = ${rescaleSql('clicked_w', ':factor', ':below', ':max')}`;

/** A user's conversations' events sent out of them (ordering key = the conversation; migration 009), :id the user. */
const CONVERSATION_EVENTS = `SELECT id, event_type, payload, conversation_id, direction, reply_to, created_at FROM messages
  WHERE ordering_key IN (SELECT id FROM conversations WHERE user_id = :id) AND ordering_key IS NOT NULL AND conversation_id IS NULL`;

/** The text of INSERT … VALUES (…), (…), … per statement and row count, built once (they stay prepared, too). */
const insertTexts = new Map<string, string>();

/** INSERT … VALUES (…), (…), … in chunks of up to ROWS_PER_STATEMENT rows. */
/** Returns how many rows the statements inserted or updated. */
function insertMany(db: SqliteDb, head: string, columns: number, rows: unknown[][], tail = '', tailParams: unknown[] = []): number {
  let changes = 0;
  for (let i = 0; i < rows.length; i += ROWS_PER_STATEMENT) {
    const chunk = rows.slice(i, i + ROWS_PER_STATEMENT);
    const key = `${chunk.length}\u0000${head}\u0000${tail}`;
    let sql = insertTexts.get(key);
    if (sql === undefined) {
      const one = `(${Array(columns).fill('?').join(', ')})`;
      insertTexts.set(key, (sql = `${head} ${Array(chunk.length).fill(one).join(', ')} ${tail}`));
    }
    // One array of every value (not flat() then a spread: two copies of thousands of values per group).
    const params = new Array<unknown>(chunk.length * columns + tailParams.length);
    let at = 0;
    for (const row of chunk) for (let c = 0; c < columns; c++) params[at++] = row[c];
    for (const value of tailParams) params[at++] = value;
    changes += Number(db.run(sql, params as never[]).changes);
  }
  return changes;
}

export function createNotifyRepo(db: SqliteDb, publishInTx: PublishInTx, idempotencyTtlMs: () => number): NotifyRepo {
  return {
    async loadState({ userIds, keys, types, now, sendsSince }) {
      const users = list(userIds);
      const state: NotifyState = {
        users: new Map(), seenKeys: new Map(), keyExpiry: new Map(), sends: new Map(), pending: new Map(), engagement: new Map(), typeStats: new Map(), ...scaleNow(db),
      };
      for (const r of db.all('SELECT * FROM users WHERE id IN (SELECT value FROM json_each(?))', [users])) state.users.set(String(r.id), userFromRow(r));
      if (keys.length) {
        for (const r of db.all('SELECT key, decision_id, expires_at FROM notify_keys WHERE key IN (SELECT value FROM json_each(?)) AND expires_at > ?', [list(keys), now])) {
          state.seenKeys.set(String(r.key), String(r.decision_id));
          state.keyExpiry.set(String(r.key), Number(r.expires_at));
        }
      }
      const sends = db.all(
        `SELECT user_id, event_type, sent_at, critical FROM notifications
          WHERE status = 'sent' AND user_id IN (SELECT value FROM json_each(?)) AND sent_at >= ? ORDER BY sent_at`,
        [users, sendsSince],
      );
      for (const r of sends) {
        const id = String(r.user_id);
        let mine = state.sends.get(id);
        if (!mine) state.sends.set(id, (mine = []));
        mine.push({ eventType: String(r.event_type), sentAt: Number(r.sent_at), critical: r.critical === 1 });
      }
      for (const r of db.all("SELECT * FROM notifications WHERE status = 'pending' AND user_id IN (SELECT value FROM json_each(?))", [users])) {
        const n = notificationFromRow(r);
        state.pending.set(pair(n.userId, n.eventType), n);
      }
      for (const r of db.all('SELECT * FROM notify_engagement WHERE user_id IN (SELECT value FROM json_each(?))', [users])) {
        state.engagement.set(pair(String(r.user_id), String(r.event_type)), { shownW: Number(r.shown_w), clickedW: Number(r.clicked_w) });
      }
      for (const r of db.all('SELECT * FROM notify_type_stats WHERE event_type IN (SELECT value FROM json_each(?))', [list(types)])) {
        state.typeStats.set(pair(String(r.event_type), String(r.variant)), { shownW: Number(r.shown_w), clickedW: Number(r.clicked_w) });
      }
      return state;
    },

    async commit(writes, route, now) {
      const w = foldWrites(writes);
      db.tx(() => {
        if (w.engagement.length || w.typeStats.length) Object.assign(w, writesOnScale(w, scaleNow(db), now));
        // Many rows per statement: a batch of 1,000 decisions is a few dozen statements, not thousands.
        insertMany(db, 'INSERT INTO users (id, tz, created_at, updated_at) VALUES', 4, w.newUsers.map((u) => [u.id, u.tz, now, now]), 'ON CONFLICT (id) DO NOTHING');
        const keys = foldKeys(w.keys, now);
        const taken = insertMany(
          db, 'INSERT INTO notify_keys (key, user_id, decision_id, expires_at) VALUES', 4,
          keys.map((k) => [k.key, k.userId, k.decisionId, k.expiresAt]),
          'ON CONFLICT (key) DO UPDATE SET decision_id = excluded.decision_id, expires_at = excluded.expires_at WHERE notify_keys.expires_at <= ?',
          [now],
        );
        if (taken < keys.length) throw new KeysTaken(keys.filter((k) => db.get('SELECT decision_id FROM notify_keys WHERE key = ?', [k.key])?.decision_id !== k.decisionId).map((k) => k.key));
        insertMany(
          db, 'INSERT INTO notify_decisions (id, user_id, event_type, decision, reason, score, variant, notification_id, event_key, params, occurred_at, decided_at, duplicate_of) VALUES', 13,
          w.decisions.map((d) => [d.id, d.userId, d.eventType, d.decision, d.reason, d.score, d.variant, d.notificationId, d.eventKey, JSON.stringify(d.params), d.occurredAt, d.decidedAt, d.duplicateOf]),
        );
        insertMany(
          db, `INSERT INTO notifications (id, user_id, event_type, status, reason, critical, variant, text, params, event_key, occurred_at, due_at,
                 expires_at, sent_at, clicked_at, destination, message_id, created_at, updated_at) VALUES`, 19,
          w.notifications.map(notificationParams),
          // As on PostgreSQL: a sent or dropped notification never goes back to pending; a re-held one keeps its lease.
          `ON CONFLICT (id) DO UPDATE SET user_id = excluded.user_id, event_type = excluded.event_type, status = excluded.status, reason = excluded.reason,
             critical = excluded.critical, variant = excluded.variant, text = excluded.text, params = excluded.params, event_key = excluded.event_key,
             occurred_at = excluded.occurred_at, due_at = excluded.due_at, expires_at = excluded.expires_at, sent_at = excluded.sent_at,
             clicked_at = excluded.clicked_at, destination = excluded.destination, message_id = excluded.message_id, created_at = excluded.created_at,
             updated_at = excluded.updated_at, lease_until = CASE WHEN excluded.status = 'pending' THEN notifications.lease_until ELSE NULL END
           WHERE notifications.status = 'pending'`,
        );
        insertMany(
          db, 'INSERT INTO notify_engagement (user_id, event_type, shown_w, clicked_w) VALUES', 4,
          w.engagement.map((e) => [e.userId, e.eventType, e.shownW, e.clickedW]),
          'ON CONFLICT (user_id, event_type) DO UPDATE SET shown_w = shown_w + excluded.shown_w, clicked_w = clicked_w + excluded.clicked_w',
        );
        insertMany(
          db, 'INSERT INTO notify_type_stats (event_type, variant, shown_w, clicked_w) VALUES', 4,
          w.typeStats.map((t) => [t.eventType, t.variant, t.shownW, t.clickedW]),
          'ON CONFLICT (event_type, variant) DO UPDATE SET shown_w = shown_w + excluded.shown_w, clicked_w = clicked_w + excluded.clicked_w',
        );
        if (w.messages.length) publishInTx(w.messages, route, { now, idempotencyTtlMs: idempotencyTtlMs() });
      });
    },

    async claimDue(now, leaseUntil, limit) {
      return db.tx(() => {
        const rows = db.all(
          `SELECT * FROM notifications WHERE status = 'pending' AND due_at <= ? AND (lease_until IS NULL OR lease_until < ?) ORDER BY due_at LIMIT ?`,
          [now, now, limit],
        );
        if (rows.length) db.run('UPDATE notifications SET lease_until = ? WHERE id IN (SELECT value FROM json_each(?))', [leaseUntil, list(rows.map((r) => String(r.id)))]);
        return rows.map(notificationFromRow);
      });
    },

    async releaseLeases() {
      return db.run('UPDATE notifications SET lease_until = NULL WHERE lease_until IS NOT NULL').changes;
    },

    async notification(id) {
      const row = db.get('SELECT * FROM notifications WHERE id = ?', [id]);
      return row ? notificationFromRow(row) : null;
    },

    async latestSentOf(userIds, since) {
      const out = new Map<string, NotificationRecord>();
      const rows = db.all(
        "SELECT * FROM notifications WHERE status = 'sent' AND user_id IN (SELECT value FROM json_each(?)) AND sent_at >= ? ORDER BY sent_at",
        [JSON.stringify(userIds), since],
      );
      for (const r of rows) out.set(String(r.user_id), notificationFromRow(r));
      return out;
    },

    async latestSent(userId, eventType, since) {
      const row = eventType === null
        ? db.get("SELECT * FROM notifications WHERE status = 'sent' AND user_id = ? AND sent_at >= ? ORDER BY sent_at DESC LIMIT 1", [userId, since])
        : db.get("SELECT * FROM notifications WHERE status = 'sent' AND user_id = ? AND event_type = ? AND sent_at >= ? ORDER BY sent_at DESC LIMIT 1", [userId, eventType, since]);
      return row ? notificationFromRow(row) : null;
    },

    async click(id, at, weight) {
      return db.tx(() => {
        const row = db.get('SELECT user_id, event_type, variant, status, clicked_at FROM notifications WHERE id = ?', [id]);
        if (!row || row.status !== 'sent') return 'not_found';
        if (row.clicked_at !== null) return 'duplicate';
        db.run('UPDATE notifications SET clicked_at = ?, updated_at = ? WHERE id = ?', [at, at, id]);
        const w = weight(scaleNow(db));
        db.run('UPDATE notify_engagement SET clicked_w = clicked_w + ? WHERE user_id = ? AND event_type = ?', [w, String(row.user_id), String(row.event_type)]);
        // The pooled ('') row and the variant's, each once: a notification without a variant has only the first.
        db.run("UPDATE notify_type_stats SET clicked_w = clicked_w + ? WHERE event_type = ? AND variant IN ('', ?)", [w, String(row.event_type), String(row.variant ?? '')]);
        return 'recorded';
      });
    },

    async rebase(from, to, at) {
      return db.tx(() => {
        const scale = scaleNow(db);
        if (!sameScale(scale, from) || sameScale(from, to)) return scale;
        for (const { factor, below } of rescaleSteps(scaleDistance(from, to, at))) {
          for (const table of ['notify_engagement', 'notify_type_stats']) db.run(REBASE_SQL(table), { factor, below, max: Number.MAX_VALUE });
        }
        db.run('UPDATE notify_weight_shift SET shift = ?, half_life_ms = ?', [to.shift, to.halfLifeMs]);
        return to;
      });
    },

    async decisions(filter, page) {
      const where: string[] = [];
      const params: Record<string, string | number> = {};
      if (filter.userId !== undefined) (where.push(`seq IN ${USER_DECISION_SEQS}`), (params.user_id = filter.userId));
      if (filter.eventType !== undefined) (where.push('event_type = :event_type'), (params.event_type = filter.eventType));
      if (filter.reason !== undefined) (where.push('reason = :reason'), (params.reason = filter.reason));
      if (filter.since !== undefined) (where.push('decided_at >= :since'), (params.since = filter.since));
      // A user's decisions come from the index table; `+id` keeps the planner from walking the id index instead.
      const { clause, extra } = pageClause(page, where, filter.userId !== undefined ? '+id' : 'id');
      return db.all(`SELECT * FROM notify_decisions ${clause}`, { ...params, ...extra }).map(decisionFromRow);
    },

    async reasonCounts(since) {
      // A walk over the window's decisions (the admin's stats, default 7 days): beside the event loop.
      return (await db.readAside(
        'SELECT event_type, decision, reason, COUNT(*) AS n FROM notify_decisions WHERE decided_at >= ? GROUP BY event_type, decision, reason ORDER BY event_type, decision, reason',
        [since],
      )).map((r) => ({ eventType: String(r.event_type), decision: String(r.decision), reason: String(r.reason), count: Number(r.n) }));
    },

    async outcomeCounts(since) {
      return (await db.readAside(
        'SELECT event_type, status, reason, COUNT(*) AS n FROM notifications WHERE created_at >= ? GROUP BY event_type, status, reason ORDER BY event_type, status, reason',
        [since],
      )).map((r) => ({ eventType: String(r.event_type), status: String(r.status), reason: r.reason === null ? null : String(r.reason), count: Number(r.n) }));
    },

    async typeStats(eventType) {
      const variants = new Map<string, WeightedCounts>();
      for (const r of db.all('SELECT variant, shown_w, clicked_w FROM notify_type_stats WHERE event_type = ?', [eventType])) {
        variants.set(String(r.variant), { shownW: Number(r.shown_w), clickedW: Number(r.clicked_w) });
      }
      return { ...scaleNow(db), variants };
    },

    async overrides() {
      return new Map(db.all('SELECT name, settings FROM notify_event_types').map((r) => [String(r.name), JSON.parse(String(r.settings)) as Record<string, unknown>]));
    },
    async putOverride(name, settings, now) {
      db.run(
        'INSERT INTO notify_event_types (name, settings, updated_at) VALUES (?, ?, ?) ON CONFLICT (name) DO UPDATE SET settings = excluded.settings, updated_at = excluded.updated_at',
        [name, JSON.stringify(settings), now],
      );
    },
    async deleteOverride(name) {
      return db.run('DELETE FROM notify_event_types WHERE name = ?', [name]).changes > 0;
    },

    async putUser(id, patch, now) {
      return db.tx(() => {
        const created = Number(db.run('INSERT INTO users (id, created_at, updated_at) VALUES (?, ?, ?) ON CONFLICT (id) DO NOTHING', [id, now, now]).changes) === 1;
        if (patch.touch) db.run('UPDATE users SET updated_at = ? WHERE id = ?', [now, id]);
        if (patch.tz !== undefined) db.run('UPDATE users SET tz = ?, updated_at = ? WHERE id = ?', [patch.tz, now, id]);
        if (patch.preferences !== undefined) db.run('UPDATE users SET preferences = ?, updated_at = ? WHERE id = ?', [JSON.stringify(patch.preferences), now, id]);
        return { user: userFromRow(db.get('SELECT * FROM users WHERE id = ?', [id])!), created };
      });
    },

    async exportUser(id) {
      const user = db.get('SELECT * FROM users WHERE id = ?', [id]);
      if (!user) return null;
      const conversations = db.all('SELECT * FROM conversations WHERE user_id = ? ORDER BY id', [id]);
      const messages = db.all(
        `SELECT id, event_type, payload, conversation_id, direction, reply_to, created_at FROM messages WHERE conversation_id IN (SELECT id FROM conversations WHERE user_id = ?1)
         UNION ALL ${CONVERSATION_EVENTS.replace(':id', '?1')} ORDER BY id`,
        [id],
      );
      return {
        user: userFromRow(user),
        identities: db.all('SELECT kind, value FROM identities WHERE user_id = ? ORDER BY kind, value', [id]).map((r) => ({ kind: String(r.kind), value: String(r.value) })),
        conversations: conversations.map((r) => ({ ...r, memory: JSON.parse(String(r.memory)), last_prompt: JSON.parse(String(r.last_prompt)) })),
        messages: messages.map((r) => ({ ...r, payload: r.payload === null ? null : JSON.parse(String(r.payload)) })),
        decisions: db.all(`SELECT * FROM notify_decisions WHERE seq IN ${USER_DECISION_SEQS} ORDER BY +id`, { user_id: id }).map(decisionFromRow),
        notifications: db.all('SELECT * FROM notifications WHERE user_id = ? ORDER BY id', [id]).map(notificationFromRow),
        engagement: db.all('SELECT event_type, shown_w, clicked_w FROM notify_engagement WHERE user_id = ? ORDER BY event_type', [id])
          .map((r) => ({ eventType: String(r.event_type), shownW: Number(r.shown_w), clickedW: Number(r.clicked_w) })),
        handoffs: db.all('SELECT * FROM handoffs WHERE conversation_id IN (SELECT id FROM conversations WHERE user_id = ?) ORDER BY id', [id]).map((r) => ({ ...r })),
        ...scaleNow(db),
      };
    },

    async deleteUser(id) {
      return db.tx(() => {
        if (!db.get('SELECT 1 FROM users WHERE id = ?', [id])) return false;
        const conversations = "(SELECT id FROM conversations WHERE user_id = :id)";
        // The user's conversation messages, and notifications sent to an endpoint (messages outside any conversation).
        // And the events the conversations sent out of themselves (webhooks, handoff events to subscribers).
        const messages = `(SELECT id FROM messages WHERE conversation_id IN ${conversations} UNION SELECT message_id FROM notifications WHERE user_id = :id AND message_id IS NOT NULL
          UNION SELECT id FROM (${CONVERSATION_EVENTS}))`;
        db.run(`DELETE FROM attempts WHERE delivery_id IN (SELECT id FROM deliveries WHERE message_id IN ${messages})`, { id });
        db.run(`DELETE FROM deliveries WHERE message_id IN ${messages}`, { id });
        db.run(`DELETE FROM idempotency_keys WHERE message_id IN ${messages}`, { id });
        db.run(`DELETE FROM messages WHERE id IN ${messages}`, { id });
        db.run(`DELETE FROM handoffs WHERE conversation_id IN ${conversations}`, { id });
        db.run('DELETE FROM conversations WHERE user_id = :id', { id });
        // Dedup keys go with their decisions (neither has an index on user_id: store/sqlite/decision-index.ts).
        db.run(`DELETE FROM notify_keys WHERE decision_id IN (SELECT id FROM notify_decisions WHERE seq IN ${USER_DECISION_SEQS})`, { user_id: id });
        db.run(`DELETE FROM notify_decisions WHERE seq IN ${USER_DECISION_SEQS}`, { user_id: id });
        db.run('DELETE FROM notify_decision_users WHERE user_id = :id', { id });
        for (const table of ['notifications', 'notify_engagement', 'identities']) db.run(`DELETE FROM ${table} WHERE user_id = :id`, { id });
        // Out of every feed too, or its next run would bring the user back.
        db.run(
          `UPDATE notify_feeds SET user_ids = (SELECT json_group_array(value) FROM (SELECT value FROM json_each(notify_feeds.user_ids) WHERE value <> :id ORDER BY key))
            WHERE user_ids IS NOT NULL AND EXISTS (SELECT 1 FROM json_each(notify_feeds.user_ids) WHERE value = :id)`,
          { id },
        );
        db.run('DELETE FROM users WHERE id = :id', { id });
        return true;
      });
    },

    async purgeKeys(before, limit = 1_000_000_000) {
      return db.run('DELETE FROM notify_keys WHERE key IN (SELECT key FROM notify_keys WHERE expires_at < ? ORDER BY expires_at LIMIT ?)', [before, limit]).changes;
    },

    feeds: createFeedsRepo(db),
  };
}
