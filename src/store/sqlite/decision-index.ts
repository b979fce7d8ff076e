// SQLite: the index of decisions by user, written in bulk behind the decisions (migration 006 says why). Every
// couple of seconds the decisions past the watermark are read sorted by user (on the background thread,
// background.ts) and inserted into
// notify_decision_users in chunks of neighbouring users, one short transaction each with a turn of the event loop
// between: each index page is then written about once per round instead of once per decision. Queries add the
// rows past the watermark themselves (USER_DECISION_SEQS), so the index being behind is never visible.
import type { SqliteDb } from './db.ts';

const WATERMARK_KEY = 'notify.decision_users_seq';

/** The seqs of :user_id's decisions: indexed ones, and those past the watermark (a short range scan). */
export const USER_DECISION_SEQS = `(SELECT seq FROM notify_decision_users WHERE user_id = :user_id
  UNION ALL SELECT seq FROM notify_decisions
   WHERE seq > coalesce((SELECT CAST(value AS INTEGER) FROM settings WHERE key = '${WATERMARK_KEY}'), 0) AND user_id = :user_id)`;

export interface DecisionUserIndex {
  /** Indexes every decision committed so far. */
  flush(): Promise<void>;
  /** Stops the timer and waits for a round in progress (which then ends early: the next start redoes it). */
  stop(): Promise<void>;
}

const EVERY_MS = 2000;
/** Decisions read (and sorted) per round. */
const ROUND_ROWS = 50_000;
/** Index rows per statement (each its own transaction, a turn of the event loop between). */
const CHUNK_ROWS = 250;

const turn = () => new Promise<void>((resolve) => setImmediate(resolve));

export function startDecisionUserIndex(db: SqliteDb): DecisionUserIndex {
  let stopped = false;
  let running: Promise<void> | null = null;

  const watermark = () => Number(db.get('SELECT value FROM settings WHERE key = ?', [WATERMARK_KEY])?.value ?? 0);

  async function round(): Promise<boolean> {
    const from = watermark();
    const top = Number(db.get('SELECT max(seq) AS top FROM notify_decisions')?.top ?? 0);
    const to = Math.min(top, from + ROUND_ROWS);
    if (to <= from) return false;
    // Every seq up to `to` is committed: seqs are handed out under the write lock, in commit order. Reading and
    // sorting a round takes ~15 ms per 30,000 decisions: the background thread does it when there is one.
    const seqs = await db.numbersAside('SELECT seq FROM notify_decisions WHERE seq > ? AND seq <= ? ORDER BY user_id', [from, to], to - from);
    for (let i = 0; i < seqs.length; i += CHUNK_ROWS) {
      if (stopped) return false;
      const chunk = JSON.stringify(Array.prototype.slice.call(seqs, i, i + CHUNK_ROWS));
      // Read back from the table, so a decision deleted (with its user) meanwhile is not indexed again.
      db.run(
        'INSERT OR IGNORE INTO notify_decision_users (user_id, seq) SELECT user_id, seq FROM notify_decisions WHERE seq IN (SELECT value FROM json_each(?))',
        [chunk],
      );
      await turn();
    }
    db.run(
      `INSERT INTO settings (key, value) VALUES (?, ?)
       ON CONFLICT (key) DO UPDATE SET value = excluded.value WHERE CAST(settings.value AS INTEGER) < CAST(excluded.value AS INTEGER)`,
      [WATERMARK_KEY, String(to)],
    );
    return to < top;
  }

  function flush(): Promise<void> {
    // A round under way may have looked before the caller's last commit: run again after it.
    if (running) return running.then(flush, flush);
    running = (async () => {
      try {
        while (!stopped && (await round())) await turn();
      } finally {
        running = null;
      }
    })();
    return running;
  }

  const timer = setInterval(() => void (running ?? flush().catch(() => {})), EVERY_MS);
  timer.unref();
  return {
    flush,
    async stop() {
      stopped = true;
      clearInterval(timer);
      await running?.catch(() => {});
    },
  };
}
