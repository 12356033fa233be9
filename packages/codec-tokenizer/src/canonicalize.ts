/**
 * The canonicalisation front end: any input image to the canonical JPEG of a profile.
 *
 *   decode (any format; EXIF orientation applied; CMYK/grey/16-bit to 8-bit sRGB)
 *   -> flatten alpha onto the profile's background colour
 *   -> centre crop to the profile's aspect ratio (or pad with the background)
 *   -> resize to the profile size
 *   -> our canonical encoder.
 *
 * Decoding arbitrary formats and resizing use sharp (libvips), loaded lazily so that code which
 * only tokenizes never pays for it. Binary PPM/PGM is read by our own reader (exactly as cjpeg
 * reads it), so a PPM or PNG already at the profile size encodes to the bytes cjpeg writes.
 */
import type { Sharp, SharpOptions } from 'sharp';
import { canonicalHeader, isCanonicalJpeg, profileEncoder } from './canonical.js';
import { CodecError } from './errors.js';
import { DEFAULT_MAX_MEGAPIXELS, type RgbImage } from './image.js';
import { readPpm } from './ppm.js';
import type { CanonicalJpegProfile, FitMode } from './profile.js';

export type ImageFormat = 'jpeg' | 'png' | 'webp' | 'gif' | 'tiff' | 'avif' | 'ppm';

/** Identify an input by its magic bytes; undefined for anything we do not decode. */
export function sniffImageFormat(b: Uint8Array): ImageFormat | undefined {
  const at = (i: number, s: string): boolean => {
    for (let k = 0; k < s.length; k++) if (b[i + k] !== s.charCodeAt(k)) return false;
    return b.length >= i + s.length;
  };
  if (b.length >= 3 && b[0] === 0xff && b[1] === 0xd8 && b[2] === 0xff) return 'jpeg';
  if (at(0, '\x89PNG\r\n\x1a\n')) return 'png';
  if (at(0, 'RIFF') && at(8, 'WEBP')) return 'webp';
  if (at(0, 'GIF87a') || at(0, 'GIF89a')) return 'gif';
  if (at(0, 'II*\0') || at(0, 'MM\0*')) return 'tiff';
  if (at(4, 'ftyp') && ['avif', 'avis', 'heic', 'heix', 'mif1', 'msf1'].some((t) => at(8, t)))
    return 'avif';
  if (b.length >= 3 && b[0] === 0x50 && (b[1] === 0x35 || b[1] === 0x36)) return 'ppm';
  return undefined;
}

export interface DecodeImageOptions {
  /** Colour that transparency is flattened onto (default white). */
  readonly background?: readonly [number, number, number];
  /** Refuse images above this many megapixels, from the header, before decoding pixels. */
  readonly maxMegapixels?: number;
}

type SharpFactory = (input: Uint8Array, options?: SharpOptions) => Sharp;
let sharpModule: Promise<SharpFactory> | undefined;
function loadSharp(): Promise<SharpFactory> {
  sharpModule ??= import('sharp').then((m) => m.default as unknown as SharpFactory);
  return sharpModule;
}

function checkMegapixels(limit: number): number {
  if (!(typeof limit === 'number' && limit > 0 && Number.isFinite(limit))) {
    throw new CodecError(
      'invalid-argument',
      `maxMegapixels must be a positive number, got ${String(limit)}`,
    );
  }
  return limit;
}

/** Turn a libvips/sharp failure into a typed error with a one-line message. */
function sharpError(e: unknown, format: ImageFormat): CodecError {
  const raw = (e instanceof Error ? e.message : String(e)).split('\n')[0];
  // libvips prefixes its messages with loader names; they mean nothing to a user.
  const msg =
    raw
      .replace(/^Input (buffer|file) has corrupt header:\s*/i, '')
      .replace(/^\w+(load_buffer|load|Jpeg|png|Png|Webp|Gif):\s*/i, '')
      .trim() || 'corrupt header';
  if (/pixel limit/i.test(msg)) return new CodecError('too-large', `image exceeds the pixel limit`);
  if (/unsupported image format/i.test(msg)) {
    return new CodecError('not-an-image', 'not a supported image format');
  }
  if (/premature end|truncat|unexpected end|end of (file|stream|data)|not enough data/i.test(msg)) {
    return new CodecError('truncated', `truncated ${format.toUpperCase()} data (${msg})`);
  }
  return new CodecError('corrupt', `cannot decode ${format.toUpperCase()} image (${msg})`);
}

export interface ImageInfo {
  readonly format: ImageFormat;
  /** Size as displayed, i.e. after EXIF orientation. */
  readonly width: number;
  readonly height: number;
}

interface Probe extends ImageInfo {
  readonly hasAlpha: boolean;
  /** Pixels the decoder will allocate for (stored size of the first frame or page). */
  readonly pixels: number;
}

const SHARP_INPUT: SharpOptions = {
  // sharp's advice for untrusted input: any decoder warning (libjpeg's "corrupt JPEG data",
  // a PNG CRC error, a premature end) fails the decode instead of yielding a damaged image.
  failOn: 'warning',
  pages: 1,
  page: 0,
  autoOrient: true,
};

