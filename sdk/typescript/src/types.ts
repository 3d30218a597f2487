// The shapes of Herald's HTTP API (API.md, /openapi.json), named after the
// seed SDK's interfaces where it has one. An interface tagged `@schema X`
// declares exactly the properties of the OpenAPI schema X, with its
// required ones required: test/openapi.test.mjs reads this file with the
// TypeScript compiler and fails when the two drift apart. `@sdk name`
// marks a property the SDK adds or reshapes (said why beside it); `@always
// name` one the SDK always sets although the API may leave it out;
// `@parameters METHOD path` binds a query interface to an operation's
// query parameters the same way.

/** A delivery channel. */
export type Channel = 'email' | 'push' | 'sms' | 'callback';

/** The type of a log entry: its channel (`notification` in the seed stands for multi-channel). */
export type MessageType = Channel | 'notification';

/** pending (queued), sent (delivered), failed (delivery failed), reprocessing (retry in progress). */
export type MessageStatus = 'pending' | 'sent' | 'failed' | 'reprocessing';

/** How a message came to be: the HTTP API, NATS ingest, a dispatch job or a reprocess. */
export type TriggeredBy = 'api' | 'nats' | 'schedule' | 'reprocess';

/** A time the SDK sends as an RFC 3339 string: a Date, an ISO string, or Unix milliseconds. */
export type DateInput = Date | string | number;

/** Template variables (the maps a definition's Go templates read). */
export type Vars = Record<string, unknown>;

// ---------------------------------------------------------------- sending

/**
 * Input of an email.
 * @schema EmailInput
 */
export interface IEmailInput {
  recipients: string[];
  subject?: Vars;
  template?: Vars;
}

/**
 * Input of a push notification.
 * @schema PushInput
 */
export interface IPushInput {
  device_tokens: string[];
  title?: Vars;
  body?: Vars;
  data?: Vars;
}

/**
 * Input of an SMS.
 * @schema SMSInput
 */
export interface ISmsInput {
  recipients: string[];
  body?: Vars;
}

/**
 * Input of an HTTP callback: params fill the URL's {name} segments, query
 * is added to the URL, headers override the definition's, body is the JSON body.
 * @schema CallbackInput
 */
export interface ICallbackInput {
  query?: Vars;
  headers?: Vars;
  params?: Vars;
  body?: unknown;
}

/** What every call accepts besides its own fields. */
export interface IRequestOptions {
  /** Aborts the call (and its retries). */
  signal?: AbortSignal;
}

/** What every send accepts besides the request body. */
export interface ISendControls extends IRequestOptions {
  /**
   * Generate a `cache` tag (when none is given) so that the call is safe to
   * retry: a retried send answers the first message instead of sending twice.
   */
  idempotent?: boolean;
}

/**
 * The body of a send on one channel.
 * @schema SendRequest
 */
export interface ISendRequest<I = IEmailInput | IPushInput | ISmsInput | ICallbackInput> {
  product: string;
  env: string;
  /** notification_tag:message_tag */
  notification: string;
  input: I;
  /** session_tag:jwt_token; only the tag is stored. */
  session?: string;
  /** An idempotency tag: the same tag inside its window answers the first send. */
  cache?: string;
  /** Delivery retries after the first attempt (default: the server's delivery.retries). */
  retries?: number;
}

export interface IEmailOptions extends ISendRequest<IEmailInput>, ISendControls {}
export interface IPushOptions extends ISendRequest<IPushInput>, ISendControls {}
export interface ISmsOptions extends ISendRequest<ISmsInput>, ISendControls {}
export interface ICallbackOptions extends ISendRequest<ICallbackInput>, ISendControls {}

/**
 * The result of a send on one channel, and of each channel of a multi-channel send.
 * @schema ChannelResult
 * @sdk error the seed's string: the channel's error message (the server sends {code, message, field})
 * @sdk errorCode the code of that error (invalid_argument, TEMPLATE_ERROR, unavailable, ...)
 * @sdk errorField the JSON path of the field it names
 */
export interface INotificationResult {
  success: boolean;
  channel: Channel;
  messageId?: string;
  status?: MessageStatus;
  /** The cache tag named an earlier send: nothing was sent again. */
  deduplicated?: boolean;
  error?: string;
  errorCode?: string;
  errorField?: string;
}

