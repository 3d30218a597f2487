// A real Herald for the SDK's tests: its own redis-server on a free port,
// the herald binary (`herald serve`, NATS JetStream embedded) with a
// config of its own and loopback providers: an HTTP receiver for callbacks
// (and Expo push, and an SMS gateway) and an SMTP sink for email. Nothing
// here stands in for Herald: every call of a test goes to the real server.
import { spawn, execFileSync } from 'node:child_process';
import { createHash, createHmac, randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync, existsSync } from 'node:fs';
import http from 'node:http';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

export const sdkRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
export const repoRoot = path.resolve(sdkRoot, '..', '..');

export const KEY = 'hk_sdk_test_acme_all_scopes_0000000000000000';
export const READ_KEY = 'hk_sdk_test_acme_read_only_00000000000000000';
export const LIMITED_KEY = 'hk_sdk_test_acme_rate_limited_000000000000000';
export const GLOBEX_KEY = 'hk_sdk_test_globex_all_scopes_00000000000000';
/** The callbacks' Standard Webhooks secret (whsec_ + base64 of 24 bytes). */
export const HOOK_SECRET = 'whsec_' + Buffer.from('sdk-test-hook-secret-0123').toString('base64');
/** The HS256 secret of the session tag user-session (at least 32 bytes). */
export const SESSION_SECRET = 'sdk-test-session-secret-0123456789abcdef';

const sha256 = (s) => createHash('sha256').update(s).digest('hex');

