// Where the store keeps values sealed under the master key (crypto/secret-box.ts), for a rotation that seals them all again.

/** Given a sealed value and what holds it ("app cs-…"), the value sealed under the new key; throws to change nothing. */
export type Reseal = (sealed: string, where: string) => string;

export interface SealedTable {
  table: string;
  /** What a row is called in messages. */
  noun: string;
  /** The column naming a row (default id). */
  key?: string;
  /** Which rows hold sealed values (default all). */
  where?: string;
  columns: readonly string[];
  /** The column is JSON whose values under keys ending in `Sealed`, at any depth, are sealed (a channel's settings). */
  json?: true;
}

export const SEALED_TABLES: readonly SealedTable[] = [
  { table: 'endpoints', noun: 'endpoint', columns: ['secrets_sealed', 'auth_sealed'] },
  { table: 'apps', noun: 'app', columns: ['secret_sealed'] },
  { table: 'channels', noun: 'channel', columns: ['settings'], json: true },
  // Settings whose key ends in _sealed (the click link key, notify/link-key.ts); the others are plain or hashes.
  { table: 'settings', noun: 'setting', key: 'key', columns: ['value'], where: "key LIKE '%!_sealed' ESCAPE '!'" },
];

/** SELECT of a table's id and sealed columns; UPDATE of them, with placeholders `${mark}1`… (SQLite ?1, PostgreSQL $1). */
export function sealedSql(t: SealedTable, mark: '?' | '$'): { select: string; update: string } {
  const key = t.key ?? 'id';
  return {
    select: `SELECT ${key} AS id, ${t.columns.join(', ')} FROM ${t.table}${t.where ? ` WHERE ${t.where}` : ''} ORDER BY ${key}`,
    update: `UPDATE ${t.table} SET ${t.columns.map((c, i) => `${c} = ${mark}${i + 1}`).join(', ')} WHERE ${key} = ${mark}${t.columns.length + 1}`,
  };
}

/** A row's sealed columns sealed again (in `t.columns` order, then its id), or null when it holds no sealed value. */
export function resealRow(t: SealedTable, row: Record<string, unknown>, reseal: Reseal): { params: (string | null)[]; count: number } | null {
  const where = `${t.noun} ${String(row.id)}`;
  let count = 0;
  const params = t.columns.map((column) => {
    const value = row[column];
    if (value === null || value === undefined) return null;
    if (!t.json) {
      count++;
      return reseal(String(value), `${where} (${column})`);
    }
    const walk = (node: unknown, path: string): unknown => {
      if (Array.isArray(node)) return node.map((item, i) => walk(item, `${path}[${i}]`));
      if (!node || typeof node !== 'object') return node;
      return Object.fromEntries(Object.entries(node).map(([key, item]) => {
        if (key.endsWith('Sealed') && typeof item === 'string') {
          count++;
          return [key, reseal(item, `${where} (${path}.${key})`)];
        }
        return [key, walk(item, `${path}.${key}`)];
      }));
    };
    return JSON.stringify(walk(JSON.parse(String(value)), column));
  });
  return count ? { params: [...params, String(row.id)], count } : null;
}
