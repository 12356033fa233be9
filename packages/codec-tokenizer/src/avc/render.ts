/**
 * Rendering a raw H.264 stream for viewing: remuxed into MP4 (no re-encoding) or converted to
 * an animated GIF with a palette made for the clip.
 */
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { CodecError } from '../errors.js';
import { runFfmpegChecked, type FfmpegOptions } from './ffmpeg.js';

export type AvcRenderFormat = 'mp4' | 'gif';

export interface AvcRenderOptions extends FfmpegOptions {
  readonly format: AvcRenderFormat;
  /** Frames per second of the stream (a raw stream carries no timestamps); default 3. */
  readonly fps?: number;
  /** GIF only: integer upscaling factor (nearest neighbour), default 1. */
  readonly scale?: number;
  readonly signal?: AbortSignal;
}

/** The rendered file's bytes. MP4 needs a seekable output, so ffmpeg writes a temporary file. */
export async function avcRender(stream: Uint8Array, opts: AvcRenderOptions): Promise<Uint8Array> {
  const fps = opts.fps ?? 3;
  const scale = opts.scale ?? 1;
  if (!Number.isFinite(fps) || fps <= 0 || fps > 240) {
    throw new CodecError('invalid-argument', `fps must be in (0, 240], got ${fps}`);
  }
  if (!Number.isInteger(scale) || scale < 1 || scale > 16) {
    throw new CodecError('invalid-argument', `scale must be an integer 1..16, got ${scale}`);
  }
  const dir = await mkdtemp(path.join(tmpdir(), 'jpeglm-render-'));
  const out = path.join(dir, `clip.${opts.format}`);
  const input = [
    '-hide_banner',
    '-nostdin',
    '-v',
    'error',
    '-f',
    'h264',
    '-framerate',
    String(fps),
    '-i',
    'pipe:0',
  ];
  const args =
    opts.format === 'mp4'
      ? [...input, '-c:v', 'copy', '-movflags', '+faststart', '-f', 'mp4', out]
      : [
          ...input,
          '-vf',
          `${scale > 1 ? `scale=iw*${scale}:ih*${scale}:flags=neighbor,` : ''}split[a][b];[a]palettegen[p];[b][p]paletteuse`,
          '-loop',
          '0',
          '-f',
          'gif',
          out,
        ];
  try {
    await runFfmpegChecked(args, { ffmpeg: opts.ffmpeg, input: stream, signal: opts.signal });
    const bytes = new Uint8Array(await readFile(out));
    if (bytes.length === 0)
      throw new CodecError('corrupt', 'ffmpeg rendered nothing (no decodable frames?)');
    return bytes;
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') {
      throw new CodecError('corrupt', 'ffmpeg rendered nothing (no decodable frames?)');
    }
    throw e;
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}
