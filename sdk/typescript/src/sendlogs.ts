import { isoDate, type Transport } from './http.js';
import { seg, signalOf } from './notifications.js';
import type { IGetSendLogOptions, ISendLog, ISendLogFind, ISendLogSearchOptions, ISendLogSearchResult } from './types.js';

/** `herald.sendLogs`: sends as a whole (a multi-channel send's messages share its process_id). */
export class SendLogs {
  constructor(private readonly t: Transport) {}

  /**
   * One send log by send id (a process id, or a single-channel send's
   * message id); `{ groupDestinations: 'list' }` lists the recipients
   * instead of counting them. HeraldError resource_not_found (404) when absent.
   */
  async get(sendId: string, options: IGetSendLogOptions = {}): Promise<ISendLog> {
    const { data } = await this.t.call<{ ok: true; data: ISendLog }>('GET', `/v1/send-logs/${seg(sendId, 'sendId')}`, {
      query: { group_destinations: options.groupDestinations },
      ...signalOf(options),
    });
    return data.data;
  }

  /**
   * Searches send logs by campaign (a dispatch job's id) and a
   * startDeliveryAt range ($gte/$gt/$lte/$lt as ISO strings, Dates or Unix
   * ms), newest first; options.skip and options.limit (up to 1000) page.
   * Answers `{ total, send_logs, parsed }`.
   */
  async search(find: ISendLogFind = {}, options: ISendLogSearchOptions = {}): Promise<ISendLogSearchResult> {
    const f: Record<string, unknown> = {};
    if (find.campaign_id !== undefined) f.campaign_id = find.campaign_id;
    if (find.startDeliveryAt) {
      const r: Record<string, string> = {};
      for (const [k, v] of Object.entries(find.startDeliveryAt)) {
        if (v !== undefined && v !== null) r[k] = isoDate(v, `find.startDeliveryAt.${k}`);
      }
      f.startDeliveryAt = r;
    }
    const o: Record<string, number> = {};
    if (options.skip !== undefined) o.skip = options.skip;
    if (options.limit !== undefined) o.limit = options.limit;
    const body: Record<string, unknown> = { find: f, options: o };
    if (options.groupDestinations) body.group_destinations = options.groupDestinations;
    const { data } = await this.t.call<{ ok: true; data: ISendLogSearchResult }>('POST', '/v1/send-logs/search', {
      body,
      repeatable: true,
      ...signalOf(options),
    });
    return data.data;
  }
}
