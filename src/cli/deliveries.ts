// CLI: botgate deliveries list|show|resend.
import type { Command } from 'commander';
import { BotgateError } from '../errors.ts';
import type { DeliveryStatus } from '../store/store.ts';
import { resendDelivery } from '../delivery/resend.ts';
import { attemptView, deliveryView } from '../delivery/views.ts';
import { checkWindow } from '../ranges.ts';
import { checkCursor, numberOption, parseWhen, print, printJson, printPage, printTable, withServices } from './context.ts';

interface ListOptions {
  endpoint?: string; provider?: string; status?: string; eventType?: string; message?: string;
  since?: string; until?: string; limit: number; cursor?: string; json?: boolean;
}

export function registerDeliveryCommands(program: Command): void {
  const deliveries = program.command('deliveries').description('deliveries (one message to one endpoint) and their attempts');

  deliveries
    .command('list')
    .description('list deliveries, newest first; with more than --limit, the --cursor of the next page is printed (stderr)')
    .option('--endpoint <id>', 'only to this endpoint')
    .option('--provider <name>', 'only to endpoints of this provider')
    .option('--status <status>', 'pending | sending | sent | failed')
    .option('--event-type <type>', 'only this event type')
    .option('--message <id>', 'only of this message')
    .option('--since <when>', 'created at or after (ISO time or an age such as 2h)')
    .option('--until <when>', 'created before (ISO time or an age such as 30m); after --since')
    .option('--limit <n>', 'at most n (a page)', numberOption(1, 1000, true), 50)
    .option('--cursor <id>', 'the next page: where the previous one said to go on (a delivery id)')
    .option('--json', 'print JSON')
    .action(async (options: ListOptions, command: Command) => {
      if (options.status && !['pending', 'sending', 'sent', 'failed'].includes(options.status)) command.error('error: --status must be pending, sending, sent or failed');
      checkCursor(options.cursor, 'dlv', 'a delivery id');
      await withServices(command, async ({ store, clock }) => {
        const now = clock.now();
        const since = options.since ? parseWhen(options.since, now, '--since') : undefined;
        const until = options.until ? parseWhen(options.until, now, '--until') : undefined;
        checkWindow(since, until, { since: '--since', until: '--until' });
        // One row more than shown tells whether there is a next page, as the API's lists do.
        const rows = await store.deliveries.list({
          endpointId: options.endpoint, provider: options.provider, status: options.status as DeliveryStatus | undefined, eventType: options.eventType,
          messageId: options.message, since, until,
        }, { limit: options.limit + 1, cursor: options.cursor });
        printPage(rows, options, deliveryView, ['id', 'endpoint_id', 'event_type', 'status', 'attempts', 'last_status_code', 'next_attempt_at', 'created_at'], 'deliveries list');
      });
    });

  deliveries
    .command('show <id>')
    .description('one delivery with every attempt')
    .option('--json', 'print JSON')
    .action(async (id: string, options: { json?: boolean }, command: Command) => {
      await withServices(command, async ({ store }) => {
        const delivery = await store.deliveries.get(id);
        if (!delivery) throw new BotgateError('BG_ERR_DELIVERY_NOT_FOUND', `No delivery ${id}`);
        const attempts = (await store.deliveries.attempts(id)).map(attemptView);
        if (options.json) return printJson({ ...deliveryView(delivery), attempts });
        const view = deliveryView(delivery);
        for (const [key, value] of Object.entries(view)) print(`${key.padEnd(17)} ${value ?? '-'}`);
        print('');
        printTable(attempts.map((a) => ({ ...a, response_body: a.response_body?.slice(0, 60).replace(/\s+/g, ' ') })), ['attempted_at', 'status_code', 'duration_ms', 'error_kind', 'error', 'response_body']);
      });
    });

  deliveries
    .command('resend <id>')
    .description('try a delivery again now (a sent or failed one gets a single try)')
    .action(async (id: string, _options, command: Command) => {
      await withServices(command, async (services) => {
        const result = await resendDelivery(services, id);
        print(`queued ${id}${result.oneShot ? ' (one try)' : ''}; the running gateway sends it`);
      });
    });
}
