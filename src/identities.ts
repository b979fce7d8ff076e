// How identities are written: one spelling per address, so the same person is found whichever way they typed it.

/** An email as identities store it (trimmed, lower case), or null for a blank one: blank is no address (it would join everyone who sends it into one user). */
export function emailValue(raw: string): string | null {
  const value = raw.trim().toLowerCase();
  return value === '' ? null : value;
}
