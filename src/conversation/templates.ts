// Fills the templates of bot messages (`{{memory.x}}`, `{{user.firstName|there}}`, docs/bots.md "Messages"):
// plain lookups in the turn's values, never code, and never throws.
import type { BotMessage, TurnContext } from './bot.ts';

/** What templates may read in one turn. */
export interface TemplateValues {
  memory: Record<string, string>;
  user: TurnContext['user'];
  customData: Record<string, unknown>;
  group: TurnContext['group'];
}

export interface TemplateUse {
  /** The dotted path as written, without spaces: `user.firstName`. */
  path: string;
  fallback: string | null;
}

export const TEMPLATE_ROOTS = ['memory', 'user', 'customData', 'group'] as const;

const TEMPLATE = /\{\{([^{}]*)\}\}/g;

/** Every template in a text, in order (the validator checks their paths). */
export function templateUses(text: string): TemplateUse[] {
  return [...text.matchAll(TEMPLATE)].map((match) => parseUse(match[1]));
}

/**
 * Replaces each `{{path}}` / `{{path|fallback}}` with its value. A missing or empty value becomes the fallback,
 * or '' without one, and its path is listed in `missing` (for the log). One pass: a value that itself looks like
 * a template (a user's answer in memory) is sent as written, never expanded.
 */
export function renderText(template: string, values: TemplateValues): { text: string; missing: string[] };
/** The same over other roots (notification templates read `params`, `user` and `link`). */
export function renderText(template: string, values: Record<string, unknown>, roots: readonly string[]): { text: string; missing: string[] };
export function renderText(template: string, values: TemplateValues | Record<string, unknown>, roots: readonly string[] = TEMPLATE_ROOTS): { text: string; missing: string[] } {
  const missing: string[] = [];
  const text = template.replace(TEMPLATE, (_match, inner: string) => {
    const use = parseUse(inner);
    const value = lookup(values as Record<string, unknown>, use.path, roots);
    if (value !== null) return value;
    if (!missing.includes(use.path)) missing.push(use.path);
    return use.fallback ?? '';
  });
  return { text, missing };
}

/** Renders a message's text, quick replies and button titles and payloads (URLs are sent as written). */
export function renderMessage(message: BotMessage, values: TemplateValues): { message: BotMessage; missing: string[] } {
  const missing: string[] = [];
  const render = (text: string) => {
    const result = renderText(text, values);
    for (const path of result.missing) if (!missing.includes(path)) missing.push(path);
    return result.text;
  };
  const rendered: BotMessage = { text: render(message.text) };
  if (message.quickReplies) rendered.quickReplies = message.quickReplies.map(render);
  if (message.buttons) {
    rendered.buttons = message.buttons.map((button) =>
      'url' in button
        ? { title: render(button.title), url: button.url }
        : { title: render(button.title), payload: render(button.payload) },
    );
  }
  return { message: rendered, missing };
}

function parseUse(inner: string): TemplateUse {
  const bar = inner.indexOf('|');
  const path = (bar < 0 ? inner : inner.slice(0, bar)).split('.').map((part) => part.trim()).join('.');
  return { path, fallback: bar < 0 ? null : inner.slice(bar + 1).trim() };
}

function lookup(values: Record<string, unknown>, path: string, roots: readonly string[]): string | null {
  const [root, ...keys] = path.split('.');
  if (!roots.includes(root)) return null;
  let current: unknown = values[root];
  for (const key of keys) {
    // Own properties only: `{{customData.constructor}}` must not reach the prototype.
    if (typeof current !== 'object' || current === null || !Object.hasOwn(current, key)) return null;
    current = (current as Record<string, unknown>)[key];
  }
  return show(current);
}

function show(value: unknown): string | null {
  if (typeof value === 'string') return value.trim() === '' ? null : value;
  if (typeof value === 'number' || typeof value === 'boolean' || typeof value === 'bigint') return String(value);
  if (typeof value !== 'object' || value === null) return null;
  // An empty list or object is an empty value, like '': the fallback (docs/bots.md), never `[]` or `{}`.
  if (Array.isArray(value) ? value.length === 0 : Object.keys(value).length === 0) return null;
  try {
    return JSON.stringify(value) ?? null;
  } catch {
    return null; // a cycle or a bigint inside: treated as missing rather than failing the turn
  }
}
