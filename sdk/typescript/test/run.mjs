// npm test: builds the herald binary once for the whole run (every test
// file starts its own `herald serve` from it), then node's test runner
// over test/*.test.mjs, one file at a time (a 2-core machine runs one
// Herald at a time comfortably).
import { execFileSync, spawnSync } from 'node:child_process';
import { mkdtempSync, readdirSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { repoRoot, sdkRoot } from './helpers/herald.mjs';

let dir;
if (!process.env.HERALD_BIN) {
  dir = mkdtempSync(path.join(os.tmpdir(), 'herald-sdk-bin-'));
  process.env.HERALD_BIN = path.join(dir, 'herald');
  console.log(`building ${process.env.HERALD_BIN} (go build ./cmd/herald)`);
  execFileSync('go', ['build', '-o', process.env.HERALD_BIN, './cmd/herald'], { cwd: repoRoot, stdio: 'inherit' });
}
const testDir = path.join(sdkRoot, 'test');
const files = process.argv.length > 2
  ? process.argv.slice(2)
  : readdirSync(testDir).filter((f) => f.endsWith('.test.mjs')).sort().map((f) => path.join(testDir, f));
// --test-concurrency is Node 20.10+; older runners take files one at a time on 2 cores anyway.
const [major, minor] = process.versions.node.split('.').map(Number);
const flags = major > 20 || (major === 20 && minor >= 10) ? ['--test-concurrency=1'] : [];
const r = spawnSync(process.execPath, ['--test', ...flags, ...files], { stdio: 'inherit', cwd: sdkRoot });
if (dir) rmSync(dir, { recursive: true, force: true });
process.exit(r.status ?? 1);
