// verifyWebhook against the official Standard Webhooks library
// (standardwebhooks, a devDependency only): the cases of its own test
// suite, each checked to get the same verdict from both, its sign vector,
// and random messages signed by the library. (Herald's own signed
// callbacks are verified in sending.test.mjs.)
import assert from 'node:assert/strict';
import { createHmac, randomBytes } from 'node:crypto';
import { describe, it } from 'node:test';
import { Webhook, WebhookVerificationError as OfficialError } from 'standardwebhooks';
import { signWebhook, verifyWebhook, WebhookVerificationError } from '../dist/esm/index.js';
import * as cjs from '../dist/cjs/index.js';

const msgId = 'msg_p5jXN8AQM9LWM0D4loKWxJek';
const payload = '{"test": 2432232314}';
const secret = 'MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw';
const toleranceMs = 5 * 60 * 1000;

/** The library's TestPayload: headers signed over id.timestamp.payload. */
function testPayload(timestampMs = Date.now()) {
  const ts = Math.floor(timestampMs / 1000);
  const sig = createHmac('sha256', Buffer.from(secret, 'base64')).update(`${msgId}.${ts}.${payload}`).digest('base64');
  return { payload, header: { 'webhook-id': msgId, 'webhook-signature': `v1,${sig}`, 'webhook-timestamp': String(ts) } };
}

async function verdicts(key, p) {
  let official;
  try {
    official = { ok: true, value: new Webhook(key).verify(p.payload, p.header) };
  } catch (e) {
    assert.ok(e instanceof OfficialError, `the library threw ${e}`);
    official = { ok: false };
  }
  let ours;
  try {
    ours = { ok: true, value: await verifyWebhook(key, p.header, p.payload) };
  } catch (e) {
    assert.ok(e instanceof WebhookVerificationError, `verifyWebhook threw ${e}`);
    ours = { ok: false };
  }
  return { official, ours };
}

// The cases of the library's webhook.test.ts.
const cases = [
  ['missing id', (p) => delete p.header['webhook-id'], false],
  ['missing timestamp', (p) => delete p.header['webhook-timestamp'], false],
  ['invalid timestamp', (p) => (p.header['webhook-timestamp'] = 'hello'), false],
  ['missing signature', (p) => delete p.header['webhook-signature'], false],
  ['invalid signature', (p) => (p.header['webhook-signature'] = 'v1,dawfeoifkpqwoekfpqoekf'), false],
  ['partial signature', (p) => (p.header['webhook-signature'] = p.header['webhook-signature'].slice(0, 8)), false],
  ['empty v1 signature', (p) => (p.header['webhook-signature'] = 'v1,'), false],
  ['valid signature', () => {}, true],
  // Offsets from the time the case runs, 10 s past the tolerance (whole seconds are compared).
  ['old timestamp', null, false, -toleranceMs - 10_000],
  ['new timestamp', null, false, toleranceMs + 10_000],
  ['timestamp just inside the tolerance', null, true, -toleranceMs + 10_000],
  [
    'multi signature, one valid',
    (p) =>
      (p.header['webhook-signature'] = [
        'v1,Ceo5qEr07ixe2NLpvHk3FH9bwy/WavXrAFQ/9tdO6mc=',
        'v2,Ceo5qEr07ixe2NLpvHk3FH9bwy/WavXrAFQ/9tdO6mc=',
        p.header['webhook-signature'],
        'v1,Ceo5qEr07ixe2NLpvHk3FH9bwy/WavXrAFQ/9tdO6mc=',
      ].join(' ')),
    true,
  ],
  ['valid signature, other version only', (p) => (p.header['webhook-signature'] = p.header['webhook-signature'].replace('v1,', 'v2,')), false],
  ['tampered body', (p) => (p.payload = p.payload.replace('2432232314', '2432232315')), false],
];

