/**
 * Structural analysis of a stream against a canonical profile, in TypeScript only: NAL units,
 * slice headers, grouping into pictures (7.4.1.2.4), frame numbering (7.4.3) and macroblock
 * coverage. The validator reports the issues; repair rebuilds the stream from the pictures.
 */
import {
  AvcNalType,
  avcFindEmulationViolation,
  avcSplitNalUnits,
  avcUnitRbsp,
  type AvcNalUnit,
} from './annexb.js';
import { avcStartsWith, isAvcVcl, type AvcHeader } from './header.js';
import type { AvcProfile } from './profile.js';
import { avcCheckSliceData } from './slice-data.js';
import { AvcSliceType, avcParseSliceHeader, type AvcSliceHeader } from './slice-header.js';
import { avcParseSps } from './sps.js';

export type AvcIssueCode =
  | 'no-start-code' // not an Annex B stream
  | 'leading-bytes' // bytes before the first start code
  | 'trailing-bytes' // zero bytes after the last NAL unit
  | 'start-code' // a start code padded with extra zero bytes
  | 'empty-nal' // a start code followed directly by another
  | 'forbidden-bit' // forbidden_zero_bit set
  | 'emulation-prevention' // 00 00 0x inside a NAL unit
  | 'nal-type' // a NAL unit type the profile never writes
  | 'header-mismatch' // SPS/PPS/SEI differ from the profile's
  | 'profile-mismatch' // the stream's own SPS describes another picture size
  | 'slice-header' // unparseable, out of range, or inconsistent with its picture
  | 'slice-type' // a slice type the profile never writes (B, SP, SI)
  | 'slice-data' // the first macroblock does not fit the profile's slice size
  | 'slice-order' // slices of a picture out of macroblock order
  | 'slice-duplicate' // a second slice for the same macroblocks
  | 'frame-incomplete' // macroblocks of a picture not covered by any slice
  | 'frame-num' // frame_num does not follow the previous picture (frames lost or damaged)
  | 'no-idr' // pictures before the first IDR picture (undecodable)
  | 'frame-count' // more pictures than the profile allows
  | 'decode-error' // ffmpeg reported errors
  | 'decode-frames'; // ffmpeg decoded another number of frames than the stream holds

export interface AvcIssue {
  readonly code: AvcIssueCode;
  readonly message: string;
  /** Byte offset of the NAL unit concerned, when there is one. */
  readonly offset?: number;
  /** Picture index (decode order), when known. */
  readonly frame?: number;
}

export interface AvcSlice {
  readonly unit: AvcNalUnit;
  readonly rbsp: Uint8Array;
  readonly header: AvcSliceHeader;
}

export interface AvcPicture {
  readonly idr: boolean;
  readonly frameNum: number;
  readonly idrPicId: number;
  /** AvcSliceType of the picture (its slices' type % 5, by majority). */
  readonly kind: number;
  /** Good slices by macroblock address of their first macroblock. */
  readonly slices: Map<number, AvcSlice>;
  /** A slice whose header the others share: the template for concealment slices. */
  readonly template: AvcSlice;
}

export interface AvcAnalysis {
  readonly issues: AvcIssue[];
  readonly pictures: AvcPicture[];
  /** Units (slices) found before the pictures, e.g. the stream's own header. */
  readonly units: AvcNalUnit[];
  /** Slices in the stream (parsed or not). */
  readonly sliceUnits: number;
  /** Macroblock addresses per picture that hold a slice start (0, n, 2n, ...). */
  readonly slotsPerPicture: number;
  /** Whether the stream starts with the profile header exactly. */
  readonly headerIntact: boolean;
  /** Set when the stream cannot belong to the profile at all. */
  readonly fatal: string | undefined;
}

/** Fields every slice of one picture shares (7.4.3) plus those x264 keeps per picture. */
function pictureSignature(h: AvcSliceHeader): string {
  return JSON.stringify([
    h.nalType,
    h.refIdc,
    h.sliceType,
    h.frameNum,
    h.idrPicId,
    h.picOrderCntLsb,
    h.deltaPicOrderCntBottom,
    h.deltaPicOrderCnt,
    h.numRefIdxActiveOverride,
    h.numRefIdxL0Active,
    h.refPicListModificationL0 ?? null,
    h.predWeightTable ?? null,
    h.noOutputOfPriorPics,
    h.longTermReference,
    h.mmcos ?? null,
    h.sliceQpDelta,
    h.disableDeblockingFilterIdc,
    h.sliceAlphaC0OffsetDiv2,
    h.sliceBetaOffsetDiv2,
  ]);
}

