// A thin layer over node:sqlite: cached prepared statements and immediate-mode transactions.
import { DatabaseSync, type StatementSync, type SQLInputValue } from 'node:sqlite';
import { startBackground, type Background } from './background.ts';

export type Params = Record<string, SQLInputValue> | SQLInputValue[];
export type Row = Record<string, unknown>;

export class SqliteDb {
  readonly raw: DatabaseSync;
  readonly #statements = new Map<string, StatementSync>();
  #depth = 0;
  #background: Background | null = null;

  constructor(file: string, options: { synchronous: 'NORMAL' | 'FULL' }) {
    this.raw = new DatabaseSync(file);
    this.raw.exec('PRAGMA journal_mode = WAL');
    this.raw.exec(`PRAGMA synchronous = ${options.synchronous}`);
    this.raw.exec('PRAGMA busy_timeout = 5000');
    this.raw.exec('PRAGMA foreign_keys = OFF');
  }

  /** Starts the background thread (store/sqlite/background.ts): checkpoints move there, the writer's own threshold rises. */
  startBackground(file: string, synchronous: 'NORMAL' | 'FULL'): void {
    if (file === ':memory:' || this.#background) return;
    this.raw.exec('PRAGMA wal_autocheckpoint = 50000');
    this.#background = startBackground(file, synchronous);
  }

  /** A read-only query with a small answer, run on the background thread (here when there is none, or it is gone). */
  readAside(sql: string, params: (string | number | null)[] = []): Promise<Row[]> {
    return this.#aside((b) => b.read(sql, params), () => this.all(sql, params));
  }

  /** The first column (numbers) of a read-only query's rows, at most `max`, read on the background thread likewise. */
  numbersAside(sql: string, params: (string | number | null)[], max: number): Promise<ArrayLike<number>> {
    return this.#aside<ArrayLike<number>>((b) => b.numbers(sql, params, max), () => this.all(sql, params).map((r) => Number(Object.values(r)[0])));
  }

  async #aside<T>(there: (b: Background) => Promise<T>, here: () => T): Promise<T> {
    if (this.#background) {
      try {
        return await there(this.#background);
      } catch {
        // the thread is gone: read here
      }
    }
    return here();
  }

  #prepare(sql: string): StatementSync {
    let statement = this.#statements.get(sql);
    if (!statement) {
      statement = this.raw.prepare(sql);
      this.#statements.set(sql, statement);
    }
    return statement;
  }

  run(sql: string, params: Params = []): { changes: number } {
    const statement = this.#prepare(sql);
    const result = Array.isArray(params) ? statement.run(...params) : statement.run(params);
    return { changes: Number(result.changes) };
  }

  get(sql: string, params: Params = []): Row | undefined {
    const statement = this.#prepare(sql);
    return (Array.isArray(params) ? statement.get(...params) : statement.get(params)) as Row | undefined;
  }

  all(sql: string, params: Params = []): Row[] {
    const statement = this.#prepare(sql);
    return (Array.isArray(params) ? statement.all(...params) : statement.all(params)) as Row[];
  }

  /** Runs fn in one write transaction (nested calls join the outer one). */
  tx<T>(fn: () => T): T {
    if (this.#depth > 0) return fn();
    this.raw.exec('BEGIN IMMEDIATE');
    this.#depth++;
    try {
      const result = fn();
      this.raw.exec('COMMIT');
      return result;
    } catch (error) {
      this.raw.exec('ROLLBACK');
      throw error;
    } finally {
      this.#depth--;
    }
  }

  async close(): Promise<void> {
    await this.#background?.stop();
    this.#statements.clear();
    this.raw.close();
  }
}

/** INSERT for the given columns, with named parameters. */
export function insertSql(table: string, columns: Row): { sql: string; params: Record<string, SQLInputValue> } {
  const keys = Object.keys(columns);
  return {
    sql: `INSERT INTO ${table} (${keys.join(', ')}) VALUES (${keys.map((k) => `:${k}`).join(', ')})`,
    params: columns as Record<string, SQLInputValue>,
  };
}
