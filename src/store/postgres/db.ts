// A thin layer over a pg Pool: queries returning rows or counts, transactions on one checked-out client.
import { Client, Pool, type PoolClient } from 'pg';

export type Row = Record<string, unknown>;

/** What repos query through: the pool, or the client of an open transaction. */
export interface Sql {
  all(text: string, params?: unknown[], prepare?: string): Promise<Row[]>;
  get(text: string, params?: unknown[], prepare?: string): Promise<Row | undefined>;
  /** Runs a statement and returns how many rows it touched. */
  run(text: string, params?: unknown[], prepare?: string): Promise<number>;
}

type Queryable = Pick<PoolClient, 'query'>;

/**
 * `prepare` names a statement of fixed text that runs often (claim, finish): each connection then parses and
 * plans it once instead of on every call (planning the claim costs more than running it).
 */
function sqlOver(target: Queryable): Sql {
  const query = (text: string, values: unknown[], name?: string) => (name ? target.query({ name, text, values }) : target.query(text, values));
  return {
    async all(text, params = [], prepare) {
      return (await query(text, params, prepare)).rows as Row[];
    },
    async get(text, params = [], prepare) {
      return (await query(text, params, prepare)).rows[0] as Row | undefined;
    },
    async run(text, params = [], prepare) {
      return (await query(text, params, prepare)).rowCount ?? 0;
    },
  };
}

/** A parameter of txInOneTrip, written into the SQL as a literal. */
export type Literal = number | string | string[] | null;

function literal(client: PoolClient, value: Literal): string {
  if (value === null) return 'NULL';
  if (typeof value === 'number') {
    if (!Number.isFinite(value)) throw new Error(`not a finite number: ${value}`);
    return String(value);
  }
  if (typeof value === 'string') return client.escapeLiteral(value);
  return value.length === 0 ? `'{}'` : `ARRAY[${value.map((v) => client.escapeLiteral(v)).join(', ')}]`;
}

export interface PgDbOptions {
  connectionString: string;
  /** A validated lower-case identifier; every connection searches only this schema. */
  schema: string;
  poolSize: number;
  /**
   * false: this pool's transactions commit without waiting for their WAL flush (synchronous_commit off). Only
   * for work whose loss in a crash of the PostgreSQL server is repaired by doing it again (a delivery's
   * claim and finish: the delivery is sent again, with the same webhook-id). Default true.
   */
  synchronousCommit?: boolean;
}

export class PgDb implements Sql {
  readonly pool: Pool;
  readonly schema: string;
  readonly #sql: Sql;
  readonly #connection: { connectionString: string; options: string };
  /** Per connection, the SQL-prepared statements it holds (txInOneTrip). */
  readonly #prepared = new WeakMap<PoolClient, Set<string>>();

