// Page/per_page and cursor paging for list routes: asks the store for one row more to know if there is a next page.
import { BotgateError } from '../errors.ts';
import { checkWindow } from '../ranges.ts';
import type { IdPrefix } from '../ids.ts';
import type { PageRequest } from '../store/store.ts';

export interface PageQueryValues {
  page?: number;
  per_page?: number;
  cursor?: string;
}

/**
 * `ids`: the prefix of the listed rows' ids; a cursor without it is refused (it was compared as text, so another
 * kind came back empty or as everything). One with it need not be a row's id: the list continues after where it sorts.
 */
export function pageRequest(query: PageQueryValues, ids?: IdPrefix): { request: PageRequest; page: number | null; perPage: number } {
  // A cursor says where the page starts and a page number says it too: given both, one would be ignored and the
  // answer's `page` would describe a page it is not.
  if (query.cursor !== undefined && query.page !== undefined) {
    throw new BotgateError('BG_ERR_VALIDATION', 'querystring: use cursor or page, not both');
  }
  if (query.cursor !== undefined && ids && !isCursorOf(query.cursor, ids)) {
    throw new BotgateError('BG_ERR_VALIDATION', `querystring.cursor: not a cursor of this list (an id of its kind, ${ids}_…)`);
  }
  const perPage = query.per_page ?? 50;
  if (query.cursor !== undefined) return { request: { limit: perPage + 1, offset: 0, cursor: query.cursor }, page: null, perPage };
  const page = query.page ?? 1;
  return { request: { limit: perPage + 1, offset: (page - 1) * perPage }, page, perPage };
}

/** Whether a cursor can point into a list of `ids` rows: an id of that kind (it need not be a row's). */
export function isCursorOf(cursor: string, ids: IdPrefix): boolean {
  return cursor.startsWith(`${ids}_`);
}

/** The answer: `page` is the page number asked for, or null for a page found by cursor (it has no number). */
export function pageResult<R extends { id: string }, V>(rows: R[], page: { page: number | null; perPage: number }, view: (row: R) => V) {
  const more = rows.length > page.perPage;
  const data = rows.slice(0, page.perPage);
  return { data: data.map(view), page: page.page, per_page: page.perPage, next_cursor: more ? data[data.length - 1].id : null };
}

export function parseTime(text: string | undefined): number | undefined {
  return text === undefined ? undefined : Date.parse(text);
}

/** A list's `since`/`until` query as times; a window holding no instant is refused, as recover refuses one. */
export function parseWindow(query: { since?: string; until?: string }): { since: number | undefined; until: number | undefined } {
  const window = { since: parseTime(query.since), until: parseTime(query.until) };
  checkWindow(window.since, window.until, { since: 'querystring.since', until: 'querystring.until' });
  return window;
}
