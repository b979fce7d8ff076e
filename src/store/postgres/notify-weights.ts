// PostgreSQL: the shift engagement weights are stored on (store/notify-records.ts). Reads take the shift in the
// statement that reads the weights; adds hold it FOR SHARE, so no rebase (FOR UPDATE) comes between the shift an add
// was computed on and the add itself.
import { rescaled, rescaleSql, rescaleSteps, type WeightedCounts } from '../notify-records.ts';
import type { PgDb, Sql } from './db.ts';

type Row = Record<string, unknown>;

/** The shift, as a column of each statement reading weights: the one it read them on. */
export const SHIFT_COLUMN = '(SELECT shift FROM notify_weight_shift) AS shift';

/** The store's shift now, read alongside statements with SHIFT_COLUMN (onNewestShift takes it). */
export const readShift = (db: PgDb) => db.all('SELECT shift FROM notify_weight_shift');

/** The store's shift, locked until the transaction ends: SHARE for adds, UPDATE for a rebase. */
export async function lockedShift(sql: Sql, mode: 'SHARE' | 'UPDATE'): Promise<number> {
  return Number((await sql.get(`SELECT shift FROM notify_weight_shift FOR ${mode}`))!.shift);
}

/**
 * Weights read by statements issued together, each row with the shift its statement saw (a rebase may come between
 * them), all moved to the newest of those shifts (as the rebase moved the others), and that shift.
 */
export function onNewestShift(shiftNow: Row[], ...reads: Row[][]): { shift: number; counts: (r: Row) => WeightedCounts } {
  let shift = Number(shiftNow[0].shift);
  for (const rows of reads) for (const r of rows) shift = Math.max(shift, Number(r.shift));
  return {
    shift,
    counts: (r) => ({ shownW: rescaled(Number(r.shown_w), shift - Number(r.shift)), clickedW: rescaled(Number(r.clicked_w), shift - Number(r.shift)) }),
  };
}

/** One step of a rebase (rescaleSteps) on a table's weights. */
const REBASE_SQL = (table: string) =>
  `UPDATE ${table} SET shown_w = ${rescaleSql('shown_w', '$1::float8', '$2::float8', '$3::float8')}, clicked_w = ${rescaleSql('clicked_w', '$1::float8', '$2::float8', '$3::float8')}`;

/** NotifyRepo.rebase: every weight moved down to shift `to` when the store is still on `from`; the shift now. */
export function rebaseWeights(db: PgDb, from: number, to: number): Promise<number> {
  return db.tx(async (sql) => {
    const shift = await lockedShift(sql, 'UPDATE');
    if (shift !== from || to <= from) return shift;
    for (const { factor, below } of rescaleSteps(to - from)) {
      for (const table of ['notify_engagement', 'notify_type_stats']) await sql.run(REBASE_SQL(table), [factor, below, Number.MAX_VALUE]);
    }
    await sql.run('UPDATE notify_weight_shift SET shift = $1', [to]);
    return to;
  });
}
