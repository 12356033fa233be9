/**
 * Validation of a stream against a canonical profile: the structural checks of structure.ts,
 * then ffmpeg's decoder (errors, decoded and decodable frames), then, when anything is wrong,
 * a repair attempt that tells a repairable stream from one to reject.
 */
import { avcDecodeCheck, avcFirstBadPicture } from './decode-check.js';
import type { FfmpegOptions } from './ffmpeg.js';
import { avcProfileHeader, type AvcHeader } from './header.js';
import { AVC_LM_256X144, type AvcProfile } from './profile.js';
import { avcRepair } from './repair.js';
import { avcAnalyze, type AvcIssue } from './structure.js';

export type AvcValidity = 'valid' | 'repairable' | 'rejected';

export interface AvcValidation {
  readonly verdict: AvcValidity;
  readonly issues: readonly AvcIssue[];
  /** Pictures found by the structural analysis. */
  readonly frames: number;
  /** Frames ffmpeg output; undefined without the decode check. */
  readonly decodedFrames: number | undefined;
  /** Pictures that decode before the first one ffmpeg reports errors for. */
  readonly decodableFrames: number | undefined;
  /** Distinct ffmpeg error lines. */
  readonly decodeErrors: readonly string[];
  /** Why the stream is rejected. */
  readonly reason: string | undefined;
  /** What repair would do (for a repairable stream). */
  readonly repairActions: readonly string[];
}

export interface AvcValidateOptions extends FfmpegOptions {
  readonly profile?: AvcProfile;
  readonly header?: AvcHeader;
  /** Run ffmpeg's decoder over the stream (default true). */
  readonly decode?: boolean;
  /** Try a repair to tell repairable from rejected (default true; otherwise 'repairable'
   * means only "not valid, not structurally hopeless"). */
  readonly classify?: boolean;
  readonly signal?: AbortSignal;
}

/** Validate one stream. Never throws on bad data; ffmpeg failing to start does throw. */
export async function avcValidate(
  stream: Uint8Array,
  opts: AvcValidateOptions = {},
): Promise<AvcValidation> {
  const profile = opts.profile ?? AVC_LM_256X144;
  const header = opts.header ?? (await avcProfileHeader(profile, opts));
  const analysis = avcAnalyze(stream, { profile, header });
  const issues: AvcIssue[] = [...analysis.issues];
  const dopts = { ffmpeg: opts.ffmpeg, signal: opts.signal };

  let decodedFrames: number | undefined;
  let decodableFrames: number | undefined;
  let decodeErrors: string[] = [];
  if (opts.decode !== false && analysis.units.length > 0) {
    const rep = await avcDecodeCheck(stream, dopts);
    decodedFrames = rep.framesDecoded;
    decodeErrors = rep.errors;
    decodableFrames = rep.framesDecoded;
    if (rep.errors.length > 0) {
      issues.push({
        code: 'decode-error',
        message: `ffmpeg: ${rep.errors[0]}${rep.errors.length > 1 ? ` (+${rep.errors.length - 1} more)` : ''}`,
      });
      // Cut points: the first slice unit of each picture, in stream order.
      const cuts = analysis.pictures.map((p) =>
        Math.min(...[...p.slices.values()].map((s) => s.unit.offset)),
      );
      const bad = await avcFirstBadPicture(
        cuts.length,
        (k) => (k === cuts.length ? stream : stream.subarray(0, cuts[k])),
        dopts,
      );
      decodableFrames = bad === undefined ? cuts.length : Math.max(0, bad.index);
      if (bad !== undefined) {
        issues.push({
          code: 'decode-error',
          message: `first picture with decode errors: ${bad.index}`,
          frame: bad.index,
        });
      }
    } else if (rep.framesDecoded !== analysis.pictures.length) {
      issues.push({
        code: 'decode-frames',
        message: `ffmpeg decoded ${rep.framesDecoded} frames; the stream holds ${analysis.pictures.length} pictures`,
      });
    }
  }

  const base = {
    issues,
    frames: analysis.pictures.length,
    decodedFrames,
    decodableFrames,
    decodeErrors,
  };
  if (issues.length === 0)
    return { ...base, verdict: 'valid', reason: undefined, repairActions: [] };
  if (analysis.fatal !== undefined) {
    return { ...base, verdict: 'rejected', reason: analysis.fatal, repairActions: [] };
  }
  if (opts.classify === false)
    return { ...base, verdict: 'repairable', reason: undefined, repairActions: [] };
  const r = await avcRepair(stream, {
    profile,
    header,
    ffmpeg: opts.ffmpeg,
    signal: opts.signal,
    verify: opts.decode !== false,
    analysis,
  });
  return r.ok
    ? { ...base, verdict: 'repairable', reason: undefined, repairActions: r.actions }
    : { ...base, verdict: 'rejected', reason: r.reason, repairActions: r.actions };
}
