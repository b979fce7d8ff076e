// PostgreSQL: users and the identities that link a person across channels.
import { userFromRow } from '../rows.ts';
import type { Identity, UsersRepo } from '../store.ts';
import type { PgDb, Sql } from './db.ts';

export function createUsersRepo(db: PgDb): UsersRepo {
  return {
    async get(id) {
      const row = await db.get('SELECT * FROM users WHERE id = $1', [id]);
      return row ? userFromRow(row) : null;
    },
    async identitiesOf(userIds) {
      const out = new Map<string, Identity[]>();
      for (const r of await db.all('SELECT user_id, kind, value FROM identities WHERE user_id = ANY($1::text[]) ORDER BY kind, value', [userIds])) {
        const list = out.get(String(r.user_id)) ?? [];
        list.push({ kind: String(r.kind), value: String(r.value) });
        out.set(String(r.user_id), list);
      }
      return out;
    },
    async identities(userId) {
      return (await db.all('SELECT kind, value FROM identities WHERE user_id = $1 ORDER BY kind, value', [userId])).map((r) => ({ kind: String(r.kind), value: String(r.value) }));
    },
    async byIdentity(identity) {
      const row = await db.get('SELECT u.* FROM identities i JOIN users u ON u.id = i.user_id WHERE i.kind = $1 AND i.value = $2', [identity.kind, identity.value]);
      return row ? userFromRow(row) : null;
    },
    async attach(userId, identities, now) {
      const kinds = identities.map((i) => i.kind);
      const values = identities.map((i) => i.value);
      try {
        return await db.tx(async (sql) => {
          const created = (await sql.run('INSERT INTO users (id, created_at, updated_at) VALUES ($1, $2, $2) ON CONFLICT (id) DO NOTHING', [userId, now])) === 1;
          // Insert first, then look: a concurrent attach of the same identity waits on the row lock and then sees the winner.
          await sql.run(
            `INSERT INTO identities (kind, value, user_id, created_at)
             SELECT kind, value, $3, $4 FROM unnest($1::text[], $2::text[]) AS t(kind, value) ON CONFLICT (kind, value) DO NOTHING`,
            [kinds, values, userId, now],
          );
          // The first taken one in the order given, as SQLite names it.
          const taken = await sql.get(
            `SELECT i.kind, i.value FROM unnest($1::text[], $2::text[]) WITH ORDINALITY AS t(kind, value, n)
             JOIN identities i ON i.kind = t.kind AND i.value = t.value WHERE i.user_id <> $3 ORDER BY t.n LIMIT 1`,
            [kinds, values, userId],
          );
          if (taken) throw new IdentityTaken({ kind: String(taken.kind), value: String(taken.value) });
          return { conflict: null, created };
        });
      } catch (error) {
        if (error instanceof IdentityTaken) return { conflict: error.identity, created: false }; // rolled back: nothing changed
        throw error;
      }
    },
  };
}

class IdentityTaken extends Error {
  readonly identity: Identity;
  constructor(identity: Identity) {
    super('identity taken');
    this.identity = identity;
  }
}

/**
 * Inside a transaction: the user any of these identities already names, else a new one; every identity ends
 * up attached. Two processes seeing a new person at once: ON CONFLICT makes the second one wait for the
 * first and then find its identity, so one user is created.
 */
export async function linkIdentities(sql: Sql, identities: Identity[], newUserId: string, now: number): Promise<string> {
  // The first known one in the order given (a channel lists its own identity first), not whichever row the plan meets first.
  const existing = await sql.get(
    `SELECT i.user_id FROM unnest($1::text[], $2::text[]) WITH ORDINALITY AS t(kind, value, n)
     JOIN identities i ON i.kind = t.kind AND i.value = t.value ORDER BY t.n LIMIT 1`,
    [identities.map((i) => i.kind), identities.map((i) => i.value)],
  );
  let userId = existing ? String(existing.user_id) : null;
  if (!userId) {
    await sql.run('INSERT INTO users (id, created_at, updated_at) VALUES ($1, $2, $2)', [newUserId, now]);
    const first = identities[0];
    const claimed = await sql.get(
      `INSERT INTO identities (kind, value, user_id, created_at) VALUES ($1, $2, $3, $4)
       ON CONFLICT (kind, value) DO UPDATE SET kind = excluded.kind RETURNING user_id`,
      [first.kind, first.value, newUserId, now],
    );
    userId = String(claimed!.user_id);
    if (userId !== newUserId) await sql.run('DELETE FROM users WHERE id = $1', [newUserId]); // another process won
  }
  await sql.run(
    `INSERT INTO identities (kind, value, user_id, created_at)
     SELECT kind, value, $3, $4 FROM unnest($1::text[], $2::text[]) AS t(kind, value) ON CONFLICT (kind, value) DO NOTHING`,
    [identities.map((i) => i.kind), identities.map((i) => i.value), userId, now],
  );
  return userId;
}
