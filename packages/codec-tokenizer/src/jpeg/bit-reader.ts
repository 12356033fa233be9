/**
 * Reading entropy-coded segments (T.81 B.1.1.5, F.2.2.5): bits MSB first, a 0x00 byte stuffed
 * after every 0xFF data byte, and a marker (0xFF followed by anything else) ending the segment.
 *
 * The state lives in plain fields: the scan decoder's inner loop (decodeMcus) copies it into
 * locals, loads bytes itself by these rules, and stores it back. Loading never passes a marker:
 * once one is reached (or the input ends), zero bits are supplied as libjpeg does and counted in
 * `phantom`; having consumed any of them (phantom > count) means the data ran out. The methods
 * here serve the slower work between intervals: checking how an interval ends, locating bytes
 * for problem reports, and skipping to the next marker.
 */
export class EntropyReader {
  readonly data: Uint8Array;
  /** Up to 32 buffered bits; the unread ones are the low `count` bits. */
  bits = 0;
  count = 0;
  /** Next byte to load. It stops at the 0xFF of a marker and never passes it. */
  pos = 0;
  /** Zero bits appended after the end of the segment (the lowest `phantom` buffered bits). */
  phantom = 0;
  /** True once loading stopped at a marker or at the end of the input. */
  ended = false;

  constructor(data: Uint8Array) {
    this.data = data;
  }

  /** Start reading a segment at `pos`. */
  reset(pos: number): void {
    this.bits = 0;
    this.count = 0;
    this.pos = pos;
    this.phantom = 0;
    this.ended = false;
  }

  /** Unread bits that came from real bytes. */
  realBitsLeft(): number {
    return this.count > this.phantom ? this.count - this.phantom : 0;
  }

  /**
   * Offset of the byte holding the next unread bit (the byte where a problem was detected).
   * Buffered bytes are counted back from `pos`, skipping the stuffed zero after each 0xFF.
   */
  byteOffset(): number {
    return this.backOver(Math.ceil(this.realBitsLeft() / 8));
  }

  private backOver(realBytes: number): number {
    const data = this.data;
    let i = this.pos;
    for (let k = 0; k < realBytes; k++) {
      i--;
      if (i > 0 && data[i] === 0 && data[i - 1] === 0xff) i--;
    }
    return i;
  }

  /** True when every real byte up to a marker (or the end of the input) has been loaded. */
  atSegmentEnd(): boolean {
    const data = this.data;
    const p = this.pos;
    return p >= data.length || (data[p] === 0xff && (p + 1 >= data.length || data[p + 1] !== 0));
  }

  /**
   * After the last MCU of a restart interval: the remaining bits must be fewer than 8 and all
   * ones (T.81 F.1.2.3 pads with 1-bits), and a marker must follow.
   */
  intervalEnd(): 'clean' | 'bad-padding' | 'extra-data' {
    if (!this.atSegmentEnd()) return 'extra-data';
    const left = this.realBitsLeft();
    if (left >= 8) return 'extra-data';
    if (left === 0) return 'clean';
    const mask = (1 << left) - 1;
    return ((this.bits >>> (this.count - left)) & mask) === mask ? 'clean' : 'bad-padding';
  }

  /** True when the unread bits up to the next byte boundary are all 1s (valid padding). */
  paddedToByte(): boolean {
    const left = this.realBitsLeft() & 7;
    const mask = (1 << left) - 1;
    return ((this.bits >>> (this.count - left)) & mask) === mask;
  }

  /** Offset where the next whole byte of unread data starts (used after a missing RST). */
  nextByteBoundary(): number {
    return this.backOver(Math.floor(this.realBitsLeft() / 8));
  }

  /** Move `pos` to the next marker (skipping stuffed 0xFF 0x00 pairs), or to the end. */
  skipToMarker(): void {
    this.pos = findMarker(this.data, this.pos);
    this.count = 0;
    this.bits = 0;
    this.phantom = 0;
    this.ended = true;
  }
}

/**
 * Offset of the first 0xFF at or after `from` that is not a stuffed 0xFF 0x00 (a marker or
 * fill byte), or data.length if there is none.
 */
export function findMarker(data: Uint8Array, from: number): number {
  let i = from;
  const n = data.length;
  while (i < n) {
    i = data.indexOf(0xff, i);
    if (i < 0) return n;
    if (i + 1 < n && data[i + 1] === 0) {
      i += 2;
      continue;
    }
    return i;
  }
  return n;
}

/**
 * The marker at `at` (a 0xFF found by findMarker), after any 0xFF fill bytes: the offset of
 * the 0xFF just before its code (the code is data[offset + 1]), or -1 if the input ends first.
 */
export function markerAt(data: Uint8Array, at: number): number {
  let i = at;
  const n = data.length;
  while (i + 1 < n && data[i + 1] === 0xff) i++;
  return i + 1 < n ? i : -1;
}
