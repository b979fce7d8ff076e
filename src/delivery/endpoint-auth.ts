// How an endpoint authenticates to its receiver. Each kind splits its settings into a public part (shown by
// the API) and a secret part (sealed at rest, never shown again) and turns them into request headers.
// Later kinds (a JWT minted per request, …) register here.

export interface AuthContext {
  now: number;
  body: string;
}

export interface AuthKind {
  /** Validates settings from the API; throws a message naming the field when they are wrong. */
  parse(input: Record<string, unknown>): { public: Record<string, unknown>; secret: Record<string, unknown> | null };
  headers(pub: Record<string, unknown>, secret: Record<string, unknown> | null, context: AuthContext): Record<string, string> | Promise<Record<string, string>>;
}

export class AuthSettingsError extends Error {
  override name = 'AuthSettingsError';
}

function requireString(input: Record<string, unknown>, field: string): string {
  const value = input[field];
  if (typeof value !== 'string' || value.length === 0) throw new AuthSettingsError(`auth.${field} is required`);
  return value;
}

function onlyFields(input: Record<string, unknown>, allowed: string[]): void {
  for (const key of Object.keys(input)) {
    if (key !== 'kind' && !allowed.includes(key)) throw new AuthSettingsError(`auth.${key} is not a setting of auth kind ${String(input.kind)}`);
  }
}

const HEADER_NAME = /^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/;

const kinds = new Map<string, AuthKind>([
  ['none', {
    parse: (input) => (onlyFields(input, []), { public: {}, secret: null }),
    headers: () => ({}),
  }],
  ['bearer', {
    parse: (input) => (onlyFields(input, ['token']), { public: {}, secret: { token: requireString(input, 'token') } }),
    headers: (_pub, secret) => ({ authorization: `Bearer ${String(secret?.token)}` }),
  }],
  ['basic', {
    parse: (input) => {
      onlyFields(input, ['username', 'password']);
      const username = requireString(input, 'username');
      if (username.includes(':')) throw new AuthSettingsError('auth.username must not contain ":"');
      return { public: { username }, secret: { password: requireString(input, 'password') } };
    },
    headers: (pub, secret) => ({
      authorization: 'Basic ' + Buffer.from(`${String(pub.username)}:${String(secret?.password)}`).toString('base64'),
    }),
  }],
  ['header', {
    parse: (input) => {
      onlyFields(input, ['name', 'value']);
      const name = requireString(input, 'name');
      if (!HEADER_NAME.test(name)) throw new AuthSettingsError('auth.name is not a valid header name');
      return { public: { name }, secret: { value: requireString(input, 'value') } };
    },
    headers: (pub, secret) => ({ [String(pub.name).toLowerCase()]: String(secret?.value) }),
  }],
]);

export function authKind(name: string): AuthKind | undefined {
  return kinds.get(name);
}

export function authKindNames(): string[] {
  return [...kinds.keys()];
}

export function registerAuthKind(name: string, kind: AuthKind): void {
  kinds.set(name, kind);
}
