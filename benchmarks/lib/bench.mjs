// Scaffolding shared by the benchmark scripts: command-line options, timing, medians, test
// pictures from ffmpeg, a seeded generator and byte concatenation. Used by avc.mjs, bpe.mjs, grammar-overhead.mjs, lm-profile.mjs and the
// jpeg-*.mjs scripts; other scripts may adopt it.
import { spawnSync } from 'node:child_process';
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

/**
 * One frame of an ffmpeg lavfi source (e.g. 'mandelbrot=size=256x256') as raw RGB bytes,
 * width x height x 3; `filter` (ffmpeg -vf) picks or alters the frame. Throws when ffmpeg fails
 * or the frame has another size.
 */
export function lavfiRgb(source, width, height, filter) {
  const r = spawnSync(
    'ffmpeg',
    [
      ...['-v', 'error', '-f', 'lavfi', '-i', source],
      ...(filter === undefined ? [] : ['-vf', filter]),
      ...['-frames:v', '1', '-f', 'rawvideo', '-pix_fmt', 'rgb24', 'pipe:1'],
    ],
    { maxBuffer: 1 << 26 },
  );
  if (r.status !== 0 || r.stdout.length !== width * height * 3) {
    throw new Error(`ffmpeg ${source}: ${r.stderr}`);
  }
  return r.stdout;
}

/**
 * xorshift32 (Marsaglia 2003): a seeded stream of uint32s. The corpora of the benchmarks are
 * drawn from it, so changing it changes every recorded input.
 */
export function xorshift32(seed) {
  let s = seed >>> 0 || 1;
  return () => {
    s ^= s << 13;
    s >>>= 0;
    s ^= s >>> 17;
    s ^= s << 5;
    s >>>= 0;
    return s;
  };
}

/** The xorshift32 stream of `seed` as floats in [0, 1). */
export function uniform(seed) {
  const next = xorshift32(seed);
  return () => next() / 0x100000000;
}

/** The byte arrays one after another, in a new Uint8Array. */
export function concatBytes(...parts) {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}
