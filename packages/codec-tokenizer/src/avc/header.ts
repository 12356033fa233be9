/**
 * The fixed header of a canonical stream: the SPS, PPS and x264's SEI that precede the first
 * picture. For one profile and one ffmpeg/x264 build these bytes never change, so they are
 * dropped from token sequences and restored exactly (as the JPEG tables are for JPEG-LM).
 * x264 also repeats the SPS and PPS before every later IDR picture (scene cuts); those repeats
 * are dropped and restored the same way.
 */
import { CodecError } from '../errors.js';
import {
  AvcNalType,
  avcConcat,
  avcSplitNalUnits,
  avcUnitBytes,
  avcUnitRbsp,
  type AvcNalUnit,
} from './annexb.js';
import { AvcBitReader } from './bitstream.js';
import { resolveFfmpeg, type FfmpegOptions } from './ffmpeg.js';
import { avcParsePps, type AvcPps } from './pps.js';
import { AVC_LM_256X144, avcEncode, type AvcProfile } from './profile.js';
import { avcParseSps, type AvcSps } from './sps.js';

export interface AvcHeader {
  /** The exact bytes before the first slice: SPS, PPS and SEI units with their start codes. */
  readonly bytes: Uint8Array;
  /** The exact bytes x264 repeats before each later IDR picture: the SPS and PPS units. */
  readonly repeatBytes: Uint8Array;
  readonly sps: AvcSps;
  readonly pps: AvcPps;
}

export function isAvcVcl(type: number): boolean {
  return type === AvcNalType.nonIdrSlice || type === AvcNalType.idrSlice;
}

/** Read the header from the start of a canonical stream (everything before the first slice). */
export function avcHeaderFromStream(stream: Uint8Array): AvcHeader {
  const { units, leadingBytes } = avcSplitNalUnits(stream);
  if (units.length === 0) {
    throw new CodecError('not-an-image', 'not an H.264 Annex B stream: no start code');
  }
  if (leadingBytes !== 0) {
    throw new CodecError('corrupt', `${leadingBytes} bytes precede the first start code`, 0);
  }
  const firstVcl = units.findIndex((u) => isAvcVcl(u.type));
  const head = firstVcl < 0 ? units : units.slice(0, firstVcl);
  const spsUnits = head.filter((u) => u.type === AvcNalType.sps);
  const ppsUnits = head.filter((u) => u.type === AvcNalType.pps);
  if (spsUnits.length !== 1 || ppsUnits.length !== 1) {
    throw new CodecError(
      'corrupt',
      `the header holds ${spsUnits.length} SPS and ${ppsUnits.length} PPS units; expected one of each`,
    );
  }
  const sps = avcParseSps(avcUnitRbsp(stream, spsUnits[0]));
  const pps = avcParsePps(avcUnitRbsp(stream, ppsUnits[0]), sps);
  if (pps.spsId !== sps.id) {
    throw new CodecError('corrupt', `PPS refers to SPS ${pps.spsId}, the stream has SPS ${sps.id}`);
  }
  const end = firstVcl < 0 ? stream.length : units[firstVcl].offset;
  return {
    bytes: stream.slice(0, end),
    repeatBytes: avcConcat([
      avcUnitBytes(stream, spsUnits[0]),
      avcUnitBytes(stream, ppsUnits[0]),
    ]).slice(),
    sps,
    pps,
  };
}