/**
 * The answer to an accepted single-channel send (an INotificationResult
 * whose messageId and status are always there).
 * @schema SendResponse
 */
export interface ISendResult {
  success: boolean;
  channel: Channel;
  messageId: string;
  status: MessageStatus;
  /** The cache tag named an earlier send: nothing was sent again. */
  deduplicated?: boolean;
}

/**
 * One input per channel of a multi-channel send; absent channels are not sent.
 * @schema MultiInput
 */
export interface IMultiChannelInput {
  push_notification?: IPushInput;
  email?: IEmailInput;
  sms?: ISmsInput;
  callback?: ICallbackInput;
}

/**
 * The body of a multi-channel send.
 * @schema MultiSendRequest
 */
export interface IMultiChannelRequest {
  product: string;
  env: string;
  /** The notification tag (each channel uses its message), or notification_tag:message_tag. */
  event: string;
  input: IMultiChannelInput;
  session?: string;
  cache?: string;
  retries?: number;
}

export interface IMultiChannelOptions extends IMultiChannelRequest, ISendControls {}

/**
 * The result of a multi-channel send.
 * @schema MultiSendResponse
 * @sdk error not kept: a send no channel accepted is a result with success false and each channel's error
 * @always success the SDK sets it on every result
 * @always channels the SDK sets it on every result (empty when none)
 */
export interface IMultiChannelNotificationResult {
  /** True if at least one channel was accepted. */
  success: boolean;
  /** The id every channel's message shares (the send's id). */
  process_id?: string;
  channels: {
    push?: INotificationResult;
    email?: INotificationResult;
    sms?: INotificationResult;
    callback?: INotificationResult;
  };
}

// -------------------------------------------------------------- dispatch

/**
 * When a dispatch fires: once at start_at, or every `every` ms, or on a cron
 * expression in the IANA zone tz, up to `limit` runs or endDate.
 * @schema Schedule
 */
export interface ISchedule {
  start_at?: DateInput | null;
  /** 5 fields, 6 with seconds, or @daily-style descriptors. */
  cron?: string | null;
  /** Milliseconds. */
  every?: number | null;
  limit?: number | null;
  endDate?: DateInput | null;
  tz?: string | null;
}

/**
 * The body of a dispatch: each fire is a multi-channel send of input, with
 * campaign_id = the job id and triggered_by = schedule.
 * @schema DispatchRequest
 */
export interface IDispatchRequest {
  product: string;
  env: string;
  /** notification_tag:message_tag; or give event (the notification tag) alone. */
  notification?: string;
  event?: string;
  input: IMultiChannelInput;
  schedule: ISchedule;
  retries?: number;
  session?: string;
  /** The same tag inside its window answers the job made first. */
  cache?: string;
}

export interface IDispatchOptions extends IDispatchRequest, ISendControls {}

/**
 * The answer to a dispatch.
 * @schema DispatchResponse
 */
export interface IDispatchResult {
  job_id: string;
  /** 'queued' */
  status: string;
  next_run_at?: string | null;
  deduplicated?: boolean;
}

/** A job's status. */
export type JobStatus = 'queued' | 'active' | 'paused' | 'completed' | 'cancelled';

/**
 * The schedule of a job, as stored (times as RFC 3339 strings).
 * @schema Schedule
 */
export interface IJobSchedule {
  start_at?: string | number | null;
  cron?: string | null;
  every?: number | null;
  limit?: number | null;
  endDate?: string | number | null;
  tz?: string | null;
}

/**
 * A dispatch job.
 * @schema Job
 */
export interface IJob {
  job_id: string;
  status: JobStatus;
  runs: number;
  next_run_at?: string | null;
  last_run_at?: string | null;
  last_error?: string | null;
  last_process_id?: string | null;
  schedule?: IJobSchedule;
  product?: string;
  env?: string;
  notification?: string | null;
  event?: string | null;
  input?: IMultiChannelInput;
  retries?: number | null;
  session?: string | null;
  created_at?: string;
  updated_at?: string;
}

/**
 * A page of jobs.
 * @schema JobList
 */
export interface IJobList {
  items: IJob[];
  total?: number;
  limit?: number;
  hasMore?: boolean;
  next_cursor?: string;
}

/**
 * @parameters GET /v1/jobs
 */
export interface IJobListQuery {
  status?: JobStatus;
  cursor?: string;
  limit?: number;
}

