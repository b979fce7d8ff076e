// SQLite: newest-first paging by id, with a cursor (id to continue after) or an offset.
import type { PageRequest } from '../store.ts';

export function pageClause(page: PageRequest, where: string[], idColumn = 'id'): { clause: string; extra: Record<string, string | number> } {
  const conditions = [...where];
  const extra: Record<string, string | number> = { __limit: page.limit, __offset: page.cursor ? 0 : (page.offset ?? 0) };
  if (page.cursor) {
    conditions.push(`${idColumn} < :__cursor`);
    extra.__cursor = page.cursor;
  }
  const whereSql = conditions.length ? `WHERE ${conditions.join(' AND ')}` : '';
  return { clause: `${whereSql} ORDER BY ${idColumn} DESC LIMIT :__limit OFFSET :__offset`, extra };
}
