// The loaded bots: a bot file is validated, its knowledge pages read, and both stored with a version, so every
// gateway process serves the same version; each process keeps the runtime (intent matcher, knowledge index)
// built from it and rebuilds it when the stored version moves (a reload anywhere).
import { resolve } from 'node:path';
import type { Clock } from '../clock.ts';
import { BotgateError } from '../errors.ts';
import type { BotRecord, Store } from '../store/store.ts';
import type { BotDefinition, BotRuntime } from './bot.ts';
import { formatProblems, loadBotFile } from './bot-file.ts';
import { createIntentMatcher } from './intents.ts';
import { createKnowledgeBase, knowledgeStems, loadKnowledge } from './knowledge.ts';

const CHECK_MS = 2000;

export type BotRegistry = ReturnType<typeof createBotRegistry>;

interface Cached {
  runtime: BotRuntime;
  checkedAt: number;
}

export function createBotRegistry(deps: { store: Store; clock: Clock }) {
  const { store, clock } = deps;
  const cache = new Map<string, Cached>();

  function build(record: BotRecord): BotRuntime {
    const definition = JSON.parse(record.definition) as BotDefinition;
    const pages = JSON.parse(record.knowledge) as { source: string; markdown: string }[];
    return {
      definition,
      intents: createIntentMatcher(definition.intents, knowledgeStems(pages)),
      knowledge: pages.length ? createKnowledgeBase(pages) : null,
      version: record.version,
    };
  }

  return {
    /**
     * Validates a bot file and stores it (a new bot, or a new version of one); the problems when it has any. A file
     * identical to the stored version keeps its version (`unchanged`): conversations are not moved to a copy of what
     * they run.
     */
    async load(
      file: string, options: { expectId?: string; requireEndpoints?: boolean; takenIds?: ReadonlyMap<string, string> } = {},
    ): Promise<BotRecord & { unchanged: boolean }> {
      const path = resolve(file);
      const loaded = await loadBotFile(path);
      if ('problems' in loaded) throw new BotgateError('BG_ERR_BOT_INVALID', formatProblems(loaded.problems, path));
      if (options.requireEndpoints) {
        // An event webhook to an endpoint that does not exist could never be sent: refused like an unknown state,
        // before any conversation fires it (a disabled endpoint exists: its deliveries wait for it).
        const names = new Set((await store.endpoints.list({}, { limit: 100_000 })).flatMap((e) => [e.name, e.id])); // a name or an id
        const missing = loaded.bot.webhooks.flatMap((w, i) => (names.has(w.endpoint) ? [] : [{ path: `webhooks[${i}].endpoint`, message: `no endpoint named "${w.endpoint}": create it first (POST /api/endpoints)` }]));
        if (missing.length) throw new BotgateError('BG_ERR_BOT_INVALID', formatProblems(missing, path));
      }
      if (options.expectId !== undefined && loaded.bot.id !== options.expectId) {
        throw new BotgateError('BG_ERR_BOT_INVALID', `${path} now declares bot ${loaded.bot.id}, not ${options.expectId}: load it as a new bot instead of reloading ${options.expectId}`);
      }
      // `takenIds`: bot id → the declaration that has it (config as code): a second file of one id is refused before it
      // is stored, or each start would store both files in turn as new versions.
      const taken = options.takenIds?.get(loaded.bot.id);
      if (taken !== undefined) throw new BotgateError('BG_ERR_BOT_INVALID', `${path} declares bot ${loaded.bot.id}, as ${taken} does: one file per bot`);
      const pages = await loadKnowledge(path, loaded.bot.knowledge);
      const stored = await store.bots.get(loaded.bot.id);
      if (stored && stored.source === path && stored.definition === JSON.stringify(loaded.bot) && stored.knowledge === JSON.stringify(pages)) return { ...stored, unchanged: true };
      const record = await store.bots.save(
        { id: loaded.bot.id, name: loaded.bot.name, source: path, definition: JSON.stringify(loaded.bot), knowledge: JSON.stringify(pages), updatedAt: clock.now() },
        clock.now(),
      );
      cache.delete(record.id);
      return { ...record, unchanged: false };
    },

    /** Reads a stored bot's file again. */
    async reload(botId: string, options: { requireEndpoints?: boolean } = {}): Promise<BotRecord & { unchanged: boolean }> {
      const record = await store.bots.get(botId);
      if (!record) throw new BotgateError('BG_ERR_BOT_NOT_FOUND', `No bot ${botId}`);
      return this.load(record.source, { expectId: botId, ...options });
    },

    async get(botId: string): Promise<BotRecord> {
      const record = await store.bots.get(botId);
      if (!record) throw new BotgateError('BG_ERR_BOT_NOT_FOUND', `No bot ${botId}`);
      return record;
    },

    list: () => store.bots.list(),

    /** The runtime of a bot's current version (looked up in the store at most every 2 s). */
    async runtime(botId: string): Promise<BotRuntime> {
      const now = clock.now();
      const cached = cache.get(botId);
      if (cached && now - cached.checkedAt < CHECK_MS) return cached.runtime;
      const record = await store.bots.get(botId);
      if (!record) throw new BotgateError('BG_ERR_BOT_NOT_FOUND', `No bot ${botId}`);
      const runtime = cached && cached.runtime.version === record.version ? cached.runtime : build(record);
      cache.set(botId, { runtime, checkedAt: now });
      return runtime;
    },
  };
}

export function botView(record: BotRecord) {
  const definition = JSON.parse(record.definition) as BotDefinition;
  return {
    id: record.id,
    name: record.name,
    description: definition.description,
    source: record.source,
    version: record.version,
    intents: Object.keys(definition.intents),
    states: Object.keys(definition.flows).length,
    knowledge_pages: (JSON.parse(record.knowledge) as unknown[]).length,
    created_at: new Date(record.createdAt).toISOString(),
    updated_at: new Date(record.updatedAt).toISOString(),
  };
}