  constructor(options: PgDbOptions) {
    if (!/^[a-z_][a-z0-9_]*$/.test(options.schema)) throw new Error(`invalid PostgreSQL schema name: ${options.schema}`);
    this.schema = options.schema;
    this.#connection = {
      connectionString: options.connectionString,
      // jit=off: this is short OLTP work, where compiling a plan costs more than it saves (hundreds of ms).
      options: `-c search_path=${options.schema} -c jit=off${options.synchronousCommit === false ? ' -c synchronous_commit=off' : ''}`,
    };
    this.pool = new Pool({ ...this.#connection, max: options.poolSize });
    // An idle client that loses its connection emits 'error' on the pool; without a listener that would
    // crash the process. The pool drops that client and the next query opens a fresh one.
    this.pool.on('error', () => {});
    this.#sql = sqlOver(this.pool);
  }

  all(text: string, params?: unknown[], prepare?: string): Promise<Row[]> {
    return this.#sql.all(text, params, prepare);
  }

  get(text: string, params?: unknown[], prepare?: string): Promise<Row | undefined> {
    return this.#sql.get(text, params, prepare);
  }

  run(text: string, params?: unknown[], prepare?: string): Promise<number> {
    return this.#sql.run(text, params, prepare);
  }

  /**
   * Runs fn in one transaction on one client: COMMIT when it resolves, ROLLBACK when it throws. `begin` is
   * parameterless SQL sent with BEGIN in the same round trip (locks, SET LOCAL).
   */
  async tx<T>(fn: (sql: Sql) => Promise<T>, begin?: string): Promise<T> {
    const { client, release } = await this.checkout();
    let broken: Error | undefined;
    try {
      await client.query(begin ? `BEGIN; ${begin}` : 'BEGIN');
      const result = await fn(sqlOver(client));
      await client.query('COMMIT');
      return result;
    } catch (error) {
      await client.query('ROLLBACK').catch((rollbackError: Error) => {
        broken = rollbackError;
      });
      throw error;
    } finally {
      // A client whose ROLLBACK failed is in an unknown state: destroy it rather than reuse it.
      release(broken);
    }
  }

  /**
   * tx, run again (three tries in all) when PostgreSQL aborted it to break a deadlock (40P01): rolled back, it stored
   * nothing. Storing a conversation's first messages in several processes at once locks the user's identities and the
   * conversation's row in opposite orders (one links the person first, another holds the row of a turn). fn must be
   * safe to run again.
   */
  async txRetryingDeadlock<T>(fn: (sql: Sql) => Promise<T>): Promise<T> {
    for (let tries = 1; ; tries++) {
      try {
        return await this.tx(fn);
      } catch (error) {
        if (tries >= 3 || (error as { code?: string }).code !== '40P01') throw error;
      }
    }
  }

  /**
   * One transaction in one round trip, for the hottest one (the delivery claim), where under load each round trip
   * waits for a turn of a busy event loop (BEGIN and COMMIT were half a claim's time): BEGIN, `begin`
   * (parameterless SQL: locks, SET LOCAL), the SQL-prepared statement `name` run with `params` as escaped
   * literals, COMMIT, sent as one simple query. Each connection prepares the statement on its first use.
   * Returns the statement's rows. A failure destroys the connection (its transaction and prepared state unknown).
   */
  async txInOneTrip(statement: { name: string; text: string; types: string[] }, params: Literal[], begin: string): Promise<Row[]> {
    const { client, release } = await this.checkout();
    let broken: Error | undefined;
    try {
      let prepared = this.#prepared.get(client);
      if (!prepared) this.#prepared.set(client, (prepared = new Set<string>()));
      const prepare = prepared.has(statement.name) ? '' : `PREPARE ${statement.name}(${statement.types.join(', ')}) AS ${statement.text}\n;\n`;
      const execute = `EXECUTE ${statement.name}(${params.map((p) => literal(client, p)).join(', ')})`;
      const results = (await client.query(`${prepare}BEGIN; ${begin}; ${execute}; COMMIT`)) as unknown as { rows: Row[] }[];
      prepared.add(statement.name);
      return results[results.length - 2].rows;
    } catch (error) {
      broken = error as Error;
      throw error;
    } finally {
      release(broken);
    }
  }

  /**
   * A client of its own (a transaction, a session lock). Its connection may drop while it is checked out (a
   * database restart, a failover): the pool listens only to idle clients, and an 'error' nobody listens to
   * would crash the process. Here it is caught: the query in flight fails, and the client is destroyed on release.
   */
  async checkout(): Promise<{ client: PoolClient; release: (broken?: Error) => void }> {
    const client = await this.pool.connect();
    let lost: Error | undefined;
    const onError = (error: Error) => {
      lost = error;
    };
    client.on('error', onError);
    return {
      client,
      release: (broken?: Error) => {
        client.off('error', onError);
        client.release(broken ?? lost);
      },
    };
  }

  /**
   * A connection outside the pool (not yet connected), for a session lock held for the process's whole life: a
   * pooled one would go back to the pool and serve others. TCP keepalives on both ends (the server's set for this
   * session): a peer that vanished without closing the connection (its host down, a network cut) is noticed in about
   * a minute rather than the system's default two hours, and the server then frees the session's locks.
   */
  dedicated(): Client {
    const keepalives = ' -c tcp_keepalives_idle=30 -c tcp_keepalives_interval=10 -c tcp_keepalives_count=3';
    return new Client({ ...this.#connection, options: this.#connection.options + keepalives, keepAlive: true, keepAliveInitialDelayMillis: 30_000 });
  }

  /** The name of an advisory lock for this schema (SQL hashes it to a key), so schemas never share locks. */
  lockName(purpose: string): string {
    return `botgate:${this.schema}:${purpose}`;
  }

  close(): Promise<void> {
    return this.pool.end();
  }
}

/** Collects positional parameters: `params.add(value)` returns its placeholder ($1, $2, …). */
export class Params {
  readonly values: unknown[] = [];

  add(value: unknown): string {
    this.values.push(value);
    return `$${this.values.length}`;
  }
}
