// The send log through the SDK, against a real herald serve: queries with
// Date or ISO times, iterating over every page, attempts, reprocessing
// (one and many) and status changes by hand.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { Herald, HeraldError } from '../dist/esm/index.js';
import { eventually, GLOBEX_KEY, KEY, randomId, startHerald } from './helpers/herald.mjs';
import { recordingFetch } from './helpers/fetch.mjs';

let h;
let herald;
before(async () => {
  h = await startHerald();
  herald = new Herald({ baseUrl: h.url, apiKey: KEY });
});
after(async () => h?.stop());

const send = (notification, input = {}, env = 'prd') =>
  herald.notifications.callback.send({ product: 'my-app', env, notification, input });

async function waitFor(id, pred, what) {
  return eventually(
    async () => {
      const m = await herald.notifications.getMessage(id);
      return pred(m) ? m : null;
    },
    { what: `message ${id}: ${what}` },
  );
}

describe('getMessages', () => {
  it('takes Dates or ISO strings for start_date/end_date and sends ISO strings', async () => {
    const t0 = new Date(Date.now() - 1000);
    const sent = await send('webhooks:order-created', { body: { q: 'dates' } }, 'dev');
    const t1 = new Date(Date.now() + 1000);
    const rec = recordingFetch();
    const c = new Herald({ baseUrl: h.url, apiKey: KEY, fetch: rec.fetch });
    const byDate = await c.notifications.getMessages({ env: 'dev', start_date: t0, end_date: t1 });
    const url = new URL(rec.calls[0].url);
    assert.equal(url.searchParams.get('start_date'), t0.toISOString());
    assert.equal(url.searchParams.get('end_date'), t1.toISOString());
    const byIso = await c.notifications.getMessages({ env: 'dev', start_date: t0.toISOString(), end_date: t1.toISOString() });
    const byMs = await c.notifications.getMessages({ env: 'dev', start_date: t0.getTime(), end_date: t1.getTime() });
    assert.equal(new URL(rec.calls[2].url).searchParams.get('start_date'), t0.toISOString());
    for (const page of [byDate, byIso, byMs]) {
      assert.ok(page.items.some((m) => m._id === sent.messageId));
      assert.equal(page.total, byDate.total);
    }
    // A window that ends before the send does not have it.
    const before = await herald.notifications.getMessages({ env: 'dev', end_date: new Date(t0.getTime() - 60_000) });
    assert.ok(!before.items.some((m) => m._id === sent.messageId));
    assert.throws(() => herald.notifications.getMessages({ start_date: new Date('nope') }), TypeError);
    // A bad filter is the server's 400 naming the parameter.
    const err = await herald.notifications.getMessages({ status: 'lost' }).catch((e) => e);
    assert.ok(err instanceof HeraldError);
    assert.equal(err.status, 400);
    assert.equal(err.field, 'status');
  });

  it('answers one page; for await goes over every page by cursor, newest first, each entry once', async () => {
    const t0 = new Date(Date.now() - 1);
    const ids = [];
    for (let i = 0; i < 7; i++) ids.push((await send('webhooks:order-created', { body: { i } }, 'dev')).messageId);
    const rec = recordingFetch();
    const c = new Herald({ baseUrl: h.url, apiKey: KEY, fetch: rec.fetch });
    const q = { env: 'dev', notification_tag: 'webhooks', start_date: t0, limit: 2 };
    const pages = c.notifications.getMessages(q);
    const page = await pages;
    assert.equal(page.total, 7);
    assert.equal(page.items.length, 2);
    assert.equal(page.page, 1);
    assert.equal(page.limit, 2);
    assert.equal(page.hasMore, true);
    assert.equal(typeof page.next_cursor, 'string');
    await pages; // awaited again: no second request
    assert.equal(rec.calls.length, 1);
    const seen = [];
    for await (const m of pages) seen.push(m._id);
    assert.deepEqual(seen, [...ids].reverse());
    assert.equal(rec.calls.length, 4); // the first page once, then three by cursor
    for (const call of rec.calls.slice(1)) {
      const u = new URL(call.url);
      assert.ok(u.searchParams.get('cursor'));
      assert.equal(u.searchParams.get('env'), 'dev');
    }
    // messages() is the same walk; breaking off stops fetching.
    const few = [];
    for await (const m of herald.notifications.messages({ env: 'dev', start_date: t0, limit: 3 })) {
      few.push(m._id);
      if (few.length === 4) break;
    }
    assert.deepEqual(few, [...ids].reverse().slice(0, 4));
    assert.equal((await herald.notifications.getMessages(q).toArray()).length, 7);
  });

  it('getMessage: the entry with its input; 404 resource_not_found, 410 retention_expired, and never another workspace', async () => {
    const r = await send('webhooks:order-created', { body: { whole: true }, params: {} });
    const m = await herald.notifications.getMessage(r.messageId);
    assert.equal(m._id, r.messageId);
    assert.equal(m.workspace_id, 'acme');
    assert.equal(m.product_tag, 'my-app');
    assert.equal(m.notification_tag, 'webhooks');
    assert.equal(m.triggered_by, 'api');
    assert.deepEqual(m.input.body, { whole: true });
    const missing = await herald.notifications.getMessage('01M8ZZZZZZZZZZZZZZZZZZZZZZ').catch((e) => e);
    assert.equal(missing.status, 404);
    assert.equal(missing.code, 'resource_not_found');
    const old = await herald.notifications.getMessage('00000000010000000000000000').catch((e) => e);
    assert.equal(old.status, 410);
    assert.equal(old.code, 'retention_expired');
    const globex = new Herald({ baseUrl: h.url, apiKey: GLOBEX_KEY });
    const other = await globex.notifications.getMessage(r.messageId).catch((e) => e);
    assert.equal(other.status, 404);
  });
});

