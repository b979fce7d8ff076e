// The gateway process: config → store → app → workers; prints where it listens; on SIGTERM/SIGINT/SIGHUP stops
// taking work, finishes in-flight deliveries up to a deadline, releases leases and exits (a second signal forces).
import { ConfigError, loadConfig, type LoadOptions } from './config/load.ts';
import type { Config } from './config/schema.ts';
import { describeStore, StoreOpenError } from './store/create-store.ts';
import { createGateway, ListenError, type Gateway } from './gateway.ts';
import { signKoreToken } from './channels/kore-auth.ts';
import { createLogger } from './logger.ts';
import { acquireServerLock, ServerLockError } from './server-lock.ts';
import { DataDirError } from './data-dir.ts';
import { BotgateError, isCodeFault } from './errors.ts';
import { DeclarationError } from './provision.ts';
import { MasterKeyMismatchError } from './crypto/master-key.ts';
import { Command, CommanderError } from 'commander';
import { serveOptions } from './cli/context.ts';
import { everyInterface } from './listen-address.ts';

/** A repeat of the first stop signal within this is the same stop (npm start forwards a terminal's Ctrl-C). */
const REPEATED_SIGNAL_MS = 1000;

export async function main(options: LoadOptions = {}): Promise<void> {
  let config: Readonly<Config>;
  try {
    config = loadConfig(options);
  } catch (error) {
    if (error instanceof ConfigError) {
      process.stderr.write(`botgate: ${error.printed}\n`);
      process.exit(2);
    }
    throw error;
  }
  const log = createLogger(config);
  let unlock = () => {};
  // Signals are handled from here on: a stop during start-up still closes what was opened and shows the secrets the
  // start generated (the admin token is generated while the store opens; a signal left to Node's default then would
  // kill the process with the token stored as a hash and never shown).
  let gateway: Gateway | undefined;
  let stopping = false;
  let firstSignal = { signal: '', at: 0 };
  // The secrets this start generated are stored already: the banner shows them, or, when the start fails or is
  // stopped before it, printGeneratedOnFailure does (once: a stop can also make the start fail).
  let secretsShown = false;
  const showSecretsOfUnfinishedStart = () => {
    if (secretsShown || !gateway) return;
    secretsShown = true;
    printGeneratedOnFailure(gateway);
  };
  const stop = (signal: string) => {
    if (stopping) {
      // Ctrl-C in a terminal reaches the gateway twice under npm start: from the terminal, and forwarded by npm at
      // once. The same signal within a second is that one stop; a later one (pressed again) forces.
      if (signal === firstSignal.signal && performance.now() - firstSignal.at < REPEATED_SIGNAL_MS) return;
      log.warn({ signal }, 'second signal: exiting now');
      unlock();
      process.exit(1);
    }
    stopping = true;
    firstSignal = { signal, at: performance.now() };
    log.info({ signal }, 'shutting down: no new work, finishing in-flight deliveries');
    if (gateway) void shutDown(gateway); // else the store is still opening: the stop follows once it is open
  };
  const shutDown = async (opened: Gateway) => {
    const force = setTimeout(() => {
      log.error('shutdown took too long: exiting');
      showSecretsOfUnfinishedStart();
      unlock();
      process.exit(1);
    }, (config.delivery.shutdown_deadline_seconds + 15) * 1000);
    force.unref();
    let code = 0;
    try {
      await opened.close();
      log.info('stopped');
    } catch (error) {
      // Said, and in the exit status: a supervisor sees the stop was not clean (leases may wait out their time).
      log.error({ err: error }, 'shutdown failed');
      code = 1;
    } finally {
      showSecretsOfUnfinishedStart();
      unlock();
      process.exit(code);
    }
  };
  process.on('SIGTERM', () => stop('SIGTERM'));
  process.on('SIGINT', () => stop('SIGINT'));
  // The terminal running the gateway was closed: a stop like any other (Node's default for SIGHUP is to die at once,
  // leaving in-flight deliveries leased and the pid file behind).
  process.on('SIGHUP', () => stop('SIGHUP'));

  try {
    if (!config.database_url) unlock = acquireServerLock(config.data_dir);
  } catch (error) {
    if (error instanceof ServerLockError || error instanceof DataDirError) {
      process.stderr.write(`botgate: ${error.message}\n`);
      process.exit(error instanceof DataDirError ? 2 : 1);
    }
    throw error;
  }
  try {
    gateway = await createGateway(config, { logger: log });
  } catch (error) {
    unlock();
    if (error instanceof MasterKeyMismatchError || error instanceof ConfigError) {
      process.stderr.write(`botgate: ${error instanceof ConfigError ? error.printed : error.message}\n`);
      process.exit(2);
    }
    throw error;
  }
  if (gateway.masterKey.origin === 'generated') {
    log.warn({ file: gateway.masterKey.file }, 'no master key configured: generated one into the data directory; back it up, or set BOTGATE_MASTER_KEY (needed to read stored secrets)');
  }
  if (gateway.migrations.length > 0) log.info({ migrations: gateway.migrations }, 'store migrated');
  if (stopping) return shutDown(gateway);

  let address: string;
  try {
    address = await gateway.listen();
    await gateway.start();
  } catch (error) {
    // The secrets generated on the way (the admin token, declared apps' and endpoints' secrets) are stored
    // already: shown now, or never.
    showSecretsOfUnfinishedStart();
    if (stopping) return; // a signal stopped the start (closing the store ended a wait for the provisioning lock): no failure
    // Nothing is left for the next start to trip over: the store closed (SQLite's WAL folded in), the lock and the
    // pid file gone.
    await gateway.close().catch((closeError: unknown) => log.warn({ err: closeError }, 'closing after a failed start'));
    unlock();
    throw error;
  }
  log.info({ address, store: describeStore(config), worker: gateway.workerId }, 'botgate started');
  // The banner comes last, in one write, and the admin token last in it: the one thing shown only once is not
  // scrolled away by what follows.
  const base = gateway.publicBase();
  const lines = [...bannerLines(base, describeStore(config), everyInterface(config.host) && !config.public_url ? config.host : null), ...(await provisionedLines(gateway, base)), ...adminTokenLines(base, gateway.generatedAdminToken)];
  secretsShown = true;
  process.stdout.write(lines.join('\n') + '\n\n');
}

