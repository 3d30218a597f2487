// Retries: Herald's own 429 with Retry-After (a rate-limited key on a real
// herald serve), then the retry loop's rules on answers a test fetch makes
// up (503 with an HTTP-date, lost answers, timeouts, aborts), which no
// healthy server gives on demand.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { Herald, HeraldError } from '../dist/esm/index.js';
import { LIMITED_KEY, startHerald } from './helpers/herald.mjs';
import { recordingFetch } from './helpers/fetch.mjs';

describe('against herald serve: a rate-limited key', () => {
  let h;
  before(async () => {
    h = await startHerald();
  });
  after(async () => h?.stop());

  it('429 with retries off is a HeraldError rate_limited carrying Retry-After', async () => {
    const c = new Herald({ baseUrl: h.url, apiKey: LIMITED_KEY, retries: 0 });
    let err;
    for (let i = 0; i < 20 && !err; i++) await c.notifications.getMessages({ limit: 1 }).catch((e) => (err = e));
    assert.ok(err instanceof HeraldError, 'a key limited to 1/s answered 20 calls in a row');
    assert.equal(err.status, 429);
    assert.equal(err.code, 'rate_limited');
    assert.ok(err.retryAfterMs >= 1000, String(err.retryAfterMs));
    assert.equal(err.retryable, true);
  });

  it('429 is retried after Retry-After: every call succeeds', async () => {
    const rec = recordingFetch();
    const c = new Herald({ baseUrl: h.url, apiKey: LIMITED_KEY, retries: 5, fetch: rec.fetch });
    for (let i = 0; i < 5; i++) {
      const page = await c.notifications.getMessages({ limit: 1 });
      assert.equal(typeof page.total, 'number');
    }
    const statuses = rec.calls.map((x) => x.status);
    assert.ok(statuses.includes(429), `no 429 among ${statuses}`);
    assert.equal(statuses.filter((s) => s === 200).length, 5);
    assert.equal(statuses.at(-1), 200);
  });
});

/** A fetch that answers from a script, one entry per call. */
function scripted(steps) {
  const calls = [];
  const f = async (url, init = {}) => {
    calls.push({ url, init, at: Date.now() });
    const step = steps[Math.min(calls.length - 1, steps.length - 1)];
    return step(init);
  };
  return { fetch: f, calls };
}
const json = (status, body, headers = {}) => () =>
  new Response(JSON.stringify(body), { status, headers: { 'Content-Type': 'application/json', ...headers } });
const unavailable = (headers = {}) => json(503, { error: { code: 'unavailable', message: 'try later' } }, headers);
const reset = () => () => Promise.reject(new TypeError('fetch failed', { cause: new Error('ECONNRESET') }));
const base = 'http://herald.invalid';

