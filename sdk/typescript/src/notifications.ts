import { HeraldError } from './errors.js';
import { isoDate, type Transport } from './http.js';
import { PagePromise } from './paging.js';
import type {
  Channel,
  IAttempt,
  IAttemptPage,
  IAttemptsQuery,
  IBulkReprocessResult,
  ICallbackOptions,
  IDispatchOptions,
  IDispatchResult,
  IEmailOptions,
  IGetMessagesQuery,
  IMultiChannelNotificationResult,
  IMultiChannelOptions,
  INotificationMessageLogEntry,
  INotificationMessageLogResult,
  INotificationResult,
  IPushOptions,
  IReprocessFilters,
  IReprocessManyOptions,
  IReprocessResult,
  IRequestOptions,
  ISchedule,
  ISendResult,
  ISmsOptions,
  IUpdateStatusRequest,
} from './types.js';

const dateFields = ['start_date', 'end_date'] as const;

/** A channel's API: `herald.notifications.email.send(options)`. */
export class ChannelSender<O> {
  constructor(
    private readonly t: Transport,
    readonly channel: Channel,
  ) {}

  /**
   * Sends on this channel only. Answers once Herald has logged the message
   * as pending and queued it: `{ success, channel, messageId, status }`, with
   * `deduplicated: true` when the cache tag named an earlier send.
   */
  async send(options: O): Promise<ISendResult> {
    const { body, signal, repeatable } = sendBody(options as unknown as Record<string, unknown>);
    const { data } = await this.t.call<ISendResult>('POST', `/v1/notifications/${this.channel}/send`, {
      body,
      repeatable,
      ...(signal ? { signal } : {}),
    });
    return data;
  }
}

/** `herald.notifications`: sending, scheduling and the send log. */
export class Notifications {
  readonly email: ChannelSender<IEmailOptions>;
  readonly push: ChannelSender<IPushOptions>;
  readonly sms: ChannelSender<ISmsOptions>;
  readonly callback: ChannelSender<ICallbackOptions>;

  constructor(private readonly t: Transport) {
    this.email = new ChannelSender(t, 'email');
    this.push = new ChannelSender(t, 'push');
    this.sms = new ChannelSender(t, 'sms');
    this.callback = new ChannelSender(t, 'callback');
  }

  /**
   * Sends one event on several channels (input.push_notification, email,
   * sms, callback): one message per channel, sharing a process_id. A channel
   * that is refused does not stop the others; `success` is true when at
   * least one was accepted, and a send no channel accepted is returned with
   * `success: false` and each channel's error (not thrown).
   */
  async send(options: IMultiChannelOptions): Promise<IMultiChannelNotificationResult> {
    const { body, signal, repeatable } = sendBody(options as unknown as Record<string, unknown>);
    const answer = await this.t.call<WireMulti>('POST', '/v1/notifications/send', {
      body,
      repeatable,
      accept: [400],
      ...(signal ? { signal } : {}),
    });
    const data = answer.data;
    if (!data || typeof data !== 'object' || !data.channels || Object.keys(data.channels).length === 0) {
      // A 400 about the request as a whole (no such product, no channel) names no channel.
      const e = data?.error;
      const requestId = answer.headers.get('x-request-id');
      throw new HeraldError({
        status: answer.status,
        code: e?.code ?? 'invalid_argument',
        message: e?.message ?? 'the send was refused',
        ...(e?.field ? { field: e.field } : {}),
        ...(requestId ? { requestId } : {}),
        body: data,
      });
    }
    const channels: IMultiChannelNotificationResult['channels'] = {};
    for (const [name, r] of Object.entries(data.channels ?? {})) {
      (channels as Record<string, INotificationResult>)[name] = channelResult(r);
    }
    const out: IMultiChannelNotificationResult = { success: Boolean(data.success), channels };
    if (data.process_id) out.process_id = data.process_id;
    return out;
  }

  /**
   * Schedules sends: once (schedule.start_at), every N ms (every) or on a
   * cron expression in a time zone (cron, tz), up to limit runs or endDate.
   * Times may be Dates, ISO strings or Unix ms. Answers `{ job_id, status, next_run_at }`.
   */
  async dispatch(options: IDispatchOptions): Promise<IDispatchResult> {
    const { body, signal, repeatable } = sendBody(options as unknown as Record<string, unknown>);
    if (body.schedule && typeof body.schedule === 'object') body.schedule = scheduleBody(body.schedule as ISchedule);
    const { data } = await this.t.call<IDispatchResult>('POST', '/v1/notifications/dispatch', {
      body,
      repeatable,
      ...(signal ? { signal } : {}),
    });
    return data;
  }

