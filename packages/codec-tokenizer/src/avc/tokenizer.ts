/**
 * Canonical H.264 <-> token ids, with the JPEG tokenizer's vocabulary layout (tokenizer.ts):
 * ids 0..255 are bytes, then BOS, EOS, PAD, NULL_CLASS, then one id per class label. A sequence
 * is BOS, <class token or NULL_CLASS>, <body bytes>, EOS, where the body is the Annex B stream
 * without its fixed header (SPS, PPS, x264 SEI, and the SPS/PPS repeats before later IDR
 * pictures); detokenize restores them byte for byte. Start codes stay in the body: they mark
 * slice (here: macroblock) boundaries as RST markers do in JPEG.
 */
import { CodecError } from '../errors.js';
import {
  BOS_ID,
  EOS_ID,
  FIRST_CLASS_ID,
  MAX_VOCAB_SIZE,
  NULL_CLASS_ID,
  PAD_ID,
  SPECIAL_TOKENS,
  type SpecialTokenName,
} from '../tokenizer.js';
import type { FfmpegOptions } from './ffmpeg.js';
import {
  avcHeaderFromStream,
  avcProfileHeader,
  avcRestoreHeaders,
  avcSameBytes,
  avcStripHeaders,
  type AvcHeader,
} from './header.js';
import { avcProfile, type AvcProfile } from './profile.js';

export const AVC_TOKENIZER_FORMAT = 'jpeglm-avc-tokenizer';
export const AVC_TOKENIZER_VERSION = 1;

export interface AvcTokenizerFile {
  readonly format: typeof AVC_TOKENIZER_FORMAT;
  readonly version: number;
  readonly profile: AvcProfile;
  /** The fixed header (SPS, PPS, SEI with start codes) the sequences leave out, base64. */
  readonly header: string;
  readonly vocabSize: number;
  readonly byteTokens: { readonly first: 0; readonly count: 256 };
  readonly specialTokens: Readonly<Record<SpecialTokenName, number>>;
  readonly classTokens: { readonly first: number; readonly labels: readonly string[] };
  /** Human-readable reminder of the sequence layout. */
  readonly sequence: string;
}

const SEQUENCE_LAYOUT =
  'BOS, class token or NULL_CLASS, Annex B bytes after the SPS/PPS/SEI header (start codes included), EOS';

export interface AvcTokenizeOptions {
  /** Class label for the conditioning token; null or undefined gives NULL_CLASS. */
  readonly classLabel?: string | null;
}

export interface AvcParsedSequence {
  readonly classLabel: string | null;
  /** The body bytes (whatever the tokens spell; not validated). */
  readonly body: Uint8Array;
  readonly terminated: boolean;
}

/** C0 controls and DEL would break line-oriented label files. */
function hasControl(s: string): boolean {
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c < 32 || c === 127) return true;
  }
  return false;
}

function checkLabels(labels: readonly unknown[]): string[] {
  const seen = new Set<string>();
  return labels.map((l, i) => {
    if (typeof l !== 'string' || l.length === 0 || l.length > 200 || hasControl(l)) {
      throw new CodecError(
        'invalid-argument',
        `class label ${i} must be a non-empty string of at most 200 printable characters`,
      );
    }
    if (seen.has(l)) throw new CodecError('invalid-argument', `class label "${l}" is listed twice`);
    seen.add(l);
    return l;
  });
}

function tokenName(id: number): string {
  const names: Record<number, string> = {
    [BOS_ID]: 'BOS',
    [EOS_ID]: 'EOS',
    [PAD_ID]: 'PAD',
    [NULL_CLASS_ID]: 'NULL_CLASS',
  };
  return names[id] ?? String(id);
}

export class AvcTokenizer {
  readonly profile: AvcProfile;
  readonly header: AvcHeader;
  readonly classes: readonly string[];
  readonly bos = BOS_ID;
  readonly eos = EOS_ID;
  readonly pad = PAD_ID;
  readonly nullClass = NULL_CLASS_ID;
  readonly vocabSize: number;
  private readonly classIds: Map<string, number>;

