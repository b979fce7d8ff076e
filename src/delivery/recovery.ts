// Recover: resend every failed delivery of an endpoint in a time window, as a resumable background job
// with progress (a job row with a lease, so a restart or another process carries it on).
import type { Clock } from '../clock.ts';
import type { Config } from '../config/schema.ts';
import { BotgateError } from '../errors.ts';
import { checkWindow } from '../ranges.ts';
import { refuseDisabled } from './endpoints.ts';
import type { IdPrefix } from '../ids.ts';
import type { JobPatch, JobRecord, Store } from '../store/store.ts';

const BATCH = 500;
const LEASE_MS = 60_000;

export type RecoveryService = ReturnType<typeof createRecoveryService>;

export function createRecoveryService(deps: { store: Store; clock: Clock; newId: (p: IdPrefix) => string; config: Config; workerId: string; onRequeued?: (endpointId: string) => void; onError?: (error: unknown) => void }) {
  const { store, clock } = deps;
  let timer: NodeJS.Timeout | undefined;
  let running: Promise<void> | null = null;
  let stopped = true;

  async function runOne(job: JobRecord): Promise<void> {
    const { endpointId, since, until } = job.params as { endpointId: string; since: number; until: number };
    let afterSeq = Number(job.progress.afterSeq ?? 0);
    let done = job.done;
    // Every write is made only while this process still holds the job: one stalled past its lease may have lost it
    // to another process, which carries it on from the progress last stored; this one then leaves it alone.
    const own = (patch: JobPatch) => store.jobs.update(job.id, patch, clock.now(), deps.workerId);
    for (;;) {
      if (stopped) {
        // Handed back with its progress: another process (or the next start) resumes it at once, not after the lease.
        await own({ status: 'queued', lockedBy: null, lockedUntil: null });
        return;
      }
      const { count, lastSeq } = await store.deliveries.requeueFailed({ endpointId, since, until, afterSeq, limit: BATCH }, clock.now());
      if (count === 0 || lastSeq === null) break;
      afterSeq = lastSeq;
      done += count;
      deps.onRequeued?.(endpointId);
      if (!(await own({ done, progress: { afterSeq }, lockedUntil: clock.now() + LEASE_MS }))) return;
    }
    await own({ status: 'done', done, lockedBy: null, lockedUntil: null });
  }

  async function tick(): Promise<void> {
    while (!stopped) { // a stopping process takes no more jobs: they would wait out a lease nobody works under
      const job = await store.jobs.claim(deps.workerId, clock.now(), clock.now() + LEASE_MS);
      if (!job) return;
      try {
        if (job.kind !== 'recover') throw new Error(`unknown job kind ${job.kind}`);
        await runOne(job);
      } catch (error) {
        deps.onError?.(error);
        await store.jobs.update(job.id, { status: 'failed', error: (error as Error).message, lockedBy: null, lockedUntil: null }, clock.now(), deps.workerId);
      }
    }
  }

  function poke() {
    if (running || stopped) return;
    running = tick().catch((error) => deps.onError?.(error)).finally(() => (running = null));
  }

  return {
    /** Starts a recover job for the failed deliveries of `endpointId` created in [since, until). */
    async recover(endpointId: string, since: number, until: number = clock.now()): Promise<JobRecord> {
      const endpoint = await store.endpoints.get(endpointId);
      if (!endpoint) throw new BotgateError('BG_ERR_ENDPOINT_NOT_FOUND', `No endpoint ${endpointId}`);
      // Like a resend: requeued through a disabled endpoint, they would wait unsent with nothing said.
      refuseDisabled(endpoint, `Endpoint ${endpointId}`);
      const maxDays = deps.config.api.max_recover_days;
      checkWindow(since, until);
      if (until - since > maxDays * 86_400_000) throw new BotgateError('BG_ERR_VALIDATION', `a recover window is at most ${maxDays} days`);
      const now = clock.now();
      const job: JobRecord = {
        id: deps.newId('job'), kind: 'recover', params: { endpointId, since, until }, progress: { afterSeq: 0 }, status: 'queued',
        total: await store.deliveries.countFailed(endpointId, since, until), done: 0, error: null,
        lockedBy: null, lockedUntil: null, createdAt: now, updatedAt: now,
      };
      await store.jobs.insert(job);
      poke();
      return job;
    },
    async get(id: string): Promise<JobRecord> {
      const job = await store.jobs.get(id);
      if (!job) throw new BotgateError('BG_ERR_JOB_NOT_FOUND', `No job ${id}`);
      return job;
    },
    start(pollMs = 2000) {
      stopped = false;
      poke();
      timer = setInterval(poke, pollMs);
      timer.unref();
    },
    async stop() {
      stopped = true;
      clearInterval(timer);
      await running;
    },
  };
}

export function jobView(job: JobRecord) {
  return {
    id: job.id,
    kind: job.kind,
    status: job.status,
    params: {
      endpoint_id: job.params.endpointId,
      since: new Date(Number(job.params.since)).toISOString(),
      until: new Date(Number(job.params.until)).toISOString(),
    },
    total: job.total,
    done: job.done,
    progress: job.total > 0 ? Math.min(1, job.done / job.total) : 1,
    error: job.error,
    created_at: new Date(job.createdAt).toISOString(),
    updated_at: new Date(job.updatedAt).toISOString(),
  };
}