// -------------------------------------------------------------- send log

/**
 * A message log entry: one message on one channel, from acceptance on.
 * @schema LogEntry
 */
export interface INotificationMessageLogEntry {
  _id: string;
  workspace_id: string;
  product_id?: string | null;
  product_tag: string;
  env: string;
  notification_tag: string;
  /** notification_tag:message_tag */
  notification?: string;
  /** The full input used for the send (for reprocessing); in lists, an input over 16 KiB is a `$truncated` marker. */
  input: Record<string, unknown>;
  /** Set in lists when input holds only the `$truncated` marker; getMessage(id) has it in full. */
  input_truncated?: boolean;
  status: MessageStatus;
  type: MessageType;
  process_id?: string | null;
  campaign_id?: string | null;
  triggered_by: TriggeredBy;
  error?: string | null;
  error_code?: string | null;
  retries: number;
  attempts: number;
  /** The session's tag only, never its token. */
  session?: string | null;
  cache?: string | null;
  next_attempt_at?: string | null;
  reprocess_count?: number;
  created_at: string;
  updated_at: string;
}

/**
 * A page of the send log, newest first.
 * @schema MessageList
 */
export interface INotificationMessageLogResult {
  items: INotificationMessageLogEntry[];
  total: number;
  page: number;
  limit: number;
  hasMore: boolean;
  /** Pass back as `cursor` for the next page (deep paging without offsets). */
  next_cursor?: string;
}

/**
 * The filters of the send log; every one optional. start_date and end_date
 * take ISO strings, Dates or Unix ms; the SDK sends them as ISO strings.
 */
export interface IMessageFilters {
  product_tag?: string;
  product_id?: string;
  env?: string;
  notification_tag?: string;
  status?: MessageStatus;
  type?: MessageType;
  process_id?: string;
  campaign_id?: string;
  start_date?: DateInput;
  end_date?: DateInput;
}

/**
 * A query of the send log: the filters, and page + limit or cursor.
 * @parameters GET /v1/messages
 */
export interface IGetMessagesQuery extends IMessageFilters {
  /** 1-based (default 1). */
  page?: number;
  /** Default 20, max 200. */
  limit?: number;
  /** next_cursor of a previous page. */
  cursor?: string;
}

/**
 * One delivery attempt.
 * @schema Attempt
 */
export interface IAttempt {
  id: string;
  /** The HTTP status of the answer; 0 when there was none (transport error, SMTP). */
  response_code: number;
  /** null when the answer had none. */
  response_content_type: string | null;
  /** Truncated to 4 KiB; "" when the answer had no body. */
  response_body: string;
  attempted_at: string;
  duration_ms: number;
  /** A transport error (no response). */
  error?: string;
  error_code?: string;
  /** failed: the last attempt of a message that ended failed. */
  outcome: 'sent' | 'retry' | 'failed';
  reprocess_generation?: number;
  settled_recipients?: string[];
}

/**
 * A page of a message's attempts, oldest first.
 * @schema AttemptList
 */
export interface IAttemptPage {
  data: IAttempt[];
  meta: {
    request_id: string;
    pagination: {
      per_page: number;
      /** Always set: this request's absolute URL with after moved to the end of the page. */
      next: string;
      has_more: boolean;
      estimated_total: number;
    };
  };
}

/**
 * @parameters GET /v1/messages/{id}/attempts
 */
export interface IAttemptsQuery {
  /** An attempt id: the page starts after it. */
  after?: string;
  /** Default 50; larger than 200 is clamped. */
  per_page?: number;
}

/**
 * The answer to a reprocess.
 * @schema ReprocessResponse
 */
export interface IReprocessResult {
  messageId: string;
  status: MessageStatus;
}

/**
 * Which failed messages a bulk reprocess takes: the send log's filters
 * (status, if given, must be 'failed').
 * @schema BulkReprocessRequest
 * @sdk dry_run given as reprocessMany's { dryRun } option
 * @sdk include_stuck_pending given as reprocessMany's { includeStuckPending } option
 */
export interface IReprocessFilters {
  product_tag?: string;
  product_id?: string;
  env?: string;
  notification_tag?: string;
  status?: 'failed';
  type?: MessageType;
  process_id?: string;
  campaign_id?: string;
  start_date?: DateInput;
  end_date?: DateInput;
}

