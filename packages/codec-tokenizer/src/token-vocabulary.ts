/**
 * The vocabulary and sequence framing every jpeglm tokenizer shares (JPEG and H.264 alike),
 * and the JSON plumbing of their tokenizer and tokens files.
 *
 * Vocabulary (ids are dense, in this order):
 *   0..255              one token per byte value
 *   256 BOS, 257 EOS, 258 PAD, 259 NULL_CLASS (the "no class" token, for classifier-free
 *                       guidance: training drops labels to it, sampling mixes both)
 *   260..260+C-1        one token per class label, in the order of `classes`
 *   260+C..             BPE merges, if the tokenizer has a BPE (merge k is id 260+C+k)
 *
 * A sequence is BOS, <class token or NULL_CLASS>, <body bytes>, EOS, and may be followed by PAD
 * tokens (batch padding), never preceded by them. What the body is, and which fixed header the
 * sequence leaves out, is the codec tokenizer's business.
 */
import type { BytePairEncoding } from './bpe.js';
import { CodecError } from './errors.js';
import { parseJsonInput } from './json-input.js';

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
  /** The body bytes (whatever the tokens spell; not validated). */
  readonly body: Uint8Array;
  /** Whether the sequence ended with EOS. */
  readonly terminated: boolean;
}

/** The vocabulary fields of a tokenizer file, in the order they are written. */
export interface VocabularyFileFields {
  readonly vocabSize: number;
  readonly byteTokens: { readonly first: 0; readonly count: 256 };
  readonly specialTokens: Readonly<Record<SpecialTokenName, number>>;
  readonly classTokens: { readonly first: number; readonly labels: readonly string[] };
}

/** C0 controls and DEL would break line-oriented label files. */
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

/**
 * Bytes, special tokens, class labels and (optionally) BPE merges as one id space, with the
 * sequence framing built on it. Codec tokenizers extend it with their body and header.
 */
export class TokenVocabulary {
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

  constructor(classes: readonly unknown[] = [], bpe?: BytePairEncoding) {
    this.classes = Object.freeze(checkLabels(classes));
    this.bpe = bpe;
    this.firstMergeId = FIRST_CLASS_ID + this.classes.length;
    this.vocabSize = this.firstMergeId + (bpe ? bpe.merges.length : 0);
    if (this.vocabSize > MAX_VOCAB_SIZE) {
      throw new CodecError(
        'invalid-argument',
        `vocabulary of ${this.vocabSize} tokens exceeds ${MAX_VOCAB_SIZE} (uint16 ids)`,
      );
    }
    this.classIds = new Map(this.classes.map((l, i) => [l, FIRST_CLASS_ID + i]));
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

  /** Body bytes to ids: one per byte, or BPE tokens. */
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
   * BOS, the class token, the body bytes' ids, EOS. Callers look the class id up before
   * cutting the body out of the file, so an unknown label is reported first.
   */
  protected frameSequence(classId: number, body: Uint8Array): Uint16Array {
    const ids = this.encodeBody(body);
    const out = new Uint16Array(ids.length + 3);
    out[0] = BOS_ID;
    out[1] = classId;
    out.set(ids, 2);
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

  /** The vocabulary part of the tokenizer file. */
  protected vocabularyFields(): VocabularyFileFields {
    return {
      vocabSize: this.vocabSize,
      byteTokens: { first: 0, count: 256 },
      specialTokens: { ...SPECIAL_TOKENS },
      classTokens: { first: FIRST_CLASS_ID, labels: [...this.classes] },
    };
  }

  /** Check a tokenizer file's byte, special and class token fields; returns its class labels. */
  protected static classLabelsFromFile(f: Record<string, unknown>, bad: Refuse): string[] {
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
    return checkLabels((ct as { labels: unknown[] }).labels);
  }

  /** The file's vocabSize must be what its tokens add up to. */
  protected checkVocabSize(f: Record<string, unknown>, bad: Refuse): void {
    if (f.vocabSize !== this.vocabSize)
      bad(`"vocabSize" is ${String(f.vocabSize)}, the tokens add up to ${this.vocabSize}`);
  }
}

/** Throws the CodecError that says why a file is refused. */
export type Refuse = (why: string) => never;

/**
 * A file's top-level object (given as an object or JSON text) with its format and version
 * checked, and the function that refuses it, naming `what` ("jpeglm tokens file").
 */
export function readVersionedJson(
  json: unknown,
  what: string,
  format: string,
  version: number,
): { f: Record<string, unknown>; bad: Refuse } {
  const o = parseJsonInput(json);
  const bad: Refuse = (why) => {
    throw new CodecError('invalid-argument', `not a ${what}: ${why}`);
  };
  if (typeof o !== 'object' || o === null || Array.isArray(o)) return bad('not a JSON object');
  const f = o as Record<string, unknown>;
  if (f.format !== format) bad(`"format" must be "${format}"`);
  if (f.version !== version) {
    bad(`unsupported version ${String(f.version)} (this reads version ${version})`);
  }
  return { f, bad };
}

/** One tokenized image or clip in a tokens file. */
export interface TokenSequenceEntry {
  /** Where the image came from (a file name), when known. */
  readonly source?: string;
  /** Class label, or null for NULL_CLASS. */
  readonly class: string | null;
  readonly ids: readonly number[];
}

/** The entries of a tokens file, each with the class its class token names. */
export function tokenSequenceEntries(
  vocabulary: TokenVocabulary,
  sequences: readonly { source?: string; ids: ArrayLike<number> }[],
): TokenSequenceEntry[] {
  return sequences.map((s) => {
    const ids = Array.from(s.ids);
    const entry: TokenSequenceEntry = {
      class: ids.length > 1 ? (vocabulary.classLabelOf(ids[1]) ?? null) : null,
      ids,
    };
    return s.source === undefined ? entry : { source: s.source, ...entry };
  });
}

/**
 * A tokens file's "sequences" field, each entry's class field checked against its class token
 * (the framing is left to parseSequence).
 */
export function readTokenSequenceEntries(
  f: Record<string, unknown>,
  vocabulary: TokenVocabulary,
  bad: Refuse,
): { source?: string; ids: Uint16Array }[] {
  if (!Array.isArray(f.sequences)) return bad('"sequences" must be an array');
  return f.sequences.map((s: unknown, i: number) => {
    if (typeof s !== 'object' || s === null) return bad(`sequence ${i} is not an object`);
    const e = s as Record<string, unknown>;
    if (
      !Array.isArray(e.ids) ||
      !e.ids.every((x) => Number.isInteger(x) && x >= 0 && x <= 0xffff)
    ) {
      return bad(`sequence ${i}: "ids" must be an array of integers 0..65535`);
    }
    const ids = Uint16Array.from(e.ids as number[]);
    const label = ids.length > 1 ? vocabulary.classLabelOf(ids[1]) : undefined;
    if (e.class !== undefined && label !== undefined && e.class !== label) {
      bad(
        `sequence ${i}: "class" is ${JSON.stringify(e.class)} but its class token says ${JSON.stringify(label)}`,
      );
    }
    if (e.source !== undefined && typeof e.source !== 'string')
      bad(`sequence ${i}: "source" must be a string`);
    return e.source === undefined ? { ids } : { source: e.source as string, ids };
  });
}
