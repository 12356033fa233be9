/**
 * What a canonical file looks like for a profile: its fixed header (SOI through SOS, identical
 * for every image of the profile) and the marker structure of its entropy-coded body.
 */
import { CodecError } from './errors.js';
import { describeHeaderMismatch, isJpeg } from './jpeg-header.js';
import {
  CANONICAL_SCAN,
  JpegEncoder,
  createCanonicalFrame,
  createStandardTables,
} from './jpeg/encoder.js';
import { frameGeometry } from './jpeg/frame.js';
import { writeJpegHeaders } from './jpeg/header-writer.js';
import { Marker, rstCode } from './jpeg/markers.js';
import { validateJpeg } from './jpeg/validator.js';
import type { CanonicalJpegProfile } from './profile.js';

/** The parameters that decide the header and scan layout (not fit/background). */
function encodingKey(p: CanonicalJpegProfile): string {
  return `${p.width}x${p.height}/q${p.quality}/${p.subsampling}/r${p.restartInterval}`;
}

const headers = new Map<string, Uint8Array>();
const encoders = new Map<string, JpegEncoder>();
const CACHE_LIMIT = 64;

function remember<T>(cache: Map<string, T>, key: string, make: () => T): T {
  let v = cache.get(key);
  if (v === undefined) {
    if (cache.size >= CACHE_LIMIT) cache.delete(cache.keys().next().value as string);
    v = make();
    cache.set(key, v);
  }
  return v;
}

/**
 * SOI .. end of SOS for every canonical file of the profile, exactly as the encoder writes it
 * (libjpeg/cjpeg layout). Returns a shared read-only view: copy it before changing it.
 */
export function canonicalHeader(profile: CanonicalJpegProfile): Uint8Array {
  return remember(headers, encodingKey(profile), () =>
    writeJpegHeaders(
      createCanonicalFrame(profile.width, profile.height, profile.subsampling),
      createStandardTables(profile.quality),
      CANONICAL_SCAN,
      profile.restartInterval,
    ),
  );
}

/** A reusable encoder for the profile (tables and buffers are built once). */
export function profileEncoder(profile: CanonicalJpegProfile): JpegEncoder {
  return remember(
    encoders,
    encodingKey(profile),
    () =>
      new JpegEncoder({
        quality: profile.quality,
        restartInterval: profile.restartInterval,
        subsampling: profile.subsampling,
      }),
  );
}

/** MCUs in one canonical image of the profile (T.81 A.2: interleaved scan). */
export function mcuCount(profile: CanonicalJpegProfile): number {
  return frameGeometry(createCanonicalFrame(profile.width, profile.height, profile.subsampling))
    .mcuCount;
}

/** Restart markers in a canonical body: one between consecutive restart intervals. */
export function restartMarkerCount(profile: CanonicalJpegProfile): number {
  if (profile.restartInterval === 0) return 0;
  return Math.ceil(mcuCount(profile) / profile.restartInterval) - 1;
}

/**
 * Check the marker structure of a canonical body (scan bytes + EOI): every 0xFF is a stuffed
 * FF 00 or the next restart marker in sequence (RST0..RST7 cycling), the count of restart
 * markers is the profile's, and the body ends with EOI. Throws CodecError naming the problem.
 */
export function checkCanonicalBody(body: Uint8Array, profile: CanonicalJpegProfile): void {
  const n = body.length;
  if (n < 2 || body[n - 2] !== 0xff || body[n - 1] !== Marker.EOI) {
    const eoi = findEoi(body);
    if (eoi >= 0 && eoi + 2 < n) {
      throw new CodecError('corrupt', `${n - eoi - 2} bytes of data after EOI`, eoi + 2);
    }
    throw new CodecError('truncated', 'scan data ends without EOI (truncated file?)', n);
  }
  const expected = restartMarkerCount(profile);
  let seen = 0;
  for (let i = body.indexOf(0xff); i >= 0 && i < n - 2; i = body.indexOf(0xff, i + 2)) {
    const code = body[i + 1];
    if (code === 0) continue;
    if (code === rstCode(seen) && seen < expected) {
      seen++;
      continue;
    }
    const what =
      code >= Marker.RST0 && code <= Marker.RST7
        ? `restart marker RST${code - Marker.RST0} out of sequence (expected RST${seen & 7})`
        : `unexpected marker 0xFF${code.toString(16).toUpperCase().padStart(2, '0')}`;
    throw new CodecError('corrupt', `${what} at scan byte ${i}`, i);
  }
  if (seen !== expected) {
    throw new CodecError(
      'truncated',
      `scan has ${seen} restart markers, a ${profile.width}x${profile.height} image with restart interval ${profile.restartInterval} has ${expected}`,
    );
  }
}

function findEoi(body: Uint8Array): number {
  for (let i = body.indexOf(0xff); i >= 0 && i + 1 < body.length; i = body.indexOf(0xff, i + 1)) {
    if (body[i + 1] === Marker.EOI) return i;
  }
  return -1;
}

/**
 * The body (scan bytes through EOI) of a canonical JPEG for `profile`. Throws CodecError if the
 * header is not the profile's (saying what differs) or the body's structure is wrong.
 */
export function canonicalBody(jpeg: Uint8Array, profile: CanonicalJpegProfile): Uint8Array {
  const header = canonicalHeader(profile);
  if (!isJpeg(jpeg)) throw new CodecError('not-an-image', 'not a JPEG file (no SOI marker)', 0);
  let same = jpeg.length >= header.length;
  for (let i = 0; same && i < header.length; i++) same = jpeg[i] === header[i];
  if (!same) {
    throw new CodecError(
      'invalid-argument',
      `not a canonical ${profile.name} JPEG: ${describeHeaderMismatch(jpeg, header)}`,
    );
  }
  const body = jpeg.subarray(header.length);
  checkCanonicalBody(body, profile);
  return body;
}

/**
 * canonicalBody, then a full entropy decode of the scan (validateJpeg): every MCU must decode
 * with the Annex K tables. Throws CodecError('corrupt') naming the first problem.
 */
export function checkCanonicalJpeg(jpeg: Uint8Array, profile: CanonicalJpegProfile): Uint8Array {
  const body = canonicalBody(jpeg, profile);
  const report = validateJpeg(jpeg, { maxMegapixels: (profile.width * profile.height) / 1e6 });
  if (report.verdict !== 'valid') {
    const p = report.problems[0];
    const where = p ? ` at byte ${p.offset}${p.mcu === null ? '' : `, MCU ${p.mcu}`}` : '';
    const why = p ? p.message : report.verdict;
    throw new CodecError('corrupt', `damaged scan data${where}: ${why}`, p?.offset);
  }
  return body;
}

/**
 * True if `jpeg` is a canonical file of the profile: its header, its marker structure and (with
 * `decode`, the default) every MCU of its scan.
 */
export function isCanonicalJpeg(
  jpeg: Uint8Array,
  profile: CanonicalJpegProfile,
  options: { readonly decode?: boolean } = {},
): boolean {
  try {
    if (options.decode ?? true) checkCanonicalJpeg(jpeg, profile);
    else canonicalBody(jpeg, profile);
    return true;
  } catch (e) {
    if (e instanceof CodecError) return false;
    throw e;
  }
}
