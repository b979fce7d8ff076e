// The PostgreSQL backend's connections: a transaction in one round trip that fails, a connection lost in the middle,
// exclusive sections with more callers than connections, the claim's prepared statement, and which pool waits for the
// WAL flush. Skipped with its reason when PostgreSQL is not reachable (a failure when BOTGATE_TEST_REQUIRE_PG=1).
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { createPostgresStore } from '../../src/store/postgres/postgres-store.ts';
import { PgDb } from '../../src/store/postgres/db.ts';
import { endpointRecord, newId, newMessage, routeAll } from '../helpers/fixtures.ts';
import { freshSchema, postgresAvailability } from '../helpers/postgres.ts';

const availability = await postgresAvailability();
const skip = 'skip' in availability ? availability.skip : false;
const url = 'url' in availability ? availability.url : '';
const open = (schema: string) => createPostgresStore({ connectionString: url, schema, poolSize: 4, newId });

describe('postgres: a transaction in one round trip that fails', { skip }, () => {
  it('rolls back, drops its connection, and the next one (a fresh connection) prepares again and works', async () => {
    const { PgDb } = await import('../../src/store/postgres/db.ts');
    const { schema, drop } = await freshSchema(url);
    const db = new PgDb({ connectionString: url, schema, poolSize: 1 });
    try {
      await db.run('CREATE TABLE t (n int)');
      const insert = { name: 'test_insert', text: 'INSERT INTO t VALUES (100 / $1) RETURNING n', types: ['int'] };
      assert.deepEqual(await db.txInOneTrip(insert, [4], 'SET LOCAL statement_timeout = 5000'), [{ n: 25 }]);
      const pid = (await db.get('SELECT pg_backend_pid() AS pid'))!.pid;
      await assert.rejects(db.txInOneTrip(insert, [0], 'SET LOCAL statement_timeout = 5000'), /division by zero/);
      // Not returned to the pool inside its aborted transaction: the next query runs, on another connection.
      assert.deepEqual(await db.all('SELECT n FROM t'), [{ n: 25 }]);
      assert.notEqual((await db.get('SELECT pg_backend_pid() AS pid'))!.pid, pid);
      assert.deepEqual(await db.txInOneTrip(insert, [2], 'SET LOCAL statement_timeout = 5000'), [{ n: 50 }]);
    } finally {
      await db.close();
      await drop();
    }
  });
});

describe('postgres: a connection lost in the middle', { skip }, () => {
  it('fails the transaction it was in, keeps the process running, and the next query gets a fresh connection', async () => {
    const { PgDb } = await import('../../src/store/postgres/db.ts');
    const pg = await import('pg');
    const { schema, drop } = await freshSchema(url);
    const db = new PgDb({ connectionString: url, schema, poolSize: 2 });
    const admin = new pg.default.Client({ connectionString: url });
    await admin.connect();
    try {
      await assert.rejects(db.tx(async (sql) => {
        const { pid } = (await sql.get('SELECT pg_backend_pid() AS pid'))!;
        await admin.query('SELECT pg_terminate_backend($1)', [pid]); // a database restart, as this client sees it
        await new Promise((resolve) => setTimeout(resolve, 100)); // the client learns of it while idle in the transaction
        await sql.get('SELECT 1');
      }));
      assert.equal((await db.get('SELECT 1 AS one'))?.one, 1);
    } finally {
      await admin.end();
      await db.close();
      await drop();
    }
  });
});

