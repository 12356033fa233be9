/**
 * Batched autoregressive generation over a CausalLM with a KV cache. All sequences share each
 * forward pass; ragged prompts are left-padded and masked out (attention_mask 0, positions
 * counted from each row's first real token, as Hugging Face does); a sequence that finishes is
 * dropped from the batch with `selectRows`, so later passes cost only what is still running.
 *
 * Classifier-free guidance doubles the batch: rows 0..A-1 are the active sequences with their
 * prompts, rows A..2A-1 the same sequences with their null-class prompts. Both rows of a
 * sequence are fed the token sampled from the guided mix, so they stay in step.
 */
import { CodecError } from '@jpeglm/codec-tokenizer';
import type { CausalLM, KvCache } from './causal-lm.js';
import { applyProcessors, type LogitsProcessor } from './logits-processors.js';
import type { TokenSampler } from './samplers.js';

export interface GenerateRequest {
  /** One prompt (token ids, at least one) per sequence; lengths may differ. */
  readonly prompts: readonly (readonly number[])[];
  /**
   * Classifier-free guidance: one null-class prompt per sequence. The guided mix itself is a
   * processor (ClassifierFreeGuidanceProcessor), which reads it from `LogitsContext.unconditional`.
   */
  readonly unconditionalPrompts?: readonly (readonly number[])[];
  /** Generated tokens per sequence at most, EOS included. */
  readonly maxNewTokens: number;
  readonly eosTokenId: number;
  /** Token used for left padding (never attended). */
  readonly padTokenId: number;
  /** Run in order on each row before the pick: guidance, masks, then sampling warpers. */
  readonly processors?: readonly LogitsProcessor[];
  readonly sampler: TokenSampler;
  /** Called with each generated token as soon as it is chosen (EOS included). */
  readonly onToken?: (sequence: number, token: number) => void;
}

export type FinishReason = 'eos' | 'length';

export interface GeneratedSequence {
  /** The generated tokens, EOS excluded. */
  readonly tokens: number[];
  /** 'eos': the model (or a mask) ended it; 'length': it hit maxNewTokens first. */
  readonly finishReason: FinishReason;
}

export interface GenerationStats {
  readonly sequences: number;
  readonly promptTokens: number;
  /** Tokens chosen, EOS included, summed over sequences (guidance rows not counted). */
  readonly generatedTokens: number;
  readonly forwardPasses: number;
  readonly prefillSeconds: number;
  readonly seconds: number;
  /** generatedTokens / seconds, prefill included. */
  readonly tokensPerSecond: number;
}

export interface GenerationResult {
  readonly sequences: GeneratedSequence[];
  readonly stats: GenerationStats;
}

interface Row {
  readonly sequence: number;
  /** Left padding of this row in the cache (positions never attended). */
  readonly pad: number;
}

function invalid(message: string): CodecError {
  return new CodecError('invalid-argument', message);
}

function checkTokens(what: string, ids: readonly number[], vocab: number): void {
  if (ids.length === 0) throw invalid(`${what} is empty`);
  for (const t of ids) {
    if (!(Number.isInteger(t) && t >= 0 && t < vocab)) {
      throw invalid(`${what} holds token ${t}, outside the vocabulary of ${vocab}`);
    }
  }
}

