/**
 * H.264 Annex B byte streams: splitting into NAL units (B.2) and the emulation-prevention
 * bytes that keep start-code prefixes out of NAL payloads (7.4.1, 7.3.1).
 */
import { CodecError } from '../errors.js';

/** nal_unit_type values used here (H.264 Table 7-1). */
export const AvcNalType = {
  nonIdrSlice: 1,
  dataPartitionA: 2,
  dataPartitionB: 3,
  dataPartitionC: 4,
  idrSlice: 5,
  sei: 6,
  sps: 7,
  pps: 8,
  accessUnitDelimiter: 9,
  endOfSequence: 10,
  endOfStream: 11,
  filler: 12,
} as const;

/**
 * One byte_stream_nal_unit (B.1.1). `offset..start` holds the leading zero bytes and the
 * three-byte start code prefix 00 00 01; `start..end` is the NAL unit itself, header byte first,
 * still containing its emulation-prevention bytes. Units tile the stream: each unit's `offset`
 * is the previous unit's `end`, so trailing_zero_8bits count as the next unit's leading zeros.
 */
export interface AvcNalUnit {
  readonly index: number;
  readonly offset: number;
  readonly start: number;
  readonly end: number;
  /** Bytes from `offset` to the NAL header: 3 for 00 00 01, 4 for 00 00 00 01, more if padded. */
  readonly startCodeLength: number;
  /** forbidden_zero_bit (7.4.1): 1 means the unit is damaged. */
  readonly forbiddenBit: number;
  readonly refIdc: number;
  readonly type: number;
}

export interface AvcSplitResult {
  readonly units: AvcNalUnit[];
  /** Bytes before the first start code prefix (a canonical stream has none). */
  readonly leadingBytes: number;
}

/** Position of the next 00 00 01 at or after `from`, or -1. */
function findStartCodePrefix(s: Uint8Array, from: number): number {
  for (let i = from; i + 2 < s.length; i++) {
    // Skip ahead quickly: a prefix needs s[i+2] === 1 and two zeros before it.
    const c = s[i + 2];
    if (c > 1) {
      i += 2;
      continue;
    }
    if (c === 1 && s[i] === 0 && s[i + 1] === 0) return i;
  }
  return -1;
}

/**
 * Split an Annex B byte stream into NAL units (B.2). A unit ends where the next 00 00 00 or
 * 00 00 01 begins, so trailing zero bytes belong to the following unit's start code.
 */
export function avcSplitNalUnits(stream: Uint8Array): AvcSplitResult {
  const units: AvcNalUnit[] = [];
  const first = findStartCodePrefix(stream, 0);
  if (first < 0) return { units, leadingBytes: stream.length };
  let leadingZeros = 0;
  while (leadingZeros < first && stream[first - 1 - leadingZeros] === 0) leadingZeros++;
  let offset = first - leadingZeros;
  const leadingBytes = offset;
  let prefix = first;
  while (prefix >= 0) {
    const start = prefix + 3;
    const next = findStartCodePrefix(stream, start);
    let end = next < 0 ? stream.length : next;
    // The NAL unit stops before any zero bytes that precede the next prefix (zero_byte and
    // trailing_zero_8bits), and a final unit never ends in a zero byte either (B.2).
    while (end > start && stream[end - 1] === 0) end--;
    const header = end > start ? stream[start] : 0;
    units.push({
      index: units.length,
      offset,
      start,
      end,
      startCodeLength: start - offset,
      forbiddenBit: header >> 7,
      refIdc: (header >> 5) & 3,
      type: header & 31,
    });
    offset = end;
    prefix = next;
  }
  return { units, leadingBytes };
}

/** Bytes that follow the last unit (only zero bytes are possible; a canonical stream has none). */
export function avcTrailingBytes(stream: Uint8Array, split: AvcSplitResult): number {
  const last = split.units[split.units.length - 1];
  return last === undefined ? 0 : stream.length - last.end;
}

