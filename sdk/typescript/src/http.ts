import { HeraldError } from './errors.js';
import type { IRequestOptions } from './types.js';

/** How the client talks to Herald. */
export interface HeraldOptions {
  /** Where Herald listens, e.g. http://127.0.0.1:8080. */
  baseUrl: string;
  /** An API key (`herald keys create`). */
  apiKey: string;
  /** One attempt's timeout in milliseconds (default 30000). */
  timeoutMs?: number;
  /**
   * How many times a call is tried again after a 429 or 503 (default 2),
   * honouring Retry-After, else with exponential backoff and jitter. A call
   * that got no answer is tried again only when repeating it is safe: a
   * read, or a send with a cache tag (see `idempotent`).
   */
  retries?: number;
  /** The longest wait before a retry, in milliseconds (default 30000); a longer Retry-After fails at once. */
  maxRetryDelayMs?: number;
  /** The fetch to use (default: the global fetch of Node 18+ and browsers). */
  fetch?: typeof fetch;
  /** Headers added to every request. */
  headers?: Record<string, string>;
}

export interface CallOptions extends IRequestOptions {
  query?: Record<string, unknown>;
  body?: unknown;
  /** Repeating the call after a lost answer does no harm. */
  repeatable?: boolean;
  /** Statuses answered with a body to return rather than throw. */
  accept?: number[];
}

export interface Answer<T> {
  status: number;
  data: T;
  headers: Headers;
}

const defaultTimeoutMs = 30_000;
const defaultRetries = 2;
const defaultMaxRetryDelayMs = 30_000;
const backoffBaseMs = 250;
const backoffCapMs = 8_000;

/** The HTTP core: auth, JSON, errors, timeouts and retries. */
export class Transport {
  readonly baseUrl: string;
  private readonly apiKey: string;
  private readonly timeoutMs: number;
  private readonly retries: number;
  private readonly maxRetryDelayMs: number;
  private readonly fetchImpl: typeof fetch;
  private readonly headers: Record<string, string>;

  constructor(opts: HeraldOptions) {
    if (!opts || typeof opts.baseUrl !== 'string' || !/^https?:\/\/[^/]/.test(opts.baseUrl)) {
      throw new TypeError(`Herald: baseUrl must be http(s)://host[:port], got ${JSON.stringify(opts?.baseUrl)}`);
    }
    if (typeof opts.apiKey !== 'string' || opts.apiKey === '') {
      throw new TypeError('Herald: an apiKey is required');
    }
    this.baseUrl = opts.baseUrl.replace(/\/+$/, '');
    this.apiKey = opts.apiKey;
    this.timeoutMs = positive(opts.timeoutMs, 'timeoutMs') ?? defaultTimeoutMs;
    this.retries = nonNegative(opts.retries, 'retries') ?? defaultRetries;
    this.maxRetryDelayMs = nonNegative(opts.maxRetryDelayMs, 'maxRetryDelayMs') ?? defaultMaxRetryDelayMs;
    const f = opts.fetch ?? (globalThis as { fetch?: typeof fetch }).fetch;
    if (typeof f !== 'function') {
      throw new TypeError('Herald: no fetch: use Node 18+ or a browser, or pass options.fetch');
    }
    this.fetchImpl = f;
    this.headers = { ...(opts.headers ?? {}) };
  }

  /** Sends one call, trying it again on 429 and 503 (and lost answers when repeatable). */
  async call<T>(method: string, path: string, opts: CallOptions = {}): Promise<Answer<T>> {
    const url = this.baseUrl + path + encodeQuery(opts.query);
    const headers: Record<string, string> = {
      ...this.headers,
      Authorization: `Bearer ${this.apiKey}`,
      Accept: 'application/json',
    };
    let payload: string | undefined;
    if (opts.body !== undefined) {
      payload = JSON.stringify(opts.body);
      headers['Content-Type'] = 'application/json';
    }
    const repeatable = opts.repeatable ?? (method === 'GET' || method === 'HEAD');
    for (let attempt = 0; ; attempt++) {
      let err: HeraldError;
      try {
        const answer = await this.once<T>(method, url, headers, payload, opts);
        return answer;
      } catch (e) {
        if (!(e instanceof HeraldError)) throw e;
        err = e;
      }
      const lostAnswer = err.status === 0;
      const retryStatus = err.status === 429 || err.status === 503;
      if (attempt >= this.retries || (!retryStatus && !(lostAnswer && repeatable)) || opts.signal?.aborted) {
        throw err;
      }
      let delay = backoff(attempt);
      if (err.retryAfterMs !== undefined) {
        if (err.retryAfterMs > this.maxRetryDelayMs) throw err;
        delay = err.retryAfterMs;
      }
      await sleep(Math.min(delay, this.maxRetryDelayMs), opts.signal);
    }
  }

