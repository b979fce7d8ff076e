// The one registry of coded errors (BG_ERR_*): each code has an HTTP status and a message; docs/errors.md
// documents every code (a test checks it). Surfaces render the same error in their own body shape.

export const errorCodes = {
  BG_ERR_VALIDATION: { status: 400, message: 'The request is invalid' },
  BG_ERR_INVALID_JSON: { status: 400, message: 'The body is not valid JSON' },
  BG_ERR_UNKNOWN_FIELD: { status: 400, message: 'The body has a field this route does not know' },
  BG_ERR_UNAUTHORIZED: { status: 401, message: 'Missing or invalid credentials' },
  BG_ERR_ROUTE_NOT_FOUND: { status: 404, message: 'No such route' },
  BG_ERR_METHOD_NOT_ALLOWED: { status: 405, message: 'This path does not take this method' },
  BG_ERR_ENDPOINT_NOT_FOUND: { status: 404, message: 'No such endpoint' },
  BG_ERR_MESSAGE_NOT_FOUND: { status: 404, message: 'No such message' },
  BG_ERR_DELIVERY_NOT_FOUND: { status: 404, message: 'No such delivery' },
  BG_ERR_JOB_NOT_FOUND: { status: 404, message: 'No such job' },
  BG_ERR_APP_NOT_FOUND: { status: 404, message: 'No such app' },
  BG_ERR_BOT_NOT_FOUND: { status: 404, message: 'No such bot' },
  BG_ERR_CHANNEL_NOT_FOUND: { status: 404, message: 'No such channel' },
  BG_ERR_CONVERSATION_NOT_FOUND: { status: 404, message: 'No such conversation' },
  BG_ERR_USER_NOT_FOUND: { status: 404, message: 'No such user' },
  BG_ERR_EVENT_TYPE_NOT_FOUND: { status: 404, message: 'No such event type' },
  BG_ERR_VARIANT_NOT_FOUND: { status: 404, message: 'The event type has no such template variant' },
  BG_ERR_FEED_NOT_FOUND: { status: 404, message: 'No such feed' },
  BG_ERR_PRODUCER_KEY_NOT_FOUND: { status: 404, message: 'No such producer key' },
  BG_ERR_PLATFORM_NOT_FOUND: { status: 404, message: 'No such platform config' },
  BG_ERR_PLATFORM_INACTIVE: { status: 403, message: 'The platform config is not active' },
  BG_ERR_PLATFORM_MISMATCH: { status: 400, message: 'The platform named in the body is not the one the token belongs to' },
  BG_ERR_MESSAGE_TOO_LARGE: { status: 413, message: 'The message is longer than the platform accepts' },
  BG_ERR_SIGNATURE_INVALID: { status: 401, message: 'The request signature is missing or not valid' },
  BG_ERR_ACCOUNT_MISMATCH: { status: 403, message: 'The request is for another account than the platform config\'s' },
  BG_ERR_SESSION_NOT_FOUND: { status: 404, message: 'No such handoff session' },
  BG_ERR_SESSION_CLOSED: { status: 409, message: 'The handoff session is closed' },
  BG_ERR_SESSION_TAKEN: { status: 409, message: 'Another agent has this session' },
  BG_ERR_AGENT_NOT_FOUND: { status: 404, message: 'No such agent' },
  BG_ERR_LINK_NOT_FOUND: { status: 404, message: 'No such link, or it has expired' },
  BG_ERR_BOT_INVALID: { status: 400, message: 'The bot file has problems' },
  BG_ERR_CONFLICT: { status: 409, message: 'The request conflicts with what exists' },
  BG_ERR_EVENT_TYPE_RESERVED: { status: 400, message: 'This event type is published by botgate itself' },
  BG_ERR_TOKEN_INVALID: { status: 401, message: 'The token is missing or not valid' },
  BG_ERR_DELIVERY_IN_PROGRESS: { status: 409, message: 'The delivery is being sent right now; try again in a moment' },
  BG_ERR_PAYLOAD_TOO_LARGE: { status: 413, message: 'The body is larger than this route accepts' },
  BG_ERR_BATCH_TOO_LARGE: { status: 413, message: 'The batch holds more items than allowed' },
  BG_ERR_UNSUPPORTED_MEDIA_TYPE: { status: 415, message: 'Unsupported Content-Type' },
  BG_ERR_RATE_LIMITED: { status: 429, message: 'Too many requests' },
  BG_ERR_MALFORMED_REQUEST: { status: 400, message: 'The request is not valid HTTP' },
  BG_ERR_REQUEST_TIMEOUT: { status: 408, message: 'The request did not arrive in time' },
  BG_ERR_EXPECTATION_FAILED: { status: 417, message: 'The request\'s Expect header asks for what the server cannot do' },
  BG_ERR_HEADERS_TOO_LARGE: { status: 431, message: 'The request\'s headers are larger than the server accepts' },
  BG_ERR_INTERNAL: { status: 500, message: 'Internal error' },
  BG_ERR_NOT_READY: { status: 503, message: 'The gateway is not ready' },
  BG_ERR_CONFIG_INVALID: { status: 500, message: 'The configuration is invalid' },
} as const satisfies Record<string, { status: number; message: string }>;

export type ErrorCode = keyof typeof errorCodes;

/** A failure the client caused or may see: carries a stable code; `detail` refines the message. */
export class BotgateError extends Error {
  readonly code: ErrorCode;
  readonly statusCode: number;
  readonly headers: Record<string, string>;

  constructor(code: ErrorCode, detail?: string, options?: { headers?: Record<string, string>; cause?: unknown }) {
    super(detail ?? errorCodes[code].message, { cause: options?.cause });
    this.name = 'BotgateError';
    this.code = code;
    this.statusCode = errorCodes[code].status;
    this.headers = options?.headers ?? {};
  }
}

/** A fault of the code (not of the input, the settings or the world): it keeps its stack wherever it is reported. */
export function isCodeFault(error: unknown): boolean {
  return error instanceof TypeError || error instanceof ReferenceError || error instanceof RangeError;
}

/** The body shape of botgate's own API (DESIGN.md, "Error bodies per surface"). */
export interface ApiErrorBody {
  statusCode: number;
  code: ErrorCode;
  message: string;
}

export function apiErrorBody(error: BotgateError): ApiErrorBody {
  return { statusCode: error.statusCode, code: error.code, message: error.message };
}

/**
 * Runs a service on a caller's behalf with that caller's field names in its validation errors: a channel's
 * `post_url` is the endpoint service's `url`, so "url must use http or https" becomes "post_url must use …".
 * `names` maps the service's field (a word, or a dotted path such as auth.token) to the caller's.
 */
export async function withFieldNames<T>(names: Record<string, string>, work: () => Promise<T>): Promise<T> {
  try {
    return await work();
  } catch (error) {
    if (!(error instanceof BotgateError) || error.code !== 'BG_ERR_VALIDATION') throw error;
    let message = error.message;
    for (const [from, to] of Object.entries(names)) {
      message = message.replace(new RegExp(`(^|[\\s(:])${from.replace(/\./g, '\\.')}(?![\\w.])`, 'g'), `$1${to}`);
    }
    throw message === error.message ? error : new BotgateError(error.code, message, { cause: error });
  }
}