/**
 * Remove emulation_prevention_three_byte (7.3.1): every 0x03 that follows two zero bytes.
 * Returns the RBSP of a NAL unit payload (the header byte must already be excluded).
 */
export function avcUnescapeRbsp(payload: Uint8Array): Uint8Array {
  const out = new Uint8Array(payload.length);
  let n = 0;
  let zeros = 0;
  for (let i = 0; i < payload.length; i++) {
    const b = payload[i];
    if (zeros >= 2 && b === 3) {
      zeros = 0;
      continue;
    }
    out[n++] = b;
    zeros = b === 0 ? zeros + 1 : 0;
  }
  return n === out.length ? out : out.slice(0, n);
}

/**
 * Insert emulation_prevention_three_byte (7.4.1): after two zero bytes, a byte 0x00..0x03 is
 * preceded by 0x03, and an RBSP ending in two zero bytes gets a final 0x03.
 */
export function avcEscapeRbsp(rbsp: Uint8Array): Uint8Array {
  const out: number[] = [];
  let zeros = 0;
  for (let i = 0; i < rbsp.length; i++) {
    const b = rbsp[i];
    if (zeros >= 2 && b <= 3) {
      out.push(3);
      zeros = 0;
    }
    out.push(b);
    zeros = b === 0 ? zeros + 1 : 0;
  }
  // A NAL unit cannot end in 0x00 (B.2 would read it as trailing_zero_8bits), so an RBSP
  // ending in cabac_zero_word 0x0000 gets a final 0x03.
  if (zeros >= 2) out.push(3);
  return Uint8Array.from(out);
}

/**
 * Check a NAL unit payload for byte patterns 7.4.1 forbids inside a NAL unit: 00 00 00,
 * 00 00 01, 00 00 02 (unescaped), or 00 00 03 followed by a byte above 0x03. Returns the
 * offset (within `payload`) of the first violation, or -1.
 */
export function avcFindEmulationViolation(payload: Uint8Array): number {
  let zeros = 0;
  for (let i = 0; i < payload.length; i++) {
    const b = payload[i];
    if (zeros >= 2) {
      if (b <= 2) return i - 2;
      if (b === 3 && i + 1 < payload.length && payload[i + 1] > 3) return i - 2;
    }
    zeros = b === 0 ? zeros + 1 : 0;
  }
  return -1;
}

/** The RBSP of one unit: its bytes after the one-byte NAL header, emulation prevention removed. */
export function avcUnitRbsp(stream: Uint8Array, unit: AvcNalUnit): Uint8Array {
  if (unit.end <= unit.start) {
    throw new CodecError('truncated', `NAL unit ${unit.index} is empty`, unit.start);
  }
  return avcUnescapeRbsp(stream.subarray(unit.start + 1, unit.end));
}

/** The bytes of one byte_stream_nal_unit, start code included. */
export function avcUnitBytes(stream: Uint8Array, unit: AvcNalUnit): Uint8Array {
  return stream.subarray(unit.offset, unit.end);
}

const START_CODE_3 = Uint8Array.of(0, 0, 1);
const START_CODE_4 = Uint8Array.of(0, 0, 0, 1);

/** A byte_stream_nal_unit from a header byte and an RBSP: start code, header, escaped payload. */
export function avcBuildUnit(header: number, rbsp: Uint8Array, longStartCode: boolean): Uint8Array {
  const payload = avcEscapeRbsp(rbsp);
  const sc = longStartCode ? START_CODE_4 : START_CODE_3;
  const out = new Uint8Array(sc.length + 1 + payload.length);
  out.set(sc, 0);
  out[sc.length] = header;
  out.set(payload, sc.length + 1);
  return out;
}

export function avcConcat(parts: readonly Uint8Array[]): Uint8Array {
  let n = 0;
  for (const p of parts) n += p.length;
  const out = new Uint8Array(n);
  let o = 0;
  for (const p of parts) {
    out.set(p, o);
    o += p.length;
  }
  return out;
}
