// CLI: serve, migrate, admin-token.
import type { Command } from 'commander';
import { resetAdminToken } from '../admin-token.ts';
import { configFrom, print, Refusal, serveOptions, withServices } from './context.ts';

export function registerServerCommands(program: Command): void {
  serveOptions(program
    .command('serve')
    .description('run the gateway (what `npm start` runs, without its V8 flags: see the README, CLI)'))
    .action(async (options: { port?: number; host?: string }, command: Command) => {
      const globals = command.optsWithGlobals() as { config?: string };
      const { main } = await import('../main.ts'); // the server's dependencies load only for serve
      await main({ file: globals.config, overrides: { port: options.port, host: options.host } });
    });

  program
    .command('migrate')
    .description('apply pending store migrations (the server also does this at start)')
    .action(async (_options, command: Command) => {
      await withServices(command, async ({ migrations, config }) => {
        print(migrations.length ? `applied: ${migrations.join(', ')}` : `up to date (${config.database_url ? 'PostgreSQL' : 'SQLite'})`);
      }, { create: true });
    });

  program
    .command('admin-token')
    .description('manage the admin token')
    .command('reset')
    .description('generate a new admin token (the old one stops working within seconds); printed once')
    .action(async (_options, command: Command) => {
      const config = configFrom(command);
      // Refused (exit 2): the configured token is the only one the gateway takes, so a stored one would never be used.
      if (config.admin_token) throw new Refusal('admin_token (BOTGATE_ADMIN_TOKEN) is set in the configuration, so the gateway takes that token only; change it there');
      await withServices(command, async ({ store }) => {
        print(`new admin token (shown this once): ${await resetAdminToken(store)}`);
      });
    });
}
