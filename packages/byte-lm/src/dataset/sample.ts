/**
 * The per-file work of `prep`: read, hash, canonicalise with the codec's profile, tokenize. Any
 * failure is a reject with a one-line reason, never an exception, so one bad file cannot stop a
 * run. Runs in a worker thread (worker.ts) or in-process.
 *
 * Two codecs share this work: images become canonical JPEG (decoded in-process from the bytes
 * read), videos become canonical H.264 (ffmpeg reads the file itself, as a container may need
 * seeking; the file is hashed as a stream since only its first seconds are encoded).
 */
import { createHash } from 'node:crypto';
import { createReadStream, promises as fs } from 'node:fs';
import {
  AvcTokenizer,
  JpegTokenizer,
  avcEncode,
  avcHeaderFromStream,
  canonicalizeImage,
  isCodecError,
  type AvcProfile,
  type CanonicalJpegProfile,
} from '@jpeglm/codec-tokenizer';

/** What a sample becomes; plain data, as it crosses into worker threads. */
export type SampleCodec =
  | {
      readonly kind: 'jpeg';
      readonly profile: CanonicalJpegProfile;
      readonly maxMegapixels: number;
    }
  | {
      readonly kind: 'avc';
      readonly profile: AvcProfile;
      /** The ffmpeg binary, resolved once by the caller so every worker runs the same one. */
      readonly ffmpeg: string;
      /** The profile's fixed SPS/PPS/SEI header from that ffmpeg (avcProfileHeader). */
      readonly header: Uint8Array;
      /** Kill ffmpeg and reject the file after this long. */
      readonly timeoutMs: number;
    };

export interface SampleSetup {
  readonly codec: SampleCodec;
  readonly classes: readonly string[];
  /** Refuse larger files before reading them. */
  readonly maxInputBytes: number;
}

export interface SampleTask {
  readonly file: string;
  readonly label: string | null;
}

export type SampleResult =
  | { readonly ok: true; readonly sha256: string; readonly tokens: Uint16Array }
  | { readonly ok: false; readonly sha256: string | null; readonly reason: string };

const ERRNO: Record<string, string> = {
  ENOENT: 'no such file',
  EACCES: 'permission denied',
  EISDIR: 'is a directory',
  ELOOP: 'symbolic link loop',
  EIO: 'input/output error',
};

function reason(e: unknown): string {
  if (isCodecError(e)) return e.message;
  const code = (e as NodeJS.ErrnoException | undefined)?.code;
  if (typeof code === 'string') return ERRNO[code] ?? code;
  return `unexpected error: ${e instanceof Error ? e.message.split('\n')[0] : String(e)}`;
}

async function fileSha256(file: string): Promise<string> {
  const hash = createHash('sha256');
  for await (const chunk of createReadStream(file)) hash.update(chunk as Buffer);
  return hash.digest('hex');
}

export class SampleProcessor {
  private readonly tokenize: (task: SampleTask) => Promise<SampleResult>;

  constructor(private readonly setup: SampleSetup) {
    const { codec, classes } = setup;
    if (codec.kind === 'jpeg') {
      const tokenizer = new JpegTokenizer({ profile: codec.profile, classes });
      this.tokenize = (task) => this.image(task, codec.profile, codec.maxMegapixels, tokenizer);
    } else {
      const header = avcHeaderFromStream(codec.header);
      const tokenizer = new AvcTokenizer({ profile: codec.profile, header, classes });
      this.tokenize = (task) => this.video(task, codec, tokenizer);
    }
  }

  process(task: SampleTask): Promise<SampleResult> {
    return this.tokenize(task);
  }

  /** Undefined when the file may be read; otherwise why not. */
  private async refusal(file: string): Promise<string | undefined> {
    const st = await fs.stat(file);
    if (!st.isFile()) return 'not a regular file';
    if (st.size === 0) return 'empty file';
    if (st.size > this.setup.maxInputBytes) {
      return `${st.size} bytes exceeds the ${this.setup.maxInputBytes}-byte input limit`;
    }
    return undefined;
  }

  private async video(
    task: SampleTask,
    codec: Extract<SampleCodec, { kind: 'avc' }>,
    tokenizer: AvcTokenizer,
  ): Promise<SampleResult> {
    let sha256: string;
    try {
      const refused = await this.refusal(task.file);
      if (refused !== undefined) return { ok: false, sha256: null, reason: refused };
      sha256 = await fileSha256(task.file);
    } catch (e) {
      return { ok: false, sha256: null, reason: reason(e) };
    }
    try {
      const stream = await avcEncode(task.file, {
        profile: codec.profile,
        ffmpeg: codec.ffmpeg,
        timeoutMs: codec.timeoutMs,
      });
      return { ok: true, sha256, tokens: tokenizer.tokenize(stream, { classLabel: task.label }) };
    } catch (e) {
      return { ok: false, sha256, reason: reason(e) };
    }
  }

  private async image(
    task: SampleTask,
    profile: CanonicalJpegProfile,
    maxMegapixels: number,
    tokenizer: JpegTokenizer,
  ): Promise<SampleResult> {
    let bytes: Uint8Array;
    try {
      const refused = await this.refusal(task.file);
      if (refused !== undefined) return { ok: false, sha256: null, reason: refused };
      bytes = new Uint8Array(await fs.readFile(task.file));
    } catch (e) {
      return { ok: false, sha256: null, reason: reason(e) };
    }
    const sha256 = createHash('sha256').update(bytes).digest('hex');
    try {
      const jpeg = await canonicalizeImage(bytes, profile, { maxMegapixels });
      return { ok: true, sha256, tokens: tokenizer.tokenize(jpeg, { classLabel: task.label }) };
    } catch (e) {
      return { ok: false, sha256, reason: reason(e) };
    }
  }
}