  /**
   * One page of the send log, newest first: `{ items, total, page, limit,
   * hasMore, next_cursor }`. start_date and end_date may be ISO strings or
   * Dates (sent as ISO). Iterate over the answer with `for await` for every
   * matching entry across pages (by cursor).
   */
  getMessages(query: IGetMessagesQuery = {}, opts: IRequestOptions = {}): PagePromise<INotificationMessageLogResult, INotificationMessageLogEntry> {
    const q = messageQuery(query);
    const fetchPage = (extra: Record<string, unknown>) =>
      this.t
        .call<INotificationMessageLogResult>('GET', '/v1/messages', { query: { ...q, ...extra }, ...signalOf(opts) })
        .then((a) => a.data);
    return new PagePromise(
      () => fetchPage({}),
      (page) => ({
        items: page.items ?? [],
        ...(page.hasMore && page.next_cursor
          ? { next: () => fetchPage({ page: undefined, cursor: page.next_cursor }) }
          : {}),
      }),
    );
  }

  /**
   * Every entry matching the query, newest first, page after page:
   * `for await (const m of herald.notifications.messages({ status: 'failed' }))`.
   * Pages are fetched by cursor, `limit` at a time (default 200 here).
   */
  messages(query: IGetMessagesQuery = {}, opts: IRequestOptions = {}): AsyncIterable<INotificationMessageLogEntry> {
    return this.getMessages({ limit: 200, ...query }, opts);
  }

  /** One entry, its input in full; HeraldError resource_not_found (404) or retention_expired (410). */
  async getMessage(id: string, opts: IRequestOptions = {}): Promise<INotificationMessageLogEntry> {
    const { data } = await this.t.call<INotificationMessageLogEntry>('GET', `/v1/messages/${seg(id, 'id')}`, signalOf(opts));
    return data;
  }

  /**
   * The delivery attempts of a message, oldest first: await it for one page
   * (`{ data, meta: { request_id, pagination } }`), or iterate over it for every attempt.
   */
  attempts(id: string, query: IAttemptsQuery = {}, opts: IRequestOptions = {}): PagePromise<IAttemptPage, IAttempt> {
    const path = `/v1/messages/${seg(id, 'id')}/attempts`;
    const fetchPage = (after: string | undefined) =>
      this.t
        .call<IAttemptPage>('GET', path, { query: { per_page: query.per_page, after }, ...signalOf(opts) })
        .then((a) => a.data);
    return new PagePromise(
      () => fetchPage(query.after),
      (page) => {
        const items = page.data ?? [];
        const last = items[items.length - 1];
        return { items, ...(page.meta?.pagination?.has_more && last ? { next: () => fetchPage(last.id) } : {}) };
      },
    );
  }

  /** Sends a failed or sent message again with its stored input; HeraldError conflict (409) otherwise. */
  async reprocess(id: string, opts: IRequestOptions = {}): Promise<IReprocessResult> {
    const { data } = await this.t.call<IReprocessResult>('POST', `/v1/messages/${seg(id, 'id')}/reprocess`, signalOf(opts));
    return data;
  }

  /**
   * Reprocesses every failed message matching the filters (the server
   * streams through them, rate limited). `{ dryRun: true }` only counts.
   * Answers `{ matched, reprocessed }` (plus skipped and errors when any).
   */
  async reprocessMany(filters: IReprocessFilters = {}, options: IReprocessManyOptions = {}): Promise<IBulkReprocessResult> {
    const body: Record<string, unknown> = {};
    for (const [k, v] of Object.entries(filters)) {
      if (v === undefined || v === null || v === '') continue;
      body[k] = (dateFields as readonly string[]).includes(k) ? isoDate(v, k) : v;
    }
    if (options.dryRun) body.dry_run = true;
    if (options.includeStuckPending) body.include_stuck_pending = true;
    const { data } = await this.t.call<IBulkReprocessResult>('POST', '/v1/messages/reprocess', {
      body,
      ...signalOf(options),
    });
    return data;
  }