/** A start that failed after generating secrets: they go to stdout (never the logger), as the banner would have. */
function printGeneratedOnFailure(gateway: Gateway): void {
  const lines: string[] = [];
  if (gateway.generatedAdminToken) lines.push('Admin token (shown this once; only its hash is stored):', `  ${gateway.generatedAdminToken}`);
  lines.push(...generatedSecretLines(gateway.provisioned));
  if (lines.length) process.stdout.write(['', 'The start did not finish, but these secrets were generated and stored (shown this once):', ...lines, ''].join('\n') + '\n');
}

function generatedSecretLines(provisioned: Gateway['provisioned']): string[] {
  const lines: string[] = [];
  for (const generated of provisioned?.generatedSecrets ?? []) {
    lines.push(`App "${generated.app}" (client id ${generated.clientId}) got a generated client secret (shown this once):`, `  ${generated.secret}`, '');
  }
  for (const generated of provisioned?.generatedSigningSecrets ?? []) {
    const what = generated.kind === 'endpoint' ? `Endpoint "${generated.name}"` : `Channel "${generated.name}" (its POST_URL deliveries)`;
    lines.push(`${what} got a generated signing secret (shown this once; the receiver checks signatures with it):`, `  ${generated.secret}`, '');
  }
  return lines;
}

/** Declared apps and endpoints given no secret, new async channels' signing secrets, and the demo channel with a ready-to-paste request (a JWT valid for 24 h). */
async function provisionedLines(gateway: Gateway, base: string): Promise<string[]> {
  const provisioned = gateway.provisioned;
  if (!provisioned) return [];
  const lines = generatedSecretLines(provisioned);
  const demo = provisioned.demo;
  if (demo) {
    const key = await gateway.apps.signingKey(demo.appId);
    const token = key ? await signKoreToken(key, { clientId: demo.appId, sub: 'demo-user', ttlSeconds: 86_400 }, gateway.clock.now()) : '<token>';
    const url = `${base}/chatbot/hooks/${demo.botId}`;
    const body = JSON.stringify({ message: { text: 'I want to order a pizza' }, from: { id: 'demo-user', userInfo: { firstName: 'Ada' } } });
    lines.push(
      `Demo bot "${demo.botName}" on a Kore.ai webhook channel (sync), app ${demo.appId}:`,
      `  POST ${url}`,
      'Talk to it (the token is valid for 24 hours; `npx botgate token --app ' + demo.appId + ' --sub demo-user` makes another):',
      `  curl -s ${url} -H 'Authorization: bearer ${token}' -H 'Content-Type: application/json' -d '${body}'`,
      '',
    );
  }
  return lines;
}

