// The package as a user installs it: both builds load through the exports
// map (import and require of @heraldhq/herald), each with its .d.ts; no
// runtime dependency; nothing in dist imports a Node built-in statically
// (so bundlers for browsers need no polyfill).
import assert from 'node:assert/strict';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import { describe, it } from 'node:test';
import { sdkRoot } from './helpers/herald.mjs';

const pkg = JSON.parse(readFileSync(path.join(sdkRoot, 'package.json'), 'utf8'));
const names = ['Herald', 'HeraldError', 'WebhookVerificationError', 'verifyWebhook', 'signWebhook', 'PagePromise'];

describe('package', () => {
  it('is @heraldhq/herald with no runtime dependencies, for Node 18+', () => {
    assert.equal(pkg.name, '@heraldhq/herald');
    assert.equal(pkg.dependencies, undefined);
    assert.equal(pkg.peerDependencies, undefined);
    assert.equal(pkg.engines.node, '>=18');
    assert.ok(existsSync(path.join(sdkRoot, 'package-lock.json')));
  });

  it('import resolves the ES module build', async () => {
    const m = await import('@heraldhq/herald');
    for (const n of names) assert.equal(typeof m[n], 'function', n);
    if (typeof import.meta.resolve === 'function') {
      assert.match(await import.meta.resolve('@heraldhq/herald'), /dist\/esm\/index\.js$/);
    }
  });

  it('require resolves the CommonJS build, the same API', () => {
    const require = createRequire(import.meta.url);
    assert.match(require.resolve('@heraldhq/herald'), /dist\/cjs\/index\.js$/);
    const m = require('@heraldhq/herald');
    for (const n of names) assert.equal(typeof m[n], 'function', n);
    const h = new m.Herald({ baseUrl: 'http://127.0.0.1:1', apiKey: 'k' });
    assert.equal(typeof h.notifications.email.send, 'function');
    assert.ok(new m.HeraldError({ status: 400, code: 'x', message: 'm' }) instanceof Error);
  });

  it('ships declarations for both builds', () => {
    for (const build of ['esm', 'cjs']) {
      const d = readFileSync(path.join(sdkRoot, 'dist', build, 'index.d.ts'), 'utf8');
      assert.match(d, /export declare class Herald/);
      const types = readFileSync(path.join(sdkRoot, 'dist', build, 'types.d.ts'), 'utf8');
      for (const t of ['IEmailOptions', 'IPushOptions', 'ISmsOptions', 'ICallbackOptions', 'INotificationResult', 'IMultiChannelNotificationResult', 'INotificationMessageLogEntry', 'INotificationMessageLogResult']) {
        assert.match(types, new RegExp(`interface ${t}\\b`), `${build}: ${t}`);
      }
    }
    assert.equal(pkg.exports['.'].import.types, './dist/esm/index.d.ts');
    assert.equal(pkg.exports['.'].require.types, './dist/cjs/index.d.ts');
  });

  it('imports no Node built-in statically', () => {
    for (const build of ['esm', 'cjs']) {
      const d = path.join(sdkRoot, 'dist', build);
      for (const f of readdirSync(d).filter((x) => x.endsWith('.js'))) {
        const src = readFileSync(path.join(d, f), 'utf8');
        assert.doesNotMatch(src, /from ['"]node:|require\(['"](node:)?(crypto|http|https|fs|buffer|url)['"]\)/, `${build}/${f}`);
      }
    }
  });
});