describe('the retry loop', () => {
  it('503 is retried with backoff, then with an HTTP-date Retry-After, and answers', async () => {
    const when = new Date(Date.now() + 1000).toUTCString();
    const s = scripted([unavailable(), unavailable({ 'Retry-After': when }), json(200, { items: [], total: 0, page: 1, limit: 20, hasMore: false })]);
    const c = new Herald({ baseUrl: base, apiKey: 'k', fetch: s.fetch });
    const page = await c.notifications.getMessages();
    assert.equal(page.total, 0);
    assert.equal(s.calls.length, 3);
    assert.ok(s.calls[2].at >= Date.parse(when) - 1000, 'retried before the HTTP date (to the second)');
  });

  it('gives up after `retries` and throws the last answer', async () => {
    const s = scripted([unavailable({ 'Retry-After': '0', 'X-Request-Id': 'req-1' })]);
    const c = new Herald({ baseUrl: base, apiKey: 'k', retries: 2, fetch: s.fetch });
    const err = await c.notifications.getMessage('m1').catch((e) => e);
    assert.equal(s.calls.length, 3);
    assert.equal(err.status, 503);
    assert.equal(err.code, 'unavailable');
    assert.equal(err.requestId, 'req-1');
    assert.equal(err.retryAfterMs, 0);
  });

  it('a Retry-After longer than maxRetryDelayMs fails at once', async () => {
    const s = scripted([json(429, { error: { code: 'rate_limited', message: 'slow down' } }, { 'Retry-After': '3600' })]);
    const c = new Herald({ baseUrl: base, apiKey: 'k', maxRetryDelayMs: 5000, fetch: s.fetch });
    const err = await c.jobs.get('job_1').catch((e) => e);
    assert.equal(s.calls.length, 1);
    assert.equal(err.retryAfterMs, 3_600_000);
  });

  it('other errors are not retried', async () => {
    for (const status of [400, 404, 409, 500]) {
      const s = scripted([json(status, { error: { code: 'x', message: 'no' } })]);
      const c = new Herald({ baseUrl: base, apiKey: 'k', fetch: s.fetch });
      const err = await c.notifications.getMessage('m').catch((e) => e);
      assert.equal(err.status, status);
      assert.equal(s.calls.length, 1, String(status));
    }
  });

  it('a lost answer is retried for reads and cache-tagged sends only', async () => {
    const ok = json(202, { success: true, channel: 'sms', messageId: 'm', status: 'pending' });
    const input = { product: 'p', env: 'e', notification: 'n:m', input: { recipients: ['+1'] } };

    let s = scripted([reset(), ok]);
    let c = new Herald({ baseUrl: base, apiKey: 'k', fetch: s.fetch });
    const err = await c.notifications.sms.send(input).catch((e) => e);
    assert.equal(s.calls.length, 1, 'a send without a cache tag may have been accepted: not repeated');
    assert.equal(err.status, 0);
    assert.equal(err.code, 'network_error');
    assert.match(err.message, /ECONNRESET/);

    s = scripted([reset(), ok]);
    c = new Herald({ baseUrl: base, apiKey: 'k', fetch: s.fetch });
    const r = await c.notifications.sms.send({ ...input, idempotent: true });
    assert.equal(r.messageId, 'm');
    assert.equal(s.calls.length, 2);
    assert.equal(JSON.parse(s.calls[0].init.body).cache, JSON.parse(s.calls[1].init.body).cache);

    s = scripted([reset(), json(200, { _id: 'm1' })]);
    c = new Herald({ baseUrl: base, apiKey: 'k', fetch: s.fetch });
    assert.equal((await c.notifications.getMessage('m1'))._id, 'm1');
    assert.equal(s.calls.length, 2);
  });

  it('timeoutMs bounds one attempt: HeraldError timeout', async () => {
    const hang = (init) => new Promise((_, reject) => init.signal.addEventListener('abort', () => reject(new DOMException('aborted', 'AbortError'))));
    const s = scripted([hang]);
    const c = new Herald({ baseUrl: base, apiKey: 'k', timeoutMs: 50, retries: 1, fetch: s.fetch });
    const err = await c.notifications.getMessage('m').catch((e) => e);
    assert.equal(err.code, 'timeout');
    assert.equal(err.status, 0);
    assert.equal(s.calls.length, 2); // a read is repeated once
  });

  it("the caller's signal aborts the call and its retries", async () => {
    const s = scripted([unavailable({ 'Retry-After': '10' })]);
    const c = new Herald({ baseUrl: base, apiKey: 'k', fetch: s.fetch });
    const ctl = new AbortController();
    const p = c.notifications.getMessage('m', { signal: ctl.signal });
    await new Promise((r) => setTimeout(r, 20));
    ctl.abort(new Error('stop'));
    const err = await p.catch((e) => e);
    assert.equal(err.message, 'stop');
    assert.equal(s.calls.length, 1);
  });

  it('sends the key, JSON and the path; ids are escaped', async () => {
    const s = scripted([json(200, { _id: 'a/b' })]);
    const c = new Herald({ baseUrl: `${base}/`, apiKey: 'hk_1', fetch: s.fetch, headers: { 'X-Trace': 't' } });
    await c.notifications.getMessage('a/b');
    assert.equal(s.calls[0].url, `${base}/v1/messages/a%2Fb`);
    assert.equal(s.calls[0].init.headers.Authorization, 'Bearer hk_1');
    assert.equal(s.calls[0].init.headers['X-Trace'], 't');
  });
});
