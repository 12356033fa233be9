/**
 * Canonical AVC profiles: the fixed ffmpeg + libx264 settings that turn any video into the
 * H.264 byte stream a model is trained on. `avc-lm-256x144` reproduces AVC-LM (Han et al. 2024,
 * see shared/reference/jpeg-lm.md): the first 5 s at 3 fps (15 frames), 256x144 scaled to fit
 * and padded, yuv420p, libx264 baseline at constant QP 37 with one macroblock per slice.
 */
import { CodecError } from '../errors.js';
import { runFfmpegChecked, type FfmpegOptions } from './ffmpeg.js';

export interface AvcProfile {
  /** `avc-lm-WxH`, with `-Nf` appended when the frame count is not 15. */
  readonly name: string;
  readonly width: number;
  readonly height: number;
  /** Frames per second sampled from the source. */
  readonly fps: number;
  /** At most this many frames: the first frames/fps seconds of the source. */
  readonly frames: number;
  /** Constant quantiser (x264 --qp). */
  readonly qp: number;
  /** Reference frames (x264 --ref). */
  readonly refs: number;
  /** Macroblocks per slice (x264 --slice-max-mbs): the analogue of JPEG restart markers. */
  readonly mbsPerSlice: number;
}

/** AVC-LM's settings (paper section "AVC-LM"; reference doc "Canonical AVC/H.264"). */
export const AVC_LM_256X144: AvcProfile = Object.freeze({
  name: 'avc-lm-256x144',
  width: 256,
  height: 144,
  fps: 3,
  frames: 15,
  qp: 37,
  refs: 3,
  mbsPerSlice: 1,
});

export const DEFAULT_AVC_PROFILE = AVC_LM_256X144.name;

/**
 * libx264 options of every canonical profile besides qp/ref/slice size, as `key=value` pairs for
 * -x264-params. Baseline profile (set by -profile:v) means CAVLC and no B-frames; the rest are
 * AVC-LM's: trellis off, diamond motion search, subpel refinement 0, psy off, mixed refs off,
 * fast P-skip off, no inter partitions, single thread (threads=1 also makes output
 * deterministic).
 */
export const AVC_X264_FIXED_PARAMS: readonly string[] = Object.freeze([
  'no-psy=1',
  'trellis=0',
  'me=dia',
  'subme=0',
  'mixed-refs=0',
  'fast-pskip=0',
  'partitions=none',
  'threads=1',
]);

const MAX_DIM = 4096;
const MAX_FRAMES = 250; // x264's default keyint; see makeAvcProfile

export interface AvcProfileSpec {
  readonly width: number;
  readonly height: number;
  readonly frames?: number;
  readonly fps?: number;
}

/**
 * A canonical profile of another size or length, with AVC-LM's codec settings. Sizes must be
 * even (4:2:0 chroma). Frames are capped at 250, x264's default keyint, so that a clip without
 * scene cuts holds a single IDR picture.
 */
export function makeAvcProfile(spec: AvcProfileSpec): AvcProfile {
  const { width, height } = spec;
  const frames = spec.frames ?? AVC_LM_256X144.frames;
  const fps = spec.fps ?? AVC_LM_256X144.fps;
  const bad = (msg: string): never => {
    throw new CodecError('invalid-argument', `AVC profile: ${msg}`);
  };
  for (const [k, v] of [
    ['width', width],
    ['height', height],
  ] as const) {
    if (!Number.isInteger(v) || v < 16 || v > MAX_DIM || v % 2 !== 0) {
      bad(`${k} ${v} must be an even integer in 16..${MAX_DIM}`);
    }
  }
  if (!Number.isInteger(frames) || frames < 1 || frames > MAX_FRAMES) {
    bad(`frames ${frames} must be an integer in 1..${MAX_FRAMES}`);
  }
  if (!Number.isInteger(fps) || fps < 1 || fps > 60) bad(`fps ${fps} must be an integer in 1..60`);
  let name = `avc-lm-${width}x${height}`;
  if (frames !== AVC_LM_256X144.frames) name += `-${frames}f`;
  if (fps !== AVC_LM_256X144.fps) name += `-${fps}fps`;
  return Object.freeze({ ...AVC_LM_256X144, name, width, height, frames, fps });
}

const NAME = /^avc-lm-(\d+)x(\d+)(?:-(\d+)f)?(?:-(\d+)fps)?$/;

