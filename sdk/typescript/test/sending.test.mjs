// Sending through the SDK to a real herald serve: each channel until its
// message is sent and the provider got it, multi-channel sends, sessions,
// errors, and idempotent sends.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { Herald, HeraldError, verifyWebhook, WebhookVerificationError } from '../dist/esm/index.js';
import { eventually, HOOK_SECRET, KEY, READ_KEY, randomId, sessionToken, startHerald } from './helpers/herald.mjs';
import { recordingFetch } from './helpers/fetch.mjs';

let h;
let herald;
before(async () => {
  h = await startHerald();
  herald = new Herald({ baseUrl: h.url, apiKey: KEY });
});
after(async () => h?.stop());

async function waitStatus(id, status) {
  return eventually(
    async () => {
      const m = await herald.notifications.getMessage(id);
      return m.status === status ? m : null;
    },
    { what: `message ${id} to be ${status}` },
  );
}

describe('channel sends', () => {
  it('email.send: accepted pending, then sent through SMTP with the rendered subject', async () => {
    const orderId = randomId('order');
    const r = await herald.notifications.email.send({
      product: 'my-app',
      env: 'prd',
      notification: 'emails:order-confirmation',
      input: { recipients: ['customer@example.com', 'admin@example.com'], subject: { orderId }, template: { customerName: 'John Doe', orderTotal: '$99.99' } },
    });
    assert.equal(r.success, true);
    assert.equal(r.channel, 'email');
    assert.equal(r.status, 'pending');
    assert.match(r.messageId, /^[0-9A-Z]{26}$/);
    const m = await waitStatus(r.messageId, 'sent');
    assert.equal(m.type, 'email');
    assert.equal(m.notification_tag, 'emails');
    assert.deepEqual(m.input.recipients, ['customer@example.com', 'admin@example.com']);
    const mail = await eventually(() => h.smtp.messages.find((x) => x.data.includes(`Order ${orderId}`)), { what: 'the email at the SMTP sink' });
    assert.deepEqual(mail.to.map((t) => t.replace(/[<>]/g, '')).sort(), ['admin@example.com', 'customer@example.com']);
  });

  it('push.send: sent to Expo with every device token', async () => {
    const token = randomId('device-token');
    const r = await herald.notifications.push.send({
      product: 'my-app',
      env: 'prd',
      notification: 'alerts:welcome',
      input: { device_tokens: [token, `${token}-2`], title: { name: 'John' }, body: { message: 'Welcome to our app!' }, data: { action: 'open_home' } },
    });
    assert.equal(r.success, true);
    assert.equal(r.channel, 'push');
    await waitStatus(r.messageId, 'sent');
    const req = await h.receiver.waitFor((x) => x.path === '/expo/--/api/v2/push/send' && x.body.includes(token));
    const sent = JSON.parse(req.body);
    const msgs = Array.isArray(sent) ? sent : [sent];
    assert.deepEqual(msgs.map((m) => m.to).sort(), [token, `${token}-2`]);
    assert.equal(msgs[0].title, 'Welcome, John');
  });

  it('sms.send: sent through the HTTP gateway, one request per recipient', async () => {
    const code = String(Math.floor(Math.random() * 1e6)).padStart(6, '0');
    const r = await herald.notifications.sms.send({
      product: 'my-app',
      env: 'prd',
      notification: 'sms:verification',
      input: { recipients: ['+15551230001', '+15551230002'], body: { code } },
    });
    assert.equal(r.channel, 'sms');
    await waitStatus(r.messageId, 'sent');
    const got = h.receiver.requests.filter((x) => x.path === '/gateway' && x.body.includes(code)).map((x) => JSON.parse(x.body).to);
    assert.deepEqual(got.sort(), ['+15551230001', '+15551230002']);
  });

  it('callback.send: sent, signed per Standard Webhooks, and verifyWebhook accepts exactly what Herald sent', async () => {
    const orderId = randomId('order');
    const r = await herald.notifications.callback.send({
      product: 'my-app',
      env: 'prd',
      notification: 'webhooks:order-created',
      input: { body: { orderId, status: 'created', timestamp: Date.now() }, headers: { 'X-Custom-Header': 'value' } },
    });
    assert.equal(r.channel, 'callback');
    await waitStatus(r.messageId, 'sent');
    const req = await h.receiver.waitFor((x) => x.path === '/hooks/order-created' && x.body.includes(orderId));
    assert.equal(req.headers['x-custom-header'], 'value');
    assert.equal(req.headers['webhook-id'], r.messageId);
    const payload = await verifyWebhook(HOOK_SECRET, req.headers, req.body);
    assert.equal(payload.orderId, orderId);
    // The same from a fetch Headers and a Uint8Array body.
    const hdrs = new Headers(Object.entries(req.headers).map(([k, v]) => [k, String(v)]));
    assert.equal((await verifyWebhook(HOOK_SECRET, hdrs, new TextEncoder().encode(req.body))).orderId, orderId);
    await assert.rejects(verifyWebhook(HOOK_SECRET, req.headers, req.body.replace(orderId, 'other')), WebhookVerificationError);
    await assert.rejects(verifyWebhook('whsec_' + btoa('another-secret'), req.headers, req.body), WebhookVerificationError);
  });

  it('a session is verified: a good token is accepted and only its tag stored; a bad one is HeraldError 401 on field session', async () => {
    const r = await herald.notifications.push.send({
      product: 'my-app',
      env: 'prd',
      notification: 'alerts:personalized',
      input: { device_tokens: ['token1'], title: { greeting: 'Hi there!' }, body: { message: 'Check out your recommendations' } },
      session: `user-session:${sessionToken()}`,
    });
    const m = await herald.notifications.getMessage(r.messageId);
    assert.equal(m.session, 'user-session');
    const err = await herald.notifications.push
      .send({
        product: 'my-app',
        env: 'prd',
        notification: 'alerts:personalized',
        input: { device_tokens: ['token1'], title: { greeting: 'x' }, body: { message: 'y' } },
        session: 'user-session:not.a.jwt',
      })
      .catch((e) => e);
    assert.ok(err instanceof HeraldError, String(err));
    assert.equal(err.status, 401);
    assert.equal(err.code, 'unauthenticated');
    assert.equal(err.field, 'session');
  });
});

