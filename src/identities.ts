// How identities are written: one spelling per address, so the same person is found whichever way they typed it.

/**
 * An email as identities store it (trimmed, lower case), or null for one that is no address: blank would join
 * everyone who sends it into one user, and "not an email" would be an identity no message ever reaches.
 */
export function emailValue(raw: string): string | null {
  const value = raw.trim().toLowerCase();
  return /^[^\s@]+@[^\s@]+$/.test(value) ? value : null;
}

/**
 * A phone number as identities store it: without the spaces, dashes, dots and parentheses people write it with
 * ("+1 (415) 555-0100" is "+14155550100", as Twilio sends it), or null for one that is not 6 to 16 digits.
 */
export function phoneValue(raw: string): string | null {
  const value = raw.trim().replace(/[\s().-]/g, '');
  return /^\+?\d{6,16}$/.test(value) ? value : null;
}
