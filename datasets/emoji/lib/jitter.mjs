// Augmented renderings ("variants") of one emoji: the same drawing smaller, shifted and, where
// the class allows it, mirrored. Each variant's parameters are a pure function of the image's
// source and the variant number, so a rebuild writes the same pixels.
import { createHash } from 'node:crypto';

/** The drawing keeps at least this fraction of its full size (the box inside the padding). */
export const MIN_SCALE = 0.8;
/** Shifts stay within this many pixels of the centre (and inside the canvas). */
export const MAX_SHIFT = 6;

/**
 * Words that make a mirrored image a different concept or a wrong one: directions (a mirrored
 * left arrow is a right arrow), clock faces, and anything carrying text, letters or digits.
 */
const UNMIRRORABLE =
  /\b(arrow|arrows|left|right|clockwise|anticlockwise|counterclockwise|clock|keycap|flag|letter|letters|latin|input|ideograph|japanese|button|sign|symbol|mark|zodiac|hundred|numbers|repeat|shuffle|play|reverse|rewind|fast|next|last|record|eject|pause|stop|hand|index|backhand|point|pointing|writing|newspaper|page|scroll|memo|ticket|tickets|calendar|label|id|atm|abc|abcd|sos|vs|ok|cool|free|new|ng|up|top|soon|back|end|on|wc|tm|copyright|registered|information|postbox|mailbox|envelope|clipboard|ledger|notebook|book|books|bookmark|receipt|bill|banknote|money|yen|dollar|euro|pound|chart|abacus|dvd|cd|keyboard|calculator|door)\b/;

/** @param {string} label a class label (lowercase words joined by '-') */
export function mirrorable(label) {
  return !UNMIRRORABLE.test(label.replace(/-/g, ' '));
}

/**
 * @typedef {{scale: number, dx: number, dy: number, mirror: boolean}} Jitter
 * scale: size of the drawing relative to the unjittered rendering; dx, dy: shift of its centre
 * in pixels; mirror: flipped left to right.
 */

/**
 * @param {string} source the image's source (package path), which names it uniquely
 * @param {number} variant 1, 2, ...
 * @param {boolean} allowMirror
 * @returns {Jitter}
 */
export function jitterFor(source, variant, allowMirror) {
  const h = createHash('sha256').update(`${source}#${variant}`).digest();
  const u = (i) => h.readUInt32BE(4 * i) / 2 ** 32;
  const shift = (x) => Math.round((2 * x - 1) * MAX_SHIFT);
  return {
    scale: Number((MIN_SCALE + (1 - MIN_SCALE) * u(0)).toFixed(3)),
    dx: shift(u(1)),
    dy: shift(u(2)),
    // Alternate so that half the variants of a mirrorable image are mirrored whatever the hash.
    mirror: allowMirror && variant % 2 === 1,
  };
}
