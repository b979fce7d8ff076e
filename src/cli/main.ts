// The botgate CLI (`npx botgate …`, `npm run cli -- …`): thin commands over the same services as the API.
import { readFileSync } from 'node:fs';
import { Command, CommanderError } from 'commander';
import { ConfigError } from '../config/load.ts';
import { BotgateError } from '../errors.ts';
import { MasterKeyMismatchError } from '../crypto/master-key.ts';
import { DataDirError } from '../data-dir.ts';
import { Refusal } from './context.ts';
import { registerDeliveryCommands } from './deliveries.ts';
import { registerEndpointCommands } from './endpoints.ts';
import { registerServerCommands } from './server.ts';
import { registerBotCommands } from './bots.ts';
import { registerPeopleCommands } from './people.ts';
import { registerNotifyCommands } from './notify.ts';
import { registerMasterKeyCommands } from './master-key.ts';

/** The version botgate is released as: package.json's. */
export const VERSION = (JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version: string }).version;

export function buildProgram(): Command {
  const program = new Command('botgate')
    .description('Self-hosted gateway that connects chatbots to the outside world over webhooks')
    .version(VERSION, '-V, --version', 'print the version of botgate')
    .option('-c, --config <file>', 'config file (YAML or JSON); also BOTGATE_CONFIG')
    .showHelpAfterError('(run with --help for usage)')
    .addHelpText('after', '\nExit status: 0 done; 1 failed; 2 refused: bad usage (an unknown command or option, a bad option value) or\na bad setting, or what was asked for does not exist or is not allowed.')
    .exitOverride();
  registerServerCommands(program);
  registerEndpointCommands(program);
  registerDeliveryCommands(program);
  registerBotCommands(program);
  registerPeopleCommands(program);
  registerNotifyCommands(program);
  registerMasterKeyCommands(program);
  return program;
}

export async function run(argv: string[]): Promise<number> {
  const program = buildProgram();
  try {
    await program.parseAsync(argv, { from: 'user' });
    return 0;
  } catch (error) {
    // commander has printed why. It exits 1 on bad usage; botgate exits 2 for it, as npm start does and as for a bad setting.
    if (error instanceof CommanderError) return error.exitCode === 0 ? 0 : 2;
    if (error instanceof ConfigError || error instanceof Refusal || error instanceof BotgateError || error instanceof MasterKeyMismatchError || error instanceof DataDirError) {
      const text = error instanceof ConfigError ? error.printed : `${error.message}${error instanceof BotgateError ? ` (${error.code})` : ''}`;
      process.stderr.write(`botgate: ${text}\n`);
      return 2;
    }
    process.stderr.write(`botgate: ${(error as Error).message ?? error}\n`);
    return 1;
  }
}

/** Runs the CLI as a process: `serve` keeps it alive itself; every other command exits when done. */
export async function runCli(argv: string[]): Promise<void> {
  // Output piped into `head` and the like: the reader went away, which is no failure of ours.
  process.stdout.on('error', (error: NodeJS.ErrnoException) => {
    if (error.code === 'EPIPE') process.exit(0);
    throw error;
  });
  const code = await run(argv);
  const serving = argv.includes('serve') && !argv.includes('--help') && !argv.includes('-h');
  if (!serving || code !== 0) process.exit(code || Number(process.exitCode ?? 0));
}

if (import.meta.main) await runCli(process.argv.slice(2));
