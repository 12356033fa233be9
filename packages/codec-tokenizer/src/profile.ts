/**
 * Canonical JPEG profiles: everything that fixes the bytes of a canonical file apart from the
 * pixels. Two images canonicalised with the same profile share one header (SOI through SOS), so
 * the header can be dropped from token sequences and restored exactly.
 */
import { CodecError } from './errors.js';
import type { ChromaSubsampling } from './jpeg/encoder.js';

/** How an image whose aspect ratio differs from the profile's is brought to it. */
export type FitMode =
  | 'crop' // largest centred region with the profile's aspect ratio, then resize (JPEG-LM)
  | 'pad'; // resize to fit inside, then pad the borders with the background colour

export interface CanonicalJpegProfile {
  /** A name for humans and files; the named profiles below are the documented ones. */
  readonly name: string;
  readonly width: number;
  readonly height: number;
  /** libjpeg quality 1..100 (jcparam.c scaling of the Annex K tables). */
  readonly quality: number;
  readonly subsampling: ChromaSubsampling;
  /** Restart interval in MCUs; 0 = no restart markers. */
  readonly restartInterval: number;
  readonly fit: FitMode;
  /** Colour that transparent pixels are flattened onto, and that `pad` fills with. */
  readonly background: readonly [number, number, number];
}

const WHITE: readonly [number, number, number] = [255, 255, 255];

/**
 * The documented named profiles. `jpeglm-256-q25` is JPEG-LM's canonical form (Han et al. 2024:
 * 256x256 centre crop, quality 25, 4:2:0, a restart marker after every MCU, Annex K tables).
 * The smaller ones keep every JPEG-LM choice but the size (and raise the quality so that small
 * images stay recognisable); they give sequences short enough for models trained on a CPU.
 */
export const PROFILES: Readonly<Record<string, CanonicalJpegProfile>> = Object.freeze({
  'jpeglm-256-q25': profile('jpeglm-256-q25', 256, 25),
  'jpeglm-128-q25': profile('jpeglm-128-q25', 128, 25),
  'jpeglm-64-q50': profile('jpeglm-64-q50', 64, 50),
  'jpeglm-48-q50': profile('jpeglm-48-q50', 48, 50),
  'jpeglm-48-q25': profile('jpeglm-48-q25', 48, 25),
  'jpeglm-32-q75': profile('jpeglm-32-q75', 32, 75),
});

/** JPEG-LM's form; the default wherever a profile is optional. */
export const DEFAULT_PROFILE_NAME = 'jpeglm-256-q25';

function profile(name: string, size: number, quality: number): CanonicalJpegProfile {
  return Object.freeze({
    name,
    width: size,
    height: size,
    quality,
    subsampling: '4:2:0',
    restartInterval: 1,
    fit: 'crop',
    background: WHITE,
  });
}

export function profileNames(): string[] {
  return Object.keys(PROFILES);
}

/** Look up a named profile; the error lists the names that exist. */
export function getProfile(name: string): CanonicalJpegProfile {
  const p = Object.prototype.hasOwnProperty.call(PROFILES, name) ? PROFILES[name] : undefined;
  if (!p) {
    throw new CodecError(
      'invalid-argument',
      `unknown profile "${name}" (known: ${profileNames().join(', ')})`,
    );
  }
  return p;
}

/** Largest image side a profile may ask for: JPEG's 16-bit dimension fields. */
export const MAX_PROFILE_SIDE = 65535;

export interface ProfileOverrides {
  readonly name?: string;
  readonly width?: number;
  readonly height?: number;
  readonly quality?: number;
  readonly subsampling?: ChromaSubsampling;
  readonly restartInterval?: number;
  readonly fit?: FitMode;
  readonly background?: readonly [number, number, number];
}

/**
 * A profile derived from `base` with some fields replaced. If anything changed and no name is
 * given, the name describes the parameters (so a file never claims a named profile it is not).
 */
export function customProfile(
  overrides: ProfileOverrides,
  base: CanonicalJpegProfile = getProfile(DEFAULT_PROFILE_NAME),
): CanonicalJpegProfile {
  const merged = { ...base, ...stripUndefined(overrides) };
  const changed = (Object.keys(overrides) as (keyof ProfileOverrides)[]).some(
    (k) =>
      k !== 'name' &&
      overrides[k] !== undefined &&
      JSON.stringify(overrides[k]) !== JSON.stringify(base[k]),
  );
  const name = overrides.name ?? (changed ? describeProfile(merged) : base.name);
  return validateProfile({ ...merged, name });
}

function stripUndefined<T extends object>(o: T): Partial<T> {
  const out: Partial<T> = {};
  for (const [k, v] of Object.entries(o))
    if (v !== undefined) (out as Record<string, unknown>)[k] = v;
  return out;
}