describe('verifyWebhook and the official library agree', () => {
  for (const [name, mutate, want, offset = 0] of cases) {
    for (const key of [secret, `whsec_${secret}`]) {
      it(`${name} (${key.startsWith('whsec_') ? 'whsec_ prefix' : 'no prefix'})`, async () => {
        const p = testPayload(Date.now() + offset);
        mutate?.(p);
        const { official, ours } = await verdicts(key, p);
        assert.equal(official.ok, want, 'the library disagrees with its own test suite');
        assert.equal(ours.ok, official.ok);
        if (want) assert.deepEqual(ours.value, official.value);
      });
    }
  }

  it("the library's sign vector, and signWebhook matches the library's sign", async () => {
    const key = 'whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw';
    const ts = new Date(1614265330 * 1000);
    const expected = 'v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=';
    assert.equal(new Webhook(key).sign(msgId, ts, payload), expected);
    assert.equal(await signWebhook(key, msgId, ts, payload), expected);
    const headers = { 'webhook-id': msgId, 'webhook-timestamp': '1614265330', 'webhook-signature': expected };
    assert.deepEqual(await verifyWebhook(key, headers, payload, { now: 1614265330 * 1000 }), { test: 2432232314 });
  });

  it('random keys, ids and bodies signed by the library verify; a changed byte does not', async () => {
    for (let i = 0; i < 50; i++) {
      const key = `whsec_${randomBytes(24).toString('base64')}`;
      const id = `msg_${randomBytes(8).toString('hex')}`;
      const body = JSON.stringify({ i, s: randomBytes(i * 3).toString('base64'), u: 'é✓' });
      const now = new Date();
      const headers = { 'webhook-id': id, 'webhook-timestamp': String(Math.floor(now / 1000)), 'webhook-signature': new Webhook(key).sign(id, now, body) };
      assert.deepEqual(await verifyWebhook(key, headers, body), JSON.parse(body));
      assert.equal(await signWebhook(key, id, now, body), headers['webhook-signature']);
      await assert.rejects(verifyWebhook(key, { ...headers, 'webhook-id': `${id}x` }, body), WebhookVerificationError);
    }
  });

  it('a raw key as bytes (a secret without whsec_, as Herald uses it)', async () => {
    const raw = new TextEncoder().encode('plain-secret-without-prefix');
    const now = Date.now();
    const sig = createHmac('sha256', Buffer.from(raw)).update(`m1.${Math.floor(now / 1000)}.{}`).digest('base64');
    const headers = { 'Webhook-Id': 'm1', 'Webhook-Timestamp': String(Math.floor(now / 1000)), 'Webhook-Signature': `v1,${sig}` };
    assert.deepEqual(await verifyWebhook(raw, headers, '{}'), {});
    await assert.rejects(verifyWebhook('', headers, '{}'), TypeError);
  });

  it('any garbage in the headers is a WebhookVerificationError, never another error', async () => {
    const pick = (a) => a[Math.floor(Math.random() * a.length)];
    const junk = () =>
      pick([
        '', ' ', 'v1,', 'v1', ',', 'v1,!!!', 'v1,====', 'v2,abc', `v1,${randomBytes(32).toString('base64')}`, randomBytes(8).toString('hex'),
        '-1', '1e3', String(Math.floor(Date.now() / 1000)), '\u0000', 'é', 'v1,' + 'A'.repeat(10000),
      ]);
    for (let i = 0; i < 500; i++) {
      const headers = {};
      for (const k of ['webhook-id', 'webhook-timestamp', 'webhook-signature']) if (Math.random() < 0.9) headers[k] = pick([junk(), [junk(), junk()]]);
      const body = pick(['', '{}', randomBytes(16), new Uint8Array(0).buffer]);
      await assert.rejects(verifyWebhook(secret, headers, body), WebhookVerificationError, JSON.stringify(headers));
    }
  });

  it('the CommonJS build verifies the same', async () => {
    const p = testPayload();
    assert.deepEqual(await cjs.verifyWebhook(secret, p.header, p.payload), JSON.parse(payload));
    await assert.rejects(cjs.verifyWebhook(secret, p.header, `${p.payload} `), cjs.WebhookVerificationError);
  });
});
