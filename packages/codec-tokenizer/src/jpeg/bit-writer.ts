/**
 * MSB-first bit writer for entropy-coded segments (T.81 F.1.2.3 and B.1.1.5): every 0xFF data
 * byte is followed by a stuffed 0x00, and a segment ends by padding the last byte with 1-bits.
 *
 * Bits collect in a 32-bit accumulator and leave four bytes at a time; the output buffer is
 * reused between segments and grows by doubling when `reserve` asks for more room.
 */
export class BitWriter {
  private buf: Uint8Array;
  private pos = 0;
  /** Pending bits, right-aligned; `32 - free` of them are valid. */
  private acc = 0;
  private free = 32;

  constructor(initialCapacity = 1 << 16) {
    this.buf = new Uint8Array(Math.max(16, initialCapacity));
  }

  /** Starts a new segment, keeping the buffer. */
  reset(): void {
    this.pos = 0;
    this.acc = 0;
    this.free = 32;
  }

  /** Bytes written so far (not counting bits still in the accumulator). */
  get length(): number {
    return this.pos;
  }

  /** Guarantees room for `bytes` more output bytes (stuffing included) without a bounds check. */
  reserve(bytes: number): void {
    const need = this.pos + bytes + 8;
    if (need <= this.buf.length) return;
    let size = this.buf.length * 2;
    while (size < need) size *= 2;
    const grown = new Uint8Array(size);
    grown.set(this.buf.subarray(0, this.pos));
    this.buf = grown;
  }

  /** Appends the low `size` bits of `bits` (1 <= size <= 31), most significant first. */
  put(bits: number, size: number): void {
    const free = this.free;
    if (size < free) {
      this.acc = (this.acc << size) | bits;
      this.free = free - size;
      return;
    }
    const rest = size - free;
    this.emitWord((this.acc << free) | (bits >>> rest));
    this.acc = bits & ((1 << rest) - 1);
    this.free = 32 - rest;
  }

  private emitWord(word: number): void {
    const buf = this.buf;
    let pos = this.pos;
    const b0 = word >>> 24;
    const b1 = (word >>> 16) & 0xff;
    const b2 = (word >>> 8) & 0xff;
    const b3 = word & 0xff;
    buf[pos++] = b0;
    if (b0 === 0xff) buf[pos++] = 0;
    buf[pos++] = b1;
    if (b1 === 0xff) buf[pos++] = 0;
    buf[pos++] = b2;
    if (b2 === 0xff) buf[pos++] = 0;
    buf[pos++] = b3;
    if (b3 === 0xff) buf[pos++] = 0;
    this.pos = pos;
  }

  /**
   * Writes out the pending bits, filling the last partial byte with 1-bits (libjpeg jchuff.c
   * flush_bits); the segment then ends on a byte boundary.
   */
  flush(): void {
    let used = 32 - this.free;
    if (used === 0) return;
    const pad = (8 - (used & 7)) & 7;
    let acc = this.acc;
    if (pad > 0) {
      acc = (acc << pad) | ((1 << pad) - 1);
      used += pad;
    }
    const buf = this.buf;
    let pos = this.pos;
    for (let shift = used - 8; shift >= 0; shift -= 8) {
      const byte = (acc >>> shift) & 0xff;
      buf[pos++] = byte;
      if (byte === 0xff) buf[pos++] = 0;
    }
    this.pos = pos;
    this.acc = 0;
    this.free = 32;
  }

  /** Writes a marker (0xFF, code) unstuffed; call flush() first so it lands on a byte boundary. */
  marker(code: number): void {
    this.buf[this.pos++] = 0xff;
    this.buf[this.pos++] = code;
  }

  /** The bytes written since the last reset, as a view that the next write may overwrite. */
  view(): Uint8Array {
    return this.buf.subarray(0, this.pos);
  }

  /** A copy of the bytes written since the last reset. */
  toBytes(): Uint8Array {
    return this.buf.slice(0, this.pos);
  }
}