  constructor(options: {
    readonly profile: AvcProfile;
    readonly header: AvcHeader;
    readonly classes?: readonly string[];
  }) {
    this.profile = options.profile;
    this.header = options.header;
    this.classes = Object.freeze(checkLabels(options.classes ?? []));
    this.vocabSize = FIRST_CLASS_ID + this.classes.length;
    if (this.vocabSize > MAX_VOCAB_SIZE) {
      throw new CodecError(
        'invalid-argument',
        `vocabulary of ${this.vocabSize} tokens exceeds ${MAX_VOCAB_SIZE}`,
      );
    }
    this.classIds = new Map(this.classes.map((l, i) => [l, FIRST_CLASS_ID + i]));
  }

  /** A tokenizer for a profile, its header taken from this ffmpeg build (see avcProfileHeader). */
  static async forProfile(
    profile: AvcProfile,
    opts: FfmpegOptions & { readonly classes?: readonly string[] } = {},
  ): Promise<AvcTokenizer> {
    const header = await avcProfileHeader(profile, opts);
    return new AvcTokenizer({ profile, header, classes: opts.classes });
  }

  classId(label: string | null | undefined): number {
    if (label === null || label === undefined) return NULL_CLASS_ID;
    const id = this.classIds.get(label);
    if (id === undefined) {
      throw new CodecError(
        'invalid-argument',
        `unknown class label "${label}" (this tokenizer has ${this.classes.length} labels)`,
      );
    }
    return id;
  }

  classLabelOf(id: number): string | null | undefined {
    if (id === NULL_CLASS_ID) return null;
    if (id >= FIRST_CLASS_ID && id < this.vocabSize) return this.classes[id - FIRST_CLASS_ID];
    return undefined;
  }

  /** The body: the stream without its header. Throws unless the round trip is exact. */
  body(stream: Uint8Array): Uint8Array {
    return avcStripHeaders(stream, this.header);
  }

  /** A canonical stream of the profile to BOS, class, body bytes, EOS. */
  tokenize(stream: Uint8Array, options: AvcTokenizeOptions = {}): Uint16Array {
    const cls = this.classId(options.classLabel);
    const body = this.body(stream);
    const out = new Uint16Array(body.length + 3);
    out[0] = BOS_ID;
    out[1] = cls;
    out.set(body, 2);
    out[out.length - 1] = EOS_ID;
    return out;
  }

  /** Check a sequence's framing and return its class and body bytes. */
  parseSequence(
    ids: ArrayLike<number>,
    options: { allowUnterminated?: boolean } = {},
  ): AvcParsedSequence {
    let end = ids.length;
    while (end > 0 && ids[end - 1] === PAD_ID) end--;
    if (end === 0) throw new CodecError('truncated', 'empty token sequence');
    if (ids[0] !== BOS_ID) {
      throw new CodecError(
        'corrupt',
        `sequence starts with token ${tokenName(ids[0])}, not BOS`,
        0,
      );
    }
    if (end < 2)
      throw new CodecError('truncated', 'sequence ends after BOS, before its class token');
    const classLabel = this.classLabelOf(ids[1]);
    if (classLabel === undefined) {
      throw new CodecError(
        'corrupt',
        `token ${tokenName(ids[1])} at position 1 is not a class token of this tokenizer`,
        1,
      );
    }
    const terminated = end >= 3 && ids[end - 1] === EOS_ID;
    if (!terminated && !options.allowUnterminated) {
      throw new CodecError('truncated', 'sequence does not end with EOS (cut off?)', end);
    }
    const stop = terminated ? end - 1 : end;
    const body = new Uint8Array(Math.max(0, stop - 2));
    for (let i = 2; i < stop; i++) {
      const id = ids[i];
      if (!(Number.isInteger(id) && id >= 0 && id < 256)) {
        throw new CodecError(
          'corrupt',
          `token ${tokenName(id)} at position ${i} is not a byte token`,
          i,
        );
      }
      body[i - 2] = id;
    }
    return { classLabel, body, terminated };
  }