/** A name that states the parameters, e.g. `custom-64x64-q50-420-r1-crop`. */
export function describeProfile(p: Omit<CanonicalJpegProfile, 'name'>): string {
  const bg =
    p.background[0] === 255 && p.background[1] === 255 && p.background[2] === 255
      ? ''
      : `-bg${p.background.map((c) => c.toString(16).padStart(2, '0')).join('')}`;
  return `custom-${p.width}x${p.height}-q${p.quality}-${p.subsampling.replace(/:/g, '')}-r${p.restartInterval}-${p.fit}${bg}`;
}

function isInt(v: unknown, lo: number, hi: number): v is number {
  return typeof v === 'number' && Number.isInteger(v) && v >= lo && v <= hi;
}

/**
 * Check every field of a profile (for instance one read from a JSON file) and return a frozen
 * copy. Throws CodecError('invalid-argument') naming the first bad field.
 */
export function validateProfile(p: unknown): CanonicalJpegProfile {
  const bad = (what: string): never => {
    throw new CodecError('invalid-argument', `invalid profile: ${what}`);
  };
  if (typeof p !== 'object' || p === null) return bad('not an object');
  const o = p as Record<string, unknown>;
  if (typeof o.name !== 'string' || o.name.length === 0 || o.name.length > 200)
    bad('name must be a non-empty string');
  if (!isInt(o.width, 1, MAX_PROFILE_SIDE)) bad(`width must be an integer 1..${MAX_PROFILE_SIDE}`);
  if (!isInt(o.height, 1, MAX_PROFILE_SIDE))
    bad(`height must be an integer 1..${MAX_PROFILE_SIDE}`);
  if (!isInt(o.quality, 1, 100)) bad('quality must be an integer 1..100');
  if (o.subsampling !== '4:2:0' && o.subsampling !== '4:4:4')
    bad('subsampling must be "4:2:0" or "4:4:4"');
  // DRI's Ri field is 16 bits (T.81 B.2.4.4).
  if (!isInt(o.restartInterval, 0, 65535)) bad('restartInterval must be an integer 0..65535');
  if (o.fit !== 'crop' && o.fit !== 'pad') bad('fit must be "crop" or "pad"');
  const bg = o.background;
  if (!Array.isArray(bg) || bg.length !== 3 || !bg.every((c) => isInt(c, 0, 255)))
    bad('background must be [r, g, b] with integers 0..255');
  const b = bg as number[];
  return Object.freeze({
    name: o.name as string,
    width: o.width as number,
    height: o.height as number,
    quality: o.quality as number,
    subsampling: o.subsampling as ChromaSubsampling,
    restartInterval: o.restartInterval as number,
    fit: o.fit as FitMode,
    background: Object.freeze([b[0], b[1], b[2]]) as readonly [number, number, number],
  });
}

/** True if two profiles produce the same canonical bytes for the same input. */
export function sameEncoding(a: CanonicalJpegProfile, b: CanonicalJpegProfile): boolean {
  return (
    a.width === b.width &&
    a.height === b.height &&
    a.quality === b.quality &&
    a.subsampling === b.subsampling &&
    a.restartInterval === b.restartInterval &&
    a.fit === b.fit &&
    a.background.every((c, i) => c === b.background[i])
  );
}

/** Parse a colour written as `#rrggbb`, `rrggbb` or `r,g,b`. */
export function parseColour(text: string): [number, number, number] {
  const t = text.trim();
  const hex = /^#?([0-9a-f]{6})$/i.exec(t);
  if (hex) {
    const v = parseInt(hex[1], 16);
    return [(v >> 16) & 255, (v >> 8) & 255, v & 255];
  }
  const parts = t.split(',').map((s) => s.trim());
  if (parts.length === 3 && parts.every((s) => /^\d{1,3}$/.test(s))) {
    const c = parts.map(Number);
    if (c.every((x) => x <= 255)) return [c[0], c[1], c[2]];
  }
  throw new CodecError(
    'invalid-argument',
    `invalid colour "${text}" (expected #rrggbb or r,g,b with values 0..255)`,
  );
}

/** Parse a size written as `N` (square) or `WxH`. */
export function parseSize(text: string): { width: number; height: number } {
  const m = /^(\d+)(?:x(\d+))?$/i.exec(text.trim());
  const w = m ? Number(m[1]) : NaN;
  const h = m ? Number(m[2] ?? m[1]) : NaN;
  if (!isInt(w, 1, MAX_PROFILE_SIDE) || !isInt(h, 1, MAX_PROFILE_SIDE)) {
    throw new CodecError(
      'invalid-argument',
      `invalid size "${text}" (expected N or WxH, 1..${MAX_PROFILE_SIDE})`,
    );
  }
  return { width: w, height: h };
}
