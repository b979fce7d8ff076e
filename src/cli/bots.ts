// CLI: botgate bots validate|list|load|reload, apps create|list|rotate, channels create|list, token.
import type { Command } from 'commander';
import { appView } from '../channels/apps.ts';
import { channelView } from '../channels/channels.ts';
import { signKoreToken } from '../channels/kore-auth.ts';
import { botView } from '../conversation/bot-registry.ts';
import { formatProblems, loadBotFile } from '../conversation/bot-file.ts';
import { loadKnowledge } from '../conversation/knowledge.ts';
import { BotgateError, withFieldNames } from '../errors.ts';
import { isBlank } from '../ranges.ts';
import { numberOption, print, printJson, printTable, publicBase, secretOption, withServices } from './context.ts';

export function registerBotCommands(program: Command): void {
  const bots = program.command('bots').description('bots defined in YAML or JSON files');

  bots
    .command('validate <file>')
    .description('check a bot file; lists every problem with its path (exit 1 when there are any)')
    .action(async (file: string) => {
      const loaded = await loadBotFile(file);
      if ('problems' in loaded) {
        process.stderr.write(formatProblems(loaded.problems, file) + '\n');
        process.exitCode = 1;
        return;
      }
      const bot = loaded.bot;
      // Its pages are read as loading reads them, so a page loading refuses (outside the bot's folder, unreadable) is
      // not called valid here first.
      let pages: number;
      try {
        pages = (await loadKnowledge(file, bot.knowledge)).length;
      } catch (error) {
        if (!(error instanceof BotgateError)) throw error;
        process.stderr.write(error.message + '\n');
        process.exitCode = 1;
        return;
      }
      print(`${file}: bot ${bot.id} ("${bot.name}") is valid: ${Object.keys(bot.intents).length} intents, ${Object.keys(bot.flows).length} states, ${bot.webhooks.length} webhooks, ${pages} knowledge page${pages === 1 ? '' : 's'}`);
    });

  bots
    .command('list')
    .description('loaded bots')
    .option('--json', 'print JSON')
    .action(async (options: { json?: boolean }, command: Command) => {
      await withServices(command, async ({ bots: registry }) => {
        const rows = (await registry.list()).map(botView);
        if (options.json) printJson(rows);
        else printTable(rows, ['id', 'name', 'version', 'states', 'knowledge_pages', 'source']);
      });
    });

  bots
    .command('load <file>')
    .description('load a bot file (a new bot, or a new version of one)')
    .action(async (file: string, _options, command: Command) => {
      await withServices(command, async ({ bots: registry }) => {
        const record = await registry.load(file, { requireEndpoints: true });
        print(record.unchanged ? `${record.id} is unchanged: it stays at version ${record.version} (${record.source})` : `loaded ${record.id} version ${record.version} from ${record.source}`);
      });
    });

  bots
    .command('reload [id]')
    .description('read a bot\'s file again (every bot when no id, each tried: a broken file is reported, exit 2 as for one bot): the running gateway serves the new version within seconds')
    .action(async (id: string | undefined, _options, command: Command) => {
      await withServices(command, async ({ bots: registry }) => {
        if (id) {
          const record = await registry.reload(id, { requireEndpoints: true });
          return print(`reloaded ${record.id}: version ${record.version}`);
        }
        // Every bot is tried: one broken file does not keep the others at their old version.
        for (const { id: botId } of await registry.list()) {
          try {
            const record = await registry.reload(botId, { requireEndpoints: true });
            print(`reloaded ${record.id}: version ${record.version}`);
          } catch (error) {
            // As `bots reload ID` exits: 2 for a file refused (BG_ERR_…), 1 for a failure; the worst of them.
            const refused = error instanceof BotgateError;
            process.stderr.write(`not reloaded ${botId}: ${(error as Error).message}${refused ? ` (${error.code})` : ''}\n`);
            process.exitCode = Math.max(Number(process.exitCode ?? 0), refused ? 2 : 1);
          }
        }
      });
    });

  const apps = program.command('apps').description('client ids and secrets Kore.ai integrations sign their JWTs with');
  apps
    .command('create <name>')
    .description('create an app; prints its client secret once')
    .action(async (name: string, _options, command: Command) => {
      await withServices(command, async ({ apps: service }) => {
        const { app, secret } = await service.create({ name });
        print(`client id:     ${app.id}`);
        print(`client secret: ${secret}   (shown this once)`);
      });
    });
  apps
    .command('list')
    .description('list apps (never their secrets)')
    .action(async (_options, command: Command) => {
      await withServices(command, async ({ store }) => printTable((await store.apps.list({ limit: 1000 })).map(appView), ['client_id', 'name', 'created_at']));
    });
  apps
    .command('rotate <clientId>')
    .description('replace an app\'s client secret; prints the new one once')
    .action(async (clientId: string, _options, command: Command) => {
      await withServices(command, async ({ apps: service }) => {
        const { secret } = await service.rotateSecret(clientId);
        print(`new client secret: ${secret}   (shown this once)`);
      });
    });

  const channels = program.command('channels').description('a bot\'s inbound connections (Kore.ai webhook channels)');
  const create = channels
    .command('create <botId>')
    .description('add a Kore.ai webhook channel to a bot')
    .requiredOption('--app <clientId>', 'the app whose secret signs the JWTs (required)')
    .option('--mode <mode>', 'sync or async', 'sync')
    .option('--post-url <url>', 'async: where replies go (Kore.ai\'s POST_URL)');
  secretOption(create, '--access-token <token>', 'async: sent as Authorization: Bearer to POST_URL')
    .option('--name <name>', 'a name')
    .option('--public-url <url>', 'the gateway\'s public URL, to print the channel\'s address (default: public_url, else http://host:port of the config)')
    .action(async (botId: string, options: { app: string; mode: string; postUrl?: string; accessToken?: string; accessTokenEnv?: string; name?: string; publicUrl?: string }, command: Command) => {
      if (options.mode !== 'sync' && options.mode !== 'async') command.error('error: --mode must be sync or async');
      await withServices(command, async ({ channels: service, config }) => {
        const { channel, secret } = await withFieldNames({ app_id: '--app', post_url: '--post-url', access_token: '--access-token' }, () => service.create(botId, {
          mode: options.mode as 'sync' | 'async', app_id: options.app, post_url: options.postUrl, access_token: options.accessToken ?? options.accessTokenEnv, name: options.name,
        }));
        const first = (await service.forBot(botId))[0]?.id === channel.id;
        print(`channel ${channel.id} answers at ${channelView(channel, first, publicBase(config, options.publicUrl)).url}`);
        if (secret) print(`deliveries to POST_URL are signed with (shown this once): ${secret}`);
      });
    });
  channels
    .command('list <botId>')
    .description('a bot\'s channels, oldest first')
    .option('--public-url <url>', 'the gateway\'s public URL (default: public_url, else http://host:port of the config)')
    .action(async (botId: string, options: { publicUrl?: string }, command: Command) => {
      await withServices(command, async ({ bots: registry, channels: service, config }) => {
        await registry.get(botId); // an unknown bot is refused (exit 2), as GET /api/bots/{id}/channels answers 404
        const rows = (await service.forBot(botId)).map((c, i) => channelView(c, i === 0, publicBase(config, options.publicUrl)));
        printTable(rows, ['id', 'mode', 'app_id', 'url']);
      });
    });

  program
    .command('token')
    .description('print a fresh JWT for an app, as a Kore.ai integration signs it (for testing clients)')
    .requiredOption('--app <clientId>', 'the app (required)')
    .requiredOption('--sub <user>', 'the subject, a user id (required)')
    .option('--style <style>', 'appId ({appId, sub}) or iss ({iss, aud, sub, isAnonymous})', 'appId')
    .option('--ttl <seconds>', 'lifetime', numberOption(1, 31_536_000, true), 86_400)
    .option('--user-identity <id>', 'add userIdentity (must then equal from.id)')
    .action(async (options: { app: string; sub: string; style: string; ttl: number; userIdentity?: string }, command: Command) => {
      if (options.style !== 'appId' && options.style !== 'iss') command.error('error: --style must be appId or iss');
      if (isBlank(options.sub)) command.error('error: --sub must not be blank');
      if (options.userIdentity !== undefined && isBlank(options.userIdentity)) command.error('error: --user-identity must not be blank');
      await withServices(command, async ({ apps: service, clock }) => {
        const key = await service.signingKey(options.app);
        if (!key) throw new BotgateError('BG_ERR_APP_NOT_FOUND', `No app ${options.app}`);
        print(await signKoreToken(key, { clientId: options.app, sub: options.sub, style: options.style as 'appId' | 'iss', ttlSeconds: options.ttl, userIdentity: options.userIdentity }, clock.now()));
      });
    });
}
