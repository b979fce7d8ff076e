// CLI: botgate endpoints list|create|enable|disable|test|recover.
import type { Command } from 'commander';
import { endpointView } from '../delivery/endpoints.ts';
import { jobView } from '../delivery/recovery.ts';
import { sendTestMessage } from '../delivery/test-message.ts';
import { checkCursor, numberOption, parseWhen, print, printPage, secretOption, withServices } from './context.ts';

export function registerEndpointCommands(program: Command): void {
  const endpoints = program.command('endpoints').description('outgoing webhook targets');

  endpoints
    .command('list')
    .description('list endpoints, newest first; with more than --limit, the --cursor of the next page is printed (stderr)')
    .option('--provider <name>', 'only this provider')
    .option('--limit <n>', 'at most n (a page)', numberOption(1, 1000, true), 100)
    .option('--cursor <id>', 'the next page: where the previous one said to go on (an endpoint id)')
    .option('--json', 'print JSON')
    .action(async (options: { provider?: string; limit: number; cursor?: string; json?: boolean }, command: Command) => {
      checkCursor(options.cursor, 'ep', 'an endpoint id');
      await withServices(command, async ({ store }) => {
        // One row more than shown tells whether there is a next page, as the API's lists do.
        const rows = await store.endpoints.list({ provider: options.provider }, { limit: options.limit + 1, cursor: options.cursor });
        printPage(rows, options, endpointView, ['id', 'name', 'provider', 'url', 'is_active', 'disabled_reason', 'event_types'], 'endpoints list');
      });
    });

  const create = endpoints
    .command('create')
    .description('create an endpoint; prints its signing secret once')
    .requiredOption('--name <name>', 'a name (required)')
    .requiredOption('--url <url>', 'where deliveries go (required)')
    .option('--event-type <type...>', 'event types it receives (default: all)');
  secretOption(create, '--bearer <token>', 'send Authorization: Bearer <token>')
    .option('--ordered', 'deliver FIFO per ordering key')
    .option('--timeout <seconds>', 'per-try timeout (1-300)', numberOption(1, 300))
    .action(async (options: { name: string; url: string; eventType?: string[]; bearer?: string; bearerEnv?: string; ordered?: boolean; timeout?: number }, command: Command) => {
      const bearer = options.bearer ?? options.bearerEnv;
      await withServices(command, async ({ endpoints: service }) => {
        const { endpoint, secret } = await service.create({
          name: options.name,
          url: options.url,
          event_types: options.eventType ?? null,
          auth: bearer ? { kind: 'bearer', token: bearer } : undefined,
          ordered: options.ordered,
          timeout_seconds: options.timeout,
        });
        print(`created ${endpoint.id}`);
        print(`signing secret (shown this once): ${secret}`);
      });
    });

  endpoints
    .command('enable <id>')
    .description('re-enable an endpoint; its pending deliveries resume')
    .action(async (id: string, _options, command: Command) => {
      await withServices(command, async ({ endpoints: service, outbox }) => {
        await service.enable(id);
        outbox.nudge();
        print(`enabled ${id}`);
      });
    });

  endpoints
    .command('disable <id>')
    .description('disable an endpoint; its deliveries wait')
    .action(async (id: string, _options, command: Command) => {
      await withServices(command, async ({ endpoints: service }) => {
        await service.disable(id, 'manual');
        print(`disabled ${id}`);
      });
    });

  endpoints
    .command('test <id>')
    .description('send a test message to one endpoint (the running gateway delivers it)')
    .option('--wait <seconds>', 'wait this long for the outcome', numberOption(0, 3600))
    .action(async (id: string, options: { wait?: number }, command: Command) => {
      await withServices(command, async (services) => {
        const { store } = services;
        const published = await sendTestMessage(services, id);
        const deliveryId = published.deliveryIds[0];
        print(`message ${published.message.id}, delivery ${deliveryId}`);
        if (!options.wait || !deliveryId) return;
        const until = performance.now() + options.wait * 1000;
        for (;;) {
          const d = await store.deliveries.get(deliveryId);
          const last = (await store.deliveries.attempts(deliveryId)).at(-1);
          if (d && last && d.status !== 'sending') {
            print(`${d.status}: ${last.statusCode ?? last.errorKind} in ${last.durationMs} ms${last.error ? ` (${last.error})` : ''}`);
            if (d.status !== 'sent') process.exitCode = 1;
            return;
          }
          if (performance.now() > until) {
            print('no outcome yet: is the gateway running?');
            process.exitCode = 1;
            return;
          }
          await new Promise((r) => setTimeout(r, 200));
        }
      });
    });

  endpoints
    .command('recover <id>')
    .description('resend every failed delivery of an endpoint created in a window (at most api.max_recover_days, 14 by default)')
    .requiredOption('--since <when>', 'ISO time or an age such as 6h, 3d (required)')
    .option('--until <when>', 'ISO time or an age (default: now)')
    .action(async (id: string, options: { since: string; until?: string }, command: Command) => {
      await withServices(command, async ({ recovery, clock, outbox }) => {
        const now = clock.now();
        let job = await recovery.recover(id, parseWhen(options.since, now, '--since'), options.until ? parseWhen(options.until, now, '--until') : now);
        print(`job ${job.id}: ${job.total} failed deliveries to resend`);
        recovery.start(200);
        while (job.status === 'queued' || job.status === 'running') {
          await new Promise((r) => setTimeout(r, 200));
          job = await recovery.get(job.id);
        }
        outbox.nudge();
        const view = jobView(job);
        print(`${view.status}: ${view.done}/${view.total} requeued${view.error ? ` (${view.error})` : ''}; the running gateway sends them`);
      });
    });
}
