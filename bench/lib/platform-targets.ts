// The platform benchmark's target: botgate's generic platform webhook (POST /api/webhook/incoming with a config's
// inbound token) under wrk; the bot answers in the response and each reply is also delivered to the receiver.
import { closeSync, openSync, readSync, statSync } from 'node:fs';
import { request } from 'undici';
import { DEMO_BOT, drained, receiverCount, settle, startCount, warmUp, withGateway, wrkNotes, wrkRun, type InboundContext, type InboundResult } from './inbound-targets.ts';
import { deadline, sleep, type Deadline } from './procs.ts';
import { cpuSeconds } from './sampler.ts';
import { writeRotatingScript } from './wrk.ts';

/** The config's rate limit for the run: the API's largest (per minute; far above what one gateway answers). */
export const RATE_LIMIT_PER_MINUTE = 10_000_000;

export interface PlatformResult extends Omit<InboundResult, 'key'> {
  key: 'platform';
  /** Deliveries to the outgoing webhook URL per request (the probe's). */
  perRequest: number;
  /** The probe's answer (the response body). */
  answer: string;
  /** What the gateway logged (warn and above) from the warm-up to the drain: the number of lines and a few of them. */
  gatewayLog: { lines: number; sample: string[] };
}

/** The generic request body around the user number N: {"user_id":"u<N>","message":…,"conversation_id":"c<N>"}. */
const bodyParts = (text: string) => ['{"user_id":"u', `","message":${JSON.stringify(text)},"conversation_id":"c`, '"}'];
export const platformBody = (text: string, n: string) => bodyParts(text).join(n);

async function platformRequest(base: string, authorization: string, text: string, n: string, dl: Deadline): Promise<{ status: number; body: string }> {
  const send = async () => {
    const res = await request(`${base}/api/webhook/incoming`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization },
      body: platformBody(text, n),
      headersTimeout: 15_000,
      bodyTimeout: 15_000,
    });
    return { status: res.statusCode, body: await res.body.text() };
  };
  return dl.race(send(), 'the probe request to /api/webhook/incoming');
}

const logSize = (file: string) => statSync(file, { throwIfNoEntry: false })?.size ?? 0;

/** The gateway's log from byte `from` on (its start-up banner is before that). */
function logFrom(file: string, from: number): string {
  const size = logSize(file);
  if (size <= from) return '';
  const buf = Buffer.alloc(size - from);
  const fd = openSync(file, 'r');
  try {
    readSync(fd, buf, 0, buf.length, from);
  } finally {
    closeSync(fd);
  }
  return buf.toString('utf8');
}

/** Lines the gateway logged (it runs at BOTGATE_LOG_LEVEL=warn: each is a warning, an error or a crash). */
function loggedLines(text: string): { lines: number; sample: string[] } {
  const lines = text.split('\n').filter((l) => l.trim());
  const distinct = new Map<string, string>();
  for (const line of lines) {
    let key = line;
    try {
      const entry = JSON.parse(line) as { msg?: string; err?: { message?: string } };
      key = `${entry.msg ?? ''}|${entry.err?.message ?? ''}`;
    } catch {
      // not JSON: the line itself
    }
    if (!distinct.has(key)) distinct.set(key, line.length > 400 ? `${line.slice(0, 400)}…` : line);
  }
  return { lines: lines.length, sample: [...distinct.values()].slice(0, 5) };
}