/** Look a profile up by name: `avc-lm-WxH`, optionally `-Nf` (frames) and `-Nfps`. */
export function avcProfile(name: string = DEFAULT_AVC_PROFILE): AvcProfile {
  const m = NAME.exec(name);
  if (!m) {
    throw new CodecError(
      'invalid-argument',
      `unknown AVC profile "${name}" (expected avc-lm-WxH[-Nf][-Nfps], e.g. ${DEFAULT_AVC_PROFILE})`,
    );
  }
  const p = makeAvcProfile({
    width: Number(m[1]),
    height: Number(m[2]),
    frames: m[3] === undefined ? undefined : Number(m[3]),
    fps: m[4] === undefined ? undefined : Number(m[4]),
  });
  if (p.name !== name) {
    throw new CodecError('invalid-argument', `AVC profile "${name}" is spelled ${p.name}`);
  }
  return p;
}

/** The number of macroblocks in one picture of the profile (6.3: 16x16 luma samples each). */
export function avcProfileMbs(p: AvcProfile): number {
  return Math.ceil(p.width / 16) * Math.ceil(p.height / 16);
}

/** A video to encode: a file path, or a lavfi source graph (synthetic clips for tests). */
export type AvcSource = string | { readonly lavfi: string };

/**
 * The video filter chain: sample at the profile rate, scale to fit (honouring the sample
 * aspect ratio) with even dimensions, pad to size centred, 4:2:0 limited range, and clear the
 * colour tags so the SPS VUI does not vary with the source.
 */
export function avcFilterGraph(p: AvcProfile): string {
  const W = p.width;
  const H = p.height;
  const fit =
    `scale=w='if(gt(dar,${W}/${H}),${W},trunc(${H}*dar/2)*2)'` +
    `:h='if(gt(dar,${W}/${H}),trunc(${W}/dar/2)*2,${H})'` +
    `:flags=bicubic:out_range=tv`;
  return [
    `fps=${p.fps}`,
    fit,
    'setsar=1',
    `pad=${W}:${H}:(ow-iw)/2:(oh-ih)/2`,
    'format=yuv420p',
    'setparams=range=tv:color_primaries=unknown:color_trc=unknown:colorspace=unknown',
  ].join(',');
}

/** The complete ffmpeg argument list that encodes `source` to the profile on stdout. */
export function avcEncodeArgs(p: AvcProfile, source: AvcSource): string[] {
  const input =
    typeof source === 'string'
      ? // "file:" keeps names with a colon or a leading dash from being read as protocols/options.
        ['-i', `file:${source}`]
      : ['-f', 'lavfi', '-i', source.lavfi];
  const x264 = [`slice-max-mbs=${p.mbsPerSlice}`, `ref=${p.refs}`, ...AVC_X264_FIXED_PARAMS];
  return [
    '-hide_banner',
    '-nostdin',
    '-v',
    'error',
    ...input,
    '-map',
    '0:v:0',
    '-t',
    String(p.frames / p.fps),
    '-vf',
    avcFilterGraph(p),
    '-r',
    String(p.fps),
    // Chroma siting would otherwise follow the source into the VUI.
    '-chroma_sample_location',
    'left',
    '-frames:v',
    String(p.frames),
    '-an',
    '-sn',
    '-dn',
    '-c:v',
    'libx264',
    '-profile:v',
    'baseline',
    '-qp',
    String(p.qp),
    '-bf',
    '0',
    '-x264-params',
    x264.join(':'),
    '-f',
    'h264',
    'pipe:1',
  ];
}

export interface AvcEncodeOptions extends FfmpegOptions {
  readonly profile?: AvcProfile;
  readonly signal?: AbortSignal;
  readonly timeoutMs?: number;
}

/**
 * Encode a video to the profile's canonical Annex-B H.264 stream. The same source and the same
 * ffmpeg binary give the same bytes; another ffmpeg/x264 version may not.
 */
export async function avcEncode(
  source: AvcSource,
  opts: AvcEncodeOptions = {},
): Promise<Uint8Array> {
  const p = opts.profile ?? AVC_LM_256X144;
  let r;
  try {
    r = await runFfmpegChecked(avcEncodeArgs(p, source), {
      ffmpeg: opts.ffmpeg,
      signal: opts.signal,
      timeoutMs: opts.timeoutMs,
    });
  } catch (e) {
    // ffmpeg names the input as we passed it ("file:PATH: ..."); callers name the file.
    if (e instanceof CodecError && typeof source === 'string') {
      const named = `ffmpeg: file:${source}: `;
      if (e.message.startsWith(named)) {
        throw new CodecError(e.code, `ffmpeg: ${e.message.slice(named.length)}`, e.offset);
      }
    }
    throw e;
  }
  if (r.stdout.length === 0) {
    throw new CodecError('corrupt', 'no video frames to encode (not a video, or empty)');
  }
  return r.stdout;
}
