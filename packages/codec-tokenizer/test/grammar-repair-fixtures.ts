/**
 * Test fixtures for the grammar and repair tests: small synthetic PPM images, cjpeg-made JPEGs
 * of them, the frame/tables/scan structure cjpeg writes for given options, and djpeg as the
 * reference decoder.
 */
import { spawnSync } from 'node:child_process';
import {
  CHROMINANCE_AC_K6,
  CHROMINANCE_DC_K4,
  CHROMINANCE_QUANT_K2,
  LUMINANCE_AC_K5,
  LUMINANCE_DC_K3,
  LUMINANCE_QUANT_K1,
  scaleQuantTable,
  type FrameHeader,
  type JpegTables,
  type ScanComponent,
} from '../src/index.js';
import { concat } from './helpers/bytes.js';

export { concat };

/** xorshift32: deterministic, seedable. */
export function prng(seed: number): () => number {
  let s = seed >>> 0 || 0x9e3779b9;
  return () => {
    s ^= s << 13;
    s >>>= 0;
    s ^= s >>> 17;
    s ^= s << 5;
    s >>>= 0;
    return s / 0x100000000;
  };
}

export type ImageKind = 'noise' | 'gradient' | 'flat' | 'blocks' | 'extremes';

/** A binary PPM (P6) of a synthetic image. */
export function makePpm(width: number, height: number, kind: ImageKind, seed = 1): Uint8Array {
  const rnd = prng(seed);
  const head = new TextEncoder().encode(`P6\n${width} ${height}\n255\n`);
  const px = new Uint8Array(width * height * 3);
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) {
      const i = (y * width + x) * 3;
      for (let c = 0; c < 3; c++) {
        let v: number;
        switch (kind) {
          case 'noise':
            v = Math.floor(rnd() * 256);
            break;
          case 'gradient':
            v = Math.floor(((x + y * (c + 1)) * 255) / Math.max(1, width + height * (c + 1)));
            break;
          case 'flat':
            v = [200, 30, 120][c];
            break;
          case 'blocks':
            v = ((x >> 3) + (y >> 3) + c) % 2 === 0 ? 250 : 5;
            break;
          default: // extremes: black/white checkerboard at pixel level (large coefficients)
            v = (x + y) % 2 === 0 ? 255 : 0;
        }
        px[i + c] = v;
      }
    }
  }
  const out = new Uint8Array(head.length + px.length);
  out.set(head);
  out.set(px, head.length);
  return out;
}

export interface CjpegOptions {
  readonly quality: number;
  /** '2x2' (4:2:0), '1x1' (4:4:4) or 'gray'. */
  readonly sampling: '2x2' | '1x1' | 'gray';
  /** Restart interval in MCUs (0 = none). */
  readonly restart: number;
}

export function cjpeg(ppm: Uint8Array, o: CjpegOptions): Uint8Array {
  const args = ['-quality', String(o.quality), '-dct', 'int', '-baseline'];
  if (o.sampling === 'gray') args.push('-grayscale');
  else args.push('-sample', o.sampling);
  if (o.restart > 0) args.push('-restart', `${o.restart}B`);
  const r = spawnSync('cjpeg', args, { input: ppm, maxBuffer: 1 << 26 });
  if (r.status !== 0) throw new Error(`cjpeg failed: ${r.stderr.toString()}`);
  return new Uint8Array(r.stdout);
}

/** The structure cjpeg writes for these options (standard Annex K tables, libjpeg scaling). */
export function cjpegStructure(
  width: number,
  height: number,
  o: CjpegOptions,
): { frame: FrameHeader; tables: JpegTables; restartInterval: number; scan: ScanComponent[] } {
  const gray = o.sampling === 'gray';
  const hv = o.sampling === '2x2' ? 2 : 1;
  const frame: FrameHeader = {
    sofMarker: 0xc0,
    precision: 8,
    width,
    height,
    components: gray
      ? [{ id: 1, h: 1, v: 1, quantTable: 0 }]
      : [
          { id: 1, h: hv, v: hv, quantTable: 0 },
          { id: 2, h: 1, v: 1, quantTable: 1 },
          { id: 3, h: 1, v: 1, quantTable: 1 },
        ],
  };
  const tables: JpegTables = {
    quant: [
      scaleQuantTable(LUMINANCE_QUANT_K1, o.quality),
      scaleQuantTable(CHROMINANCE_QUANT_K2, o.quality),
    ],
    dcHuffman: [LUMINANCE_DC_K3, CHROMINANCE_DC_K4],
    acHuffman: [LUMINANCE_AC_K5, CHROMINANCE_AC_K6],
  };
  const scan: ScanComponent[] = gray
    ? [{ componentIndex: 0, dcTable: 0, acTable: 0 }]
    : [
        { componentIndex: 0, dcTable: 0, acTable: 0 },
        { componentIndex: 1, dcTable: 1, acTable: 1 },
        { componentIndex: 2, dcTable: 1, acTable: 1 },
      ];
  return { frame, tables, restartInterval: o.restart, scan };
}