  private async once<T>(
    method: string,
    url: string,
    headers: Record<string, string>,
    payload: string | undefined,
    opts: CallOptions,
  ): Promise<Answer<T>> {
    const ctl = new AbortController();
    const onAbort = () => ctl.abort(opts.signal?.reason);
    if (opts.signal?.aborted) throw abortError(opts.signal);
    opts.signal?.addEventListener('abort', onAbort, { once: true });
    let timedOut = false;
    const timer = setTimeout(() => {
      timedOut = true;
      ctl.abort();
    }, this.timeoutMs);
    try {
      let res: Response;
      try {
        const init: RequestInit = { method, headers, signal: ctl.signal };
        if (payload !== undefined) init.body = payload;
        res = await this.fetchImpl(url, init);
      } catch (cause) {
        if (opts.signal?.aborted) throw abortError(opts.signal);
        throw new HeraldError({
          status: 0,
          code: timedOut ? 'timeout' : 'network_error',
          message: timedOut ? `no answer within ${this.timeoutMs} ms (${method} ${url})` : `${method} ${url}: ${describe(cause)}`,
          cause,
        });
      }
      let text: string;
      try {
        text = await res.text();
      } catch (cause) {
        if (opts.signal?.aborted) throw abortError(opts.signal);
        throw new HeraldError({
          status: 0,
          code: timedOut ? 'timeout' : 'network_error',
          message: `${method} ${url}: the answer was cut off: ${describe(cause)}`,
          cause,
        });
      }
      let data: unknown = undefined;
      let json = false;
      if (text !== '') {
        try {
          data = JSON.parse(text);
          json = true;
        } catch {
          data = text;
        }
      }
      const requestId = res.headers.get('x-request-id') ?? undefined;
      if (res.ok || (json && opts.accept?.includes(res.status))) {
        if (res.ok && !json && text !== '') {
          throw new HeraldError({
            status: res.status,
            code: 'invalid_response',
            message: `${method} ${url}: the answer is not JSON`,
            ...(requestId !== undefined ? { requestId } : {}),
            body: text,
          });
        }
        return { status: res.status, data: data as T, headers: res.headers };
      }
      throw errorFrom(res, data, requestId);
    } finally {
      clearTimeout(timer);
      opts.signal?.removeEventListener('abort', onAbort);
    }
  }
}

/** Builds the HeraldError of a non-2xx answer. */
function errorFrom(res: Response, data: unknown, requestId: string | undefined): HeraldError {
  const body = data as { error?: { code?: unknown; message?: unknown; field?: unknown } } | undefined;
  const e = body && typeof body === 'object' ? body.error : undefined;
  const retryAfterMs = parseRetryAfter(res.headers.get('retry-after'));
  return new HeraldError({
    status: res.status,
    code: typeof e?.code === 'string' ? e.code : `http_${res.status}`,
    message:
      typeof e?.message === 'string'
        ? e.message
        : typeof data === 'string' && data !== ''
          ? data.slice(0, 500)
          : res.statusText || `HTTP ${res.status}`,
    ...(typeof e?.field === 'string' && e.field !== '' ? { field: e.field } : {}),
    ...(requestId !== undefined ? { requestId } : {}),
    ...(retryAfterMs !== undefined ? { retryAfterMs } : {}),
    body: data,
  });
}

/** Retry-After as milliseconds: delta-seconds or an HTTP date. */
export function parseRetryAfter(v: string | null, now = Date.now()): number | undefined {
  if (v === null) return undefined;
  const s = v.trim();
  if (/^\d+$/.test(s)) return Number(s) * 1000;
  const at = Date.parse(s);
  if (Number.isNaN(at)) return undefined;
  return Math.max(0, at - now);
}

/** Exponential backoff with full jitter: up to base * 2^attempt, capped. */
function backoff(attempt: number): number {
  const ceiling = Math.min(backoffCapMs, backoffBaseMs * 2 ** attempt);
  return ceiling / 2 + Math.random() * (ceiling / 2);
}

function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal?.aborted) return reject(abortError(signal));
    const t = setTimeout(() => {
      signal?.removeEventListener('abort', onAbort);
      resolve();
    }, ms);
    const onAbort = () => {
      clearTimeout(t);
      reject(abortError(signal!));
    };
    signal?.addEventListener('abort', onAbort, { once: true });
  });
}

function abortError(signal: AbortSignal): unknown {
  return signal.reason ?? new DOMException('The operation was aborted', 'AbortError');
}

function describe(e: unknown): string {
  if (e instanceof Error) {
    const cause = (e as { cause?: unknown }).cause;
    return cause instanceof Error ? `${e.message} (${cause.message})` : e.message;
  }
  return String(e);
}

/** The query string of a call: undefined and null are left out, Dates become ISO strings. */
export function encodeQuery(q: Record<string, unknown> | undefined): string {
  if (!q) return '';
  const p = new URLSearchParams();
  for (const [k, v] of Object.entries(q)) {
    if (v === undefined || v === null || v === '') continue;
    p.set(k, v instanceof Date ? isoDate(v, k) : String(v));
  }
  const s = p.toString();
  return s === '' ? '' : `?${s}`;
}

/** A Date, ISO string or Unix ms as the API's RFC 3339 string (strings are passed as given). */
export function isoDate(v: unknown, field: string): string {
  if (v instanceof Date) {
    if (Number.isNaN(v.getTime())) throw new TypeError(`Herald: ${field} is an invalid Date`);
    return v.toISOString();
  }
  if (typeof v === 'number') {
    const d = new Date(v);
    if (Number.isNaN(d.getTime())) throw new TypeError(`Herald: ${field} must be a finite number of Unix milliseconds`);
    return d.toISOString();
  }
  if (typeof v === 'string') return v;
  throw new TypeError(`Herald: ${field} must be a Date, an ISO string or Unix milliseconds`);
}

function positive(v: number | undefined, name: string): number | undefined {
  if (v === undefined) return undefined;
  if (typeof v !== 'number' || !(v > 0) || !Number.isFinite(v)) throw new TypeError(`Herald: ${name} must be a positive number`);
  return v;
}

function nonNegative(v: number | undefined, name: string): number | undefined {
  if (v === undefined) return undefined;
  if (typeof v !== 'number' || !(v >= 0) || !Number.isFinite(v)) throw new TypeError(`Herald: ${name} must be a number >= 0`);
  return Math.floor(v);
}
