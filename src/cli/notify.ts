// CLI: botgate users show|export|delete, producer-keys add|list|delete — the people notifications are decided
// for and the keys producers send events with. A key is printed once, on stdout.
import { closeSync, fchmodSync, openSync, writeFileSync } from 'node:fs';
import type { Command } from 'commander';
import { BotgateError } from '../errors.ts';
import { exportUser, showUser } from '../http/routes/users.ts';
import { print, printJson, printTable, withServices } from './context.ts';

export function registerNotifyCommands(program: Command): void {
  const users = program.command('users').description('users: time zone, preferences, identities, and everything stored about them (docs/notifications.md)');

  users
    .command('show <id>')
    .description('a user as JSON: time zone, preferences, linked identities')
    .action(async (id: string, _options, command: Command) => {
      await withServices(command, async ({ store }) => printJson(await showUser(store, id)));
    });

  users
    .command('export <id>')
    .description('everything stored about a user as JSON (conversations, messages, decisions, notifications, engagement, handoffs)')
    .option('--out <file>', 'write to this file instead of stdout')
    .action(async (id: string, options: { out?: string }, command: Command) => {
      await withServices(command, async (services) => {
        const json = JSON.stringify(await exportUser(services, id), null, 2) + '\n';
        if (options.out) {
          // The mode of writeFileSync applies only to a file it creates: one already there keeps its own (often 0644).
          // Emptied by the open, made the owner's only, then written.
          const fd = openSync(options.out, 'w', 0o600);
          try {
            fchmodSync(fd, 0o600);
            writeFileSync(fd, json);
          } finally {
            closeSync(fd);
          }
          print(`user ${id} exported to ${options.out}`);
        } else {
          process.stdout.write(json);
        }
      });
    });

  users
    .command('delete <id>')
    .description('delete a user and everything stored about them; needs --yes')
    .option('--yes', 'really delete (it cannot be undone)')
    .action(async (id: string, options: { yes?: boolean }, command: Command) => {
      if (!options.yes) throw new BotgateError('BG_ERR_VALIDATION', `deleting user ${id} removes everything stored about them; add --yes to confirm`);
      await withServices(command, async ({ store }) => {
        if (!(await store.notify.deleteUser(id))) throw new BotgateError('BG_ERR_USER_NOT_FOUND', `No user ${id}`);
        print(`user ${id} deleted`);
      });
    });

  const keys = program.command('producer-keys').description('API keys producers send events with (POST /api/events; docs/notifications.md)');

  keys
    .command('add <name>')
    .description('create a producer key; prints it once')
    .action(async (name: string, _options, command: Command) => {
      await withServices(command, async ({ notify }) => {
        const created = await notify.createProducerKey(name);
        print(`producer key ${created.id} (${created.name})`);
        print(`key (shown this once): ${created.key}`);
      });
    });

  keys
    .command('list')
    .description('producer keys (never the keys themselves)')
    .option('--json', 'print JSON')
    .action(async (options: { json?: boolean }, command: Command) => {
      await withServices(command, async ({ notify }) => {
        const rows = await notify.listProducerKeys();
        if (options.json) printJson(rows);
        else printTable(rows, ['id', 'name', 'created_at']);
      });
    });

  keys
    .command('delete <id>')
    .description('revoke a producer key: a running gateway refuses it within 2 s (at once through the API)')
    .action(async (id: string, _options, command: Command) => {
      await withServices(command, async ({ notify }) => {
        if (!(await notify.deleteProducerKey(id))) throw new BotgateError('BG_ERR_PRODUCER_KEY_NOT_FOUND', `No producer key ${id}`);
        print(`producer key ${id} deleted`);
      });
    });
}
