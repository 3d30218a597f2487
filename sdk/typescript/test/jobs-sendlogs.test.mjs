// Dispatch and jobs, send logs and undelivered notifications (GraphQL)
// through the SDK, against a real herald serve.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { Herald, HeraldError } from '../dist/esm/index.js';
import { eventually, KEY, randomId, startHerald } from './helpers/herald.mjs';
import { recordingFetch } from './helpers/fetch.mjs';

let h;
let herald;
before(async () => {
  h = await startHerald();
  herald = new Herald({ baseUrl: h.url, apiKey: KEY });
});
after(async () => h?.stop());

const pushInput = { device_tokens: ['token1'], title: { name: 'Payment' }, body: { message: 'Your payment is due' } };

describe('dispatch and jobs', () => {
  it('dispatch with a Date start_at: queued, fires once, its send carries campaign_id and triggered_by schedule', async () => {
    const rec = recordingFetch();
    const c = new Herald({ baseUrl: h.url, apiKey: KEY, fetch: rec.fetch });
    const at = new Date(Date.now() + 2000);
    const job = await c.notifications.dispatch({
      product: 'my-app',
      env: 'prd',
      notification: 'reminders:payment-due',
      event: 'reminders',
      input: { push_notification: pushInput },
      schedule: { start_at: at },
      retries: 3,
    });
    assert.match(job.job_id, /^job_/);
    assert.equal(job.status, 'queued');
    assert.equal(Date.parse(job.next_run_at), at.getTime());
    assert.equal(JSON.parse(rec.calls[0].body).schedule.start_at, at.toISOString());
    const done = await eventually(async () => {
      const j = await herald.jobs.get(job.job_id);
      return j.status === 'completed' ? j : null;
    }, { what: 'the job to complete' });
    assert.equal(done.runs, 1);
    assert.match(done.last_process_id, /^prc_/);
    const sent = await herald.notifications.getMessages({ campaign_id: job.job_id });
    assert.equal(sent.total, 1);
    assert.equal(sent.items[0].triggered_by, 'schedule');
    assert.equal(sent.items[0].type, 'push');
    assert.equal(sent.items[0].retries, 3);
    // The send log of the job's campaign.
    const found = await herald.sendLogs.search({ campaign_id: [job.job_id] }, { skip: 0, limit: 10 });
    assert.equal(found.total, 1);
    assert.equal(found.send_logs[0].campaign_id, job.job_id);
    assert.equal(found.send_logs[0].triggeredBy, 'schedule');
    assert.equal(Date.parse(found.send_logs[0].startDeliveryAt), at.getTime());
  });

  it('jobs: list (and iterate), get, pause, resume, cancel', async () => {
    const made = [];
    for (let i = 0; i < 3; i++) {
      made.push(
        (await herald.notifications.dispatch({
          product: 'my-app', env: 'prd', event: 'reminders', input: { push_notification: pushInput },
          schedule: { cron: '0 9 * * *', tz: 'Europe/Berlin' },
        })).job_id,
      );
    }
    const page = await herald.jobs.list({ status: 'queued', limit: 2 });
    assert.equal(page.items.length, 2);
    assert.equal(page.hasMore, true);
    const all = [];
    for await (const j of herald.jobs.list({ status: 'queued', limit: 2 })) all.push(j.job_id);
    for (const id of made) assert.ok(all.includes(id), id);
    assert.equal(new Set(all).size, all.length);

    const id = made[0];
    const got = await herald.jobs.get(id);
    assert.equal(got.schedule.cron, '0 9 * * *');
    assert.equal(got.schedule.tz, 'Europe/Berlin');
    assert.equal((await herald.jobs.pause(id)).status, 'paused');
    assert.equal((await herald.jobs.resume(id)).status, 'queued');
    assert.equal((await herald.jobs.cancel(id)).status, 'cancelled');
    const again = await herald.jobs.resume(id).catch((e) => e);
    assert.ok(again instanceof HeraldError);
    assert.equal(again.status, 409);
    const missing = await herald.jobs.get('job_nope').catch((e) => e);
    assert.equal(missing.status, 404);
    for (const j of made.slice(1)) await herald.jobs.cancel(j);
  });

  it('a refused dispatch names the field', async () => {
    const err = await herald.notifications
      .dispatch({ product: 'my-app', env: 'prd', event: 'reminders', input: { push_notification: pushInput }, schedule: { cron: 'not cron' } })
      .catch((e) => e);
    assert.equal(err.status, 400);
    assert.equal(err.field, 'schedule.cron');
  });
});

