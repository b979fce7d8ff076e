// When a user's answer names a choice state's option: equal to the key, ignoring case, surrounding spaces and
// trailing punctuation (docs/bots.md, "A choice state"). Shared by the engine and the bot file validator.
import { withoutTrailing } from '../text-end.ts';

const PUNCTUATION = /^[\s.,!?;:…。、\p{Pe}\p{Pf}"']$/u;

/** The comparable form of an option key or an answer: `" Yes. "` → `"yes"`. */
export function optionKey(text: string): string {
  // NFKC: "Grün" typed as u + combining diaeresis is the option "Grün", and full-width "ＹＥＳ！" (an East Asian
  // keyboard) is "yes!". Trailing punctuation that ends a sentence or closes something goes: "1)" from a "1) Confirm"
  // menu, "yes;", the ideographic full stop of "１。", "Cancel »"; not a sign that is part of a name ("C#", "50%").
  // Not /[…]+$/: that is quadratic in a chat user's run of punctuation (text-end.ts).
  return withoutTrailing(text.normalize('NFKC').trim(), (c) => PUNCTUATION.test(c)).toLowerCase();
}

/**
 * The key stored for a chosen option: its number when the option is text and exactly one numbered option leads to
 * the same state ("confirm" and "1" both to order_confirmed store "1"), so receivers reading the choice as a number
 * (Sarufi's `int(data["choice_confirmation"])`) work whichever way the user answered. When several numbers lead
 * there (a pick-one menu that moves on: 1, 2, 3 and small, medium, large), the text is the only answer that says
 * which: it is stored as written.
 */
export function storedOptionKey(options: Record<string, string>, chosen: string): string {
  if (/^\d+$/.test(chosen.trim())) return chosen;
  const twins = Object.keys(options).filter((key) => /^\d+$/.test(key.trim()) && options[key] === options[chosen]);
  return twins.length === 1 ? twins[0] : chosen;
}

/** The option key, as written in the bot file, that the answer names; null when it names none. */
export function findOption(options: Record<string, string>, answer: string): string | null {
  const wanted = optionKey(answer);
  if (wanted === '') return null;
  for (const key of Object.keys(options)) if (optionKey(key) === wanted) return key;
  return null;
}
