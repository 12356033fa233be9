// The crop box of an emoji: where its drawing is, judged by alpha.

/** A pixel belongs to the drawing when its alpha reaches this (out of 255); fainter pixels are
 * anti-aliasing haze that would otherwise set the crop box. */
export const ALPHA_CUTOFF = 8;

/**
 * The smallest box holding every pixel whose alpha reaches ALPHA_CUTOFF.
 * @param {Uint8Array} rgba  width*height*4 bytes
 * @param {number} width
 * @param {number} height
 * @returns {{left: number, top: number, width: number, height: number} | null}  null if blank
 */
export function alphaBox(rgba, width, height) {
  if (rgba.length !== width * height * 4) throw new Error('alphaBox: size mismatch');
  let left = width;
  let right = -1;
  let top = height;
  let bottom = -1;
  for (let y = 0; y < height; y += 1) {
    const row = y * width * 4;
    for (let x = 0; x < width; x += 1) {
      if (rgba[row + x * 4 + 3] >= ALPHA_CUTOFF) {
        if (x < left) left = x;
        if (x > right) right = x;
        if (y < top) top = y;
        bottom = y;
      }
    }
  }
  if (right < 0) return null;
  return { left, top, width: right - left + 1, height: bottom - top + 1 };
}