describe('attempts, reprocess, updateStatus', () => {
  it('attempts: a page, and every attempt oldest first across pages', async () => {
    const r = await send('webhooks:flaky', { body: { n: 1 } });
    const failed = await waitFor(r.messageId, (m) => m.status === 'failed', 'failed after its retries');
    assert.equal(failed.attempts, 3); // the first try and delivery.retries: 2
    const page = await herald.notifications.attempts(r.messageId);
    assert.equal(page.data.length, 3);
    assert.match(page.meta.request_id, /^[0-9a-f-]{36}$/);
    assert.equal(page.meta.pagination.has_more, false);
    assert.equal(page.meta.pagination.estimated_total, 3);
    for (const a of page.data) {
      assert.equal(a.response_code, 503);
      assert.equal(typeof a.duration_ms, 'number');
    }
    const rec = recordingFetch();
    const c = new Herald({ baseUrl: h.url, apiKey: KEY, fetch: rec.fetch });
    const walked = [];
    for await (const a of c.notifications.attempts(r.messageId, { per_page: 1 })) walked.push(a);
    assert.deepEqual(walked.map((a) => a.id), page.data.map((a) => a.id));
    assert.ok(walked.every((a, i) => i === 0 || a.attempted_at >= walked[i - 1].attempted_at));
    assert.equal(new URL(rec.calls[1].url).searchParams.get('after'), walked[0].id);
  });

  it('reprocess: a failed message is sent again with its stored input; a sent one cannot be cancelled', async () => {
    const r = await send('webhooks:flaky', { body: { n: 2 } });
    await waitFor(r.messageId, (m) => m.status === 'failed', 'failed');
    const again = await herald.notifications.reprocess(r.messageId);
    assert.deepEqual(again, { messageId: r.messageId, status: 'reprocessing' });
    const m = await waitFor(r.messageId, (x) => x.status === 'failed' && x.attempts === 6, 'failed again after a second round');
    assert.equal(m.reprocess_count, 1);
    const ok = await send('webhooks:order-created', { body: { n: 3 } });
    await waitFor(ok.messageId, (x) => x.status === 'sent', 'sent');
    const conflict = await herald.notifications.updateStatus(ok.messageId, 'failed').catch((e) => e);
    assert.ok(conflict instanceof HeraldError);
    assert.equal(conflict.status, 409);
    assert.equal(conflict.code, 'conflict');
  });

  it('updateStatus: failed cancels a pending message (CANCELLED, with the reason); reprocessing sends a failed one again', async () => {
    const r = await send('webhooks:slow', { body: { n: 4 } });
    await h.receiver.waitFor((x) => x.path === '/hold/slow' && x.body.includes('"n":4'));
    const cancelled = await herald.notifications.updateStatus(r.messageId, 'failed', { reason: 'customer left' });
    h.receiver.release();
    assert.equal(cancelled._id, r.messageId);
    assert.equal(cancelled.status, 'failed');
    assert.equal(cancelled.error_code, 'CANCELLED');
    assert.match(cancelled.error, /customer left/);
    const g = await send('webhooks:gone', { body: { n: 5 } });
    await waitFor(g.messageId, (m) => m.status === 'failed', 'failed (404 is permanent)');
    const back = await herald.notifications.updateStatus(g.messageId, 'reprocessing');
    assert.equal(back.status, 'reprocessing');
    await waitFor(g.messageId, (m) => m.status === 'failed' && m.reprocess_count === 1, 'failed again');
  });

  it('reprocessMany: a dry run counts, the real run reprocesses exactly those', async () => {
    const t0 = new Date();
    const ids = [];
    for (let i = 0; i < 3; i++) ids.push((await send('webhooks:gone', { body: { many: i } }, 'dev')).messageId);
    for (const id of ids) await waitFor(id, (m) => m.status === 'failed', 'failed');
    const filters = { env: 'dev', status: 'failed', notification_tag: 'webhooks', start_date: t0 };
    const rec = recordingFetch();
    const c = new Herald({ baseUrl: h.url, apiKey: KEY, fetch: rec.fetch });
    const dry = await c.notifications.reprocessMany(filters, { dryRun: true });
    assert.equal(dry.matched, 3);
    const body = JSON.parse(rec.calls[0].body);
    assert.equal(body.dry_run, true);
    assert.equal(body.start_date, t0.toISOString());
    for (const id of ids) assert.equal((await herald.notifications.getMessage(id)).reprocess_count, 0);
    const done = await c.notifications.reprocessMany(filters);
    assert.equal(done.matched, 3);
    assert.equal(done.reprocessed, 3);
    assert.equal(JSON.parse(rec.calls[1].body).dry_run, undefined);
    for (const id of ids) await waitFor(id, (m) => m.reprocess_count === 1 && m.status === 'failed', 'reprocessed and failed again');
    const bad = await herald.notifications.reprocessMany({ status: 'sent' }).catch((e) => e);
    assert.equal(bad.status, 400);
    assert.equal(bad.field, 'status');
  });
});
