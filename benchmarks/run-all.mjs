// Runs every benchmark script in turn with its default settings (`npm run bench`), after building
// the packages. Each script prints its own table; copy the figures into benchmarks/README.md with
// the machine and date. Pass script names to run a subset: `npm run bench -- jpeg-encode bpe`.
// Some peers are Debian tools (cjpeg/djpeg, ffmpeg; train.mjs installs python3-torch with apt if
// it is missing), as the README of each section says.
import { spawnSync } from 'node:child_process';
import { readdirSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const here = path.dirname(fileURLToPath(import.meta.url));
const root = path.dirname(here);
// fuzz-jpeg is a robustness run, not a speed comparison; it runs only when named.
const ONLY_WHEN_NAMED = new Set(['fuzz-jpeg']);

const all = readdirSync(here)
  .filter((f) => f.endsWith('.mjs') && f !== 'run-all.mjs')
  .map((f) => f.slice(0, -4))
  .sort();
const wanted = process.argv.slice(2);
const unknown = wanted.filter((w) => !all.includes(w));
if (unknown.length > 0) {
  console.error(`run-all: unknown benchmark(s) ${unknown.join(', ')}; known: ${all.join(', ')}`);
  process.exit(3);
}
const chosen = wanted.length > 0 ? wanted : all.filter((b) => !ONLY_WHEN_NAMED.has(b));

const build = spawnSync(
  process.execPath,
  [path.join(root, 'node_modules/typescript/bin/tsc'), '-b'],
  {
    cwd: root,
    stdio: 'inherit',
  },
);
if (build.status !== 0) process.exit(build.status ?? 1);

const failed = [];
for (const name of chosen) {
  console.log(`\n=== ${name} ===`);
  const r = spawnSync(process.execPath, [path.join(here, `${name}.mjs`)], {
    cwd: root,
    stdio: 'inherit',
  });
  if (r.status !== 0) failed.push(name);
}
if (failed.length > 0) {
  console.error(`run-all: failed: ${failed.join(', ')}`);
  process.exit(1);
}