export interface IReprocessManyOptions extends IRequestOptions {
  /** Only count the matches. */
  dryRun?: boolean;
  /** Also queue again pending messages untouched for 15 minutes whose job is gone. */
  includeStuckPending?: boolean;
}

/**
 * The answer to a bulk reprocess.
 * @schema BulkReprocessResponse
 */
export interface IBulkReprocessResult {
  matched: number;
  reprocessed: number;
  skipped?: number;
  errors?: number;
}

/**
 * The body of a status change by hand.
 * @schema PatchRequest
 */
export interface IUpdateStatusRequest {
  /** reprocessing (from failed or sent: sends again) or failed (from pending or reprocessing: cancels). */
  status: 'reprocessing' | 'failed';
  reason?: string;
}

// ------------------------------------------------------------- send logs

/**
 * One send as a whole: its messages (one per channel), the unresolved
 * template, when delivery started and where it went.
 * @schema SendLog
 */
export interface ISendLog {
  _id: string;
  campaign_id?: string | null;
  /** The unresolved template. */
  message: string;
  triggeredBy: string;
  startDeliveryAt: string;
  /** A count (group_destinations=count) or the recipients (list). */
  destinations: number | string[];
  product_tag?: string;
  env?: string;
  notification?: string;
  process_id?: string | null;
  messages?: Array<{ _id?: string; type?: string; status?: string; message?: string }>;
}

/** A time range of startDeliveryAt: $gte/$gt and $lte/$lt take ISO strings, Dates or Unix ms. */
export interface IDateRange {
  $gte?: DateInput;
  $gt?: DateInput;
  $lte?: DateInput;
  $lt?: DateInput;
}

/** What send-log search finds. */
export interface ISendLogFind {
  campaign_id?: string | string[];
  startDeliveryAt?: IDateRange;
}

/** Paging of a send-log search. */
export interface ISendLogSearchOptions extends IRequestOptions {
  /** Records to skip (default 0). */
  skip?: number;
  /** Records to return (up to 1000). */
  limit?: number;
  /** Destinations as a count (default) or the recipients. */
  groupDestinations?: 'count' | 'list';
}

/** The data of a send-log search. */
export interface ISendLogSearchResult {
  total: number;
  send_logs: ISendLog[];
  /** The normalised search (options.limit says how many were returned when the answer ended early). */
  parsed: Record<string, unknown>;
}

export interface IGetSendLogOptions extends IRequestOptions {
  /** Destinations as a count (default) or the recipients. */
  groupDestinations?: 'count' | 'list';
}

// ------------------------------------------------------------ undelivered

/** The filters of undeliveredNotifications. */
export interface IUndeliveredFilters {
  /** The notification tag. */
  eventType?: string;
  creationDateTime?: {
    from?: DateInput;
    to?: DateInput;
    /** Default INCLUSIVE. */
    operator?: 'INCLUSIVE' | 'EXCLUSIVE';
  };
}

export interface IUndeliveredOptions extends IRequestOptions {
  /** Default 10; more is taken as 10 (the page's limit says what was used). */
  limit?: number;
  /** The cursor of the previous page. */
  cursor?: string;
}

/** DELIVERY_ERROR, SECRET_EXPIRED, INVALID_RECIPIENT, TEMPLATE_ERROR, CIRCUIT_OPEN or TIMEOUT. */
export type UndeliveredErrorCode =
  | 'DELIVERY_ERROR'
  | 'SECRET_EXPIRED'
  | 'INVALID_RECIPIENT'
  | 'TEMPLATE_ERROR'
  | 'CIRCUIT_OPEN'
  | 'TIMEOUT';

/** One undelivered notification and why. */
export interface IUndeliveredNotification {
  notification: {
    eventType: string;
    creationDateTime: string;
    notificationId: string;
    payload: unknown;
    channel: string;
    status: string;
  };
  error: { code: UndeliveredErrorCode; message: string };
}

/** A page of undelivered notifications, newest first; cursor is empty on the last page. */
export interface IUndeliveredResult {
  totalCount: number;
  cursor: string;
  elements: IUndeliveredNotification[];
  /** The page size used: the limit asked for, at most 10. */
  limit: number;
}

// ----------------------------------------------------------------- errors

/**
 * The error body of every non-2xx answer.
 * @schema Error
 */
export interface IErrorBody {
  code: string;
  message: string;
  field?: string;
}
