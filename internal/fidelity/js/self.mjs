// Answers which independent clients are installed, with their versions:
// the harness's own check that package-lock.json was installed as locked.
import { readFileSync } from "node:fs";
const input = JSON.parse(readFileSync(0, "utf8"));
const versions = {};
for (const name of input.packages) {
  const pkg = JSON.parse(readFileSync(new URL(`../node_modules/${name}/package.json`, import.meta.url), "utf8"));
  versions[name] = pkg.version;
}
process.stdout.write(JSON.stringify({ versions }));