describe('errors', () => {
  it('a refused send is a HeraldError with status, code, field and the request id', async () => {
    const err = await herald.notifications.email
      .send({ product: 'my-app', env: 'prd', notification: 'emails:order-confirmation', input: { recipients: [] } })
      .catch((e) => e);
    assert.ok(err instanceof HeraldError);
    assert.equal(err.status, 400);
    assert.equal(err.code, 'invalid_argument');
    assert.equal(err.field, 'input.recipients');
    assert.match(err.requestId, /^[0-9a-f-]{36}$/);
    assert.match(err.message, /input\.recipients/);
    assert.equal(err.retryable, false);
  });

  it('a key without the scope is permission_denied; a wrong key unauthenticated', async () => {
    const reader = new Herald({ baseUrl: h.url, apiKey: READ_KEY });
    const e1 = await reader.notifications.callback
      .send({ product: 'my-app', env: 'prd', notification: 'webhooks:order-created', input: {} })
      .catch((e) => e);
    assert.equal(e1.status, 403);
    assert.equal(e1.code, 'permission_denied');
    const nobody = new Herald({ baseUrl: h.url, apiKey: 'hk_not_a_key' });
    const e2 = await nobody.notifications.getMessages().catch((e) => e);
    assert.equal(e2.status, 401);
    assert.equal(e2.code, 'unauthenticated');
  });

  it('bad client options are TypeErrors before any request', () => {
    assert.throws(() => new Herald({ baseUrl: 'localhost:8080', apiKey: KEY }), TypeError);
    assert.throws(() => new Herald({ baseUrl: h.url, apiKey: '' }), TypeError);
    assert.throws(() => new Herald({ baseUrl: h.url, apiKey: KEY, timeoutMs: -1 }), TypeError);
  });
});

