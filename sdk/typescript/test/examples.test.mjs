// Every ```ts block of README.md (and of the repository's README.md, which
// points here), run against a real herald serve in the README's order, and type-checked (as written) against the built .d.ts
// with tsc. A line `console.log(x); // v`, where v is JSON or a
// single-quoted string, asserts that x equals v, and must run. A block
// without an import gets the README's `herald` client; a block that
// exports POST (the webhook receiver) is called with a callback Herald
// really signed and sent.
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { pathToFileURL } from 'node:url';
import ts from 'typescript';
import { Herald } from '../dist/esm/index.js';
import { eventually, HOOK_SECRET, KEY, repoRoot, sdkRoot, sessionToken, startHerald } from './helpers/herald.mjs';

const docs = [
  ['README.md', readFileSync(path.join(sdkRoot, 'README.md'), 'utf8')],
  ['../../README.md', readFileSync(path.join(repoRoot, 'README.md'), 'utf8')],
];
const dir = path.join(sdkRoot, '.examples');
const prelude = `import { Herald } from '@heraldhq/herald';\nconst herald = new Herald({ baseUrl: process.env.HERALD_URL!, apiKey: process.env.HERALD_KEY! });\n`;

/** The ts blocks of a document with their first line number. */
function blocks(doc, text) {
  const out = [];
  const lines = text.split('\n');
  for (let i = 0; i < lines.length; i++) {
    if (lines[i].trim() !== '```ts') continue;
    const start = i + 1;
    let j = start;
    while (j < lines.length && lines[j].trim() !== '```') j++;
    out.push({ doc, line: start + 1, code: lines.slice(start, j).join('\n') + '\n' });
    i = j;
  }
  return out;
}

const examples = docs.flatMap(([doc, text]) => blocks(doc, text)).map((b, n) => {
  const standalone = /^import /m.test(b.code);
  return { ...b, n, file: `example${String(n).padStart(2, '0')}`, source: standalone ? b.code : prelude + b.code, offset: standalone ? 0 : 2 };
});

/** Parses `// value` comments: JSON or 'single-quoted'. */
function expected(comment) {
  const c = comment.trim();
  const q = /^'((?:[^'\\]|\\.)*)'$/.exec(c);
  if (q) return { ok: true, value: q[1] };
  try {
    return { ok: true, value: JSON.parse(c) };
  } catch {
    return { ok: false };
  }
}

/** Rewrites asserted console.log lines into __expect(id, value) calls. */
function instrument(ex) {
  const checks = [];
  const lines = ex.source.split('\n').map((line, i) => {
    const m = /^(\s*)console\.log\((.*)\);\s*\/\/(.*)$/.exec(line);
    if (!m) return line;
    const want = expected(m[3]);
    if (!want.ok) return line;
    const id = checks.length;
    checks.push({ where: `${ex.doc}:${ex.line + i - ex.offset}`, want: want.value, text: line.trim(), hits: 0 });
    return `${m[1]}__expect(${ex.n}, ${id}, ${m[2]});`;
  });
  return { code: lines.join('\n'), checks };
}

let h;
const registry = new Map();
globalThis.__expect = (n, id, got) => {
  const c = registry.get(n)[id];
  c.hits++;
  assert.deepEqual(got, c.want, `${c.where}: ${c.text}`);
};

before(async () => {
  h = await startHerald();
  process.env.HERALD_URL = h.url;
  process.env.HERALD_KEY = KEY;
  process.env.USER_JWT = sessionToken();
  process.env.ACME_HOOK_SECRET = HOOK_SECRET;
  // The README's reprocessing and undelivered examples read failed messages.
  const herald = new Herald({ baseUrl: h.url, apiKey: KEY });
  const { messageId } = await herald.notifications.callback.send({ product: 'my-app', env: 'prd', notification: 'webhooks:gone', input: { body: { seed: true } } });
  await eventually(async () => (await herald.notifications.getMessage(messageId)).status === 'failed', { what: 'a failed message' });
  rmSync(dir, { recursive: true, force: true });
  mkdirSync(dir, { recursive: true });
});
after(async () => {
  rmSync(dir, { recursive: true, force: true });
  await h?.stop();
});

