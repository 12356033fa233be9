/** An 8-bit RGB image, pixels interleaved row by row (R, G, B, R, G, B, ...). */
export interface RgbImage {
  readonly width: number;
  readonly height: number;
  readonly data: Uint8Array;
}

/** Default refusal limit for decoded images, in megapixels (width * height / 1e6). */
export const DEFAULT_MAX_MEGAPIXELS = 64;

export function createRgbImage(width: number, height: number): RgbImage {
  return { width, height, data: new Uint8Array(width * height * 3) };
}
