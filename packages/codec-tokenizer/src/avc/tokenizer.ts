/**
 * Canonical H.264 <-> token ids, with the vocabulary and framing the JPEG tokenizer uses
 * (token-vocabulary.ts): ids 0..255 are bytes, then BOS, EOS, PAD, NULL_CLASS, then one id per
 * class label. A sequence is BOS, <class token or NULL_CLASS>, <body bytes>, EOS, where the body
 * is the Annex B stream without its fixed header (SPS, PPS, x264 SEI, and the SPS/PPS repeats
 * before later IDR pictures); detokenize restores them byte for byte. Start codes stay in the
 * body: they mark slice (here: macroblock) boundaries as RST markers do in JPEG.
 */
import {
  TokenVocabulary,
  readTokenSequenceEntries,
  readVersionedJson,
  tokenSequenceEntries,
  type ParsedSequence,
  type ParseSequenceOptions,
  type TokenSequenceEntry,
  type VocabularyFileFields,
} from '../token-vocabulary.js';
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

export interface AvcTokenizerFile extends VocabularyFileFields {
  readonly format: typeof AVC_TOKENIZER_FORMAT;
  readonly version: number;
  readonly profile: AvcProfile;
  /** The fixed header (SPS, PPS, SEI with start codes) the sequences leave out, base64. */
  readonly header: string;
  /** Human-readable reminder of the sequence layout. */
  readonly sequence: string;
}

const SEQUENCE_LAYOUT =
  'BOS, class token or NULL_CLASS, Annex B bytes after the SPS/PPS/SEI header (start codes included), EOS';

export interface AvcTokenizeOptions {
  /** Class label for the conditioning token; null or undefined gives NULL_CLASS. */
  readonly classLabel?: string | null;
}

/** A parsed AVC sequence: its class and body bytes (the stream without its header). */
export type AvcParsedSequence = ParsedSequence;

export class AvcTokenizer extends TokenVocabulary {
  readonly profile: AvcProfile;
  readonly header: AvcHeader;

  constructor(options: {
    readonly profile: AvcProfile;
    readonly header: AvcHeader;
    readonly classes?: readonly string[];
  }) {
    super(options.classes ?? []);
    this.profile = options.profile;
    this.header = options.header;
  }

  /** A tokenizer for a profile, its header taken from this ffmpeg build (see avcProfileHeader). */
  static async forProfile(
    profile: AvcProfile,
    opts: FfmpegOptions & { readonly classes?: readonly string[] } = {},
  ): Promise<AvcTokenizer> {
    const header = await avcProfileHeader(profile, opts);
    return new AvcTokenizer({ profile, header, classes: opts.classes });
  }

  /** The body: the stream without its header. Throws unless the round trip is exact. */
  body(stream: Uint8Array): Uint8Array {
    return avcStripHeaders(stream, this.header);
  }

  /** A canonical stream of the profile to BOS, class, body bytes, EOS. */
  tokenize(stream: Uint8Array, options: AvcTokenizeOptions = {}): Uint16Array {
    const cls = this.classId(options.classLabel);
    return this.frameSequence(cls, this.body(stream));
  }

  /** A token sequence back to the Annex B stream: header restored, byte for byte. */
  detokenize(ids: ArrayLike<number>, options: ParseSequenceOptions = {}): Uint8Array {
    return avcRestoreHeaders(this.parseSequence(ids, options).body, this.header);
  }

  toJSON(): AvcTokenizerFile {
    return {
      format: AVC_TOKENIZER_FORMAT,
      version: AVC_TOKENIZER_VERSION,
      profile: { ...this.profile },
      header: Buffer.from(this.header.bytes).toString('base64'),
      ...this.vocabularyFields(),
      sequence: SEQUENCE_LAYOUT,
    };
  }

  /** Read a tokenizer file (object or JSON text), checking every field. */
  static fromJSON(json: unknown): AvcTokenizer {
    const { f, bad } = readVersionedJson(
      json,
      'jpeglm AVC tokenizer file',
      AVC_TOKENIZER_FORMAT,
      AVC_TOKENIZER_VERSION,
    );
    const p = f.profile as Record<string, unknown> | undefined;
    if (!p || typeof p.name !== 'string') return bad('"profile" must be an AVC profile');
    const profile = avcProfile(p.name);
    if (JSON.stringify({ ...profile }) !== JSON.stringify(p))
      bad(`"profile" does not match ${profile.name}`);
    const classes = TokenVocabulary.classLabelsFromFile(f, bad);
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
    const tok = new AvcTokenizer({ profile, header, classes });
    tok.checkVocabSize(f, bad);
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
  readonly sequences: readonly TokenSequenceEntry[];
}

export function makeAvcTokensFile(
  tokenizer: AvcTokenizer,
  sequences: readonly { source?: string; ids: ArrayLike<number> }[],
): AvcTokensFile {
  return {
    format: AVC_TOKENS_FORMAT,
    version: AVC_TOKENS_VERSION,
    tokenizer: tokenizer.toJSON(),
    sequences: tokenSequenceEntries(tokenizer, sequences),
  };
}

/**
 * Read an AVC tokens file (object or JSON text): its tokenizer and sequences, each sequence's
 * class field checked against its class token.
 */
export function readAvcTokensFile(json: unknown): {
  tokenizer: AvcTokenizer;
  sequences: { source?: string; ids: Uint16Array }[];
} {
  const { f, bad } = readVersionedJson(
    json,
    'jpeglm AVC tokens file',
    AVC_TOKENS_FORMAT,
    AVC_TOKENS_VERSION,
  );
  const tokenizer = AvcTokenizer.fromJSON(f.tokenizer);
  return { tokenizer, sequences: readTokenSequenceEntries(f, tokenizer, bad) };
}
