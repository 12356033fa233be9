/**
 * Repair: rebuild a damaged stream into one that ffmpeg decodes without a single error.
 *
 * 1. Structure (TypeScript): the profile header is restored; damaged, duplicate and stray NAL
 *    units are dropped; pictures are renumbered after lost ones; every macroblock without an
 *    intact slice gets a concealment slice (P_Skip in P pictures, grey intra in I pictures).
 * 2. Decoding (ffmpeg): while ffmpeg still reports errors, the first picture with errors is
 *    found by bisection; the slices of the macroblocks it names are concealed, and a picture
 *    whose errors name no macroblock (or persist) is dropped, or for an IDR picture the clip is
 *    cut before it.
 * Nothing usable left, or more than `maxConcealedFraction` of the macroblocks concealed, and
 * the stream is rejected with the reason.
 */
import { AvcNalType, avcBuildUnit, avcConcat } from './annexb.js';
import { avcDecodeCheck, avcErrorMacroblocks, avcFirstBadPicture } from './decode-check.js';
import type { FfmpegOptions } from './ffmpeg.js';
import { avcProfileHeader, avcSameBytes, type AvcHeader } from './header.js';
import { AVC_LM_256X144, type AvcProfile } from './profile.js';
import { avcConcealmentSlice, avcRewriteSliceHeader } from './slice-data.js';
import type { AvcSliceHeader } from './slice-header.js';
import { avcAnalyze, type AvcAnalysis, type AvcPicture, type AvcSlice } from './structure.js';

export interface AvcRepairOptions extends FfmpegOptions {
  readonly profile?: AvcProfile;
  /** The profile header; default: derived from the profile with this ffmpeg. */
  readonly header?: AvcHeader;
  /** Run the ffmpeg decode loop (default true). Without it only the structure is repaired. */
  readonly verify?: boolean;
  /** Reject when more than this share of all macroblocks had to be concealed (default 0.5). */
  readonly maxConcealedFraction?: number;
  readonly signal?: AbortSignal;
  /** An analysis of this stream already made with the same profile and header. */
  readonly analysis?: AvcAnalysis;
}

export interface AvcRepairStats {
  /** Pictures in the output. */
  readonly frames: number;
  /** Slices replaced by concealment slices (including lost ones). */
  readonly concealedSlices: number;
  /** Pictures of the input whose content is not in the output (dropped or replaced). */
  readonly droppedFrames: number;
  /** Skip pictures (copies of the picture before) standing in for lost or undecodable ones. */
  readonly skipFrames: number;
  /** ffmpeg decode checks run. */
  readonly decodeRuns: number;
}

export type AvcRepairResult =
  | {
      readonly ok: true;
      readonly stream: Uint8Array;
      /** False when the input was already canonical and clean. */
      readonly changed: boolean;
      readonly stats: AvcRepairStats;
      readonly actions: readonly string[];
    }
  | { readonly ok: false; readonly reason: string; readonly actions: readonly string[] };

/** A picture being rebuilt: for every slice slot, the intact slice or null (conceal). */
interface WorkPicture {
  readonly idr: boolean;
  /** Header fields for concealment slices (frame_num is set when serialising). */
  readonly template: AvcSliceHeader;
  /** nal_ref_idc and nal_unit_type byte of concealment slices. */
  readonly nalHeader: number;
  readonly slots: (AvcSlice | null)[];
  /** Stands in for a lost or undecodable P picture: every macroblock P_Skip. */
  readonly synthetic: boolean;
  /** Decode-check rounds spent on this picture. */
  attempts: number;
}

/**
 * A P picture of nothing but P_Skip macroblocks: a copy of the previous picture. It stands in
 * for a lost or undecodable picture, so frame_num and the reference lists of the pictures after
 * it stay as the encoder made them (dropping it instead would shift every later reference).
 * One active reference, no list reordering, sliding-window marking: nothing in it can point
 * at a picture that is not there.
 */
function skipPictureTemplate(like: AvcSliceHeader): AvcSliceHeader {
  return {
    ...like,
    nalType: AvcNalType.nonIdrSlice,
    refIdc: like.refIdc === 0 ? 2 : like.refIdc,
    sliceType: 5, // P, every slice of the picture
    idrPicId: 0,
    numRefIdxActiveOverride: true,
    numRefIdxL0Active: 1,
    refPicListModificationL0: undefined,
    refPicListModificationL1: undefined,
    predWeightTable: undefined,
    noOutputOfPriorPics: false,
    longTermReference: false,
    mmcos: undefined,
    cabacInitIdc: 0,
  };
}

const MAX_DECODE_ROUNDS = 64;
/** How many slices before the one ffmpeg names may hold the damage (see concealNamed). */
const CULPRIT_WINDOW = 16;
/** Damaged slices one picture may lose to decode-guided concealment before it is dropped. */
const MAX_ATTEMPTS_PER_PICTURE = 16;

