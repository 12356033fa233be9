/**
 * Logits processors: small composable units, each rewriting one row of next-token logits in
 * place (the style of transformers.js / Hugging Face `LogitsProcessor`s, one row at a time).
 * A removed token gets -Infinity, so every later unit and the sampler simply never see it.
 *
 * Ties are broken by token id everywhere (the lower id ranks first), so the kept sets, and with
 * them the sampled bytes, never depend on sort stability or platform.
 */
import { CodecError } from '@jpeglm/codec-tokenizer';

/** What a processor may know about the sequence whose row it is rewriting. */
export interface LogitsContext {
  /** Index of the sequence in the generation request; stable while finished rows are dropped. */
  readonly sequence: number;
  /** Every token of the sequence so far: the prompt, then the generated tokens. */
  readonly tokens: readonly number[];
  /** How many of `tokens` were generated (the others are the prompt). */
  readonly generated: number;
  /**
   * Classifier-free guidance: the logits of this sequence's null-class row at the same step
   * (read only). Absent when guidance is off.
   */
  readonly unconditional?: Float32Array;
}

export interface LogitsProcessor {
  readonly name: string;
  /** Rewrite `logits` (one row, length = vocabulary size) in place and return it. */
  process(logits: Float32Array, ctx: LogitsContext): Float32Array;
  /** Told every token appended to a sequence after sampling (for stateful processors). */
  accept?(sequence: number, token: number): void;
}

/** Run `processors` in order on one row. */
export function applyProcessors(
  processors: readonly LogitsProcessor[],
  logits: Float32Array,
  ctx: LogitsContext,
): Float32Array {
  let row = logits;
  for (const p of processors) row = p.process(row, ctx);
  return row;
}

/** Token ids of a row ranked by logit, highest first, ties by lower id. -Infinity excluded. */
export function rankTokens(logits: Float32Array): number[] {
  const ids: number[] = [];
  for (let i = 0; i < logits.length; i++) if (logits[i] !== -Infinity) ids.push(i);
  ids.sort((a, b) => logits[b] - logits[a] || a - b);
  return ids;
}

/** Softmax of a row in float64 (so tiny probabilities keep their order); -Infinity -> 0. */
export function softmax(logits: Float32Array): Float64Array {
  let max = -Infinity;
  for (let i = 0; i < logits.length; i++) if (logits[i] > max) max = logits[i];
  const p = new Float64Array(logits.length);
  if (max === -Infinity) return p;
  let sum = 0;
  for (let i = 0; i < logits.length; i++) {
    const e = logits[i] === -Infinity ? 0 : Math.exp(logits[i] - max);
    p[i] = e;
    sum += e;
  }
  for (let i = 0; i < p.length; i++) p[i] /= sum;
  return p;
}

function invalid(message: string): CodecError {
  return new CodecError('invalid-argument', message);
}

/** Divide logits by T > 0: T < 1 sharpens, T > 1 flattens. (T = 0 is greedy: see samplers.) */
export class TemperatureProcessor implements LogitsProcessor {
  readonly name = 'temperature';
  constructor(readonly temperature: number) {
    if (!(Number.isFinite(temperature) && temperature > 0)) {
      throw invalid(`temperature must be a finite number > 0, got ${temperature}`);
    }
  }
  process(logits: Float32Array): Float32Array {
    if (this.temperature === 1) return logits;
    const inv = 1 / this.temperature;
    for (let i = 0; i < logits.length; i++) logits[i] *= inv;
    return logits;
  }
}

/** Keep exactly the k highest logits (ties: lower id kept); k = 0 keeps everything. */
export class TopKProcessor implements LogitsProcessor {
  readonly name = 'top-k';
  constructor(readonly k: number) {
    if (!(Number.isInteger(k) && k >= 0)) throw invalid(`top-k must be an integer >= 0, got ${k}`);
  }
  process(logits: Float32Array): Float32Array {
    if (this.k === 0 || this.k >= logits.length) return logits;
    const ranked = rankTokens(logits);
    for (let r = this.k; r < ranked.length; r++) logits[ranked[r]] = -Infinity;
    return logits;
  }
}

/**
 * Nucleus sampling (Holtzman et al. 2020): keep the smallest set of most probable tokens whose
 * probabilities sum to at least p (ranked by probability, ties by lower id; sums in float64).
 * p = 1 keeps everything.
 */
export class TopPProcessor implements LogitsProcessor {
  readonly name = 'top-p';
  constructor(readonly p: number) {
    if (!(Number.isFinite(p) && p > 0 && p <= 1)) {
      throw invalid(`top-p must be a number in (0, 1], got ${p}`);
    }
  }
  process(logits: Float32Array): Float32Array {
    if (this.p >= 1) return logits;
    const probs = softmax(logits);
    const ranked = rankTokens(logits);
    let cumulative = 0;
    let kept = 0;
    while (kept < ranked.length && cumulative < this.p) cumulative += probs[ranked[kept++]];
    for (let r = kept; r < ranked.length; r++) logits[ranked[r]] = -Infinity;
    return logits;
  }
}