function unsupported(bytes: Uint8Array): CodecError {
  if (bytes.length === 0) return new CodecError('not-an-image', 'empty input');
  return new CodecError(
    'not-an-image',
    'not a supported image (JPEG, PNG, WebP, GIF, TIFF, AVIF/HEIF, PPM/PGM)',
  );
}

async function probe(
  sharp: SharpFactory,
  bytes: Uint8Array,
  format: Exclude<ImageFormat, 'ppm'>,
  maxMegapixels: number,
): Promise<Probe> {
  let meta;
  try {
    meta = await sharp(bytes, { ...SHARP_INPUT, limitInputPixels: false }).metadata();
  } catch (e) {
    throw sharpError(e, format);
  }
  const stored = { width: meta.width, height: meta.pageHeight ?? meta.height };
  if (!stored.width || !stored.height) {
    throw new CodecError('corrupt', 'image header has no dimensions');
  }
  const width = meta.autoOrient?.width ?? stored.width;
  const height = meta.autoOrient?.height ?? stored.height;
  const pixels = stored.width * stored.height;
  if (pixels > maxMegapixels * 1e6) {
    throw new CodecError(
      'too-large',
      `image is ${width}x${height} (${(pixels / 1e6).toFixed(1)} megapixels), above the limit of ${maxMegapixels}`,
    );
  }
  return { format, width, height, hasAlpha: meta.hasAlpha, pixels };
}

/**
 * Format and displayed size of an image from its header alone (no pixel decoding, except for
 * PPM/PGM which is read whole). Applies the megapixel limit.
 */
export async function probeImage(
  bytes: Uint8Array,
  options: Pick<DecodeImageOptions, 'maxMegapixels'> = {},
): Promise<ImageInfo> {
  const maxMegapixels = checkMegapixels(options.maxMegapixels ?? DEFAULT_MAX_MEGAPIXELS);
  const format = sniffImageFormat(bytes);
  if (format === undefined) throw unsupported(bytes);
  if (format === 'ppm') {
    const { width, height } = readPpm(bytes, { maxMegapixels });
    return { format, width, height };
  }
  const { width, height } = await probe(await loadSharp(), bytes, format, maxMegapixels);
  return { format, width, height };
}

/**
 * Decode any supported image to 8-bit sRGB pixels, EXIF orientation applied and alpha
 * flattened. Only the first frame of an animation or the first page of a multi-page file.
 * The megapixel limit is checked against the header before any pixel is decoded.
 */
export async function decodeImage(
  bytes: Uint8Array,
  options: DecodeImageOptions = {},
): Promise<RgbImage> {
  const maxMegapixels = checkMegapixels(options.maxMegapixels ?? DEFAULT_MAX_MEGAPIXELS);
  const format = sniffImageFormat(bytes);
  if (format === undefined) throw unsupported(bytes);
  if (format === 'ppm') return readPpm(bytes, { maxMegapixels });

  const sharp = await loadSharp();
  const info = await probe(sharp, bytes, format, maxMegapixels);
  const [r, g, b] = options.background ?? [255, 255, 255];
  try {
    // The header was checked above; libvips checks again while decoding.
    let pipeline = sharp(bytes, { ...SHARP_INPUT, limitInputPixels: Math.max(1, info.pixels) });
    if (info.hasAlpha) pipeline = pipeline.flatten({ background: { r, g, b } });
    const { data, info: out } = await pipeline
      .toColourspace('srgb')
      .removeAlpha()
      .raw({ depth: 'uchar' })
      .toBuffer({ resolveWithObject: true });
    if (out.channels !== 3 || data.length !== out.width * out.height * 3) {
      throw new CodecError('corrupt', `decoder produced ${out.channels} channels, expected 3`);
    }
    return {
      width: out.width,
      height: out.height,
      data: new Uint8Array(data.buffer, data.byteOffset, data.byteLength),
    };
  } catch (e) {
    if (e instanceof CodecError) throw e;
    throw sharpError(e, format);
  }
}

/** Where the source lands in the profile's aspect ratio: a crop window or a padded canvas. */
export interface FitGeometry {
  readonly mode: FitMode;
  /** Size of the cropped or padded intermediate image (same aspect ratio as the profile). */
  readonly width: number;
  readonly height: number;
  /**
   * crop: top-left of the window in the source; pad: top-left of the source on the canvas.
   */
  readonly left: number;
  readonly top: number;
}

/**
 * The largest centred window with the profile's aspect ratio (crop), or the smallest canvas
 * with that ratio that holds the whole image (pad). Offsets round down, like torchvision's
 * centre crop that JPEG-LM's preprocessing falls back to.
 */
