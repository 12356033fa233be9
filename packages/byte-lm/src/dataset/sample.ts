/**
 * The per-file work of `prep`: read, hash, canonicalise with the profile, tokenize. Any failure
 * is a reject with a one-line reason, never an exception, so one bad file cannot stop a run.
 * Runs in a worker thread (worker.ts) or in-process.
 */
import { createHash } from 'node:crypto';
import { promises as fs } from 'node:fs';
import {
  JpegTokenizer,
  canonicalizeImage,
  isCodecError,
  type CanonicalJpegProfile,
} from '@jpeglm/codec-tokenizer';

export interface SampleSetup {
  readonly profile: CanonicalJpegProfile;
  readonly classes: readonly string[];
  /** Refuse larger files before reading them. */
  readonly maxInputBytes: number;
  readonly maxMegapixels: number;
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

export class SampleProcessor {
  private readonly tokenizer: JpegTokenizer;

  constructor(private readonly setup: SampleSetup) {
    this.tokenizer = new JpegTokenizer({ profile: setup.profile, classes: setup.classes });
  }

  async process(task: SampleTask): Promise<SampleResult> {
    let bytes: Uint8Array;
    try {
      const st = await fs.stat(task.file);
      if (!st.isFile()) return { ok: false, sha256: null, reason: 'not a regular file' };
      if (st.size === 0) return { ok: false, sha256: null, reason: 'empty file' };
      if (st.size > this.setup.maxInputBytes) {
        return {
          ok: false,
          sha256: null,
          reason: `${st.size} bytes exceeds the ${this.setup.maxInputBytes}-byte input limit`,
        };
      }
      bytes = new Uint8Array(await fs.readFile(task.file));
    } catch (e) {
      return { ok: false, sha256: null, reason: reason(e) };
    }
    const sha256 = createHash('sha256').update(bytes).digest('hex');
    try {
      const jpeg = await canonicalizeImage(bytes, this.setup.profile, {
        maxMegapixels: this.setup.maxMegapixels,
      });
      return {
        ok: true,
        sha256,
        tokens: this.tokenizer.tokenize(jpeg, { classLabel: task.label }),
      };
    } catch (e) {
      return { ok: false, sha256, reason: reason(e) };
    }
  }
}