export async function generate(
  model: CausalLM,
  request: GenerateRequest,
): Promise<GenerationResult> {
  const { prompts, unconditionalPrompts, maxNewTokens, eosTokenId, padTokenId } = request;
  const processors = request.processors ?? [];
  const vocab = model.vocabSize;
  const n = prompts.length;
  if (n === 0) throw invalid('nothing to generate: no prompts');
  if (!(Number.isInteger(maxNewTokens) && maxNewTokens >= 1)) {
    throw invalid(`maxNewTokens must be an integer >= 1, got ${maxNewTokens}`);
  }
  for (const [name, id] of [
    ['EOS', eosTokenId],
    ['PAD', padTokenId],
  ] as const) {
    if (!(Number.isInteger(id) && id >= 0 && id < vocab)) {
      throw invalid(`${name} token ${id} is outside the vocabulary of ${vocab}`);
    }
  }
  const guided = unconditionalPrompts !== undefined;
  if (guided && unconditionalPrompts.length !== n) {
    throw invalid(`${unconditionalPrompts.length} null-class prompts for ${n} sequences`);
  }
  prompts.forEach((p, i) => checkTokens(`prompt ${i}`, p, vocab));
  unconditionalPrompts?.forEach((p, i) => checkTokens(`null-class prompt ${i}`, p, vocab));

  const allPrompts = guided ? [...prompts, ...unconditionalPrompts] : [...prompts];
  const promptLength = Math.max(...allPrompts.map((p) => p.length));
  if (promptLength + maxNewTokens > model.maxPositions) {
    throw invalid(
      `a ${promptLength}-token prompt plus ${maxNewTokens} new tokens exceeds the model's ` +
        `${model.maxPositions} positions`,
    );
  }

  const start = performance.now();
  // Per sequence: every token so far, and what was generated.
  const history = prompts.map((p) => [...p]);
  const generated: number[][] = prompts.map(() => []);
  const finish: (FinishReason | undefined)[] = new Array(n).fill(undefined);
  let active: number[] = prompts.map((_, i) => i);
  let rows: Row[] = allPrompts.map((p, r) => ({
    sequence: r % n,
    pad: promptLength - p.length,
  }));

  // Prefill: the prompts, left-padded to a common length.
  let batch = rows.length;
  const inputIds = new Int32Array(batch * promptLength);
  const attentionMask = new Uint8Array(batch * promptLength);
  const positionIds = new Int32Array(batch * promptLength);
  allPrompts.forEach((p, r) => {
    const pad = rows[r].pad;
    for (let i = 0; i < promptLength; i++) {
      const o = r * promptLength + i;
      const real = i >= pad;
      inputIds[o] = real ? p[i - pad] : padTokenId;
      attentionMask[o] = real ? 1 : 0;
      positionIds[o] = real ? i - pad : 0;
    }
  });
  let cache: KvCache = model.newCache(batch);
  let out = await model.forward(cache, {
    inputIds,
    seqLen: promptLength,
    attentionMask,
    positionIds,
  });
  cache = out.cache;
  let forwardPasses = 1;
  const prefillSeconds = (performance.now() - start) / 1000;
  let generatedTokens = 0;

  while (true) {
    const a = active.length;
    const logits = out.logits;
    if (logits.length !== batch * vocab) {
      throw new CodecError(
        'corrupt',
        `the model returned ${logits.length} logits for ${batch} rows of ${vocab}`,
      );
    }
    const chosen = new Int32Array(a);
    for (let j = 0; j < a; j++) {
      const s = active[j];
      const row = logits.subarray(j * vocab, (j + 1) * vocab);
      const ctx = {
        sequence: s,
        tokens: history[s],
        generated: generated[s].length,
        unconditional: guided ? logits.subarray((a + j) * vocab, (a + j + 1) * vocab) : undefined,
      };
      const token = request.sampler.pick(applyProcessors(processors, row, ctx), s);
      chosen[j] = token;
      generatedTokens++;
      for (const p of processors) p.accept?.(s, token);
      if (token === eosTokenId) {
        finish[s] = 'eos';
      } else {
        history[s].push(token);
        generated[s].push(token);
        if (generated[s].length >= maxNewTokens) finish[s] = 'length';
      }
      request.onToken?.(s, token);
    }

    const keep: number[] = [];
    for (let j = 0; j < a; j++) if (finish[active[j]] === undefined) keep.push(j);
    if (keep.length === 0) break;
    let nextTokens = chosen;
    if (keep.length < a) {
      const keepRows = guided ? [...keep, ...keep.map((j) => a + j)] : keep;
      cache = model.selectRows(cache, keepRows);
      rows = keepRows.map((r) => rows[r]);
      nextTokens = Int32Array.from(keep, (j) => chosen[j]);
      active = keep.map((j) => active[j]);
    }

    // One decoding step: each row's last token, attending to its real past plus itself.
    batch = rows.length;
    const aNow = active.length;
    const past = cache.length;
    const stepIds = new Int32Array(batch);
    const stepMask = new Uint8Array(batch * (past + 1));
    const stepPositions = new Int32Array(batch);
    for (let r = 0; r < batch; r++) {
      stepIds[r] = nextTokens[r % aNow];
      stepMask.fill(1, r * (past + 1) + rows[r].pad, (r + 1) * (past + 1));
      stepPositions[r] = past - rows[r].pad;
    }
    out = await model.forward(cache, {
      inputIds: stepIds,
      seqLen: 1,
      attentionMask: stepMask,
      positionIds: stepPositions,
    });
    cache = out.cache;
    forwardPasses++;
  }

  const seconds = (performance.now() - start) / 1000;
  return {
    sequences: generated.map((tokens, s) => ({ tokens, finishReason: finish[s] ?? 'length' })),
    stats: {
      sequences: n,
      promptTokens: prompts.reduce((sum, p) => sum + p.length, 0),
      generatedTokens,
      forwardPasses,
      prefillSeconds,
      seconds,
      tokensPerSecond: seconds > 0 ? generatedTokens / seconds : 0,
    },
  };
}
