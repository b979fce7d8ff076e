// Group commit: calls that arrive while a group is being worked on are taken together in the next one (one read of
// state, one transaction), each caller getting its own share of the results back, in order. Used by the
// notification engine (events decided together) and the turns (incoming messages stored together).
import { mayHaveCommitted } from './store/commit-fate.ts';

/**
 * An output standing for an item the store refused on its own while the rest of the group was stored (PostgreSQL
 * stores a conversation another process holds in a transaction of its own): its caller gets the error.
 */
export class ItemFailed {
  readonly error: unknown;
  constructor(error: unknown) {
    this.error = error;
  }
}

export interface GroupCommitOptions<I, O> {
  /** Items per group at most (a caller's items are never split). */
  maxGroup?: number;
  /**
   * Work after a group is stored, once its callers have their answers (so it can never leave one unanswered); it
   * must not throw.
   */
  after?: (items: I[], outputs: O[]) => void;
}

export function createGroupCommit<I, O>(run: (items: I[]) => Promise<(O | ItemFailed)[]>, options: GroupCommitOptions<I, O> = {}): (items: I[]) => Promise<O[]> {
  const maxGroup = options.maxGroup ?? Infinity;
  let waiting: { items: I[]; resolve: (out: O[]) => void; reject: (error: unknown) => void }[] = [];
  let flushing = false;

  function answer(group: typeof waiting, items: I[], all: (O | ItemFailed)[]): void {
    let at = 0;
    const keptItems: I[] = [];
    const kept: O[] = [];
    for (const g of group) {
      const mine = all.slice(at, at + g.items.length);
      const failed = mine.find((o): o is ItemFailed => o instanceof ItemFailed);
      if (failed) g.reject(failed.error);
      else {
        g.resolve(mine as O[]);
        keptItems.push(...items.slice(at, at + g.items.length));
        kept.push(...(mine as O[]));
      }
      at += g.items.length;
    }
    options.after?.(keptItems, kept);
  }

  async function flush(): Promise<void> {
    while (waiting.length) {
      let size = 0;
      let count = 0;
      while (count < waiting.length && (count === 0 || size + waiting[count].items.length <= maxGroup)) size += waiting[count++].items.length;
      const group = waiting.slice(0, count);
      waiting = waiting.slice(count);
      const items = group.flatMap((g) => g.items);
      let all: (O | ItemFailed)[];
      try {
        all = await run(items);
      } catch (error) {
        // A write whose fate is unknown (the connection lost at COMMIT) is not retried: it may be stored already.
        if (group.length === 1 || mayHaveCommitted(error)) {
          for (const g of group) g.reject(error);
          continue;
        }
        // One caller's input the store refuses must not fail the others that shared its group: each tries alone.
        for (const g of group) {
          let alone: (O | ItemFailed)[];
          try {
            alone = await run(g.items);
          } catch (error) {
            g.reject(error);
            continue;
          }
          answer([g], g.items, alone);
        }
        continue;
      }
      answer(group, items, all);
    }
  }

  function start(): void {
    if (flushing) return;
    flushing = true;
    setImmediate(() => void flush().finally(() => {
      flushing = false;
      if (waiting.length) start(); // arrived after the loop's last look
    }));
  }

  return (items) => {
    if (!items.length) return Promise.resolve([]);
    return new Promise((resolve, reject) => {
      waiting.push({ items, resolve, reject });
      start();
    });
  };
}
