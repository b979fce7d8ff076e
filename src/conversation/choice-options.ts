// When a user's answer names a choice state's option: equal to the key, ignoring case, surrounding spaces and
// trailing punctuation (docs/bots.md, "A choice state"). Shared by the engine and the bot file validator.

/** The comparable form of an option key or an answer: `" Yes. "` → `"yes"`. */
export function optionKey(text: string): string {
  return text.trim().replace(/[.,!?]+$/, '').trim().toLowerCase();
}

/** The option key, as written in the bot file, that the answer names; null when it names none. */
export function findOption(options: Record<string, string>, answer: string): string | null {
  const wanted = optionKey(answer);
  if (wanted === '') return null;
  for (const key of Object.keys(options)) if (optionKey(key) === wanted) return key;
  return null;
}
