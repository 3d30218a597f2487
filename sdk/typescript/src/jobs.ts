import type { Transport } from './http.js';
import { seg, signalOf } from './notifications.js';
import { PagePromise } from './paging.js';
import type { IJob, IJobList, IJobListQuery, IRequestOptions } from './types.js';

/** `herald.jobs`: the jobs dispatch made. */
export class Jobs {
  constructor(private readonly t: Transport) {}

  /** A page of jobs (of one status when given); iterate over it with `for await` for every job. */
  list(query: IJobListQuery = {}, opts: IRequestOptions = {}): PagePromise<IJobList, IJob> {
    const fetchPage = (cursor: string | undefined) =>
      this.t
        .call<IJobList>('GET', '/v1/jobs', { query: { ...query, ...(cursor ? { cursor } : {}) }, ...signalOf(opts) })
        .then((a) => a.data);
    return new PagePromise(
      () => fetchPage(query.cursor),
      (page) => ({
        items: page.items ?? [],
        ...(page.hasMore && page.next_cursor ? { next: () => fetchPage(page.next_cursor) } : {}),
      }),
    );
  }

  /** One job; HeraldError not_found (404) when absent. */
  get(jobId: string, opts: IRequestOptions = {}): Promise<IJob> {
    return this.one('GET', `/v1/jobs/${seg(jobId, 'jobId')}`, opts);
  }

  /** Pauses a job: no fires until it is resumed. */
  pause(jobId: string, opts: IRequestOptions = {}): Promise<IJob> {
    return this.one('POST', `/v1/jobs/${seg(jobId, 'jobId')}/pause`, opts);
  }

  /** Resumes a paused job. */
  resume(jobId: string, opts: IRequestOptions = {}): Promise<IJob> {
    return this.one('POST', `/v1/jobs/${seg(jobId, 'jobId')}/resume`, opts);
  }

  /** Cancels a job for good (DELETE /v1/jobs/{id}); it never fires again. */
  cancel(jobId: string, opts: IRequestOptions = {}): Promise<IJob> {
    return this.one('DELETE', `/v1/jobs/${seg(jobId, 'jobId')}`, opts);
  }

  private async one(method: string, path: string, opts: IRequestOptions): Promise<IJob> {
    const { data } = await this.t.call<IJob>(method, path, signalOf(opts));
    return data;
  }
}
