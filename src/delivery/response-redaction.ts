// Keeps the credentials a try sent out of the response body stored with its attempt: a receiver that echoes the
// request (httpbin-style debug receivers) would otherwise have botgate store and serve the endpoint's own secrets.

export const REDACTED = '[redacted]';

/** Shortest start of a credential taken out where a kept body ends in it (the body was cut at max_response_bytes). */
const MIN_CUT_CREDENTIAL = 4;

/**
 * The credentials in the value of the auth header a try sent: a Bearer or Basic credential without its scheme word
 * (a Basic one also decoded, as user:password, and its password alone), else the value whole (the `header` kind's
 * value, a kore_jwt token).
 */
export function sentCredentials(authValue: string | undefined): string[] {
  if (!authValue) return [];
  const scheme = /^(bearer|basic)\s+(\S+)$/i.exec(authValue);
  if (!scheme) return [authValue];
  const credential = scheme[2];
  if (scheme[1].toLowerCase() === 'bearer') return [credential];
  const decoded = Buffer.from(credential, 'base64').toString('utf8');
  const colon = decoded.indexOf(':');
  return colon < 0 ? [credential] : [credential, decoded, decoded.slice(colon + 1)].filter((s) => s.length > 0);
}

/**
 * The body with every occurrence of each credential replaced by REDACTED: as sent, and as a JSON echo writes it
 * (escaped; `/` as `\/` too, as PHP's json_encode does). Exact text only: nothing is searched for unless the body
 * holds it. A body that ends in the start of one (cut at the size kept) loses that end too.
 */
export function redactCredentials(body: string | null, credentials: string[]): string | null {
  if (!body || credentials.length === 0) return body;
  const forms = new Set<string>();
  for (const credential of credentials) {
    const json = JSON.stringify(credential).slice(1, -1);
    forms.add(credential).add(json).add(json.replaceAll('/', '\\/'));
  }
  // Longest first, so a credential inside another (a password inside user:password) leaves no piece of the longer.
  const ordered = [...forms].sort((a, b) => b.length - a.length);
  let out = body;
  for (const form of ordered) if (out.includes(form)) out = out.replaceAll(form, REDACTED);
  for (const form of ordered) {
    const cut = cutStart(out, form);
    if (cut > 0) out = out.slice(0, out.length - cut) + REDACTED;
  }
  return out;
}

/** How many characters at the end of text are the start of credential (at least MIN_CUT_CREDENTIAL, less than all of it); 0 when none. */
function cutStart(text: string, credential: string): number {
  if (credential.length <= MIN_CUT_CREDENTIAL) return 0;
  const head = credential.slice(0, MIN_CUT_CREDENTIAL);
  // From the earliest place such a start could begin, so the first one found is the longest.
  for (let i = text.indexOf(head, Math.max(0, text.length - credential.length + 1)); i >= 0; i = text.indexOf(head, i + 1)) {
    if (credential.startsWith(text.slice(i))) return text.length - i;
  }
  return 0;
}