export function fitGeometry(
  srcWidth: number,
  srcHeight: number,
  profile: Pick<CanonicalJpegProfile, 'width' | 'height' | 'fit'>,
): FitGeometry {
  const W = profile.width;
  const H = profile.height;
  const wider = srcWidth * H > srcHeight * W;
  let width = srcWidth;
  let height = srcHeight;
  if (profile.fit === 'crop') {
    if (wider) width = Math.max(1, Math.min(srcWidth, Math.round((srcHeight * W) / H)));
    else height = Math.max(1, Math.min(srcHeight, Math.round((srcWidth * H) / W)));
    return {
      mode: 'crop',
      width,
      height,
      left: Math.floor((srcWidth - width) / 2),
      top: Math.floor((srcHeight - height) / 2),
    };
  }
  if (wider) height = Math.max(srcHeight, Math.round((srcWidth * H) / W));
  else width = Math.max(srcWidth, Math.round((srcHeight * W) / H));
  return {
    mode: 'pad',
    width,
    height,
    left: Math.floor((width - srcWidth) / 2),
    top: Math.floor((height - srcHeight) / 2),
  };
}

/** Crop or pad to the profile's aspect ratio (no resampling; exact pixel copies). */
export function cropOrPad(image: RgbImage, profile: CanonicalJpegProfile): RgbImage {
  const g = fitGeometry(image.width, image.height, profile);
  if (g.width === image.width && g.height === image.height) return image;
  const out = new Uint8Array(g.width * g.height * 3);
  const src = image.data;
  if (g.mode === 'crop') {
    for (let y = 0; y < g.height; y++) {
      const from = ((g.top + y) * image.width + g.left) * 3;
      out.set(src.subarray(from, from + g.width * 3), y * g.width * 3);
    }
  } else {
    const [r, gr, b] = profile.background;
    for (let i = 0; i < out.length; i += 3) {
      out[i] = r;
      out[i + 1] = gr;
      out[i + 2] = b;
    }
    for (let y = 0; y < image.height; y++) {
      const from = y * image.width * 3;
      out.set(src.subarray(from, from + image.width * 3), ((g.top + y) * g.width + g.left) * 3);
    }
  }
  return { width: g.width, height: g.height, data: out };
}

/**
 * Crop/pad and resize to exactly the profile size. Resampling (only when the size differs) is
 * libvips' antialiased linear (triangle) filter, the filter family of torchvision's antialiased
 * bilinear resize in JPEG-LM's preprocessing.
 */
export async function fitImage(image: RgbImage, profile: CanonicalJpegProfile): Promise<RgbImage> {
  const framed = cropOrPad(image, profile);
  if (framed.width === profile.width && framed.height === profile.height) return framed;
  const sharp = await loadSharp();
  const { data, info } = await sharp(framed.data, {
    raw: { width: framed.width, height: framed.height, channels: 3 },
    limitInputPixels: false,
  })
    .resize(profile.width, profile.height, { fit: 'fill', kernel: 'linear' })
    .raw({ depth: 'uchar' })
    .toBuffer({ resolveWithObject: true });
  if (info.channels !== 3 || info.width !== profile.width || info.height !== profile.height) {
    throw new CodecError('corrupt', 'resize produced an unexpected image shape');
  }
  return {
    width: info.width,
    height: info.height,
    data: new Uint8Array(data.buffer, data.byteOffset, data.byteLength),
  };
}

/**
 * Synchronous path for raw RGB pixels: crop or pad to the profile's aspect ratio and encode.
 * The cropped/padded image must already be the profile size (this path never resamples);
 * otherwise it throws, and canonicalizeImage or fitImage does the resize.
 */
export function canonicalizeRgb(image: RgbImage, profile: CanonicalJpegProfile): Uint8Array {
  const framed = cropOrPad(image, profile);
  if (framed.width !== profile.width || framed.height !== profile.height) {
    throw new CodecError(
      'invalid-argument',
      `image is ${image.width}x${image.height}; after ${profile.fit} it is ${framed.width}x${framed.height}, not the profile's ${profile.width}x${profile.height} (resizing needs canonicalizeImage or fitImage)`,
    );
  }
  return profileEncoder(profile).encode(framed);
}

export interface CanonicalizeOptions {
  /** Refuse inputs above this many megapixels before decoding (default 64). */
  readonly maxMegapixels?: number;
  /**
   * Return a JPEG that already is a canonical file of the profile unchanged instead of decoding
   * and re-encoding it (which would lose quality a second time). Default true.
   */
  readonly keepCanonical?: boolean;
}

/** Any supported image file to the canonical JPEG of `profile`. */
export async function canonicalizeImage(
  bytes: Uint8Array,
  profile: CanonicalJpegProfile,
  options: CanonicalizeOptions = {},
): Promise<Uint8Array> {
  if (
    (options.keepCanonical ?? true) &&
    bytes.length > canonicalHeader(profile).length &&
    isCanonicalJpeg(bytes, profile)
  ) {
    return bytes.slice();
  }
  const image = await decodeImage(bytes, {
    background: profile.background,
    maxMegapixels: options.maxMegapixels,
  });
  return profileEncoder(profile).encode(await fitImage(image, profile));
}