export async function avcRepair(
  stream: Uint8Array,
  opts: AvcRepairOptions = {},
): Promise<AvcRepairResult> {
  const profile = opts.profile ?? AVC_LM_256X144;
  const header = opts.header ?? (await avcProfileHeader(profile, opts));
  const { sps, pps } = header;
  const analysis = opts.analysis ?? avcAnalyze(stream, { profile, header });
  const actions: string[] = [];
  const reject = (reason: string): AvcRepairResult => ({ ok: false, reason, actions });
  if (analysis.fatal !== undefined) return reject(analysis.fatal);

  const mbs = profile.mbsPerSlice;
  const slots = analysis.slotsPerPicture;
  const maxFrameNum = 2 ** sps.log2MaxFrameNum;
  const fromAnalysis = (p: AvcPicture): WorkPicture => ({
    idr: p.idr,
    template: p.template.header,
    nalHeader: stream[p.template.unit.start],
    slots: Array.from({ length: slots }, (_, i) => p.slices.get(i * mbs) ?? null),
    synthetic: false,
    attempts: 0,
  });
  const skipPicture = (like: AvcSliceHeader): WorkPicture => {
    const template = skipPictureTemplate(like);
    return {
      idr: false,
      template,
      nalHeader: (template.refIdc << 5) | template.nalType,
      slots: new Array<AvcSlice | null>(slots).fill(null),
      synthetic: true,
      attempts: 0,
    };
  };
  // Pictures lost whole (a frame_num gap) come back as skip pictures.
  let pics: WorkPicture[] = [];
  let missing = 0;
  let prevFrameNum = -1;
  for (const p of analysis.pictures) {
    if (prevFrameNum >= 0 && !p.idr) {
      const step = (p.frameNum - prevFrameNum + maxFrameNum) % maxFrameNum;
      for (let k = 1; k < step; k++, missing++) pics.push(skipPicture(p.template.header));
    }
    pics.push(fromAnalysis(p));
    prevFrameNum = p.frameNum;
  }
  if (missing > 0) actions.push(`put ${missing} skip picture(s) in place of lost ones`);
  if (pics.length > profile.frames) {
    actions.push(
      `dropped ${pics.length - profile.frames} picture(s) beyond the profile's ${profile.frames}`,
    );
    pics = pics.slice(0, profile.frames);
  }
  const inputPictures = analysis.pictures.length;
  if (!analysis.headerIntact) actions.push('restored the profile header');
  const lost = pics
    .filter((p) => !p.synthetic)
    .reduce((n, p) => n + p.slots.filter((x) => x === null).length, 0);
  if (lost > 0) actions.push(`concealed ${lost} lost or damaged slice(s)`);

  const unitCache = new WeakMap<AvcSlice, Map<number, Uint8Array>>();

  /** One slice unit with frame_num `frameNum`, rewriting the header only when it changes. */
  const sliceUnit = (s: AvcSlice, frameNum: number, long: boolean): Uint8Array => {
    const key = frameNum * 2 + (long ? 1 : 0);
    let m = unitCache.get(s);
    const hit = m?.get(key);
    if (hit) return hit;
    const headerByte = stream[s.unit.start];
    let rbsp = s.rbsp;
    if (s.header.frameNum !== frameNum) {
      rbsp = avcRewriteSliceHeader(s.rbsp, s.header, { ...s.header, frameNum }, sps, pps);
    }
    const unit = avcBuildUnit(headerByte, rbsp, long);
    if (!m) unitCache.set(s, (m = new Map()));
    m.set(key, unit);
    return unit;
  };

  const serialize = (list: readonly WorkPicture[]): Uint8Array => {
    const parts: Uint8Array[] = [header.bytes];
    let sinceIdr = 0;
    list.forEach((p, i) => {
      if (p.idr) {
        sinceIdr = 0;
        if (i > 0) parts.push(header.repeatBytes);
      }
      const frameNum = sinceIdr % maxFrameNum;
      const th: AvcSliceHeader = { ...p.template, frameNum };
      p.slots.forEach((s, slot) => {
        // x264 gives the first NAL unit of each access unit a four-byte start code: the SPS
        // for IDR pictures, the first slice otherwise.
        const long = slot === 0 && !p.idr;
        if (s !== null) parts.push(sliceUnit(s, frameNum, long));
        else {
          const rbsp = avcConcealmentSlice(th, slot * mbs, mbs, sps, pps);
          parts.push(avcBuildUnit(p.nalHeader, rbsp, long));
        }
      });
      sinceIdr++;
    });
    return avcConcat(parts);
  };

  /**
   * The decoder names the macroblock it was decoding when it failed. That is usually the
   * damaged slice's own macroblock, but damage near the end of a slice makes the decoder read
   * on past the slice's macroblock (phantom skipped or coded macroblocks) and fail a few
   * macroblocks later, so the culprit is the named slice or one shortly before it. Conceal the
   * window of slices up to the named one; if that stops the failure there, bisect the window
   * down to the one slice whose concealment does.
   */
  const concealNamed = async (
    p: WorkPicture,
    mb: number,
    prefix: () => Uint8Array,
  ): Promise<{ slots: number[] | undefined; runs: number }> => {
    let runs = 0;
    const fixes = async (candidates: readonly number[]): Promise<boolean> => {
      const saved = candidates.map((s) => p.slots[s]);
      for (const s of candidates) p.slots[s] = null;
      runs++;
      const rep = await avcDecodeCheck(prefix(), { ffmpeg: opts.ffmpeg, signal: opts.signal });
      candidates.forEach((s, i) => (p.slots[s] = saved[i]));
      return !avcErrorMacroblocks(rep.errors, sps.picWidthInMbs).includes(mb);
    };
    const s0 = Math.min(slots - 1, Math.floor(mb / mbs));
    const window: number[] = [];
    for (let s = Math.max(0, s0 - CULPRIT_WINDOW); s <= s0; s++)
      if (p.slots[s] !== null) window.push(s);
    if (window.length === 0 || !(await fixes(window))) return { slots: undefined, runs };
    let range = window;
    while (range.length > 1) {
      const upper = range.slice(range.length >> 1);
      range = (await fixes(upper)) ? upper : range.slice(0, range.length >> 1);
    }
    const chosen = window.length > 1 && !(await fixes(range)) ? window : range;
    for (const s of chosen) p.slots[s] = null;
    return { slots: chosen, runs };
  };

  let out = serialize(pics);
  let decodeRuns = 0;
  if (opts.verify !== false) {
    const dopts = { ffmpeg: opts.ffmpeg, signal: opts.signal };
    let rounds = 0;
    for (;;) {
      if (pics.length === 0) return reject('no picture survives repair');
      if (++rounds > MAX_DECODE_ROUNDS) {
        return reject(`ffmpeg still reports errors after ${MAX_DECODE_ROUNDS} repair rounds`);
      }
      let runs = 0;
      const bad = await avcFirstBadPicture(
        pics.length,
        (k) => {
          runs++;
          return k === pics.length ? out : serialize(pics.slice(0, k));
        },
        dopts,
      );
      decodeRuns += runs;
      if (bad === undefined) break;
      const p = pics[bad.index];
      p.attempts++;
      const named = avcErrorMacroblocks(bad.errors, sps.picWidthInMbs);
      if (named.length > 0 && p.attempts <= MAX_ATTEMPTS_PER_PICTURE) {
        const prefix = (): Uint8Array => serialize(pics.slice(0, bad.index + 1));
        const tried = await concealNamed(p, named[0], prefix);
        decodeRuns += tried.runs;
        if (tried.slots !== undefined) {
          const at = tried.slots.map((s) => s * mbs).join(', ');
          actions.push(
            `concealed the slice(s) at macroblock ${at} of picture ${bad.index} (ffmpeg: ${bad.errors[0]})`,
          );
          out = serialize(pics);
          continue;
        }
      }
      if (!p.idr && !p.synthetic) {
        pics[bad.index] = skipPicture(p.template);
        actions.push(`replaced picture ${bad.index} by a skip picture (ffmpeg: ${bad.errors[0]})`);
      } else if (!p.idr) {
        pics.splice(bad.index, 1);
        actions.push(`dropped picture ${bad.index} (ffmpeg: ${bad.errors[0]})`);
      } else {
        // An IDR picture that will not decode takes every picture up to the next IDR with it.
        let next = bad.index + 1;
        while (next < pics.length && !pics[next].idr) next++;
        actions.push(
          `dropped pictures ${bad.index}..${next - 1} (IDR picture; ffmpeg: ${bad.errors[0]})`,
        );
        pics = [...pics.slice(0, bad.index), ...pics.slice(next)];
      }
      if (pics.length === 0 || !pics[0].idr)
        return reject('no decodable IDR picture survives repair');
      out = serialize(pics);
    }
  }

  const concealed = pics.reduce((n, p) => n + p.slots.filter((s) => s === null).length, 0);
  const fraction = concealed / Math.max(1, pics.length * slots);
  const maxFraction = opts.maxConcealedFraction ?? 0.5;
  if (fraction > maxFraction) {
    return reject(
      `too damaged: ${(100 * fraction).toFixed(1)}% of the slices had to be concealed (limit ${(100 * maxFraction).toFixed(0)}%)`,
    );
  }
  const changed = !avcSameBytes(out, stream);
  const kept = pics.filter((p) => !p.synthetic).length;
  if (changed && actions.length === 0) actions.push('rewrote the stream in canonical form');
  return {
    ok: true,
    stream: out,
    changed,
    stats: {
      frames: pics.length,
      concealedSlices: concealed,
      droppedFrames: inputPictures - kept,
      skipFrames: pics.length - kept,
      decodeRuns,
    },
    actions,
  };
}