/** botgate's generic platform webhook: answered with the bot's reply, which also goes to outgoing_webhook_url (the receiver). */
export async function runPlatform(ctx: InboundContext): Promise<PlatformResult> {
  const dl = deadline('platform', ctx.stepMs);
  return withGateway(ctx, 'platform', dl, async ({ gateway, rss }) => {
    const config = { name: 'bench', bot: DEMO_BOT, outgoing_webhook_url: ctx.receiverUrl, auth_token: 'x', rate_limit_per_minute: RATE_LIMIT_PER_MINUTE };
    const created = await dl.race(gateway.api<{ id?: string; inbound_token?: string }>('POST', '/api/webhook/config', config), 'POST /api/webhook/config');
    if (created.status !== 201 || !created.body.inbound_token) throw new Error(`POST /api/webhook/config answered ${created.status}: ${JSON.stringify(created.body).slice(0, 500)}`);
    const authorization = `Bearer ${created.body.inbound_token}`;

    // One probe request: the answer, and how many deliveries (one per reply) one message makes.
    await startCount(ctx, dl);
    const probe = await platformRequest(gateway.base, authorization, ctx.text, 'probe', dl);
    let answer: { success?: boolean; response?: { answer?: string; messages?: unknown[] } } = {};
    try {
      answer = JSON.parse(probe.body) as typeof answer;
    } catch {
      // checked below
    }
    if (probe.status !== 200 || answer.success !== true || !answer.response?.answer) throw new Error(`the probe request answered ${probe.status}: ${probe.body.slice(0, 500)}`);
    const until = Date.now() + 10_000;
    while ((await receiverCount(ctx, dl)).counted === 0) {
      if (Date.now() > until) throw new Error('the probe request was answered but nothing reached outgoing_webhook_url within 10 s');
      await sleep(50);
    }
    const probed = await settle(ctx, 1000, dl);
    const perRequest = probed.counted;
    const replies = answer.response.messages?.length ?? 0;
    ctx.progress(`config ${created.body.id}; "${ctx.text}" → ${probe.body}`);
    ctx.progress(`${replies} replies in the answer, ${perRequest} deliveries to outgoing_webhook_url`);

    const users = ctx.users;
    const file = writeRotatingScript(ctx.scriptDir, {
      path: '/api/webhook/incoming',
      authorization,
      users,
      bodyParts: bodyParts(ctx.text),
    }, 'platform', `generic platform webhook requests from ${users} rotating users`);

    // What the gateway logs from here on (the banner and the set-up are behind) is reported.
    const logStart = logSize(gateway.logFile);
    await startCount(ctx, dl);
    const warm = await warmUp(ctx, gateway.base, file, dl);
    if (warm) await drained(ctx, warm.ok2xx * perRequest, 'platform warm-up');
    await settle(ctx, 500, dl);
    await startCount(ctx, dl);
    const cpu0 = cpuSeconds(gateway.pid);
    const w = await wrkRun(ctx, gateway.base, file, ctx.durationS, dl);
    const cpu = cpuSeconds(gateway.pid) - cpu0;
    const expected = w.ok2xx * perRequest;
    ctx.progress(`answered ${w.ok2xx} with 2xx in ${(w.durationMs / 1000).toFixed(1)} s; waiting for ${expected} deliveries`);
    const reachedAt = await drained(ctx, expected, 'platform');
    const stats = await receiverCount(ctx, dl);
    const notes = [...wrkNotes(w), `${replies} replies per answer, ${perRequest} deliveries per request; e2e counts ${expected}`];
    if (stats.duplicates > 0) notes.push(`${stats.duplicates} duplicate deliveries (same webhook-id)`);
    if (stats.counted > expected) notes.push(`${stats.counted - expected} more deliveries than counted answers arrived by the end (requests still in flight when wrk stopped: answered and delivered, not counted by wrk)`);
    const gatewayLog = loggedLines(logFrom(gateway.logFile, logStart));
    return {
      key: 'platform', label: 'botgate platform webhook (SQLite)', wrk: w, e2eRate: (w.ok2xx * 1000) / (reachedAt - w.startedAt),
      drainMs: Math.max(0, reachedAt - w.finishedAt), peakRssMb: rss.peakMb(), cpuPct: (100 * cpu * 1000) / w.durationMs, notes,
      perRequest, answer: probe.body, gatewayLog,
    };
  });
}