  /**
   * Changes a message's status by hand: 'reprocessing' (from failed or sent:
   * sends it again) or 'failed' (from pending or reprocessing: cancels it,
   * with an optional reason). Answers the entry afterwards; conflict (409) otherwise.
   */
  async updateStatus(
    id: string,
    status: IUpdateStatusRequest['status'],
    opts: IRequestOptions & { reason?: string } = {},
  ): Promise<INotificationMessageLogEntry> {
    const body: IUpdateStatusRequest = { status };
    if (opts.reason) body.reason = opts.reason;
    const { data } = await this.t.call<INotificationMessageLogEntry>('PATCH', `/v1/messages/${seg(id, 'id')}`, {
      body,
      ...signalOf(opts),
    });
    return data;
  }
}

interface WireChannelResult {
  success: boolean;
  channel: Channel;
  messageId?: string;
  status?: INotificationResult['status'];
  deduplicated?: boolean;
  error?: { code?: string; message?: string; field?: string };
}

interface WireMulti {
  success?: boolean;
  process_id?: string;
  channels?: Record<string, WireChannelResult>;
  error?: { code?: string; message?: string; field?: string };
}

function channelResult(r: WireChannelResult): INotificationResult {
  const out: INotificationResult = { success: Boolean(r.success), channel: r.channel };
  if (r.messageId) out.messageId = r.messageId;
  if (r.status) out.status = r.status;
  if (r.deduplicated) out.deduplicated = true;
  if (r.error) {
    if (r.error.message !== undefined) out.error = r.error.message;
    if (r.error.code) out.errorCode = r.error.code;
    if (r.error.field) out.errorField = r.error.field;
  }
  return out;
}

/** The request body of a send or dispatch: the options without the SDK's controls, with a cache tag when idempotent. */
function sendBody(options: Record<string, unknown>): { body: Record<string, unknown>; signal?: AbortSignal; repeatable: boolean } {
  if (!options || typeof options !== 'object') throw new TypeError('Herald: send options must be an object');
  const { idempotent, signal, ...body } = options as Record<string, unknown> & { idempotent?: boolean; signal?: AbortSignal };
  if (idempotent && (body.cache === undefined || body.cache === '')) body.cache = newCacheTag();
  const out: { body: Record<string, unknown>; signal?: AbortSignal; repeatable: boolean } = {
    body,
    repeatable: typeof body.cache === 'string' && body.cache !== '',
  };
  if (signal) out.signal = signal;
  return out;
}

/**
 * A fresh idempotency tag: `sdk-` and a random UUID (under the server's 256
 * characters). Node 18 has no global WebCrypto without a flag: there the tag
 * is 128 bits of Math.random, unique enough for a 24 h cache window.
 */
export function newCacheTag(): string {
  const c = (globalThis as { crypto?: { randomUUID?: () => string; getRandomValues?: (a: Uint8Array) => Uint8Array } }).crypto;
  if (c?.randomUUID) return `sdk-${c.randomUUID()}`;
  const b = new Uint8Array(16);
  if (c?.getRandomValues) c.getRandomValues(b);
  else for (let i = 0; i < b.length; i++) b[i] = Math.floor(Math.random() * 256);
  return `sdk-${Array.from(b, (x) => x.toString(16).padStart(2, '0')).join('')}`;
}

function scheduleBody(s: ISchedule): Record<string, unknown> {
  const out: Record<string, unknown> = { ...s };
  for (const k of ['start_at', 'endDate'] as const) {
    const v = s[k];
    if (v !== undefined && v !== null) out[k] = isoDate(v, `schedule.${k}`);
  }
  return out;
}

function messageQuery(query: IGetMessagesQuery): Record<string, unknown> {
  const q: Record<string, unknown> = { ...query };
  for (const k of dateFields) {
    const v = query[k];
    if (v !== undefined && v !== null && v !== '') q[k] = isoDate(v, k);
  }
  return q;
}

function seg(id: string, name: string): string {
  if (typeof id !== 'string' || id === '') throw new TypeError(`Herald: ${name} must be a non-empty string`);
  return encodeURIComponent(id);
}

function signalOf(opts: IRequestOptions): { signal?: AbortSignal } {
  return opts.signal ? { signal: opts.signal } : {};
}

export { seg, signalOf };
