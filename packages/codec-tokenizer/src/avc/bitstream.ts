/**
 * Bit-level access to an RBSP (H.264 7.2): fixed-length u(n), Exp-Golomb ue(v)/se(v) (9.1),
 * more_rbsp_data() and rbsp_trailing_bits(). The writer mirrors the reader so slice headers can
 * be rewritten bit-exactly.
 */
import { CodecError } from '../errors.js';

export class AvcBitReader {
  private pos = 0;
  private readonly bitLength: number;
  /** Bit index of the rbsp_stop_one_bit (the last 1 bit), or -1 if the RBSP has none. */
  private stopBit = -2;

  constructor(
    private readonly data: Uint8Array,
    private readonly what = 'RBSP',
  ) {
    this.bitLength = data.length * 8;
  }

  get bitPosition(): number {
    return this.pos;
  }

  get bitsLeft(): number {
    return this.bitLength - this.pos;
  }

  get byteAligned(): boolean {
    return (this.pos & 7) === 0;
  }

  private need(n: number): void {
    if (this.pos + n > this.bitLength) {
      throw new CodecError(
        'truncated',
        `${this.what} ends inside a syntax element (bit ${this.pos} of ${this.bitLength})`,
      );
    }
  }

  u1(): number {
    this.need(1);
    const b = (this.data[this.pos >> 3] >> (7 - (this.pos & 7))) & 1;
    this.pos++;
    return b;
  }

  /** u(n) for n <= 32. */
  u(n: number): number {
    if (n === 0) return 0;
    this.need(n);
    let v = 0;
    for (let i = 0; i < n; i++) {
      v = v * 2 + ((this.data[this.pos >> 3] >> (7 - (this.pos & 7))) & 1);
      this.pos++;
    }
    return v;
  }

  /** ue(v), 9.1: leadingZeroBits zeros, a one, then leadingZeroBits info bits. */
  ue(): number {
    let zeros = 0;
    while (this.u1() === 0) {
      zeros++;
      // 32 leading zeros would give a value above 2^32 - 2, the largest any syntax element uses.
      if (zeros > 31) {
        throw new CodecError('corrupt', `${this.what}: Exp-Golomb code longer than 32 bits`);
      }
    }
    return 2 ** zeros - 1 + this.u(zeros);
  }

  /** se(v), 9.1.1: k = ue(v) maps to (-1)^(k+1) * Ceil(k / 2). */
  se(): number {
    const k = this.ue();
    if (k === 0) return 0;
    return k % 2 === 1 ? (k + 1) / 2 : -(k / 2);
  }

  skip(n: number): void {
    this.need(n);
    this.pos += n;
  }

  /** more_rbsp_data() (7.2): true while data remains before the rbsp_stop_one_bit. */
  moreRbspData(): boolean {
    if (this.stopBit === -2) {
      this.stopBit = -1;
      for (let i = this.data.length - 1; i >= 0; i--) {
        const b = this.data[i];
        if (b !== 0) {
          let bit = 7;
          while (((b >> (7 - bit)) & 1) === 0) bit--;
          this.stopBit = i * 8 + bit;
          break;
        }
      }
    }
    return this.pos < this.stopBit;
  }

  /**
   * rbsp_trailing_bits() (7.3.2.11): a one bit then zeros to the byte boundary, and nothing but
   * zero bytes after it. Returns false when the RBSP does not end that way here.
   */
  atTrailingBits(): boolean {
    if (this.moreRbspData()) return false;
    return this.pos === this.stopBit;
  }
}

export class AvcBitWriter {
  private bytes: number[] = [];
  private cur = 0;
  private nbits = 0;

  get bitLength(): number {
    return this.bytes.length * 8 + this.nbits;
  }

  u1(b: number): void {
    this.cur = (this.cur << 1) | (b & 1);
    this.nbits++;
    if (this.nbits === 8) {
      this.bytes.push(this.cur);
      this.cur = 0;
      this.nbits = 0;
    }
  }

  /** u(n) for n <= 32; `v` must fit in n bits. */
  u(n: number, v: number): void {
    if (n < 32 && (v < 0 || v >= 2 ** n)) {
      throw new CodecError('invalid-argument', `value ${v} does not fit in ${n} bits`);
    }
    for (let i = n - 1; i >= 0; i--) this.u1(Math.floor(v / 2 ** i) & 1);
  }

  ue(v: number): void {
    if (!Number.isInteger(v) || v < 0 || v > 2 ** 32 - 2) {
      throw new CodecError('invalid-argument', `ue(v) cannot code ${v}`);
    }
    const x = v + 1;
    const len = Math.floor(Math.log2(x));
    for (let i = 0; i < len; i++) this.u1(0);
    this.u(len + 1, x);
  }

  se(v: number): void {
    this.ue(v > 0 ? 2 * v - 1 : -2 * v);
  }

  /** Copy `n` bits from a reader at its current position. */
  copyBits(r: AvcBitReader, n: number): void {
    for (let i = 0; i < n; i++) this.u1(r.u1());
  }

  /** rbsp_trailing_bits(): rbsp_stop_one_bit then alignment zeros. */
  trailingBits(): void {
    this.u1(1);
    while (this.nbits !== 0) this.u1(0);
  }

  /** The bytes written so far; a partial last byte is padded with zero bits. */
  toBytes(): Uint8Array {
    const out = Uint8Array.from(this.bytes);
    if (this.nbits === 0) return out;
    const full = new Uint8Array(out.length + 1);
    full.set(out);
    full[out.length] = this.cur << (8 - this.nbits);
    return full;
  }
}