/** Offset just past the SOS segment (where the entropy-coded data starts). */
export function scanStart(jpeg: Uint8Array): number {
  let i = 2;
  while (i + 4 <= jpeg.length) {
    if (jpeg[i] !== 0xff) throw new Error(`no marker at ${i}`);
    const code = jpeg[i + 1];
    const len = (jpeg[i + 2] << 8) | jpeg[i + 3];
    if (code === 0xda) return i + 2 + len;
    i += 2 + len;
  }
  throw new Error('no SOS');
}

/** djpeg's verdict: exit status and stderr (djpeg exits 2 on a warning, 1 on an error). */
export function djpeg(jpeg: Uint8Array): { status: number | null; stderr: string } {
  const r = spawnSync('djpeg', ['-dct', 'int', '-ppm'], { input: jpeg, maxBuffer: 1 << 26 });
  return { status: r.status, stderr: r.stderr.toString() };
}

export type MutationKind =
  | 'bitflip'
  | 'substitute'
  | 'insert'
  | 'delete'
  | 'truncate'
  | 'garbage-tail'
  | 'marker'
  | 'random-scan';

export const MUTATION_KINDS: readonly MutationKind[] = [
  'bitflip',
  'substitute',
  'insert',
  'delete',
  'truncate',
  'garbage-tail',
  'marker',
  'random-scan',
];

/**
 * A corrupted copy of `jpeg`. Mutations land in the entropy-coded data (from `from`, default the
 * scan start) so the header stays usable, except where `from` is 0.
 */
export function mutate(
  jpeg: Uint8Array,
  kind: MutationKind,
  rnd: () => number,
  from = scanStart(jpeg),
): Uint8Array {
  const n = jpeg.length;
  const pos = (): number => from + Math.floor(rnd() * Math.max(1, n - from));
  const byte = (): number => Math.floor(rnd() * 256);
  const count = 1 + Math.floor(rnd() * 3);
  switch (kind) {
    case 'bitflip': {
      const out = jpeg.slice();
      for (let i = 0; i < count; i++) out[Math.min(n - 1, pos())] ^= 1 << Math.floor(rnd() * 8);
      return out;
    }
    case 'substitute': {
      const out = jpeg.slice();
      for (let i = 0; i < count; i++) out[Math.min(n - 1, pos())] = byte();
      return out;
    }
    case 'insert': {
      const at = pos();
      const extra = Uint8Array.from({ length: 1 + Math.floor(rnd() * 8) }, byte);
      return concat(jpeg.subarray(0, at), extra, jpeg.subarray(at));
    }
    case 'delete': {
      const at = pos();
      return concat(
        jpeg.subarray(0, at),
        jpeg.subarray(Math.min(n, at + 1 + Math.floor(rnd() * 8))),
      );
    }
    case 'truncate':
      return jpeg.slice(0, pos());
    case 'garbage-tail': {
      const tail = Uint8Array.from({ length: 1 + Math.floor(rnd() * 64) }, byte);
      // Either after EOI, or instead of it.
      return rnd() < 0.5 ? concat(jpeg, tail) : concat(jpeg.subarray(0, n - 2), tail);
    }
    case 'marker': {
      const at = pos();
      const code =
        rnd() < 0.7
          ? 0xd0 + Math.floor(rnd() * 8)
          : [0xd9, 0xd8, 0xc4, 0xfe, 0x01][Math.floor(rnd() * 5)];
      return concat(jpeg.subarray(0, at), Uint8Array.of(0xff, code), jpeg.subarray(at));
    }
    default: {
      // random-scan: the header, then random bytes.
      const body = Uint8Array.from({ length: 1 + Math.floor(rnd() * 200) }, byte);
      return concat(jpeg.subarray(0, from), body);
    }
  }
}
