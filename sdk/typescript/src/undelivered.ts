import { HeraldError } from './errors.js';
import { isoDate, type Transport } from './http.js';
import { signalOf } from './notifications.js';
import { PagePromise } from './paging.js';
import type { IUndeliveredFilters, IUndeliveredNotification, IUndeliveredOptions, IUndeliveredResult } from './types.js';

// The seed's schema: filters is required, and from/to are required inside
// creationDateTime; open ends of a range are filled in below.
const query = `query($limit: Int, $cursor: String, $filters: UndeliveredNotificationsFiltersInput!) {
  undeliveredNotifications(limit: $limit, cursor: $cursor, filters: $filters) {
    totalCount cursor limit
    elements { notification { eventType creationDateTime notificationId payload channel status } error { code message } }
  }
}`;

/** The open ends of a creation range. */
const openFrom = '1970-01-01T00:00:00.000Z';
const openTo = '9999-12-31T23:59:59.999Z';

/** The HTTP status that goes with a GraphQL error's code. */
const statusOf: Record<string, number> = {
  invalid_argument: 400,
  unauthenticated: 401,
  permission_denied: 403,
  not_found: 404,
  rate_limited: 429,
  unavailable: 503,
};

interface GraphQLAnswer {
  data?: { undeliveredNotifications?: IUndeliveredResult | null } | null;
  errors?: Array<{ message: string; extensions?: { code?: string; field?: string } }>;
}

/**
 * undeliveredNotifications over POST /graphql: failed messages and ones
 * waiting for a retry or held by an open breaker, newest first.
 */
export function undelivered(
  t: Transport,
  filters: IUndeliveredFilters = {},
  options: IUndeliveredOptions = {},
): PagePromise<IUndeliveredResult, IUndeliveredNotification> {
  const f: Record<string, unknown> = {};
  const vars: Record<string, unknown> = { filters: f };
  if (options.limit !== undefined) vars.limit = options.limit;
  if (filters.eventType) f.eventType = filters.eventType;
  const r = filters.creationDateTime;
  if (r && (r.from !== undefined || r.to !== undefined || r.operator)) {
    f.creationDateTime = {
      from: r.from !== undefined ? isoDate(r.from, 'filters.creationDateTime.from') : openFrom,
      to: r.to !== undefined ? isoDate(r.to, 'filters.creationDateTime.to') : openTo,
      ...(r.operator ? { operator: r.operator } : {}),
    };
  }
  const fetchPage = async (cursor: string | undefined): Promise<IUndeliveredResult> => {
    const answer = await t.call<GraphQLAnswer>('POST', '/graphql', {
      body: { query, variables: cursor ? { ...vars, cursor } : vars },
      repeatable: true,
      ...signalOf(options),
    });
    const err = answer.data?.errors?.[0];
    const requestId = answer.headers.get('x-request-id');
    if (err) {
      const code = err.extensions?.code ?? 'graphql_error';
      throw new HeraldError({
        status: statusOf[code] ?? 400,
        code,
        message: err.message,
        ...(err.extensions?.field ? { field: err.extensions.field } : {}),
        ...(requestId ? { requestId } : {}),
        body: answer.data,
      });
    }
    const page = answer.data?.data?.undeliveredNotifications;
    if (!page) {
      throw new HeraldError({ status: answer.status, code: 'invalid_response', message: 'the GraphQL answer has no undeliveredNotifications', body: answer.data });
    }
    return page;
  };
  return new PagePromise(
    () => fetchPage(options.cursor || undefined),
    (page) => ({ items: page.elements ?? [], ...(page.cursor ? { next: () => fetchPage(page.cursor) } : {}) }),
  );
}