describe('send logs', () => {
  it('get: a multi-channel send by process id, destinations counted or listed; 404 as HeraldError', async () => {
    const r = await herald.notifications.send({
      product: 'my-app',
      env: 'prd',
      event: 'alerts:order-shipped',
      input: {
        email: { recipients: ['a@example.com', 'b@example.com'], subject: { orderId: '1' }, template: { trackingUrl: 'https://t' } },
        sms: { recipients: ['+15551230009'], body: { tracking: 'x' } },
      },
    });
    const counted = await herald.sendLogs.get(r.process_id);
    assert.equal(counted._id, r.process_id);
    assert.equal(counted.destinations, 3);
    assert.equal(counted.messages.length, 2);
    assert.equal(typeof counted.message, 'string');
    const listed = await herald.sendLogs.get(r.process_id, { groupDestinations: 'list' });
    assert.deepEqual([...listed.destinations].sort(), ['+15551230009', 'a@example.com', 'b@example.com']);
    const err = await herald.sendLogs.get('prc_01M8ZZZZZZZZZZZZZZZZZZZZZZ').catch((e) => e);
    assert.ok(err instanceof HeraldError);
    assert.equal(err.status, 404);
    assert.equal(err.code, 'resource_not_found');
  });

  it('search: startDeliveryAt as Dates, skip and limit', async () => {
    const t0 = new Date(Date.now() - 1);
    const ids = [];
    for (let i = 0; i < 3; i++) {
      ids.push((await herald.notifications.callback.send({ product: 'my-app', env: 'prd', notification: 'webhooks:order-created', input: { body: { i } } })).messageId);
    }
    const t1 = new Date(Date.now() + 1000);
    const rec = recordingFetch();
    const c = new Herald({ baseUrl: h.url, apiKey: KEY, fetch: rec.fetch });
    const first = await c.sendLogs.search({ startDeliveryAt: { $gte: t0, $lte: t1 } }, { skip: 0, limit: 2 });
    const body = JSON.parse(rec.calls[0].body);
    assert.equal(body.find.startDeliveryAt.$gte, t0.toISOString());
    assert.deepEqual(body.options, { skip: 0, limit: 2 });
    assert.equal(first.total, 3);
    assert.equal(first.send_logs.length, 2);
    assert.equal(first.parsed.options.limit, 2);
    const rest = await c.sendLogs.search({ startDeliveryAt: { $gte: t0, $lte: t1 } }, { skip: 2, limit: 2 });
    assert.deepEqual([...first.send_logs, ...rest.send_logs].map((s) => s._id), [...ids].reverse());
  });
});

describe('undelivered (GraphQL)', () => {
  it('failed messages with their error code, newest first, by page or across pages', async () => {
    const t0 = new Date(Date.now() - 1);
    const ids = [];
    for (let i = 0; i < 3; i++) {
      ids.push((await herald.notifications.callback.send({ product: 'my-app', env: 'prd', notification: 'webhooks:gone', input: { body: { u: i } } })).messageId);
    }
    for (const id of ids) {
      await eventually(async () => (await herald.notifications.getMessage(id)).status === 'failed', { what: `${id} failed` });
    }
    const filters = { eventType: 'webhooks', creationDateTime: { from: t0, to: new Date(Date.now() + 1000), operator: 'INCLUSIVE' } };
    const page = await herald.undelivered(filters, { limit: 2 });
    assert.equal(page.totalCount, 3);
    assert.equal(page.elements.length, 2);
    assert.notEqual(page.cursor, '');
    assert.equal(page.elements[0].notification.notificationId, ids[2]);
    assert.equal(page.elements[0].notification.eventType, 'webhooks');
    assert.equal(page.elements[0].error.code, 'DELIVERY_ERROR'); // a 404 fails at once
    assert.equal(typeof page.elements[0].error.message, 'string');
    const next = await herald.undelivered(filters, { limit: 2, cursor: page.cursor });
    assert.equal(next.elements.length, 1);
    assert.equal(next.cursor, '');
    const walked = [];
    for await (const e of herald.undelivered(filters, { limit: 1 })) walked.push(e.notification.notificationId);
    assert.deepEqual(walked, [...ids].reverse());
  });

  it('a limit above 10 is taken as 10; an open-ended range works', async () => {
    const page = await herald.undelivered({ creationDateTime: { from: new Date(Date.now() - 3600_000) } }, { limit: 11 });
    assert.equal(page.limit, 10);
  });

  it('a GraphQL error is a HeraldError with its code and field', async () => {
    const err = await herald.undelivered({ eventType: 'not a tag' }).catch((e) => e);
    assert.ok(err instanceof HeraldError);
    assert.equal(err.code, 'invalid_argument');
    assert.equal(err.field, 'filters.eventType');
    assert.equal(err.status, 400);
  });
});
