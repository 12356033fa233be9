/**
 * Likelihood of a token sequence under a CausalLM: per-token log-probabilities and the negative
 * log-likelihood in bits per byte, the basis of likelihood evaluation and anomaly detection.
 * Long sequences are fed in chunks through the KV cache, so memory stays at one chunk of logits.
 */
import { CodecError, type JpegTokenizer } from '@jpeglm/codec-tokenizer';
import type { CausalLM } from './causal-lm.js';
import { checkVocabulary } from './image-generation.js';

export interface ScoreOptions {
  /**
   * Leading tokens that condition the rest but are not scored (e.g. 2 for [BOS, class]).
   * At least 1: the first token has nothing to be predicted from.
   */
  readonly prefixLength: number;
  /** Tokens per forward pass; default 512. */
  readonly chunkSize?: number;
}

export interface SequenceScore {
  /** ln p(token_t | tokens_<t) for t = prefixLength .. length-1, in nats. */
  readonly tokenLogProbs: Float64Array;
  /** The scored tokens (tokens.slice(prefixLength)). */
  readonly tokens: readonly number[];
  /** -sum(log2 p) over every scored token (bytes and any special token such as EOS). */
  readonly totalBits: number;
  /** Scored tokens that are bytes (ids 0..255). */
  readonly bytes: number;
  /**
   * totalBits / bytes: the code length of the whole scored part (its end included) per byte of
   * the file, the usual "bits per byte" of byte-level language models.
   */
  readonly bitsPerByte: number;
}

/** ln softmax(row)[token], in float64: row[token] - (max + ln sum exp(row - max)). */
export function logSoftmaxAt(row: Float32Array, token: number): number {
  let max = -Infinity;
  for (let i = 0; i < row.length; i++) if (row[i] > max) max = row[i];
  let sum = 0;
  for (let i = 0; i < row.length; i++) sum += Math.exp(row[i] - max);
  return row[token] - max - Math.log(sum);
}

export async function scoreSequence(
  model: CausalLM,
  tokens: readonly number[],
  options: ScoreOptions,
): Promise<SequenceScore> {
  const { prefixLength } = options;
  const chunkSize = options.chunkSize ?? 512;
  const vocab = model.vocabSize;
  if (!(Number.isInteger(prefixLength) && prefixLength >= 1 && prefixLength < tokens.length)) {
    throw new CodecError(
      'invalid-argument',
      `prefix of ${prefixLength} tokens leaves nothing to score in ${tokens.length} tokens`,
    );
  }
  if (!(Number.isInteger(chunkSize) && chunkSize >= 1)) {
    throw new CodecError(
      'invalid-argument',
      `chunk size must be an integer >= 1, got ${chunkSize}`,
    );
  }
  // The last token is only predicted, never fed.
  const fed = tokens.length - 1;
  if (fed > model.maxPositions) {
    throw new CodecError(
      'too-large',
      `${tokens.length} tokens exceed the model's ${model.maxPositions} positions`,
    );
  }
  for (const t of tokens) {
    if (!(Number.isInteger(t) && t >= 0 && t < vocab)) {
      throw new CodecError('invalid-argument', `token ${t} is outside the vocabulary of ${vocab}`);
    }
  }

  const logProbs = new Float64Array(tokens.length - prefixLength);
  let cache = model.newCache(1);
  for (let start = 0; start < fed; start += chunkSize) {
    const end = Math.min(fed, start + chunkSize);
    const len = end - start;
    const out = await model.forward(
      cache,
      { inputIds: Int32Array.from(tokens.slice(start, end)), seqLen: len },
      { allPositions: true },
    );
    cache = out.cache;
    // Logits at position p predict token p + 1.
    for (let p = Math.max(start, prefixLength - 1); p < end; p++) {
      const row = out.logits.subarray((p - start) * vocab, (p - start + 1) * vocab);
      logProbs[p + 1 - prefixLength] = logSoftmaxAt(row, tokens[p + 1]);
    }
  }

  let nats = 0;
  let bytes = 0;
  for (let i = 0; i < logProbs.length; i++) {
    nats -= logProbs[i];
    if (tokens[prefixLength + i] < 256) bytes++;
  }
  const totalBits = nats / Math.LN2;
  return {
    tokenLogProbs: logProbs,
    tokens: tokens.slice(prefixLength),
    totalBits,
    bytes,
    bitsPerByte: bytes > 0 ? totalBits / bytes : Number.NaN,
  };
}

export interface ScoreImageOptions {
  /** Class label to condition on; null or undefined: NULL_CLASS (unconditional likelihood). */
  readonly classLabel?: string | null;
  readonly chunkSize?: number;
}

/**
 * Score a canonical JPEG of the tokenizer's profile: its sequence [BOS, class, body..., EOS]
 * with BOS and the class token as the condition, so the scored tokens are the scan bytes, EOI
 * and EOS.
 */
export async function scoreImage(
  model: CausalLM,
  tokenizer: JpegTokenizer,
  jpeg: Uint8Array,
  options: ScoreImageOptions = {},
): Promise<SequenceScore> {
  checkVocabulary(model, tokenizer);
  const ids = Array.from(tokenizer.tokenize(jpeg, { classLabel: options.classLabel }));
  return scoreSequence(model, ids, { prefixLength: 2, chunkSize: options.chunkSize });
}
