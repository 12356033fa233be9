// Scaffolding shared by the benchmark scripts: command-line options, timing and medians.
// Used by avc.mjs, bpe.mjs and grammar-overhead.mjs; other scripts may adopt it.
import { performance } from 'node:perf_hooks';

/** The value after `--name` on the command line (a string), or `fallback`. */
export function option(name, fallback) {
  const i = process.argv.indexOf(name);
  return i < 0 ? fallback : process.argv[i + 1];
}

/** `option` read as a number. */
export function numberOption(name, fallback) {
  return Number(option(name, String(fallback)));
}

/** The median (the mean of the two middle values for an even count). */
export function median(xs) {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
}

/** Milliseconds one call of a synchronous `fn` takes. */
export function timeSync(fn) {
  const t0 = performance.now();
  fn();
  return performance.now() - t0;
}

/** Milliseconds one call of `fn` takes, awaited. */
export async function timeAsync(fn) {
  const t0 = performance.now();
  await fn();
  return performance.now() - t0;
}