/** The start-up banner goes to stdout directly, never through the logger (it may carry a secret). */
function bannerLines(base: string, store: string, everyInterface: string | null): string[] {
  return [
    '',
    'botgate is running',
    `  API          ${base}/api`,
    `  API docs     ${base}/docs   (OpenAPI: ${base}/openapi.json)`,
    `  Health       ${base}/healthz   ${base}/readyz   ${base}/metrics`,
    `  Store        ${store}`,
    ...(everyInterface ? [`  Listening    on every interface (${everyInterface}): the URLs are this machine's; public_url sets the one to print`] : []),
    '',
  ];
}

/** The admin token generated by this start, shown this once. */
function adminTokenLines(base: string, adminToken: string | null): string[] {
  if (!adminToken) return [];
  return [
    'Admin token (shown this once; only its hash is stored — keep it, or set BOTGATE_ADMIN_TOKEN):',
    `  ${adminToken}`,
    'Try it:',
    `  curl -H "Authorization: Bearer ${adminToken}" ${base}/api/endpoints`,
  ];
}

/** main() as the process's entry point (`npm start -- [options]`): a failure to start is printed and exits 1. */
export function start(argv: string[] = process.argv.slice(2)): void {
  const options = startOptions(argv);
  main(options).catch((error) => {
    process.stderr.write(`botgate: failed to start: ${startFailure(error)}\n`);
    // A declaration of the config file that cannot be applied is a configuration problem, as a bad value is (2).
    process.exit(error instanceof DeclarationError ? 2 : 1);
  });
}

/**
 * The options after `npm start --`, as `botgate serve` takes them: --help prints them and exits 0, a bad one stops
 * start-up in a line with exit 2 (as a bad setting does), before anything is opened.
 */
function startOptions(argv: string[]): LoadOptions {
  const program = serveOptions(
    new Command('npm start --')
      .description('Runs the botgate gateway. Every setting is also a key of the config file or a BOTGATE_* environment variable (docs/configuration.md); these options win over both.')
      .option('-c, --config <file>', 'config file (YAML or JSON); also BOTGATE_CONFIG'),
  )
    .showHelpAfterError('(npm start -- --help shows the options)')
    .configureOutput({ outputError: (text, write) => write(`botgate: ${text.replace(/^error: /, '')}`) })
    .exitOverride();
  try {
    program.parse(argv, { from: 'user' });
  } catch (error) {
    if (error instanceof CommanderError) process.exit(error.exitCode === 0 ? 0 : 2); // commander has printed why
    throw error;
  }
  const given = program.opts<{ config?: string; port?: number; host?: string }>();
  return { file: given.config, overrides: { port: given.port, host: given.host } };
}

/** What went wrong, in a line where the cause is known (a port taken, a database away, a declaration); else the stack. */
function startFailure(error: unknown): string {
  const e = error as Error & { code?: string; address?: string; port?: number };
  if (e.code === 'EADDRINUSE') return `the address ${e.address ?? ''}:${e.port ?? ''} is in use (another process listens there; set BOTGATE_PORT or port)`;
  if (e.code === 'EACCES' && e.port !== undefined) return `no permission to listen on port ${e.port}`;
  if (e.cause instanceof BotgateError || e instanceof BotgateError || e instanceof ListenError || e instanceof StoreOpenError) return e.message;
  // A declaration's message says what to change; a fault of the code behind it keeps its stack.
  if (e instanceof DeclarationError) return isCodeFault(e.cause) ? `${e.message}\n${(e.cause as Error).stack}` : e.message;
  return e.stack ?? String(error);
}

if (import.meta.main) start();