describe('README.md examples', () => {
  it('has examples of every part of the SDK', () => {
    assert.ok(examples.some((e) => e.doc === '../../README.md'), "the repository's README has its example");
    const all = examples.map((e) => e.code).join('\n');
    for (const call of [
      'notifications.email.send', 'notifications.push.send', 'notifications.sms.send', 'notifications.callback.send',
      'notifications.send(', 'notifications.dispatch', 'notifications.getMessages', 'notifications.messages', 'notifications.getMessage(',
      'notifications.attempts', 'notifications.reprocess(', 'notifications.reprocessMany', 'notifications.updateStatus',
      'sendLogs.get', 'sendLogs.search', 'herald.undelivered', 'jobs.list', 'jobs.get', 'jobs.pause', 'jobs.resume', 'jobs.cancel',
      'HeraldError', 'verifyWebhook', 'idempotent: true',
    ]) {
      assert.ok(all.includes(call), `no README example uses ${call}`);
    }
  });

  it('type-check against the built .d.ts (tsc --noEmit, strict)', () => {
    for (const ex of examples) writeFileSync(path.join(dir, `${ex.file}.ts`), ex.source);
    writeFileSync(
      path.join(dir, 'tsconfig.json'),
      JSON.stringify({
        compilerOptions: {
          target: 'ES2022', module: 'NodeNext', moduleResolution: 'NodeNext', strict: true, noEmit: true,
          skipLibCheck: true, lib: ['ES2022', 'DOM'], types: ['node'],
        },
        include: ['*.ts'],
      }),
    );
    const tsc = createRequire(import.meta.url).resolve('typescript/bin/tsc');
    try {
      execFileSync(process.execPath, [tsc, '-p', dir], { cwd: sdkRoot, encoding: 'utf8', stdio: 'pipe' });
    } catch (e) {
      // Map example files back to README lines.
      const out = String(e.stdout).replace(/example(\d\d)\.ts\((\d+),(\d+)\)/g, (_, n, l) => {
        const ex = examples[Number(n)];
        return `${ex.doc}:${ex.line + Number(l) - 1 - ex.offset}`;
      });
      assert.fail(`README examples do not type-check:\n${out}`);
    }
  });

  for (const ex of examples) {
    const title = ex.code.split('\n').find((l) => l.trim() && !l.startsWith('import') && !l.startsWith('//')) ?? '';
    it(`${ex.doc}:${ex.line} ${title.trim().slice(0, 60)}`, { timeout: 120_000 }, async () => {
      const { code, checks } = instrument(ex);
      registry.set(ex.n, checks);
      const js = ts.transpileModule(code, { compilerOptions: { module: ts.ModuleKind.ESNext, target: ts.ScriptTarget.ES2022 } }).outputText;
      const file = path.join(dir, `${ex.file}.mjs`);
      writeFileSync(file, js);
      const logged = [];
      const log = console.log;
      console.log = (...a) => logged.push(a.join(' '));
      let mod;
      try {
        mod = await import(pathToFileURL(file).href);
      } finally {
        console.log = log;
      }
      for (const c of checks) assert.ok(c.hits > 0, `${c.where} never ran: ${c.text}`);
      if (typeof mod.POST === 'function') await receiverExample(mod.POST);
    });
  }
});

/** Calls the README's webhook route with a callback Herald signed, and a forged one. */
async function receiverExample(POST) {
  const herald = new Herald({ baseUrl: h.url, apiKey: KEY });
  const { messageId } = await herald.notifications.callback.send({
    product: 'my-app', env: 'prd', notification: 'webhooks:order-created', input: { body: { orderId: 'readme-1' } },
  });
  const got = await h.receiver.waitFor((r) => r.headers['webhook-id'] === messageId, 'the signed callback');
  const request = (body) =>
    new Request('http://receiver.test/hooks', { method: 'POST', headers: Object.entries(got.headers).map(([k, v]) => [k, String(v)]), body });
  const logged = [];
  const log = console.log;
  console.log = (...a) => logged.push(a.join(' '));
  try {
    assert.equal((await POST(request(got.body))).status, 204);
    assert.equal((await POST(request(got.body.replace('readme-1', 'readme-2')))).status, 401);
  } finally {
    console.log = log;
  }
  assert.ok(logged.some((l) => l.includes('readme-1') && l.includes(messageId)), logged.join('\n'));
}
