import { describe, expect, it } from 'vitest';
import {
  AvcBitReader,
  AvcBitWriter,
  CodecError,
  avcEscapeRbsp,
  avcFindEmulationViolation,
  avcSplitNalUnits,
  avcUnescapeRbsp,
} from '../src/index.js';
import { prng } from './avc-fixtures.js';

function bitsOf(bytes: Uint8Array, n: number): string {
  return Array.from(bytes, (b) => b.toString(2).padStart(8, '0'))
    .join('')
    .slice(0, n);
}

function fromBits(bits: string): Uint8Array {
  const padded = bits.padEnd(Math.ceil(bits.length / 8) * 8, '0');
  const out = new Uint8Array(padded.length / 8);
  for (let i = 0; i < out.length; i++) out[i] = parseInt(padded.slice(8 * i, 8 * i + 8), 2);
  return out;
}

describe('Exp-Golomb codes (H.264 9.1)', () => {
  // Table 9-2 (bit strings) and Table 9-3 (se mapping).
  const ue: [number, string][] = [
    [0, '1'],
    [1, '010'],
    [2, '011'],
    [3, '00100'],
    [6, '00111'],
    [7, '0001000'],
    [14, '0001111'],
    [15, '000010000'],
  ];
  it('writes and reads the ue(v) codes of Table 9-2', () => {
    for (const [v, code] of ue) {
      const w = new AvcBitWriter();
      w.ue(v);
      expect(bitsOf(w.toBytes(), w.bitLength)).toBe(code);
      expect(new AvcBitReader(fromBits(code + '1')).ue()).toBe(v);
    }
  });

  it('maps se(v) as in Table 9-3', () => {
    const map: [number, number][] = [
      [0, 0],
      [1, 1],
      [2, -1],
      [3, 2],
      [4, -2],
      [5, 3],
    ];
    for (const [k, v] of map) {
      const w = new AvcBitWriter();
      w.ue(k);
      w.u1(1);
      expect(new AvcBitReader(w.toBytes()).se()).toBe(v);
    }
  });

  it('round-trips random values through writer and reader, at any bit alignment', () => {
    const rnd = prng(1);
    const values: { kind: 'ue' | 'se' | 'u'; v: number; n: number }[] = [];
    const w = new AvcBitWriter();
    for (let i = 0; i < 3000; i++) {
      const r = rnd();
      if (r < 0.4) {
        const v =
          rnd() < 0.1 ? 2 ** 32 - 2 - Math.floor(rnd() * 1000) : Math.floor(rnd() ** 4 * 100000);
        values.push({ kind: 'ue', v, n: 0 });
        w.ue(v);
      } else if (r < 0.8) {
        const v = Math.round((rnd() - 0.5) * 2 ** (1 + Math.floor(rnd() * 30))) || 0;
        values.push({ kind: 'se', v, n: 0 });
        w.se(v);
      } else {
        const n = 1 + Math.floor(rnd() * 32);
        const v = Math.floor(rnd() * 2 ** n);
        values.push({ kind: 'u', v, n });
        w.u(n, v);
      }
    }
    w.trailingBits();
    const r = new AvcBitReader(w.toBytes());
    for (const x of values) {
      const got = x.kind === 'ue' ? r.ue() : x.kind === 'se' ? r.se() : r.u(x.n);
      expect(got).toBe(x.v);
    }
    expect(r.moreRbspData()).toBe(false);
    expect(r.atTrailingBits()).toBe(true);
  });

  it('rejects truncated codes and codes longer than 32 bits', () => {
    // 15 leading zeros and the marker bit, but none of the 15 info bits.
    expect(() => new AvcBitReader(Uint8Array.of(0, 1)).ue()).toThrow(CodecError);
    expect(() => new AvcBitReader(new Uint8Array(5)).ue()).toThrow(/longer than 32 bits/);
    expect(() => new AvcBitReader(Uint8Array.of(0xff)).u(9)).toThrow(/ends inside/);
  });

  it('finds the rbsp_stop_one_bit for more_rbsp_data() (7.2)', () => {
    // Two data bits "10", then the stop bit and alignment zeros: 1010 0000, plus a zero byte.
    const r = new AvcBitReader(Uint8Array.of(0b10100000, 0));
    expect(r.moreRbspData()).toBe(true);
    r.u(2);
    expect(r.moreRbspData()).toBe(false);
    expect(r.atTrailingBits()).toBe(true);
    expect(new AvcBitReader(new Uint8Array(3)).moreRbspData()).toBe(false);
  });
});