/** Polls fn until it returns something truthy, for up to timeoutMs (never a fixed sleep). */
export async function eventually(fn, { timeoutMs = 60_000, intervalMs = 50, what = 'condition' } = {}) {
  const deadline = Date.now() + timeoutMs;
  let last;
  for (;;) {
    try {
      const v = await fn();
      if (v) return v;
    } catch (e) {
      last = e;
    }
    if (Date.now() > deadline) {
      throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}${last ? `: ${last.message}` : ''}`);
    }
    await new Promise((r) => setTimeout(r, intervalMs));
  }
}

export async function freePort() {
  return new Promise((resolve, reject) => {
    const s = net.createServer();
    s.unref();
    s.on('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address();
      s.close(() => resolve(port));
    });
  });
}

/** The herald binary: $HERALD_BIN (test/run.mjs builds it once per run), else built here. */
export function heraldBinary() {
  if (process.env.HERALD_BIN && existsSync(process.env.HERALD_BIN)) return process.env.HERALD_BIN;
  const dir = mkdtempSync(path.join(os.tmpdir(), 'herald-sdk-bin-'));
  const bin = path.join(dir, 'herald');
  execFileSync('go', ['build', '-o', bin, './cmd/herald'], { cwd: repoRoot, stdio: 'inherit' });
  process.env.HERALD_BIN = bin;
  return bin;
}

/** An HS256 JWT for the session tag user-session. */
export function sessionToken(claims = {}) {
  const b64 = (o) => Buffer.from(JSON.stringify(o)).toString('base64url');
  const now = Math.floor(Date.now() / 1000);
  const head = b64({ alg: 'HS256', typ: 'JWT' });
  const body = b64({ sub: 'user-1', iat: now, exp: now + 3600, ...claims });
  const sig = createHmac('sha256', SESSION_SECRET).update(`${head}.${body}`).digest('base64url');
  return `${head}.${body}.${sig}`;
}

async function startRedis(dir) {
  const port = await freePort();
  const proc = spawn(
    'redis-server',
    ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--dir', dir, '--daemonize', 'no', '--logfile', path.join(dir, 'redis.log')],
    { stdio: 'ignore' },
  );
  let exited = null;
  proc.on('exit', (code) => (exited = code));
  proc.on('error', (e) => (exited = e));
  await eventually(
    () => {
      if (exited !== null) throw new Error(`redis-server exited: ${exited}`);
      return new Promise((resolve) => {
        const c = net.connect(port, '127.0.0.1');
        c.on('error', () => resolve(false));
        c.on('data', (d) => {
          resolve(d.toString().startsWith('+PONG'));
          c.destroy();
        });
        c.write('PING\r\n');
      });
    },
    { timeoutMs: 30_000, what: 'redis-server' },
  );
  return { url: `redis://127.0.0.1:${port}/0`, stop: () => stop(proc) };
}

function stop(proc) {
  if (!proc || proc.exitCode !== null || proc.signalCode !== null) return Promise.resolve();
  return new Promise((resolve) => {
    const t = setTimeout(() => proc.kill('SIGKILL'), 15_000);
    proc.once('exit', () => {
      clearTimeout(t);
      resolve();
    });
    proc.kill('SIGTERM');
  });
}

/**
 * The loopback receiver: records every request; /fail/<status>/... answers
 * that status; /expo/--/api/v2/push/send speaks Expo's push API; /gateway is
 * an SMS gateway; anything else answers 200.
 */
async function startReceiver() {
  const requests = [];
  const held = [];
  const server = http.createServer((req, res) => {
    const chunks = [];
    req.on('data', (c) => chunks.push(c));
    req.on('end', () => {
      const body = Buffer.concat(chunks).toString('utf8');
      requests.push({ method: req.method, path: req.url, headers: req.headers, body, at: Date.now() });
      if (req.url?.startsWith('/hold/')) {
        // Held until release() (or 1.5 s, under the delivery timeout): the
        // message stays pending meanwhile.
        const answer = (status) => {
          if (res.writableEnded) return;
          res.writeHead(status, { 'Content-Type': 'application/json' });
          res.end('{}');
        };
        const t = setTimeout(() => answer(503), 1500);
        held.push(() => (clearTimeout(t), answer(200)));
        return;
      }
      const fail = /^\/fail\/(\d{3})\//.exec(req.url ?? '');
      if (fail) {
        res.writeHead(Number(fail[1]), { 'Content-Type': 'application/json' });
        return res.end('{"error":"failing on purpose"}');
      }
      if (req.url === '/expo/--/api/v2/push/send') {
        let msgs = [];
        try {
          msgs = JSON.parse(body);
        } catch {}
        if (!Array.isArray(msgs)) msgs = [msgs];
        res.writeHead(200, { 'Content-Type': 'application/json' });
        return res.end(JSON.stringify({ data: msgs.map((m, i) => ({ status: 'ok', id: `ticket-${i}-${m.to}` })) }));
      }
      res.writeHead(200, { 'Content-Type': 'application/json' });
      res.end('{"ok":true}');
    });
  });
  await new Promise((r) => server.listen(0, '127.0.0.1', r));
  const url = `http://127.0.0.1:${server.address().port}`;
  return {
    url,
    requests,
    /** Waits for a request matching pred. */
    waitFor: (pred, what = 'a request at the receiver') => eventually(() => requests.find(pred), { what }),
    /** Answers every held request 200. */
    release: () => held.splice(0).forEach((f) => f()),
    close: () => new Promise((r) => { held.splice(0).forEach((f) => f()); server.closeAllConnections?.(); server.close(() => r()); }),
  };
}

/** A minimal SMTP server (no TLS, no auth) that keeps every message it is given. */
async function startSMTP() {
  const messages = [];
  const server = net.createServer((sock) => {
    let buf = '';
    let inData = false;
    let cur = { from: '', to: [], data: '' };
    sock.setEncoding('utf8');
    sock.write('220 sdk-test ESMTP\r\n');
    sock.on('error', () => {});
    sock.on('data', (chunk) => {
      buf += chunk;
      for (;;) {
        if (inData) {
          const end = buf.indexOf('\r\n.\r\n');
          if (end < 0) return;
          cur.data = buf.slice(0, end);
          buf = buf.slice(end + 5);
          inData = false;
          messages.push(cur);
          cur = { from: '', to: [], data: '' };
          sock.write('250 2.0.0 queued\r\n');
          continue;
        }
        const nl = buf.indexOf('\r\n');
        if (nl < 0) return;
        const line = buf.slice(0, nl);
        buf = buf.slice(nl + 2);
        const verb = line.slice(0, 4).toUpperCase();
        if (verb === 'EHLO') sock.write('250-sdk-test\r\n250-8BITMIME\r\n250 SMTPUTF8\r\n');
        else if (verb === 'HELO') sock.write('250 sdk-test\r\n');
        else if (verb === 'MAIL') (cur.from = line.slice(10).trim()), sock.write('250 2.1.0 ok\r\n');
        else if (verb === 'RCPT') cur.to.push(line.slice(8).trim()), sock.write('250 2.1.5 ok\r\n');
        else if (verb === 'DATA') (inData = true), sock.write('354 go ahead\r\n');
        else if (verb === 'RSET') (cur = { from: '', to: [], data: '' }), sock.write('250 ok\r\n');
        else if (verb === 'NOOP') sock.write('250 ok\r\n');
        else if (verb === 'QUIT') sock.end('221 bye\r\n');
        else sock.write('502 5.5.2 not implemented\r\n');
      }
    });
  });
  await new Promise((r) => server.listen(0, '127.0.0.1', r));
  return { port: server.address().port, messages, close: () => new Promise((r) => server.close(() => r())) };
}

function config({ redisUrl, dataDir, receiver, smtpPort }) {
  const allScopes = '[notifications:send, notifications:read, notifications:reprocess, jobs:write, jobs:read]';
  return `
http_addr: "127.0.0.1:0"
redis_url: "${redisUrl}"
data_dir: "${dataDir}"
allow_private_networks: true
log: { level: info, format: json }
nats: { listen: "127.0.0.1:-1", ack_wait: 5s }
delivery:
  retries: 2
  backoff_initial: 50ms
  backoff_max: 200ms
  timeout: 2s
breaker: { failures: 100, open_for: 300ms }
scheduler: { poll_interval: 20ms }
workspaces:
  - id: acme
    keys:
      - { name: all, sha256: "${sha256(KEY)}", scopes: ${allScopes} }
      - { name: reader, sha256: "${sha256(READ_KEY)}", scopes: [notifications:read] }
      - { name: limited, sha256: "${sha256(LIMITED_KEY)}", scopes: [notifications:read], rate_limit: { per_second: 1, burst: 1 } }
    products:
      - tag: my-app
        id: prod_my_app
        envs: [dev, prd]
        sessions:
          - { tag: user-session, hs256_secret_env: SDK_TEST_SESSION_SECRET }
        notifications:
          - tag: alerts
            messages:
              - tag: welcome
                push: { provider: expo-main, title: "Welcome, {{.name}}", body: "{{.message}}" }
              - tag: personalized
                push: { provider: expo-main, title: "{{.greeting}}", body: "{{.message}}" }
              - tag: order-shipped
                push: { provider: expo-main, title: "{{.status}}", body: "{{.message}}" }
                email: { provider: smtp-main, from: "shop@example.com", subject: "Order {{.orderId}} shipped", template: "<p>Track it at {{.trackingUrl}}</p>" }
                sms: { provider: gateway, body: "Shipped: {{.tracking}}" }
          - tag: emails
            messages:
              - tag: order-confirmation
                email: { provider: smtp-main, from: "shop@example.com", subject: "Order {{.orderId}}", template: "<p>Hi {{.customerName}}, your total is {{.orderTotal}}.</p>" }
          - tag: sms
            messages:
              - tag: verification
                sms: { provider: gateway, body: "Your code is {{.code}}" }
          - tag: webhooks
            messages:
              - tag: order-created
                callback: { url: "${receiver}/hooks/order-created", method: POST, secret_env: SDK_TEST_HOOK_SECRET }
              - tag: flaky
                callback: { url: "${receiver}/fail/503/flaky" }
              - tag: gone
                callback: { url: "${receiver}/fail/404/gone" }
              - tag: slow
                callback: { url: "${receiver}/hold/slow" }
          - tag: reminders
            messages:
              - tag: payment-due
                push: { provider: expo-main, title: "{{.name}} due", body: "{{.message}}" }
                callback: { url: "${receiver}/hooks/reminders/{id}" }
    providers:
      smtp-main: { type: smtp, host: 127.0.0.1, port: ${smtpPort}, tls: none }
      expo-main: { type: expo, base_url: "${receiver}/expo" }
      gateway: { type: http, url: "${receiver}/gateway", body: '{"to": {{json .To}}, "text": {{json .Body}}}' }
  - id: globex
    keys:
      - { name: all, sha256: "${sha256(GLOBEX_KEY)}", scopes: ${allScopes} }
    products:
      - tag: my-app
        envs: [prd]
        notifications:
          - tag: webhooks
            messages:
              - tag: order-created
                callback: { url: "${receiver}/globex/order-created" }
`;
}

/**
 * Starts redis-server, the loopback providers and `herald serve`, and waits
 * until /readyz answers 200. Call stop() when done.
 */
export async function startHerald() {
  const bin = heraldBinary();
  const dir = mkdtempSync(path.join(os.tmpdir(), 'herald-sdk-test-'));
  const redis = await startRedis(dir);
  const receiver = await startReceiver();
  const smtp = await startSMTP();
  const cfgPath = path.join(dir, 'herald.yaml');
  writeFileSync(cfgPath, config({ redisUrl: redis.url, dataDir: path.join(dir, 'data'), receiver: receiver.url, smtpPort: smtp.port }));
  const env = { ...process.env, SDK_TEST_HOOK_SECRET: HOOK_SECRET, SDK_TEST_SESSION_SECRET: SESSION_SECRET };
  for (const k of Object.keys(env)) if (k.startsWith('HERALD_')) delete env[k];
  const proc = spawn(bin, ['serve', '--config', cfgPath], { env, stdio: ['ignore', 'pipe', 'pipe'] });
  let log = '';
  let addr = null;
  const onData = (d) => {
    log += d.toString();
    if (log.length > 1 << 20) log = log.slice(-(1 << 19));
    if (!addr) {
      for (const line of log.split('\n')) {
        if (!line.includes('http listening')) continue;
        try {
          addr = JSON.parse(line).addr;
        } catch {}
      }
    }
  };
  proc.stdout.on('data', onData);
  proc.stderr.on('data', onData);
  let exit = null;
  proc.on('exit', (code, sig) => (exit = `${code ?? sig}`));
  const stopAll = async () => {
    await stop(proc);
    await redis.stop();
    await receiver.close();
    await smtp.close();
    rmSync(dir, { recursive: true, force: true });
  };
  try {
    await eventually(
      async () => {
        if (exit !== null) throw new Error(`herald serve exited (${exit}):\n${log.slice(-4000)}`);
        if (!addr) return false;
        const r = await fetch(`http://${addr}/readyz`);
        return r.status === 200;
      },
      { timeoutMs: 90_000, intervalMs: 100, what: 'herald serve to be ready' },
    );
  } catch (e) {
    await stopAll();
    throw new Error(`${e.message}\n--- herald log ---\n${log.slice(-4000)}`);
  }
  return {
    url: `http://${addr}`,
    receiver,
    smtp,
    log: () => log,
    stop: stopAll,
  };
}

export function randomId(prefix = 'x') {
  return `${prefix}-${randomBytes(6).toString('hex')}`;
}