  /** A token sequence back to the Annex B stream: header restored, byte for byte. */
  detokenize(ids: ArrayLike<number>, options: { allowUnterminated?: boolean } = {}): Uint8Array {
    return avcRestoreHeaders(this.parseSequence(ids, options).body, this.header);
  }

  /**
   * Cut a flat id stream holding several sequences back to back (the `bin` format) into
   * sequences, each from BOS through EOS; PAD between sequences is skipped.
   */
  splitSequences(ids: ArrayLike<number>): Uint16Array[] {
    const out: Uint16Array[] = [];
    let i = 0;
    while (i < ids.length) {
      if (ids[i] === PAD_ID) {
        i++;
        continue;
      }
      if (ids[i] !== BOS_ID) {
        throw new CodecError(
          'corrupt',
          `expected BOS at token ${i}, found ${tokenName(ids[i])}`,
          i,
        );
      }
      let j = i + 2;
      while (j < ids.length && ids[j] !== EOS_ID) j++;
      if (j >= ids.length)
        throw new CodecError('truncated', `sequence starting at token ${i} has no EOS`, i);
      out.push(Uint16Array.from(Array.prototype.slice.call(ids, i, j + 1) as number[]));
      i = j + 1;
    }
    return out;
  }

  toJSON(): AvcTokenizerFile {
    return {
      format: AVC_TOKENIZER_FORMAT,
      version: AVC_TOKENIZER_VERSION,
      profile: { ...this.profile },
      header: Buffer.from(this.header.bytes).toString('base64'),
      vocabSize: this.vocabSize,
      byteTokens: { first: 0, count: 256 },
      specialTokens: { ...SPECIAL_TOKENS },
      classTokens: { first: FIRST_CLASS_ID, labels: [...this.classes] },
      sequence: SEQUENCE_LAYOUT,
    };
  }

  /** Read a tokenizer file (object or JSON text), checking every field. */
  static fromJSON(json: unknown): AvcTokenizer {
    let o = json;
    if (typeof json === 'string') {
      try {
        o = JSON.parse(json);
      } catch (e) {
        throw new CodecError('invalid-argument', `invalid JSON: ${(e as Error).message}`);
      }
    }
    const bad = (why: string): never => {
      throw new CodecError('invalid-argument', `not a jpeglm AVC tokenizer file: ${why}`);
    };
    if (typeof o !== 'object' || o === null || Array.isArray(o)) return bad('not a JSON object');
    const f = o as Record<string, unknown>;
    if (f.format !== AVC_TOKENIZER_FORMAT) bad(`"format" must be "${AVC_TOKENIZER_FORMAT}"`);
    if (f.version !== AVC_TOKENIZER_VERSION) bad(`unsupported version ${String(f.version)}`);
    const p = f.profile as Record<string, unknown> | undefined;
    if (!p || typeof p.name !== 'string') return bad('"profile" must be an AVC profile');
    const profile = avcProfile(p.name);
    if (JSON.stringify({ ...profile }) !== JSON.stringify(p))
      bad(`"profile" does not match ${profile.name}`);
    const special = f.specialTokens as Record<string, unknown> | undefined;
    if (!special || Object.entries(SPECIAL_TOKENS).some(([k, v]) => special[k] !== v)) {
      bad(`"specialTokens" must be ${JSON.stringify(SPECIAL_TOKENS)}`);
    }
    const ct = f.classTokens as Record<string, unknown> | undefined;
    if (!ct || ct.first !== FIRST_CLASS_ID || !Array.isArray(ct.labels)) {
      bad(`"classTokens" must be {first: ${FIRST_CLASS_ID}, labels: [...]}`);
    }
    if (typeof f.header !== 'string') return bad('"header" must be base64 text');
    const bytes = new Uint8Array(Buffer.from(f.header, 'base64'));
    let header: AvcHeader;
    try {
      header = avcHeaderFromStream(bytes);
    } catch (e) {
      return bad(`"header": ${(e as Error).message}`);
    }
    if (!avcSameBytes(header.bytes, bytes))
      bad('"header" holds more than the parameter sets and SEI');
    if (header.sps.width !== profile.width || header.sps.height !== profile.height) {
      bad(`"header" describes ${header.sps.width}x${header.sps.height}, not ${profile.name}`);
    }
    const tok = new AvcTokenizer({
      profile,
      header,
      classes: (ct as { labels: unknown[] }).labels as string[],
    });
    if (f.vocabSize !== tok.vocabSize)
      bad(`"vocabSize" is ${String(f.vocabSize)}, the tokens add up to ${tok.vocabSize}`);
    return tok;
  }
}

