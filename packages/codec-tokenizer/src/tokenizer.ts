/**
 * Canonical JPEG <-> token ids.
 *
 * Vocabulary (ids are dense, in this order):
 *   0..255              one token per byte value
 *   256 BOS, 257 EOS, 258 PAD, 259 NULL_CLASS (the "no class" token, for classifier-free
 *                       guidance: training drops labels to it, sampling mixes both)
 *   260..260+C-1        one token per class label, in the order of `classes`
 *   260+C..             BPE merges, if the tokenizer has a BPE (merge k is id 260+C+k)
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

export const TOKENIZER_FORMAT = 'jpeglm-tokenizer';
export const TOKENIZER_VERSION = 1;

export const BOS_ID = 256;
export const EOS_ID = 257;
export const PAD_ID = 258;
export const NULL_CLASS_ID = 259;
export const FIRST_CLASS_ID = 260;
/** Ids are written as uint16 (the `bin` format, llm.c shards), so the vocabulary is capped. */
export const MAX_VOCAB_SIZE = 65536;

export const SPECIAL_TOKENS = Object.freeze({
  BOS: BOS_ID,
  EOS: EOS_ID,
  PAD: PAD_ID,
  NULL_CLASS: NULL_CLASS_ID,
});
export type SpecialTokenName = keyof typeof SPECIAL_TOKENS;

/** The JSON tokenizer file (`JpegTokenizer.toJSON`); documented in the package README. */
export interface TokenizerFile {
  readonly format: typeof TOKENIZER_FORMAT;
  readonly version: number;
  readonly profile: CanonicalJpegProfile;
  /** The fixed header (SOI .. end of SOS) the sequences leave out, base64. */
  readonly header: string;
  readonly vocabSize: number;
  readonly byteTokens: { readonly first: 0; readonly count: 256 };
  readonly specialTokens: Readonly<Record<SpecialTokenName, number>>;
  readonly classTokens: { readonly first: number; readonly labels: readonly string[] };
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

export interface ParseSequenceOptions {
  /**
   * Accept a sequence that stops without EOS (a generation cut off at its length limit).
   * Default false.
   */
  readonly allowUnterminated?: boolean;
}

export interface ParsedSequence {
  /** The class label, or null for NULL_CLASS. */
  readonly classLabel: string | null;
  /** Scan bytes through EOI (whatever the tokens spell; not validated). */
  readonly body: Uint8Array;
  /** Whether the sequence ended with EOS. */
  readonly terminated: boolean;
}

function hasControlChar(s: string): boolean {
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c < 0x20 || c === 0x7f) return true;
  }
  return false;
}

