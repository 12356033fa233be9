/**
 * Canonical JPEG <-> token ids, with the vocabulary of token-vocabulary.ts (bytes, BOS, EOS,
 * PAD, NULL_CLASS, class labels, then BPE merges).
 *
 * A sequence is
 *   BOS, <class token or NULL_CLASS>, <entropy-coded scan bytes with RST markers>, FF D9, EOS
 * and may be followed by PAD tokens (batch padding), never preceded by them. The fixed header
 * (SOI through the SOS segment) is the same for every file of the profile, so it is not in the
 * sequence; detokenize puts it back, byte for byte.
 */
import { BytePairEncoding } from './bpe.js';
import { canonicalBody, canonicalHeader } from './canonical.js';
import { CodecError } from './errors.js';
import { validateProfile, type CanonicalJpegProfile } from './profile.js';
import {
  FIRST_CLASS_ID,
  TokenVocabulary,
  readTokenSequenceEntries,
  readVersionedJson,
  tokenSequenceEntries,
  type ParseSequenceOptions,
  type TokenSequenceEntry,
  type VocabularyFileFields,
} from './token-vocabulary.js';

export {
  BOS_ID,
  EOS_ID,
  PAD_ID,
  NULL_CLASS_ID,
  FIRST_CLASS_ID,
  MAX_VOCAB_SIZE,
  SPECIAL_TOKENS,
  TokenVocabulary,
  type SpecialTokenName,
  type ParseSequenceOptions,
  type ParsedSequence,
  type TokenSequenceEntry,
} from './token-vocabulary.js';

export const TOKENIZER_FORMAT = 'jpeglm-tokenizer';
export const TOKENIZER_VERSION = 1;

/** The JSON tokenizer file (`JpegTokenizer.toJSON`); documented in the package README. */
export interface TokenizerFile extends VocabularyFileFields {
  readonly format: typeof TOKENIZER_FORMAT;
  readonly version: number;
  readonly profile: CanonicalJpegProfile;
  /** The fixed header (SOI .. end of SOS) the sequences leave out, base64. */
  readonly header: string;
  /** BPE merges as pairs of earlier token ids of this tokenizer; null when bytes only. */
  readonly merges: { readonly first: number; readonly pairs: readonly [number, number][] } | null;
  /** Human-readable reminder of the sequence layout. */
  readonly sequence: string;
}

const SEQUENCE_LAYOUT =
  'BOS, class token or NULL_CLASS, scan bytes (RST markers included), FF D9 (EOI), EOS';

export interface TokenizerOptions {
  readonly profile: CanonicalJpegProfile;
  /** Class labels; label i gets id 260 + i. */
  readonly classes?: readonly string[];
  /** Optional BPE over the scan bytes (see bpe.ts). */
  readonly bpe?: BytePairEncoding;
}

export interface TokenizeOptions {
  /** Class label for the conditioning token; null or undefined gives NULL_CLASS. */
  readonly classLabel?: string | null;
}

export class JpegTokenizer extends TokenVocabulary {
  readonly profile: CanonicalJpegProfile;
  private readonly fixedHeader: Uint8Array;

  constructor(options: TokenizerOptions) {
    const profile = validateProfile(options.profile);
    super(options.classes ?? [], options.bpe);
    this.profile = profile;
    this.fixedHeader = canonicalHeader(this.profile);
  }

  /** The fixed header every file of the profile starts with (a copy). */
  get header(): Uint8Array {
    return this.fixedHeader.slice();
  }

  /**
   * A canonical JPEG of the profile to its token sequence. Throws CodecError when the file's
   * header is not the profile's (saying what differs) or its marker structure is broken.
   */
  tokenize(jpeg: Uint8Array, options: TokenizeOptions = {}): Uint16Array {
    const cls = this.classId(options.classLabel);
    return this.frameSequence(cls, canonicalBody(jpeg, this.profile));
  }

  /** A token sequence back to the JPEG file: the profile's header, then the body bytes. */
  detokenize(ids: ArrayLike<number>, options: ParseSequenceOptions = {}): Uint8Array {
    const { body } = this.parseSequence(ids, options);
    const out = new Uint8Array(this.fixedHeader.length + body.length);
    out.set(this.fixedHeader);
    out.set(body, this.fixedHeader.length);
    return out;
  }

  toJSON(): TokenizerFile {
    const merges = this.bpe
      ? {
          first: this.firstMergeId,
          pairs: this.bpe.merges.map(
            ([a, b]) => [this.fromBpeId(a), this.fromBpeId(b)] as [number, number],
          ),
        }
      : null;
    return {
      format: TOKENIZER_FORMAT,
      version: TOKENIZER_VERSION,
      profile: {
        ...this.profile,
        background: [...this.profile.background] as [number, number, number],
      },
      header: Buffer.from(this.fixedHeader).toString('base64'),
      ...this.vocabularyFields(),
      merges,
      sequence: SEQUENCE_LAYOUT,
    };
  }