/**
 * Min-p sampling (Nguyen et al. 2024): keep tokens whose probability is at least
 * `minP` times the most probable token's. minP = 0 keeps everything.
 */
export class MinPProcessor implements LogitsProcessor {
  readonly name = 'min-p';
  constructor(readonly minP: number) {
    if (!(Number.isFinite(minP) && minP >= 0 && minP <= 1)) {
      throw invalid(`min-p must be a number in [0, 1], got ${minP}`);
    }
  }
  process(logits: Float32Array): Float32Array {
    if (this.minP === 0) return logits;
    let max = -Infinity;
    for (let i = 0; i < logits.length; i++) if (logits[i] > max) max = logits[i];
    if (max === -Infinity) return logits;
    // p_i / p_max = exp(l_i - l_max), computed in float64.
    for (let i = 0; i < logits.length; i++) {
      if (Math.exp(logits[i] - max) < this.minP) logits[i] = -Infinity;
    }
    return logits;
  }
}

/**
 * Classifier-free guidance (Ho & Salimans 2022; for LMs, Sanchez et al. 2023):
 * logits = uncond + S * (cond - uncond), where uncond is the same sequence conditioned on the
 * null class. S = 1 is plain conditional sampling, S > 1 pushes towards the class. (Mixing raw
 * logits equals mixing log-softmaxes: they differ by a per-row constant, which softmax ignores.)
 */
export class ClassifierFreeGuidanceProcessor implements LogitsProcessor {
  readonly name = 'cfg';
  constructor(readonly scale: number) {
    if (!Number.isFinite(scale)) throw invalid(`cfg scale must be a finite number, got ${scale}`);
  }
  process(logits: Float32Array, ctx: LogitsContext): Float32Array {
    const u = ctx.unconditional;
    if (u === undefined) {
      throw invalid('classifier-free guidance needs the null-class row of each sequence');
    }
    const s = this.scale;
    for (let i = 0; i < logits.length; i++) {
      // -inf in either row stays -inf (never produced by a model, but masks may be upstream).
      const c = logits[i];
      const v = u[i];
      logits[i] = c === -Infinity || v === -Infinity ? -Infinity : v + s * (c - v);
    }
    return logits;
  }
}

/**
 * Multi-byte (BPE merge) tokens of a vocabulary: id `first + k` stands for `bytes[k]`. Ids
 * 0..255 always stand for the byte of the same value; every other id is a special token.
 */
export interface MergeTokens {
  readonly first: number;
  readonly bytes: readonly Uint8Array[];
}

/** The bytes token `id` stands for, or undefined for a special (BOS, EOS, PAD, class) token. */
export function tokenBytes(id: number, merges?: MergeTokens): Uint8Array | undefined {
  if (id >= 0 && id < 256) return Uint8Array.of(id);
  if (merges !== undefined && id >= merges.first) return merges.bytes[id - merges.first];
  return undefined;
}

/**
 * Only byte tokens (ids 0..255 and any BPE merges) and EOS may be generated: BOS, PAD and class
 * tokens have no place inside a file. Used when the grammar mask is off, so that the output is
 * still a byte string.
 */
export class ByteTokensOnlyProcessor implements LogitsProcessor {
  readonly name = 'byte-tokens-only';
  private readonly end: number;
  constructor(
    readonly eosTokenId: number,
    merges?: MergeTokens,
  ) {
    this.end = merges ? merges.first : Infinity;
  }
  process(logits: Float32Array): Float32Array {
    const end = Math.min(this.end, logits.length);
    for (let i = 256; i < end; i++) if (i !== this.eosTokenId) logits[i] = -Infinity;
    return logits;
  }
}

/**
 * Stop at the end of the image: once the sequence's bytes end with the EOI marker (FF D9), only
 * EOS may follow. Inside entropy-coded data an FF is always followed by 00 or an RST code
 * (T.81 F.1.2.3, B.1.1.5), so FF D9 there can only be the real EOI.
 */
export class EndOfImageProcessor implements LogitsProcessor {
  readonly name = 'end-of-image';
  constructor(
    readonly eosTokenId: number,
    private readonly merges?: MergeTokens,
  ) {}
  process(logits: Float32Array, ctx: LogitsContext): Float32Array {
    // The last two bytes, which may lie in one or two (merge) tokens.
    let last = -1;
    let before = -1;
    for (let t = ctx.tokens.length - 1; t >= 0 && before < 0; t--) {
      const b = tokenBytes(ctx.tokens[t], this.merges);
      if (b === undefined) break;
      for (let i = b.length - 1; i >= 0 && before < 0; i--) {
        if (last < 0) last = b[i];
        else before = b[i];
      }
    }
    if (before === 0xff && last === 0xd9) forceToken(logits, this.eosTokenId);
    return logits;
  }
}

/** Make `token` the only possible choice: its logit 0, every other -Infinity. */
export function forceToken(logits: Float32Array, token: number): void {
  logits.fill(-Infinity);
  logits[token] = 0;
}
