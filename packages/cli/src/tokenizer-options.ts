/**
 * How `tokenize` and `detokenize` get their tokenizer: a tokenizer JSON file (--tokenizer), or
 * one built from the profile options plus --classes and --bpe.
 */
import { BytePairEncoding, JpegTokenizer, isCodecError } from '@jpeglm/codec-tokenizer';
import { inFile, usageError } from './errors.js';
import { readInput } from './io.js';
import { hasProfileOverrides, resolveProfile, type ProfileCliOptions } from './profile-options.js';

export interface TokenizerCliOptions extends ProfileCliOptions {
  readonly tokenizer?: string;
  readonly classes?: string;
  readonly bpe?: string;
}

/** Limit for JSON side files (tokenizers, BPE merges). */
const MAX_JSON_BYTES = 64 * 1024 * 1024;

export function parseClassList(text: string): string[] {
  const labels = text.split(',').map((s) => s.trim());
  if (labels.some((l) => l.length === 0)) {
    throw usageError(`--classes must be a comma-separated list of non-empty labels, got '${text}'`);
  }
  return labels;
}

async function readJsonFile<T>(file: string, parse: (text: string) => T): Promise<T> {
  const text = new TextDecoder().decode(await readInput(file, MAX_JSON_BYTES));
  try {
    return parse(text);
  } catch (e) {
    throw inFile(file, e);
  }
}

export function hasTokenizerOptions(opts: TokenizerCliOptions): boolean {
  return (
    opts.tokenizer !== undefined ||
    opts.classes !== undefined ||
    opts.bpe !== undefined ||
    opts.profile !== undefined ||
    hasProfileOverrides(opts)
  );
}

export async function tokenizerFromOptions(opts: TokenizerCliOptions): Promise<JpegTokenizer> {
  if (opts.tokenizer !== undefined) {
    if (opts.profile !== undefined || hasProfileOverrides(opts)) {
      throw usageError('--tokenizer already fixes the profile; drop --profile/--size/... options');
    }
    if (opts.classes !== undefined || opts.bpe !== undefined) {
      throw usageError('--tokenizer already holds the class labels and BPE; drop --classes/--bpe');
    }
    return readJsonFile(opts.tokenizer, (t) => JpegTokenizer.fromJSON(t));
  }
  const profile = resolveProfile(opts);
  const classes = opts.classes === undefined ? [] : parseClassList(opts.classes);
  const bpe =
    opts.bpe === undefined
      ? undefined
      : await readJsonFile(opts.bpe, (t) => BytePairEncoding.fromJSON(t));
  try {
    return new JpegTokenizer({ profile, classes, bpe });
  } catch (e) {
    if (isCodecError(e)) throw usageError(e.message);
    throw e;
  }
}
