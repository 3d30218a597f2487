import { Transport, type HeraldOptions } from './http.js';
import { Jobs } from './jobs.js';
import { Notifications } from './notifications.js';
import type { PagePromise } from './paging.js';
import { SendLogs } from './sendlogs.js';
import type { IUndeliveredFilters, IUndeliveredNotification, IUndeliveredOptions, IUndeliveredResult } from './types.js';
import { undelivered } from './undelivered.js';

/**
 * A client for one Herald server and one API key:
 *
 * ```ts
 * const herald = new Herald({ baseUrl: 'http://127.0.0.1:8080', apiKey: process.env.HERALD_KEY! });
 * await herald.notifications.email.send({ product, env, notification, input });
 * ```
 *
 * Safe to share; it holds no connection of its own (fetch pools them).
 */
export class Herald {
  /** Sending (email, push, sms, callback, multi-channel), dispatch and the send log. */
  readonly notifications: Notifications;
  /** Sends as a whole: get and search. */
  readonly sendLogs: SendLogs;
  /** Dispatch jobs: list, get, pause, resume, cancel. */
  readonly jobs: Jobs;
  private readonly transport: Transport;

  constructor(options: HeraldOptions) {
    this.transport = new Transport(options);
    this.notifications = new Notifications(this.transport);
    this.sendLogs = new SendLogs(this.transport);
    this.jobs = new Jobs(this.transport);
  }

  /** The server this client talks to (without a trailing slash). */
  get baseUrl(): string {
    return this.transport.baseUrl;
  }

  /**
   * Undelivered notifications (GraphQL undeliveredNotifications): failed
   * messages, and ones waiting for a retry or held by an open breaker,
   * newest first. Await it for one page (`{ totalCount, cursor, elements }`,
   * limit at most 10) or iterate over it for every element across pages.
   */
  undelivered(filters: IUndeliveredFilters = {}, options: IUndeliveredOptions = {}): PagePromise<IUndeliveredResult, IUndeliveredNotification> {
    return undelivered(this.transport, filters, options);
  }
}

export { HeraldError, WebhookVerificationError } from './errors.js';
export type { HeraldOptions } from './http.js';
export { PagePromise } from './paging.js';
export { ChannelSender, Notifications, newCacheTag } from './notifications.js';
export { SendLogs } from './sendlogs.js';
export { Jobs } from './jobs.js';
export { verifyWebhook, signWebhook } from './webhook.js';
export type { VerifyWebhookOptions, WebhookBody, WebhookHeaders, WebhookSecret } from './webhook.js';
export type * from './types.js';
