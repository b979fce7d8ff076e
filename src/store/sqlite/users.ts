// SQLite: users and the identities that link a person across channels.
import { userFromRow } from '../rows.ts';
import type { Identity, UsersRepo } from '../store.ts';
import type { SqliteDb } from './db.ts';

export function createUsersRepo(db: SqliteDb): UsersRepo {
  return {
    async get(id) {
      const row = db.get('SELECT * FROM users WHERE id = ?', [id]);
      return row ? userFromRow(row) : null;
    },
    async identitiesOf(userIds) {
      const out = new Map<string, Identity[]>();
      for (const r of db.all('SELECT user_id, kind, value FROM identities WHERE user_id IN (SELECT value FROM json_each(?)) ORDER BY kind, value', [JSON.stringify(userIds)])) {
        const list = out.get(String(r.user_id)) ?? [];
        list.push({ kind: String(r.kind), value: String(r.value) });
        out.set(String(r.user_id), list);
      }
      return out;
    },
    async identities(userId) {
      return db.all('SELECT kind, value FROM identities WHERE user_id = ? ORDER BY kind, value', [userId]).map((r) => ({ kind: String(r.kind), value: String(r.value) }));
    },
    async byIdentity(identity) {
      const row = db.get('SELECT u.* FROM identities i JOIN users u ON u.id = i.user_id WHERE i.kind = ? AND i.value = ?', [identity.kind, identity.value]);
      return row ? userFromRow(row) : null;
    },
    async attach(userId, identities, now) {
      return db.tx(() => {
        for (const identity of identities) {
          const owner = db.get('SELECT user_id FROM identities WHERE kind = ? AND value = ?', [identity.kind, identity.value]);
          if (owner && String(owner.user_id) !== userId) return { conflict: { kind: identity.kind, value: identity.value }, created: false };
        }
        const created = Number(db.run('INSERT INTO users (id, created_at, updated_at) VALUES (?, ?, ?) ON CONFLICT (id) DO NOTHING', [userId, now, now]).changes) === 1;
        for (const identity of identities) {
          db.run('INSERT INTO identities (kind, value, user_id, created_at) VALUES (?, ?, ?, ?) ON CONFLICT (kind, value) DO NOTHING', [identity.kind, identity.value, userId, now]);
        }
        return { conflict: null, created };
      });
    },
  };
}

/** Inside a transaction: the user any of these identities already names, else a new one; every identity ends up attached. */
export function linkIdentities(db: SqliteDb, identities: Identity[], newUserId: string, now: number): string {
  let userId: string | null = null;
  for (const identity of identities) {
    const row = db.get('SELECT user_id FROM identities WHERE kind = ? AND value = ?', [identity.kind, identity.value]);
    if (row) {
      userId = String(row.user_id);
      break;
    }
  }
  if (!userId) {
    userId = newUserId;
    db.run('INSERT INTO users (id, created_at, updated_at) VALUES (?, ?, ?)', [userId, now, now]);
  }
  for (const identity of identities) {
    db.run('INSERT INTO identities (kind, value, user_id, created_at) VALUES (?, ?, ?, ?) ON CONFLICT (kind, value) DO NOTHING', [identity.kind, identity.value, userId, now]);
  }
  return userId;
}