describe('postgres: exclusive sections', { skip }, () => {
  it('run one after another when more callers than pool connections want one lock, and their work gets connections', { timeout: 30_000 }, async () => {
    const { schema, drop } = await freshSchema(url);
    const store = open(schema); // 4 connections
    try {
      await store.migrate();
      const order: number[] = [];
      let inside = 0;
      const runs = Array.from({ length: 12 }, (_, i) => store.exclusive('test-lock', async () => {
        inside++;
        assert.equal(inside, 1, 'one at a time');
        await store.ping(); // work on the pool while the lock is held
        await new Promise((resolve) => setTimeout(resolve, 5));
        order.push(i);
        inside--;
        return i;
      }));
      let timer: NodeJS.Timeout | undefined;
      const stuck = new Promise<never>((_, reject) => (timer = setTimeout(() => reject(new Error('the callers never finished: the pool is held by waiters')), 10_000)));
      try {
        assert.deepEqual(await Promise.race([Promise.all(runs), stuck]), Array.from({ length: 12 }, (_, i) => i));
      } finally {
        clearTimeout(timer);
      }
      assert.equal(order.length, 12);
      await store.ping();
    } finally {
      await store.close();
      await drop();
    }
  });
});

describe('postgres: the claim in one round trip', { skip }, () => {
  it('prepares its statement again on a fresh connection, and quotes in ids stay data', async () => {
    const pg = await import('pg');
    const { schema, drop } = await freshSchema(url);
    const store = createPostgresStore({ connectionString: url, schema, poolSize: 1, newId });
    const admin = new pg.default.Client({ connectionString: url });
    await admin.connect();
    try {
      await store.migrate();
      const endpoint = endpointRecord({ id: "ep_o'brien\\" });
      await store.endpoints.insert(endpoint);
      await store.messages.publish(Array.from({ length: 30 }, () => newMessage()), routeAll, { now: 1_700_000_000_000, idempotencyTtlMs: 1 });
      const workerId = "w'1\\'; DROP TABLE deliveries; --";
      const claim = (limit: number) => store.deliveries.claim({
        workerId, now: 1_700_000_000_000, leaseGraceMs: 1000, limit,
        excludeEndpointIds: ["x'); DROP TABLE deliveries; --"], endpointCaps: { [endpoint.id]: limit }, defaultEndpointCap: limit,
      });
      const first = [...(await claim(5)), ...(await claim(5))];
      assert.equal(first.length, 10);
      // The store's one connection goes away (a database restart, as it sees it). Its last query, a claim without
      // the PREPARE (the first one's text is longer than pg_stat_activity keeps), names the schema in its lock.
      const { rowCount } = await admin.query(`SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE query LIKE $1 AND pid <> pg_backend_pid()`, [`%${schema}%`]);
      assert.equal(rowCount, 1);
      await new Promise((resolve) => setTimeout(resolve, 100));
      const second = await claim(10);
      assert.equal(second.length, 10);
      assert.equal(new Set([...first, ...second].map((d) => d.id)).size, 20);
      const leased = await admin.query(`SELECT locked_by, count(*)::int AS n FROM ${schema}.deliveries WHERE status = 'sending' GROUP BY locked_by`);
      assert.deepEqual(leased.rows, [{ locked_by: workerId, n: 20 }]);
      // The quoted endpoint id reaches the exclusion list and the caps (JSON) intact.
      const base = { workerId, now: 1_700_000_000_000, leaseGraceMs: 1000, limit: 10, defaultEndpointCap: 10 };
      assert.equal((await store.deliveries.claim({ ...base, excludeEndpointIds: [endpoint.id], endpointCaps: {} })).length, 0);
      assert.equal((await store.deliveries.claim({ ...base, excludeEndpointIds: [], endpointCaps: { [endpoint.id]: 3 } })).length, 3);
    } finally {
      await admin.end();
      await store.close();
      await drop();
    }
  });
});

describe('postgres: commit modes', { skip }, () => {
  it('waits for the WAL flush on the main pool, not on the delivery worker pool', async () => {
    const { schema, drop } = await freshSchema(url);
    const main = new PgDb({ connectionString: url, schema, poolSize: 1 });
    const worker = new PgDb({ connectionString: url, schema, poolSize: 1, synchronousCommit: false });
    try {
      assert.equal((await main.get('SHOW synchronous_commit'))?.synchronous_commit, 'on');
      assert.equal((await worker.get('SHOW synchronous_commit'))?.synchronous_commit, 'off');
    } finally {
      await Promise.all([main.close(), worker.close()]);
      await drop();
    }
  });
});
