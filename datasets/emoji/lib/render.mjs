// One emoji image -> one square RGB PNG: rasterise, crop to the drawn pixels, fit inside the
// square less a margin, centre, flatten onto white. Cropping first puts every set on the same
// scale (their canvases carry different margins: none in Noto's PNGs, 1/6 of OpenMoji's box).
import sharp from 'sharp';
import { alphaBox } from './alpha-box.mjs';

/** Vector images are rasterised to this many pixels on their longer side before cropping and
 * resampling, so the final downscale sees the same detail as the bitmap sets' 64 px sources. */
export const RASTER_SIZE = 256;
/** sharp's pixel limit would accept far larger; no emoji source comes close to this. */
const MAX_PIXELS = 4096 * 4096;
/**
 * @typedef {import('./sets.mjs').ImageInput} ImageInput
 * @typedef {import('./jitter.mjs').Jitter} Jitter
 * @typedef {{size: number, padding: number, jitter?: Jitter}} RenderOptions
 */

/**
 * Decodes (or rasterises) an input to straight-alpha RGBA.
 * @param {ImageInput} input
 */
async function decode(input) {
  const source = input.kind === 'svg' ? Buffer.from(input.svg) : input.path;
  const probe = await sharp(source, { limitInputPixels: MAX_PIXELS }).metadata();
  const vector = probe.format === 'svg';
  // SVG is sized at 72 dpi by default; scale the density so the longer side is RASTER_SIZE.
  const density = vector
    ? (72 * RASTER_SIZE) / Math.max(probe.width ?? 1, probe.height ?? 1)
    : undefined;
  const image = sharp(source, { limitInputPixels: MAX_PIXELS, ...(density ? { density } : {}) });
  return image.ensureAlpha().raw().toBuffer({ resolveWithObject: true });
}

/** Offset of a centred span of `length`, shifted by `shift` but kept inside the canvas. */
function place(size, length, shift) {
  return Math.min(size - length, Math.max(0, Math.floor((size - length) / 2) + shift));
}

/**
 * Renders one emoji to a size x size RGB PNG on white.
 * @param {ImageInput} input
 * @param {RenderOptions} options
 * @returns {Promise<Buffer>}
 */
export async function renderEmoji(input, { size, padding, jitter }) {
  const { data, info } = await decode(input);
  if (info.channels !== 4) throw new Error(`decoded to ${info.channels} channels, expected 4`);
  const box = alphaBox(data, info.width, info.height);
  if (box === null) throw new Error('image is fully transparent');
  const inner = (size - 2 * padding) * (jitter?.scale ?? 1);
  const scale = inner / Math.max(box.width, box.height);
  const width = Math.max(1, Math.round(box.width * scale));
  const height = Math.max(1, Math.round(box.height * scale));
  const raw = { width: info.width, height: info.height, channels: 4 };
  // sharp premultiplies alpha while resampling, so transparent pixels' colours cannot bleed.
  const fitted = await sharp(data, { raw })
    .extract(box)
    .resize(width, height, { fit: 'fill', kernel: 'lanczos3' })
    .flop(jitter?.mirror ?? false)
    .raw()
    .toBuffer({ resolveWithObject: true });
  return sharp({
    create: { width: size, height: size, channels: 3, background: { r: 255, g: 255, b: 255 } },
  })
    .composite([
      {
        input: fitted.data,
        raw: { width: fitted.info.width, height: fitted.info.height, channels: 4 },
        left: place(size, width, jitter?.dx ?? 0),
        top: place(size, height, jitter?.dy ?? 0),
      },
    ])
    .removeAlpha()
    .png({ compressionLevel: 9, adaptiveFiltering: false, palette: false })
    .toBuffer();
}