describe('multi-channel send', () => {
  it('one message per channel, sharing the process id; result per channel', async () => {
    const tracking = randomId('TRK');
    const result = await herald.notifications.send({
      product: 'my-app',
      env: 'prd',
      event: 'alerts:order-shipped',
      input: {
        push_notification: { device_tokens: ['token1'], title: { status: 'Order Shipped!' }, body: { message: 'Your order is on its way' }, data: { trackingNumber: tracking } },
        email: { recipients: ['customer@example.com'], subject: { orderId: '12345' }, template: { trackingUrl: `https://track.example.com/${tracking}` } },
        sms: { recipients: ['+15551230003'], body: { tracking } },
      },
    });
    assert.equal(result.success, true);
    assert.match(result.process_id, /^prc_/);
    for (const ch of ['push', 'email', 'sms']) {
      assert.equal(result.channels[ch].success, true, ch);
      assert.equal(result.channels[ch].channel, ch);
    }
    const page = await herald.notifications.getMessages({ process_id: result.process_id });
    assert.equal(page.total, 3);
    assert.deepEqual(page.items.map((m) => m.type).sort(), ['email', 'push', 'sms']);
    for (const ch of ['push', 'email', 'sms']) await waitStatus(result.channels[ch].messageId, 'sent');
  });

  it('a refused channel carries its error; the others go ahead', async () => {
    const result = await herald.notifications.send({
      product: 'my-app',
      env: 'prd',
      event: 'alerts:order-shipped',
      input: {
        email: { recipients: ['customer@example.com'], subject: { orderId: '1' }, template: { trackingUrl: 'https://t' } },
        sms: { recipients: [], body: { tracking: 'x' } },
      },
    });
    assert.equal(result.success, true);
    assert.equal(result.channels.email.success, true);
    assert.equal(result.channels.sms.success, false);
    assert.equal(result.channels.sms.errorCode, 'invalid_argument');
    assert.equal(result.channels.sms.errorField, 'input.sms.recipients');
    assert.equal(typeof result.channels.sms.error, 'string');
  });

  it('no channel accepted: success false with each error, not a throw; a bad request as a whole throws', async () => {
    const result = await herald.notifications.send({
      product: 'my-app',
      env: 'prd',
      event: 'alerts:order-shipped',
      input: { sms: { recipients: [] }, email: { recipients: [] } },
    });
    assert.equal(result.success, false);
    assert.equal(result.channels.sms.success, false);
    assert.equal(result.channels.email.errorField, 'input.email.recipients');
    const err = await herald.notifications.send({ product: 'nope', env: 'prd', event: 'alerts', input: { sms: { recipients: ['+1'] } } }).catch((e) => e);
    assert.ok(err instanceof HeraldError);
    assert.equal(err.status, 400);
    assert.equal(err.field, 'product');
  });
});

describe('idempotent sends', () => {
  it('idempotent: true generates a cache tag, kept in the log entry', async () => {
    const rec = recordingFetch();
    const c = new Herald({ baseUrl: h.url, apiKey: KEY, fetch: rec.fetch });
    const r = await c.notifications.callback.send({
      product: 'my-app',
      env: 'prd',
      notification: 'webhooks:order-created',
      input: { body: { n: 1 } },
      idempotent: true,
    });
    const sent = JSON.parse(rec.calls[0].body);
    assert.match(sent.cache, /^sdk-[0-9a-f-]{36}$/);
    assert.equal('idempotent' in sent, false);
    const m = await herald.notifications.getMessage(r.messageId);
    assert.equal(m.cache, sent.cache);
    // A given cache tag is kept as it is.
    const r2 = await c.notifications.callback.send({
      product: 'my-app', env: 'prd', notification: 'webhooks:order-created', input: { body: { n: 2 } }, cache: sent.cache, idempotent: true,
    });
    assert.equal(JSON.parse(rec.calls[1].body).cache, sent.cache);
    assert.equal(r2.deduplicated, true);
    assert.equal(r2.messageId, r.messageId);
  });

  it('a send whose answer was lost is retried with the same tag: one message, deduplicated', async () => {
    // Herald gets and accepts the first request; its answer is replaced by a
    // 503 on the way back, as a proxy that timed out would. The SDK retries
    // with the same cache tag and Herald answers the first message.
    const marker = randomId('lost');
    const seen = [];
    let first;
    const lossy = async (url, init) => {
      const res = await fetch(url, init);
      seen.push({ status: res.status, body: JSON.parse(init.body) });
      if (seen.length === 1) {
        first = await res.json();
        return new Response('{"error":{"code":"unavailable","message":"answer lost"}}', { status: 503, headers: { 'Retry-After': '0' } });
      }
      return res;
    };
    const c = new Herald({ baseUrl: h.url, apiKey: KEY, fetch: lossy });
    const r = await c.notifications.callback.send({
      product: 'my-app', env: 'prd', notification: 'webhooks:order-created', input: { body: { marker } }, idempotent: true,
    });
    assert.equal(seen.length, 2);
    assert.equal(seen[0].body.cache, seen[1].body.cache);
    assert.equal(seen[1].status, 200);
    assert.equal(r.deduplicated, true);
    assert.equal(r.messageId, first.messageId);
    await waitStatus(r.messageId, 'sent');
    const all = await herald.notifications.getMessages({ notification_tag: 'webhooks', limit: 200 });
    assert.equal(all.items.filter((m) => m.input?.body?.marker === marker).length, 1);
  });
});
