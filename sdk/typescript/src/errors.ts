/**
 * An error answered by Herald (or a call that never got an answer): the
 * HTTP status, the API's error code, its message, the offending field and
 * the request id to quote in a bug report.
 *
 * Codes (API.md): invalid_argument, unauthenticated, permission_denied,
 * not_found, resource_not_found, retention_expired, payload_too_large,
 * conflict, rate_limited, unavailable, TEMPLATE_ERROR, internal; and, from
 * the SDK itself, network_error and timeout (status 0).
 */
export class HeraldError extends Error {
  /** The HTTP status; 0 when no answer came (network error, timeout). */
  readonly status: number;
  /** The API's error code. */
  readonly code: string;
  /** The JSON path of the offending field, when the error names one. */
  readonly field?: string;
  /** The X-Request-Id of the answer. */
  readonly requestId?: string;
  /** The server's Retry-After (429, 503), in milliseconds. */
  readonly retryAfterMs?: number;
  /** The decoded answer body, when it was JSON. */
  readonly body?: unknown;

  constructor(init: {
    status: number;
    code: string;
    message: string;
    field?: string;
    requestId?: string;
    retryAfterMs?: number;
    body?: unknown;
    cause?: unknown;
  }) {
    super(init.field ? `${init.code}: ${init.field}: ${init.message}` : `${init.code}: ${init.message}`);
    this.name = 'HeraldError';
    this.status = init.status;
    this.code = init.code;
    if (init.field !== undefined) this.field = init.field;
    if (init.requestId !== undefined) this.requestId = init.requestId;
    if (init.retryAfterMs !== undefined) this.retryAfterMs = init.retryAfterMs;
    if (init.body !== undefined) this.body = init.body;
    if (init.cause !== undefined) (this as { cause?: unknown }).cause = init.cause;
  }

  /** Whether trying again later may succeed: rate limited, unavailable, or no answer. */
  get retryable(): boolean {
    return this.status === 0 || this.status === 429 || this.status === 503 || this.status >= 500;
  }
}

/** A webhook whose headers or signature do not verify. */
export class WebhookVerificationError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'WebhookVerificationError';
  }
}
