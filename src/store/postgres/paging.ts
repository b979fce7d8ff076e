// PostgreSQL: newest-first paging by id, with a cursor (id to continue after) or an offset.
import type { PageRequest } from '../store.ts';
import type { Params } from './db.ts';

export function pageClause(page: PageRequest, where: string[], params: Params, idColumn = 'id'): string {
  const conditions = [...where];
  if (page.cursor) conditions.push(`${idColumn} < ${params.add(page.cursor)}`);
  const whereSql = conditions.length ? `WHERE ${conditions.join(' AND ')}` : '';
  const offset = page.cursor ? 0 : (page.offset ?? 0);
  return `${whereSql} ORDER BY ${idColumn} DESC LIMIT ${params.add(page.limit)} OFFSET ${params.add(offset)}`;
}
