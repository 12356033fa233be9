/**
 * The decode check: ffmpeg's own H.264 decoder run over a stream, counting the frames it
 * outputs and collecting the errors it reports at log level "error" (the same messages
 * `ffmpeg -v error -i clip.h264 -f null -` prints).
 */
import { ffmpegLogLines, runFfmpeg, type FfmpegOptions } from './ffmpeg.js';

export interface AvcDecodeReport {
  /** Distinct error lines, "[h264 @ 0x...]" prefixes removed; empty when the stream is clean. */
  readonly errors: string[];
  /** Frames the decoder output. */
  readonly framesDecoded: number;
}

export interface AvcDecodeCheckOptions extends FfmpegOptions {
  readonly signal?: AbortSignal;
}

/** Decode `stream` with ffmpeg (single-threaded, so messages come in a fixed order). */
export async function avcDecodeCheck(
  stream: Uint8Array,
  opts: AvcDecodeCheckOptions = {},
): Promise<AvcDecodeReport> {
  const args = [
    '-hide_banner',
    '-nostdin',
    '-v',
    'error',
    '-threads',
    '1',
    '-f',
    'h264',
    '-i',
    'pipe:0',
    '-f',
    'framecrc',
    'pipe:1',
  ];
  const r = await runFfmpeg(args, { ffmpeg: opts.ffmpeg, input: stream, signal: opts.signal });
  const text = Buffer.from(r.stdout).toString('latin1');
  let framesDecoded = 0;
  for (const line of text.split('\n')) if (line !== '' && !line.startsWith('#')) framesDecoded++;
  const errors = ffmpegLogLines(r.stderr);
  if (r.code !== 0 && errors.length === 0) errors.push(`ffmpeg exited with status ${r.code}`);
  return { errors, framesDecoded };
}

/**
 * Macroblock positions named in decoder messages ("error while decoding MB 14 0",
 * "... at 6 0", "corrupted macroblock 3 2 ..."), as macroblock addresses in raster order.
 */
export function avcErrorMacroblocks(errors: readonly string[], picWidthInMbs: number): number[] {
  const out = new Set<number>();
  const re = /\b(?:MB|at|macroblock)\s+(\d+)\s+(\d+)\b/g;
  for (const line of errors) {
    for (const m of line.matchAll(re)) {
      const x = Number(m[1]);
      const y = Number(m[2]);
      if (x < picWidthInMbs) out.add(y * picWidthInMbs + x);
    }
  }
  return [...out].sort((a, b) => a - b);
}

/**
 * The first of `count` pictures whose decoding reports errors, found by bisection over
 * prefixes (`prefix(k)` = the stream holding pictures 0..k-1), with the errors of the shortest
 * failing prefix; undefined when even all `count` pictures decode cleanly.
 */
export async function avcFirstBadPicture(
  count: number,
  prefix: (k: number) => Uint8Array,
  opts: AvcDecodeCheckOptions = {},
): Promise<{ index: number; errors: string[] } | undefined> {
  let lo = 0; // prefix(lo) is clean (the empty prefix trivially)
  let hi = count; // prefix(hi) may fail
  const full = await avcDecodeCheck(prefix(count), opts);
  if (full.errors.length === 0) return undefined;
  let errorsAtHi = full.errors;
  while (hi - lo > 1) {
    const mid = (lo + hi) >> 1;
    const rep = await avcDecodeCheck(prefix(mid), opts);
    if (rep.errors.length > 0) {
      hi = mid;
      errorsAtHi = rep.errors;
    } else {
      lo = mid;
    }
  }
  return { index: hi - 1, errors: errorsAtHi };
}