export const AVC_TOKENS_FORMAT = 'jpeglm-avc-tokens';
export const AVC_TOKENS_VERSION = 1;

/**
 * A self-describing JSON file of AVC token sequences (`jpeglm avc tokenize --format json`):
 * the tokenizer, header included, and one entry per clip.
 */
export interface AvcTokensFile {
  readonly format: typeof AVC_TOKENS_FORMAT;
  readonly version: number;
  readonly tokenizer: AvcTokenizerFile;
  readonly sequences: readonly {
    readonly source?: string;
    readonly class: string | null;
    readonly ids: readonly number[];
  }[];
}

export function makeAvcTokensFile(
  tokenizer: AvcTokenizer,
  sequences: readonly { source?: string; ids: ArrayLike<number> }[],
): AvcTokensFile {
  return {
    format: AVC_TOKENS_FORMAT,
    version: AVC_TOKENS_VERSION,
    tokenizer: tokenizer.toJSON(),
    sequences: sequences.map((s) => {
      const ids = Array.from(s.ids);
      const entry = {
        class: ids.length > 1 ? (tokenizer.classLabelOf(ids[1]) ?? null) : null,
        ids,
      };
      return s.source === undefined ? entry : { source: s.source, ...entry };
    }),
  };
}

/** Read an AVC tokens file (object or JSON text): its tokenizer and sequences. */
export function readAvcTokensFile(json: unknown): {
  tokenizer: AvcTokenizer;
  sequences: { source?: string; ids: Uint16Array }[];
} {
  let o = json;
  if (typeof json === 'string') {
    try {
      o = JSON.parse(json);
    } catch (e) {
      throw new CodecError('invalid-argument', `invalid JSON: ${(e as Error).message}`);
    }
  }
  const bad = (why: string): never => {
    throw new CodecError('invalid-argument', `not a jpeglm AVC tokens file: ${why}`);
  };
  if (typeof o !== 'object' || o === null || Array.isArray(o)) return bad('not a JSON object');
  const f = o as Record<string, unknown>;
  if (f.format !== AVC_TOKENS_FORMAT) bad(`"format" must be "${AVC_TOKENS_FORMAT}"`);
  if (f.version !== AVC_TOKENS_VERSION) bad(`unsupported version ${String(f.version)}`);
  const tokenizer = AvcTokenizer.fromJSON(f.tokenizer);
  if (!Array.isArray(f.sequences)) return bad('"sequences" must be an array');
  const sequences = f.sequences.map((s: unknown, i: number) => {
    if (typeof s !== 'object' || s === null) return bad(`sequence ${i} is not an object`);
    const e = s as Record<string, unknown>;
    if (
      !Array.isArray(e.ids) ||
      !e.ids.every((x) => Number.isInteger(x) && x >= 0 && x <= 0xffff)
    ) {
      return bad(`sequence ${i}: "ids" must be an array of integers 0..65535`);
    }
    if (e.source !== undefined && typeof e.source !== 'string')
      bad(`sequence ${i}: "source" must be a string`);
    const ids = Uint16Array.from(e.ids as number[]);
    return e.source === undefined ? { ids } : { source: e.source as string, ids };
  });
  return { tokenizer, sequences };
}
