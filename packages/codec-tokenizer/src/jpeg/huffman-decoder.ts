/**
 * Huffman decoding tables (T.81 Annex C and F.2.2.3) with lookahead tables for speed.
 *
 * A DHT segment lists code counts per length and the symbols in code order; the codes
 * themselves are canonical (T.81 C.2). Decoding one symbol is a single read of a table indexed
 * by the next LOOKAHEAD_BITS bits; longer codes fall back to the MAXCODE/VALPTR procedure of
 * T.81 Figure F.16. The fast tables go further and fold the magnitude bits (T.81 F.2.2.1
 * EXTEND) into the same read, and for AC also a following EOB, so that the commonest blocks of
 * low-quality images (a DC difference and a few coefficients) cost few reads.
 */
import { MAX_AC_CATEGORY, MAX_DC_CATEGORY } from './grammar-tables.js';
import type { HuffmanSpec } from './tables.js';

/** Bits resolved by one lookahead table read. */
export const LOOKAHEAD_BITS = 10;
const LOOKAHEAD_SIZE = 1 << LOOKAHEAD_BITS;
const EOB = 0x00;

export interface HuffmanDecodeTable {
  /** lookup[next bits] = (codeLength << 8) | symbol for codes within the lookahead; 0 otherwise. */
  readonly lookup: Int32Array;
  /** MAXCODE (T.81 F.2.2.3) for lengths 0..16: the largest code of that length, -1 if none. */
  readonly maxCode: Int32Array;
  /** VALPTR - MINCODE per length: values[valOffset[l] + code] is the symbol of an l-bit code. */
  readonly valOffset: Int32Array;
  readonly values: Uint8Array;
  /**
   * DC tables: fastDc[next bits] = (difference << 8) | bitsUsed for a DC difference whose code
   * and magnitude bits fit in the lookahead (category <= 11); 0 otherwise.
   */
  readonly fastDc: Int32Array | null;
  /**
   * AC tables: fastAc[next bits] = (value << 12) | (eobLength << 8) | (run << 4) | bitsUsed for
   * a coefficient whose code and magnitude bits fit in the lookahead and whose symbol is valid
   * for baseline (size 1..10); eobLength > 0 when an EOB code also lies wholly in the lookahead
   * right after it. An EOB alone is its length (value 0). 0 for everything else (ZRL, long
   * codes, invalid symbols), which takes the general path.
   */
  readonly fastAc: Int32Array | null;
}

/**
 * Why a DHT table cannot be used, or null. Mirrors the checks of libjpeg's
 * jpeg_make_d_derived_tbl: at most 256 codes, the code space not over-subscribed (a code of
 * length l must fit in l bits, T.81 C.2), and DC symbols <= 15.
 */
export function huffmanTableProblem(spec: HuffmanSpec, isDc: boolean): string | null {
  let total = 0;
  for (let l = 0; l < 16; l++) total += spec.bits[l];
  if (total > 256) return `${total} codes (at most 256)`;
  if (spec.values.length !== total) return `${spec.values.length} symbols for ${total} codes`;
  let code = 0;
  for (let l = 1; l <= 16; l++) {
    code += spec.bits[l - 1];
    if (code > 1 << l) return `code lengths over-subscribe the ${l}-bit code space`;
    code <<= 1;
  }
  if (isDc) {
    for (const v of spec.values) {
      if (v > 15) return `DC symbol ${v} is larger than 15`;
    }
  }
  return null;
}

/**
 * The value of the `size` magnitude bits that follow a code of `used` bits in the lookahead
 * window w (T.81 F.2.2.1 EXTEND).
 */
function extendAt(w: number, used: number, size: number): number {
  if (size === 0) return 0;
  const bits = (w >> (LOOKAHEAD_BITS - used - size)) & ((1 << size) - 1);
  return bits < 1 << (size - 1) ? bits - (1 << size) + 1 : bits;
}

/** Length of an EOB code that lies wholly in window w after `used` bits, else 0. */
function eobAfter(lookup: Int32Array, w: number, used: number): number {
  const rest = LOOKAHEAD_BITS - used;
  if (rest <= 0) return 0;
  const e = lookup[(w << used) & (LOOKAHEAD_SIZE - 1)];
  return e !== 0 && (e & 255) === EOB && e >> 8 <= rest ? e >> 8 : 0;
}

/** Build decoding tables; the spec must have passed huffmanTableProblem. */
export function buildHuffmanDecodeTable(spec: HuffmanSpec, isAc: boolean): HuffmanDecodeTable {
  const values = Uint8Array.from(spec.values);
  const maxCode = new Int32Array(18).fill(-1);
  const valOffset = new Int32Array(18);
  const lookup = new Int32Array(LOOKAHEAD_SIZE);
  let code = 0;
  let k = 0;
  for (let l = 1; l <= 16; l++) {
    const n = spec.bits[l - 1];
    if (n > 0) {
      valOffset[l] = k - code;
      for (let i = 0; i < n; i++, k++, code++) {
        if (l > LOOKAHEAD_BITS) continue;
        const first = code << (LOOKAHEAD_BITS - l);
        lookup.fill((l << 8) | values[k], first, first + (1 << (LOOKAHEAD_BITS - l)));
      }
      maxCode[l] = code - 1;
    }
    code <<= 1;
  }
  const fastDc = isAc ? null : new Int32Array(LOOKAHEAD_SIZE);
  const fastAc = isAc ? new Int32Array(LOOKAHEAD_SIZE) : null;
  for (let w = 0; w < LOOKAHEAD_SIZE; w++) {
    const e = lookup[w];
    if (e === 0) continue;
    const len = e >> 8;
    const sym = e & 255;
    if (fastDc !== null) {
      if (sym <= MAX_DC_CATEGORY && len + sym <= LOOKAHEAD_BITS) {
        fastDc[w] = (extendAt(w, len, sym) << 8) | (len + sym);
      }
    } else if (fastAc !== null) {
      const size = sym & 15;
      if (sym === EOB) fastAc[w] = len;
      else if (size >= 1 && size <= MAX_AC_CATEGORY && len + size <= LOOKAHEAD_BITS) {
        const used = len + size;
        fastAc[w] =
          (extendAt(w, len, size) << 12) |
          (eobAfter(lookup, w, used) << 8) |
          ((sym >> 4) << 4) |
          used;
      }
    }
  }
  return { lookup, maxCode, valOffset, values, fastDc, fastAc };
}

/**
 * For one component's DC and AC tables: dcOnly[next bits] = (difference << 8) | bitsUsed when
 * the window starts with a whole DC difference followed by an EOB, i.e. a block whose AC
 * coefficients are all zero, decoded with one read; 0 otherwise.
 */
export function buildDcOnlyTable(dc: HuffmanDecodeTable, ac: HuffmanDecodeTable): Int32Array {
  const table = new Int32Array(LOOKAHEAD_SIZE);
  const fastDc = dc.fastDc;
  if (fastDc === null) return table;
  for (let w = 0; w < LOOKAHEAD_SIZE; w++) {
    const e = fastDc[w];
    if (e === 0) continue;
    const used = e & 15;
    const eob = eobAfter(ac.lookup, w, used);
    if (eob > 0) table[w] = ((e >> 8) << 8) | (used + eob);
  }
  return table;
}