describe('emulation prevention (7.4.1)', () => {
  it('escapes the spec patterns', () => {
    expect([...avcEscapeRbsp(Uint8Array.of(0, 0, 0))]).toEqual([0, 0, 3, 0]);
    expect([...avcEscapeRbsp(Uint8Array.of(0, 0, 1, 0, 0, 2, 0, 0, 3))]).toEqual([
      0, 0, 3, 1, 0, 0, 3, 2, 0, 0, 3, 3,
    ]);
    expect([...avcEscapeRbsp(Uint8Array.of(0, 0, 4))]).toEqual([0, 0, 4]);
    // cabac_zero_word at the very end gets a final 0x03.
    expect([...avcEscapeRbsp(Uint8Array.of(1, 0, 0))]).toEqual([1, 0, 0, 3]);
    expect([...avcUnescapeRbsp(Uint8Array.of(1, 0, 0, 3))]).toEqual([1, 0, 0]);
    expect([...avcUnescapeRbsp(Uint8Array.of(0, 0, 3, 0, 0, 0, 3, 1))]).toEqual([0, 0, 0, 0, 0, 1]);
  });

  it('unescape inverts escape, and escaped data never emulates a start code', () => {
    const rnd = prng(2);
    for (let t = 0; t < 500; t++) {
      const n = Math.floor(rnd() * 64);
      // Mostly zeros and small values, where emulation happens.
      const rbsp = Uint8Array.from({ length: n }, () => (rnd() < 0.6 ? 0 : Math.floor(rnd() * 5)));
      // An RBSP ends in its stop bit (a non-zero byte) or, with CABAC, in cabac_zero_words.
      if (n > 0 && rbsp[n - 1] === 0)
        rbsp[n - 1] = rnd() < 0.5 ? 0x80 : rbsp[n - 2] === 0 ? 0 : 0x80;
      const esc = avcEscapeRbsp(rbsp);
      expect(avcFindEmulationViolation(esc)).toBe(-1);
      expect([...avcUnescapeRbsp(esc)]).toEqual([...rbsp]);
    }
  });

  it('flags forbidden patterns inside a NAL unit', () => {
    expect(avcFindEmulationViolation(Uint8Array.of(5, 0, 0, 1, 7))).toBe(1);
    expect(avcFindEmulationViolation(Uint8Array.of(0, 0, 2))).toBe(0);
    expect(avcFindEmulationViolation(Uint8Array.of(0, 0, 3, 9))).toBe(0);
    expect(avcFindEmulationViolation(Uint8Array.of(0, 0, 3, 1))).toBe(-1);
  });
});

describe('Annex B splitting (B.2)', () => {
  it('splits at 3- and 4-byte start codes; units tile the stream; zero bytes go to the next start code', () => {
    const s = Uint8Array.of(
      0,
      0,
      0,
      1,
      0x67,
      1,
      2, // SPS, 4-byte start code
      0,
      0,
      1,
      0x68,
      3,
      0, // PPS with a trailing zero (trailing_zero_8bits)
      0,
      0,
      0,
      1,
      0x65,
      0,
      0,
      3,
      1,
      9, // IDR slice with an emulation-prevention byte
      0,
      0,
      1,
      0x41,
      7,
      0,
      0, // last unit; trailing zeros after it
    );
    const { units, leadingBytes } = avcSplitNalUnits(s);
    expect(leadingBytes).toBe(0);
    expect(units.map((u) => [u.type, u.refIdc, u.startCodeLength])).toEqual([
      [7, 3, 4],
      [8, 3, 3],
      [5, 3, 5],
      [1, 2, 3],
    ]);
    expect(units[0].offset).toBe(0);
    for (let i = 1; i < units.length; i++) expect(units[i].offset).toBe(units[i - 1].end);
    expect(s[units[1].end - 1]).toBe(3); // the PPS's trailing zero is not part of it
    expect(units[3].end).toBe(s.length - 2);
  });

  it('reports bytes before the first start code and streams without any', () => {
    expect(avcSplitNalUnits(Uint8Array.of(9, 9, 0, 0, 1, 0x41, 1)).leadingBytes).toBe(2);
    const none = avcSplitNalUnits(Uint8Array.of(1, 2, 3, 0, 0, 2));
    expect(none.units).toHaveLength(0);
    expect(none.leadingBytes).toBe(6);
  });
});
