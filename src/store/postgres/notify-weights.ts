// PostgreSQL: the scale engagement weights are stored on (store/notify-records.ts). Reads take the scale in the
// statement that reads the weights; adds hold it FOR SHARE, so no rebase (FOR UPDATE) comes between the scale an add
// was computed on and the add itself.
import { rescaleSql, rescaleSteps, sameScale, scaleDistance, type WeightScale } from '../notify-records.ts';
import type { PgDb, Sql } from './db.ts';

type Row = Record<string, unknown>;

/** The scale, as columns of each statement reading weights: the one it read them on (one snapshot per statement). */
export const SCALE_COLUMNS = '(SELECT shift FROM notify_weight_shift) AS shift, (SELECT half_life_ms FROM notify_weight_shift) AS half_life_ms';

/** The store's scale now, read alongside statements with SCALE_COLUMNS (onOneScale compares them). */
export const readScale = (db: PgDb) => db.all('SELECT shift, half_life_ms FROM notify_weight_shift');

const scaleOf = (r: Row): WeightScale => ({ shift: Number(r.shift), halfLifeMs: r.half_life_ms === null ? null : Number(r.half_life_ms) });

/** The store's scale, locked until the transaction ends: SHARE for adds, UPDATE for a rebase. */
export async function lockedScale(sql: Sql, mode: 'SHARE' | 'UPDATE'): Promise<WeightScale> {
  return scaleOf((await sql.get(`SELECT shift, half_life_ms FROM notify_weight_shift FOR ${mode}`))!);
}

/**
 * Statements issued together (one of them readScale), read again until every row of theirs that carries the scale
 * saw the same one (a rebase came between them, which moved some of the weights they read and not others); with it.
 */
export async function onOneScale<T>(read: () => Promise<T>, scaled: (result: T) => Row[][]): Promise<{ result: T; scale: WeightScale }> {
  for (;;) {
    const result = await read();
    const rows = scaled(result).flat();
    const scale = scaleOf(rows[0]);
    if (rows.every((r) => sameScale(scaleOf(r), scale))) return { result, scale };
  }
}

/** One step of a rebase (rescaleSteps) on a table's weights. */
const REBASE_SQL = (table: string) =>
  `UPDATE ${table} SET shown_w = ${rescaleSql('shown_w', '$1::float8', '$2::float8', '$3::float8')}, clicked_w = ${rescaleSql('clicked_w', '$1::float8', '$2::float8', '$3::float8')}`;

/** NotifyRepo.rebase: every weight moved from scale `from` to `to` when the store is still on `from`; the scale now. */
export function rebaseWeights(db: PgDb, from: WeightScale, to: WeightScale, at: number): Promise<WeightScale> {
  return db.tx(async (sql) => {
    const scale = await lockedScale(sql, 'UPDATE');
    if (!sameScale(scale, from) || sameScale(from, to)) return scale;
    for (const { factor, below } of rescaleSteps(scaleDistance(from, to, at))) {
      for (const table of ['notify_engagement', 'notify_type_stats']) await sql.run(REBASE_SQL(table), [factor, below, Number.MAX_VALUE]);
    }
    await sql.run('UPDATE notify_weight_shift SET shift = $1, half_life_ms = $2', [to.shift, to.halfLifeMs]);
    return to;
  });
}