  private fromBpeId(id: number): number {
    return id < 256 ? id : id - 256 + this.firstMergeId;
  }

  /** Read a tokenizer file (object or JSON text), checking every field. */
  static fromJSON(json: unknown): JpegTokenizer {
    const { f, bad } = readVersionedJson(
      json,
      'jpeglm tokenizer file',
      TOKENIZER_FORMAT,
      TOKENIZER_VERSION,
    );
    const profile = validateProfile(f.profile);
    const classes = TokenVocabulary.classLabelsFromFile(f, bad);
    const firstMergeId = FIRST_CLASS_ID + classes.length;
    let bpe: BytePairEncoding | undefined;
    if (f.merges !== null && f.merges !== undefined) {
      const m = f.merges as Record<string, unknown>;
      if (m.first !== firstMergeId || !Array.isArray(m.pairs)) {
        bad(`"merges" must be null or {first: ${firstMergeId}, pairs: [...]}`);
      }
      const toBpe = (id: unknown, k: number): number => {
        if (typeof id === 'number' && Number.isInteger(id)) {
          if (id >= 0 && id < 256) return id;
          if (id >= firstMergeId && id < firstMergeId + k) return 256 + id - firstMergeId;
        }
        return bad(`merge ${k} refers to ${String(id)}, not a byte or an earlier merge`);
      };
      const pairs = (m.pairs as unknown[]).map((p, k): [number, number] => {
        if (!Array.isArray(p) || p.length !== 2) return bad(`merge ${k} is not a pair`);
        return [toBpe(p[0], k), toBpe(p[1], k)];
      });
      bpe = new BytePairEncoding(pairs);
    }
    const tok = new JpegTokenizer({ profile, classes, bpe });
    tok.checkVocabSize(f, bad);
    if (f.header !== undefined && f.header !== Buffer.from(tok.fixedHeader).toString('base64')) {
      bad(
        `its header is not the canonical header of profile ${profile.name} (written by another encoder version?)`,
      );
    }
    return tok;
  }
}

/** Ids to the `bin` format: uint16 little-endian. */
export function idsToUint16LE(ids: ArrayLike<number>): Uint8Array {
  const out = new Uint8Array(ids.length * 2);
  const view = new DataView(out.buffer);
  for (let i = 0; i < ids.length; i++) {
    const id = ids[i];
    if (!Number.isInteger(id) || id < 0 || id > 0xffff) {
      throw new CodecError('invalid-argument', `token ${id} at position ${i} does not fit uint16`);
    }
    view.setUint16(2 * i, id, true);
  }
  return out;
}

/** The `bin` format back to ids. */
export function uint16LEToIds(bytes: Uint8Array): Uint16Array {
  if (bytes.length % 2 !== 0) {
    throw new CodecError(
      'truncated',
      `token file has an odd number of bytes (${bytes.length}); uint16 ids expected`,
    );
  }
  const out = new Uint16Array(bytes.length / 2);
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  for (let i = 0; i < out.length; i++) out[i] = view.getUint16(2 * i, true);
  return out;
}

export const TOKENS_FORMAT = 'jpeglm-tokens';
export const TOKENS_VERSION = 1;

/**
 * A self-describing JSON file of token sequences (what `jpeglm tokenize --format json` writes):
 * the tokenizer that made them and one entry per image.
 */
export interface TokensFile {
  readonly format: typeof TOKENS_FORMAT;
  readonly version: number;
  readonly tokenizer: TokenizerFile;
  readonly sequences: readonly TokenSequenceEntry[];
}

export function makeTokensFile(
  tokenizer: JpegTokenizer,
  sequences: readonly { source?: string; ids: ArrayLike<number> }[],
): TokensFile {
  return {
    format: TOKENS_FORMAT,
    version: TOKENS_VERSION,
    tokenizer: tokenizer.toJSON(),
    sequences: tokenSequenceEntries(tokenizer, sequences),
  };
}

/**
 * Read a tokens file (object or JSON text): its tokenizer and sequences. Each sequence's
 * framing is checked against the tokenizer, and its class field against its class token.
 */
export function readTokensFile(json: unknown): {
  tokenizer: JpegTokenizer;
  sequences: { source?: string; ids: Uint16Array }[];
} {
  const { f, bad } = readVersionedJson(json, 'jpeglm tokens file', TOKENS_FORMAT, TOKENS_VERSION);
  const tokenizer = JpegTokenizer.fromJSON(f.tokenizer);
  return { tokenizer, sequences: readTokenSequenceEntries(f, tokenizer, bad) };
}
