// CLI: botgate agents add|list|disable|enable|rotate, platforms add|list — the people who take conversations over and
// the chat platforms connected to bots. Tokens are printed once, on stdout.
import type { Command } from 'commander';
import { agentView } from '../handoff/agents.ts';
import { platformView } from '../channels/platforms.ts';
import { numberOption, print, printJson, printTable, publicBase, secretOption, withServices } from './context.ts';
import { withFieldNames } from '../errors.ts';

export function registerPeopleCommands(program: Command): void {
  const agents = program.command('agents').description('agents: people who take conversations over from the bot (docs/handoff.md)');

  agents
    .command('add <name>')
    .description('add an agent; prints its token once (the agent calls /api/agent/… with it)')
    .action(async (name: string, _options, command: Command) => {
      await withServices(command, async ({ agents: service }) => {
        const { agent, token } = await service.create(name);
        print(`agent ${agent.id} (${agent.name})`);
        print(`token (shown this once): ${token}`);
      });
    });

  agents
    .command('list')
    .description('agents (never their tokens)')
    .option('--json', 'print JSON')
    .action(async (options: { json?: boolean }, command: Command) => {
      await withServices(command, async ({ agents: service }) => {
        const rows = (await service.list({ limit: 10_000 })).map(agentView);
        if (options.json) printJson(rows);
        else printTable(rows, ['id', 'name', 'is_active', 'created_at']);
      });
    });

  agents
    .command('disable <id>')
    .description('deactivate an agent: a running gateway refuses its token within 2 s (at once through the API)')
    .action(async (id: string, _options, command: Command) => {
      await withServices(command, async ({ agents: service }) => {
        await service.update(id, { is_active: false });
        print(`agent ${id} disabled`);
      });
    });

  agents
    .command('enable <id>')
    .description('re-activate a disabled agent: a running gateway takes its token again within 2 s (at once through the API)')
    .action(async (id: string, _options, command: Command) => {
      await withServices(command, async ({ agents: service }) => {
        await service.update(id, { is_active: true });
        print(`agent ${id} enabled`);
      });
    });

  agents
    .command('rotate <id>')
    .description('issue a new token for an agent (a running gateway refuses the old one within 2 s); prints it once')
    .action(async (id: string, _options, command: Command) => {
      await withServices(command, async ({ agents: service }) => {
        print(`token (shown this once): ${(await service.rotateToken(id)).token}`);
      });
    });

  const platforms = program.command('platforms').description('chat platforms connected to bots (docs/platforms.md)');

  const add = platforms
    .command('add <name>')
    .description('connect a platform: replies go to --url; prints the inbound token and signing secret once')
    .requiredOption('--url <url>', 'the platform\'s outgoing webhook URL (required)')
    .option('--provider <provider>', 'the platform\'s name (default: the name)')
    .option('--bot <id>', 'the bot that answers (default: the only bot)');
  secretOption(add, '--auth-token <token>', 'sent to the platform as Authorization: Bearer')
    .option('--rate-limit <n>', 'requests per minute', numberOption(1, 10_000_000, true))
    .action(async (name: string, options: { url: string; provider?: string; bot?: string; authToken?: string; authTokenEnv?: string; rateLimit?: number }, command: Command) => {
      await withServices(command, async ({ platforms: service, config }) => {
        // Errors name this command's options, not the API's fields ("--url must use http or https").
        const created = await withFieldNames({ bot: '--bot', outgoing_webhook_url: '--url', auth_token: '--auth-token', rate_limit_per_minute: '--rate-limit' }, () => service.create({
          name, provider: options.provider, bot: options.bot, outgoing_webhook_url: options.url, auth_token: options.authToken ?? options.authTokenEnv, rate_limit_per_minute: options.rateLimit,
        }));
        const view = platformView(created.channel, created.endpoint, publicBase(config));
        print(`platform config ${view.id} (${view.provider}) answered by bot ${view.bot}; replies go to ${view.outgoing_webhook_url}`);
        print(`incoming: POST ${view.incoming_url} with Authorization: Bearer <inbound token>`);
        print(`inbound token (shown this once): ${created.inboundToken}`);
        if (created.signingSecret) print(`deliveries are signed with (shown this once): ${created.signingSecret}`);
      });
    });

  platforms
    .command('list')
    .description('platform configs (never their secrets)')
    .option('--json', 'print JSON')
    .action(async (options: { json?: boolean }, command: Command) => {
      await withServices(command, async ({ platforms: service, store, config }) => {
        const base = publicBase(config);
        const rows = [];
        for (const channel of await service.list()) rows.push(platformView(channel, channel.endpointId ? await store.endpoints.get(channel.endpointId) : null, base));
        if (options.json) printJson(rows);
        else printTable(rows, ['id', 'name', 'provider', 'bot', 'is_active', 'outgoing_webhook_url']);
      });
    });
}
