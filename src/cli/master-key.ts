// CLI: botgate master-key rotate — every stored secret sealed again under a new master key, with every gateway stopped.
import { readFileSync } from 'node:fs';
import { InvalidArgumentError, Option, type Command } from 'commander';
import { envSecret } from '../config/load.ts';
import { resealSecrets, stageKeyFile, UnsealableSecretError } from '../crypto/master-key.ts';
import { MIN_MASTER_KEY_LENGTH, parseMasterKey, SHORT_MASTER_KEY } from '../crypto/secret-box.ts';
import { acquireServerLock, ServerLockError } from '../server-lock.ts';
import { print, Refusal, withServices } from './context.ts';

const HELP = `
The current key is the one the gateway uses (BOTGATE_MASTER_KEY, master_key, or data_dir/master.key); the new
one comes from an environment variable or a file, never the command line (ps shows it): 32 bytes as base64 or hex,
or a passphrase of ${MIN_MASTER_KEY_LENGTH}+ characters. Every stored secret (endpoint signing secrets and auth, app client secrets,
async channel access tokens, platform signing secrets and Twilio tokens, the key click links are signed with) is
opened under the current key and sealed under the new one in one transaction; when one does not open, nothing changes.

Stop every gateway on the database first: on SQLite a running gateway holds the data directory and the command is
refused; on PostgreSQL it is refused while a gateway process is alive on the database. Other CLI commands under way
on the database are waited for (it says so on stderr), and what they stored is sealed again. A master key read from
data_dir/master.key is replaced there (mode 0600) once the database has changed; a configured one must then be
changed wherever a gateway or the CLI runs. Start the gateways with the new key: the old one is refused.
Tracked notification links sent before keep working: their key is one of the secrets sealed again, unchanged.`;

export function registerMasterKeyCommands(program: Command): void {
  program
    .command('master-key')
    .description('the master key stored secrets are sealed with (docs/configuration.md)')
    .command('rotate')
    .description('seal every stored secret again under a new master key, in one transaction; with every gateway stopped')
    .addOption(new Option('--new-key-env <name>', 'the environment variable holding the new key').argParser(fromEnv))
    .addOption(new Option('--new-key-file <file>', 'a file holding the new key').argParser(fromFile).conflicts('newKeyEnv'))
    .addHelpText('after', HELP)
    .action(async (options: { newKeyEnv?: string; newKeyFile?: string }, command: Command) => {
      const text = (options.newKeyEnv ?? options.newKeyFile)?.trim();
      if (text === undefined) command.error('error: give the new key with --new-key-env <name> or --new-key-file <file>', { exitCode: 2 });
      if (text.length < MIN_MASTER_KEY_LENGTH) throw new Refusal(`the new master key ${SHORT_MASTER_KEY}`);
      await withServices(command, async ({ config, store, box, masterKey }) => {
        const next = parseMasterKey(text);
        if (next.equals(masterKey.key)) throw new Refusal('the new master key is the current one: nothing to do');
        const unlock = config.database_url ? null : serverLock(config.data_dir);
        try {
          const file = masterKey.origin === 'config' ? null : masterKey.file!;
          const staged = file ? stageKeyFile(file, next) : null;
          let result: Awaited<ReturnType<typeof resealSecrets>>;
          let notReplaced: Error | undefined;
          try {
            result = await resealSecrets(store, box, next, () => {
              process.stderr.write('botgate: other botgate processes are using the master key on this database (CLI commands, a gateway starting): waiting for them to finish\n');
            }, () => {
              // Before the commands that waited go on: they read the file again.
              try {
                staged?.commit();
              } catch (error) {
                notReplaced = error as Error;
              }
            });
          } catch (error) {
            staged?.discard();
            throw error instanceof UnsealableSecretError ? new Refusal(error.message) : error;
          }
          if ('running' in result) {
            staged?.discard();
            throw new Refusal(`gateways are running on this database (worker ${result.running.join(', ')}): stop every one, then rotate; nothing was changed`);
          }
          if (notReplaced) {
            throw new Error(`the database is sealed under the new master key, but ${file} could not be replaced (${notReplaced.message}): write the new key there`);
          }
          print(`sealed ${result.resealed} stored secret(s) again under the new master key`);
          print(file
            ? `the new key is in ${file}; give it to every other process on this database (BOTGATE_MASTER_KEY), then start the gateways`
            : 'now set BOTGATE_MASTER_KEY (or master_key) to the new key wherever a gateway or the CLI runs on this database, then start the gateways');
        } finally {
          unlock?.();
        }
        // Holding the key as other commands do, the rotation would wait for itself.
      }, { holdKey: false });
    });
}

/** The server lock a gateway on this data directory holds: while one runs, rotating is refused. */
function serverLock(dataDir: string): () => void {
  try {
    return acquireServerLock(dataDir);
  } catch (error) {
    if (error instanceof ServerLockError) throw new Refusal(`${error.message}: stop it, then rotate; nothing was changed`);
    throw error;
  }
}

function fromEnv(name: string): string {
  const value = envSecret(name);
  if (value === undefined) throw new InvalidArgumentError(`the environment variable ${name} is not set`);
  return value;
}

function fromFile(file: string): string {
  try {
    return readFileSync(file, 'utf8');
  } catch (error) {
    throw new InvalidArgumentError(`cannot read it (${(error as NodeJS.ErrnoException).code ?? (error as Error).message})`);
  }
}