/** The fields that tell pictures apart (7.4.1.2.4, first VCL NAL unit of a primary picture). */
function pictureKey(h: AvcSliceHeader): string {
  return [
    h.nalType === AvcNalType.idrSlice ? 1 : 0,
    h.idrPicId,
    h.frameNum,
    h.refIdc === 0 ? 0 : 1,
    h.picOrderCntLsb,
    h.deltaPicOrderCntBottom,
    h.deltaPicOrderCnt.join(','),
    h.fieldPic ? (h.bottomField ? 2 : 1) : 0,
  ].join('/');
}

interface Run {
  key: string;
  slices: AvcSlice[];
}

function mostCommon<T>(items: readonly T[], keyOf: (t: T) => string): T {
  const counts = new Map<string, { n: number; item: T }>();
  let best: { n: number; item: T } | undefined;
  for (const it of items) {
    const k = keyOf(it);
    const c = counts.get(k) ?? { n: 0, item: it };
    c.n++;
    counts.set(k, c);
    if (best === undefined || c.n > best.n) best = c;
  }
  return best!.item;
}

export interface AvcAnalyzeOptions {
  readonly profile: AvcProfile;
  readonly header: AvcHeader;
}

/** Analyse `stream` against the profile and its header. Never throws on bad data. */
export function avcAnalyze(stream: Uint8Array, opts: AvcAnalyzeOptions): AvcAnalysis {
  const { profile, header } = opts;
  const { sps, pps } = header;
  const issues: AvcIssue[] = [];
  const { units, leadingBytes } = avcSplitNalUnits(stream);
  const slotsPerPicture = Math.ceil(sps.picSizeInMbs / profile.mbsPerSlice);
  const empty = (fatal: string | undefined): AvcAnalysis => ({
    issues,
    pictures: [],
    units,
    sliceUnits: 0,
    slotsPerPicture,
    headerIntact: false,
    fatal,
  });
  if (units.length === 0) {
    issues.push({ code: 'no-start-code', message: 'no start code: not an H.264 Annex B stream' });
    return empty('not an H.264 Annex B stream (no start code)');
  }
  if (leadingBytes > 0) {
    issues.push({
      code: 'leading-bytes',
      message: `${leadingBytes} bytes before the first start code`,
      offset: 0,
    });
  }
  const last = units[units.length - 1];
  if (last.end < stream.length) {
    issues.push({
      code: 'trailing-bytes',
      message: `${stream.length - last.end} zero bytes after the last NAL unit`,
      offset: last.end,
    });
  }

  const headerIntact = leadingBytes === 0 && avcStartsWith(stream, header.bytes);
  const headerEnd = headerIntact ? header.bytes.length : 0;
  if (!headerIntact) {
    issues.push({
      code: 'header-mismatch',
      message: 'the SPS/PPS/SEI header differs from the profile header',
      offset: 0,
    });
  }

  // Slices, one by one.
  const firstVclIndex = units.findIndex((u) => isAvcVcl(u.type) && u.end > headerEnd);
  const firstVcl = firstVclIndex < 0 ? units.length : firstVclIndex;
  const slices: AvcSlice[] = [];
  let sliceUnits = 0;
  let fatal: string | undefined;
  const mbs = profile.mbsPerSlice;
  for (let i = 0; i < units.length; i++) {
    const u = units[i];
    if (u.end <= headerEnd) continue;
    const at = { offset: u.offset };
    if (u.end <= u.start) {
      issues.push({ code: 'empty-nal', message: `empty NAL unit at byte ${u.offset}`, ...at });
      continue;
    }
    if (u.startCodeLength > 4 || (u.offset === 0 && u.startCodeLength !== 4)) {
      issues.push({
        code: 'start-code',
        message: `${u.startCodeLength}-byte start code at byte ${u.offset}`,
        ...at,
      });
    }
    if (u.forbiddenBit) {
      issues.push({
        code: 'forbidden-bit',
        message: `forbidden_zero_bit set in NAL unit at byte ${u.offset}`,
        ...at,
      });
      if (isAvcVcl(u.type)) sliceUnits++;
      continue;
    }
    const violation = avcFindEmulationViolation(stream.subarray(u.start + 1, u.end));
    if (violation >= 0) {
      issues.push({
        code: 'emulation-prevention',
        message: `start-code emulation inside the NAL unit at byte ${u.offset}`,
        ...at,
      });
    }
    if (!headerIntact && i < firstVcl && !isAvcVcl(u.type)) {
      // The header region of a stream whose header differs from the profile's: it is replaced
      // as a whole, but an SPS for another picture size means the slices cannot be ours.
      if (u.type === AvcNalType.sps && fatal === undefined) {
        try {
          const own = avcParseSps(avcUnitRbsp(stream, u));
          if (own.width !== sps.width || own.height !== sps.height) {
            fatal = `the stream is ${own.width}x${own.height}; profile ${profile.name} is ${sps.width}x${sps.height}`;
            issues.push({ code: 'profile-mismatch', message: fatal, ...at });
          }
        } catch {
          // A damaged SPS is a header mismatch: the profile's header is restored.
        }
      }
      continue;
    }
    if (
      u.type === AvcNalType.sps &&
      avcStartsWith(stream, header.repeatBytes, u.offset) &&
      units[i + 2]?.type === AvcNalType.idrSlice &&
      units[i + 2].offset === u.offset + header.repeatBytes.length
    ) {
      i++; // the canonical SPS + PPS repeat before a later IDR picture
      continue;
    }
    if (!isAvcVcl(u.type)) {
      issues.push({
        code: 'nal-type',
        message: `NAL unit type ${u.type} at byte ${u.offset} is not used here by the profile`,
        ...at,
      });
      continue;
    }
    sliceUnits++;
    let rbsp: Uint8Array;
    let h: AvcSliceHeader;
    try {
      rbsp = avcUnitRbsp(stream, u);
      h = avcParseSliceHeader(rbsp, u.type, u.refIdc, sps, pps);
    } catch (e) {
      issues.push({
        code: 'slice-header',
        message: `slice at byte ${u.offset}: ${(e as Error).message}`,
        ...at,
      });
      continue;
    }
    const kind = h.sliceType % 5;
    if (kind !== AvcSliceType.P && kind !== AvcSliceType.I) {
      issues.push({
        code: 'slice-type',
        message: `slice at byte ${u.offset} has slice_type ${h.sliceType} (baseline uses I and P only)`,
        ...at,
      });
      continue;
    }
    if (u.refIdc === 0) {
      issues.push({
        code: 'slice-header',
        message: `slice at byte ${u.offset} is not a reference (nal_ref_idc 0)`,
        ...at,
      });
      continue;
    }
    if (h.firstMbInSlice % mbs !== 0) {
      issues.push({
        code: 'slice-header',
        message: `slice at byte ${u.offset} starts at macroblock ${h.firstMbInSlice}, not a multiple of ${mbs}`,
        ...at,
      });
      continue;
    }
    const problem = avcCheckSliceData(rbsp, h, pps, sps, mbs);
    if (problem !== undefined) {
      issues.push({ code: 'slice-data', message: `slice at byte ${u.offset}: ${problem}`, ...at });
      continue;
    }
    slices.push({ unit: u, rbsp, header: h });
  }

  // Runs of slices with the same picture key, then pictures: a short run between two runs of
  // one picture is a slice whose picture fields were damaged, not a picture of its own.
  const runs: Run[] = [];
  for (const s of slices) {
    const key = pictureKey(s.header);
    const run = runs[runs.length - 1];
    if (run && run.key === key) run.slices.push(s);
    else runs.push({ key, slices: [s] });
  }
  const small = (r: Run): boolean => r.slices.length * 2 < slotsPerPicture;
  const groups: Run[] = [];
  for (let i = 0; i < runs.length; i++) {
    const r = runs[i];
    const prev = groups[groups.length - 1];
    if (prev && prev.key === r.key) {
      prev.slices.push(...r.slices);
    } else if (prev && small(r) && runs[i + 1]?.key === prev.key) {
      for (const s of r.slices) {
        issues.push({
          code: 'slice-header',
          message: `slice at byte ${s.unit.offset}: picture fields differ from the slices around it`,
          offset: s.unit.offset,
        });
      }
    } else {
      groups.push({ key: r.key, slices: [...r.slices] });
    }
  }

  // Frame numbering: every picture is a reference, so frame_num counts up by one from each
  // IDR picture (7.4.3, gaps_in_frame_num_value_allowed_flag = 0).
  const maxFrameNum = 2 ** sps.log2MaxFrameNum;
  const pictures: AvcPicture[] = [];
  let seenIdr = false;
  for (let gi = 0; gi < groups.length; gi++) {
    const g = groups[gi];
    const first = g.slices[0].header;
    const idr = first.nalType === AvcNalType.idrSlice;
    const frame = pictures.length;
    if (!seenIdr && !idr) {
      issues.push({
        code: 'no-idr',
        message: `picture with frame_num ${first.frameNum} before any IDR picture`,
        frame,
      });
      continue;
    }
    const prev = pictures[pictures.length - 1];
    if (prev && !idr) {
      const step = (first.frameNum - prev.frameNum + maxFrameNum) % maxFrameNum;
      if (step !== 1) {
        const next = groups[gi + 1]?.slices[0].header;
        const nextFits =
          next !== undefined &&
          (next.nalType === AvcNalType.idrSlice ||
            (next.frameNum - prev.frameNum + maxFrameNum) % maxFrameNum === 1);
        const fitsProfile = step > 1 && pictures.length + step <= profile.frames;
        if ((small(g) && nextFits) || !fitsProfile) {
          for (const s of g.slices) {
            issues.push({
              code: 'slice-header',
              message: `slice at byte ${s.unit.offset}: frame_num ${first.frameNum} does not follow ${prev.frameNum}`,
              offset: s.unit.offset,
              frame,
            });
          }
          continue;
        }
        issues.push({
          code: 'frame-num',
          message: `frame_num jumps from ${prev.frameNum} to ${first.frameNum}: ${step - 1} picture(s) missing before picture ${frame}`,
          frame,
        });
      }
    }
    seenIdr = true;

    // One signature per picture; slices that disagree with it are damaged.
    const template = mostCommon(g.slices, (s) => pictureSignature(s.header));
    const sig = pictureSignature(template.header);
    const byMb = new Map<number, AvcSlice>();
    let lastMb = -1;
    let outOfOrder = false;
    for (const s of g.slices) {
      const at = { offset: s.unit.offset, frame };
      if (pictureSignature(s.header) !== sig) {
        issues.push({
          code: 'slice-header',
          message: `slice at byte ${s.unit.offset}: header fields differ from the rest of picture ${frame}`,
          ...at,
        });
        continue;
      }
      const mb = s.header.firstMbInSlice;
      if (byMb.has(mb)) {
        issues.push({
          code: 'slice-duplicate',
          message: `second slice for macroblock ${mb} of picture ${frame}`,
          ...at,
        });
        continue;
      }
      if (mb < lastMb) outOfOrder = true;
      lastMb = mb;
      byMb.set(mb, s);
    }
    if (outOfOrder) {
      issues.push({
        code: 'slice-order',
        message: `slices of picture ${frame} are not in macroblock order`,
        frame,
      });
    }
    if (byMb.size < slotsPerPicture) {
      issues.push({
        code: 'frame-incomplete',
        message: `picture ${frame} lacks ${slotsPerPicture - byMb.size} of ${slotsPerPicture} slices`,
        frame,
      });
    }
    pictures.push({
      idr,
      frameNum: first.frameNum,
      idrPicId: first.idrPicId,
      kind: template.header.sliceType % 5,
      slices: byMb,
      template,
    });
  }
  if (pictures.length > profile.frames) {
    issues.push({
      code: 'frame-count',
      message: `${pictures.length} pictures; profile ${profile.name} has at most ${profile.frames}`,
      frame: profile.frames,
    });
  }
  if (fatal === undefined && pictures.length === 0) {
    fatal =
      sliceUnits === 0 ? 'the stream holds no slices' : 'no decodable picture: no intact IDR slice';
  }
  return { issues, pictures, units, sliceUnits, slotsPerPicture, headerIntact, fatal };
}