function checkLabels(labels: readonly unknown[]): string[] {
  const seen = new Set<string>();
  return labels.map((l, i) => {
    if (typeof l !== 'string' || l.length === 0 || l.length > 200 || hasControlChar(l)) {
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

export class JpegTokenizer {
  readonly profile: CanonicalJpegProfile;
  readonly classes: readonly string[];
  readonly bpe: BytePairEncoding | undefined;
  readonly bos = BOS_ID;
  readonly eos = EOS_ID;
  readonly pad = PAD_ID;
  readonly nullClass = NULL_CLASS_ID;
  readonly firstClassId = FIRST_CLASS_ID;
  /** First BPE merge id (= vocabSize when there is no BPE). */
  readonly firstMergeId: number;
  readonly vocabSize: number;
  private readonly classIds: Map<string, number>;
  private readonly fixedHeader: Uint8Array;

  constructor(options: TokenizerOptions) {
    this.profile = validateProfile(options.profile);
    this.classes = Object.freeze(checkLabels(options.classes ?? []));
    this.bpe = options.bpe;
    this.firstMergeId = FIRST_CLASS_ID + this.classes.length;
    this.vocabSize = this.firstMergeId + (this.bpe ? this.bpe.merges.length : 0);
    if (this.vocabSize > MAX_VOCAB_SIZE) {
      throw new CodecError(
        'invalid-argument',
        `vocabulary of ${this.vocabSize} tokens exceeds ${MAX_VOCAB_SIZE} (uint16 ids)`,
      );
    }
    this.classIds = new Map(this.classes.map((l, i) => [l, FIRST_CLASS_ID + i]));
    this.fixedHeader = canonicalHeader(this.profile);
  }

  /** The fixed header every file of the profile starts with (a copy). */
  get header(): Uint8Array {
    return this.fixedHeader.slice();
  }

  /** Token id of a class label (NULL_CLASS for null/undefined); throws for an unknown label. */
  classId(label: string | null | undefined): number {
    if (label === null || label === undefined) return NULL_CLASS_ID;
    const id = this.classIds.get(label);
    if (id === undefined) {
      const known = this.classes.length
        ? `known: ${this.classes.slice(0, 20).join(', ')}${this.classes.length > 20 ? ', ...' : ''}`
        : 'this tokenizer has no class labels';
      throw new CodecError('invalid-argument', `unknown class label "${label}" (${known})`);
    }
    return id;
  }

  /** The label of a class token, null for NULL_CLASS, undefined for any other id. */
  classLabelOf(id: number): string | null | undefined {
    if (id === NULL_CLASS_ID) return null;
    if (id >= FIRST_CLASS_ID && id < this.firstMergeId) return this.classes[id - FIRST_CLASS_ID];
    return undefined;
  }

  /** True for ids that stand for bytes: 0..255 and the BPE merges. */
  isByteToken(id: number): boolean {
    return (
      Number.isInteger(id) &&
      ((id >= 0 && id < 256) || (id >= this.firstMergeId && id < this.vocabSize))
    );
  }

  /** The bytes a token stands for; undefined for special and class tokens. */
  tokenBytes(id: number): Uint8Array | undefined {
    if (!this.isByteToken(id)) return undefined;
    if (id < 256) return Uint8Array.of(id);
    return (this.bpe as BytePairEncoding).tokenBytes(256 + id - this.firstMergeId);
  }

  /** Scan bytes (through EOI) to ids: one per byte, or BPE tokens. */
  encodeBody(body: Uint8Array): Uint16Array {
    if (!this.bpe) return Uint16Array.from(body);
    const ids = this.bpe.encode(body);
    const shift = this.firstMergeId - 256;
    if (shift !== 0) for (let i = 0; i < ids.length; i++) if (ids[i] >= 256) ids[i] += shift;
    return ids;
  }

  /**
   * Byte/merge ids back to bytes. Throws on a special or class token; `firstPosition` is the
   * position of ids[0] in its sequence, for the message.
   */
  decodeBody(ids: ArrayLike<number>, firstPosition = 0): Uint8Array {
    const local = new Uint16Array(ids.length);
    for (let i = 0; i < ids.length; i++) {
      const id = ids[i];
      if (!this.isByteToken(id)) {
        throw new CodecError(
          'corrupt',
          `token ${tokenName(id)} at position ${firstPosition + i} is not a byte token`,
          firstPosition + i,
        );
      }
      local[i] = id < 256 ? id : 256 + id - this.firstMergeId;
    }
    return this.bpe ? this.bpe.decode(local) : Uint8Array.from(local);
  }

  /**
   * A canonical JPEG of the profile to its token sequence. Throws CodecError when the file's
   * header is not the profile's (saying what differs) or its marker structure is broken.
   */
  tokenize(jpeg: Uint8Array, options: TokenizeOptions = {}): Uint16Array {
    const cls = this.classId(options.classLabel);
    const body = this.encodeBody(canonicalBody(jpeg, this.profile));
    const out = new Uint16Array(body.length + 3);
    out[0] = BOS_ID;
    out[1] = cls;
    out.set(body, 2);
    out[out.length - 1] = EOS_ID;
    return out;
  }

  /** Check a sequence's framing and return its class and body bytes. */
  parseSequence(ids: ArrayLike<number>, options: ParseSequenceOptions = {}): ParsedSequence {
    let end = ids.length;
    while (end > 0 && ids[end - 1] === PAD_ID) end--;
    if (end === 0) throw new CodecError('truncated', 'empty token sequence');
    for (let i = 0; i < end; i++) {
      const id = ids[i];
      if (!Number.isInteger(id) || id < 0 || id >= this.vocabSize) {
        throw new CodecError(
          'corrupt',
          `token ${id} at position ${i} is outside the vocabulary (0..${this.vocabSize - 1})`,
          i,
        );
      }
    }
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
        `token ${tokenName(ids[1])} at position 1 is not a class token of this tokenizer (it has ${this.classes.length} classes; NULL_CLASS is ${NULL_CLASS_ID})`,
        1,
      );
    }
    const terminated = end >= 3 && ids[end - 1] === EOS_ID;
    if (!terminated && !options.allowUnterminated) {
      throw new CodecError('truncated', 'sequence does not end with EOS (cut off?)', end);
    }
    const bodyIds = Array.prototype.slice.call(ids, 2, terminated ? end - 1 : end) as number[];
    return { classLabel, body: this.decodeBody(bodyIds, 2), terminated };
  }

  /** A token sequence back to the JPEG file: the profile's header, then the body bytes. */
  detokenize(ids: ArrayLike<number>, options: ParseSequenceOptions = {}): Uint8Array {
    const { body } = this.parseSequence(ids, options);
    const out = new Uint8Array(this.fixedHeader.length + body.length);
    out.set(this.fixedHeader);
    out.set(body, this.fixedHeader.length);
    return out;
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
      let j = i + 2; // the class token may be anything; parseSequence checks it
      while (j < ids.length && ids[j] !== EOS_ID) j++;
      if (j >= ids.length) {
        throw new CodecError('truncated', `sequence starting at token ${i} has no EOS`, i);
      }
      out.push(Uint16Array.from(Array.prototype.slice.call(ids, i, j + 1) as number[]));
      i = j + 1;
    }
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
      vocabSize: this.vocabSize,
      byteTokens: { first: 0, count: 256 },
      specialTokens: { ...SPECIAL_TOKENS },
      classTokens: { first: FIRST_CLASS_ID, labels: [...this.classes] },
      merges,
      sequence: SEQUENCE_LAYOUT,
    };
  }

  private fromBpeId(id: number): number {
    return id < 256 ? id : id - 256 + this.firstMergeId;
  }

  /** Read a tokenizer file (object or JSON text), checking every field. */
  static fromJSON(json: unknown): JpegTokenizer {
    let o = json;
    if (typeof json === 'string') {
      try {
        o = JSON.parse(json);
      } catch (e) {
        throw new CodecError('invalid-argument', `invalid JSON: ${(e as Error).message}`);
      }
    }
    const bad = (why: string): never => {
      throw new CodecError('invalid-argument', `not a jpeglm tokenizer file: ${why}`);
    };
    if (typeof o !== 'object' || o === null || Array.isArray(o)) return bad('not a JSON object');
    const f = o as Record<string, unknown>;
    if (f.format !== TOKENIZER_FORMAT) bad(`"format" must be "${TOKENIZER_FORMAT}"`);
    if (f.version !== TOKENIZER_VERSION) {
      bad(`unsupported version ${String(f.version)} (this reads version ${TOKENIZER_VERSION})`);
    }
    const profile = validateProfile(f.profile);
    const special = f.specialTokens as Record<string, unknown> | undefined;
    if (
      !special ||
      Object.entries(SPECIAL_TOKENS).some(([k, v]) => special[k] !== v) ||
      Object.keys(special).length !== 4
    ) {
      bad(`"specialTokens" must be ${JSON.stringify(SPECIAL_TOKENS)}`);
    }
    const bytes = f.byteTokens as Record<string, unknown> | undefined;
    if (!bytes || bytes.first !== 0 || bytes.count !== 256)
      bad('"byteTokens" must be {first: 0, count: 256}');
    const ct = f.classTokens as Record<string, unknown> | undefined;
    if (!ct || ct.first !== FIRST_CLASS_ID || !Array.isArray(ct.labels)) {
      bad(`"classTokens" must be {first: ${FIRST_CLASS_ID}, labels: [...]}`);
    }
    const classes = checkLabels((ct as { labels: unknown[] }).labels);
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
    if (f.vocabSize !== tok.vocabSize)
      bad(`"vocabSize" is ${String(f.vocabSize)}, the tokens add up to ${tok.vocabSize}`);
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

/** One tokenized image in a tokens file. */
export interface TokenSequenceEntry {
  /** Where the image came from (a file name), when known. */
  readonly source?: string;
  /** Class label, or null for NULL_CLASS. */
  readonly class: string | null;
  readonly ids: readonly number[];
}

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
    sequences: sequences.map((s) => {
      const ids = Array.from(s.ids);
      const entry: TokenSequenceEntry = {
        class: ids.length > 1 ? (tokenizer.classLabelOf(ids[1]) ?? null) : null,
        ids,
      };
      return s.source === undefined ? entry : { source: s.source, ...entry };
    }),
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
  let o = json;
  if (typeof json === 'string') {
    try {
      o = JSON.parse(json);
    } catch (e) {
      throw new CodecError('invalid-argument', `invalid JSON: ${(e as Error).message}`);
    }
  }
  const bad = (why: string): never => {
    throw new CodecError('invalid-argument', `not a jpeglm tokens file: ${why}`);
  };
  if (typeof o !== 'object' || o === null || Array.isArray(o)) return bad('not a JSON object');
  const f = o as Record<string, unknown>;
  if (f.format !== TOKENS_FORMAT) bad(`"format" must be "${TOKENS_FORMAT}"`);
  if (f.version !== TOKENS_VERSION) {
    bad(`unsupported version ${String(f.version)} (this reads version ${TOKENS_VERSION})`);
  }
  const tokenizer = JpegTokenizer.fromJSON(f.tokenizer);
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
    const ids = Uint16Array.from(e.ids as number[]);
    const label = ids.length > 1 ? tokenizer.classLabelOf(ids[1]) : undefined;
    if (e.class !== undefined && label !== undefined && e.class !== label) {
      bad(
        `sequence ${i}: "class" is ${JSON.stringify(e.class)} but its class token says ${JSON.stringify(label)}`,
      );
    }
    if (e.source !== undefined && typeof e.source !== 'string')
      bad(`sequence ${i}: "source" must be a string`);
    return e.source === undefined ? { ids } : { source: e.source as string, ids };
  });
  return { tokenizer, sequences };
}