export function avcSameBytes(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

export function avcStartsWith(s: Uint8Array, prefix: Uint8Array, at = 0): boolean {
  if (at + prefix.length > s.length) return false;
  for (let i = 0; i < prefix.length; i++) if (s[at + i] !== prefix[i]) return false;
  return true;
}

/** first_mb_in_slice of a slice unit, read from its first bytes; -1 if unreadable. */
export function avcFirstMbOf(stream: Uint8Array, u: AvcNalUnit): number {
  try {
    const rbsp = avcUnitRbsp(stream, u);
    return new AvcBitReader(rbsp.subarray(0, 8)).ue();
  } catch {
    return -1;
  }
}

/** True if unit `i` starts an IDR picture: an IDR slice with first_mb_in_slice 0. */
function startsIdrPicture(stream: Uint8Array, u: AvcNalUnit): boolean {
  return u.type === AvcNalType.idrSlice && avcFirstMbOf(stream, u) === 0;
}

/**
 * Drop the header: the leading header bytes, and the SPS/PPS repeats x264 writes before later
 * IDR pictures. Throws unless `restoreAvcHeaders` gives back exactly `stream`, so the token
 * sequence is always a lossless stand-in for the canonical stream.
 */
export function avcStripHeaders(stream: Uint8Array, header: AvcHeader): Uint8Array {
  if (!avcStartsWith(stream, header.bytes)) {
    throw new CodecError(
      'corrupt',
      'the stream does not start with the profile header (different profile, ffmpeg build, or damage)',
      0,
    );
  }
  const rest = stream.subarray(header.bytes.length);
  const { units, leadingBytes } = avcSplitNalUnits(rest);
  const parts: Uint8Array[] = [];
  if (leadingBytes > 0) parts.push(rest.subarray(0, leadingBytes));
  for (let i = 0; i < units.length; i++) {
    const u = units[i];
    if (
      u.type === AvcNalType.sps &&
      avcStartsWith(rest, header.repeatBytes, u.offset) &&
      i + 2 < units.length &&
      units[i + 2].offset === u.offset + header.repeatBytes.length &&
      startsIdrPicture(rest, units[i + 2])
    ) {
      i += 1; // skip the SPS and the PPS
      continue;
    }
    parts.push(avcUnitBytes(rest, u));
  }
  const last = units[units.length - 1];
  if (last !== undefined && last.end < rest.length) parts.push(rest.subarray(last.end));
  const body = avcConcat(parts);
  if (!avcSameBytes(avcRestoreHeaders(body, header), stream)) {
    throw new CodecError(
      'corrupt',
      'the stream is not in canonical form: its parameter sets do not follow the profile layout',
    );
  }
  return body;
}

/** Put the header back: the leading header, and the SPS/PPS repeat before each later IDR. */
export function avcRestoreHeaders(body: Uint8Array, header: AvcHeader): Uint8Array {
  const { units } = avcSplitNalUnits(body);
  const parts: Uint8Array[] = [header.bytes];
  let pos = 0;
  let seenPicture = false;
  for (const u of units) {
    if (!isAvcVcl(u.type)) continue;
    if (startsIdrPicture(body, u)) {
      if (seenPicture) {
        parts.push(body.subarray(pos, u.offset), header.repeatBytes);
        pos = u.offset;
      }
    }
    seenPicture = true;
  }
  parts.push(body.subarray(pos));
  return avcConcat(parts);
}

const profileHeaders = new Map<string, Promise<AvcHeader>>();

/**
 * The header a profile gets from an ffmpeg build, found by encoding a short synthetic clip
 * with that build (cached per binary and profile). The SPS/PPS/SEI do not depend on the
 * pictures: the filter chain fixes size, rate and colour tags, and the SEI records only
 * x264's version and options.
 */
export function avcProfileHeader(
  profile: AvcProfile = AVC_LM_256X144,
  opts: FfmpegOptions = {},
): Promise<AvcHeader> {
  const bin = resolveFfmpeg(opts.ffmpeg);
  const key = `${bin}\u0000${profile.name}`;
  let h = profileHeaders.get(key);
  if (h === undefined) {
    const lavfi = `color=c=gray:s=${profile.width}x${profile.height}:r=${profile.fps}`;
    h = avcEncode({ lavfi }, { profile: { ...profile, frames: 1 }, ffmpeg: bin }).then(
      avcHeaderFromStream,
    );
    h.catch(() => profileHeaders.delete(key));
    profileHeaders.set(key, h);
  }
  return h;
}
