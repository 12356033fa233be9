import { describe, expect, it } from 'vitest';
import { generate } from '../src/generate.js';
import {
  ClassifierFreeGuidanceProcessor,
  TopKProcessor,
  applyProcessors,
  type LogitsProcessor,
} from '../src/logits-processors.js';
import { GrammarMaskProcessor, type ByteConstraint } from '../src/constraint.js';
import { GreedySampler, MultinomialSampler, type TokenSampler } from '../src/samplers.js';
import { MockLM } from './mock-lm.js';

const V = 262;
const BOS = 256;
const EOS = 257;
const PAD = 258;
const NULL = 259;

/**
 * Generation done the slow, obviously right way: one sequence at a time, no cache, no padding;
 * each step runs the whole sequence (and, with guidance, its null-class twin) from scratch.
 */
async function reference(
  model: MockLM,
  prompt: number[],
  sequence: number,
  o: {
    maxNewTokens: number;
    sampler: TokenSampler;
    processors: LogitsProcessor[];
    unconditional?: number[];
  },
): Promise<{ tokens: number[]; finishReason: string }> {
  const tokens = [...prompt];
  const uncond = o.unconditional ? [...o.unconditional] : undefined;
  const out: number[] = [];
  const last = async (ids: number[]): Promise<Float32Array> =>
    (
      await model.forward(model.newCache(1), {
        inputIds: Int32Array.from(ids),
        seqLen: ids.length,
      })
    ).logits;
  while (out.length < o.maxNewTokens) {
    const logits = await last(tokens);
    const unconditional = uncond ? await last(uncond) : undefined;
    const ctx = { sequence, tokens, generated: out.length, unconditional };
    const t = o.sampler.pick(applyProcessors(o.processors, logits, ctx), sequence);
    if (t === EOS) return { tokens: out, finishReason: 'eos' };
    out.push(t);
    tokens.push(t);
    uncond?.push(t);
  }
  return { tokens: out, finishReason: 'length' };
}

/** A bigram table where EOS becomes very likely after byte 7 (so sequences end at different times). */
function endingModel(): MockLM {
  const m = new MockLM({ vocabSize: V, contextWeight: 1.5 });
  for (let k = 0; k < V; k++) {
    m.bigram[7 * V + k] = -20;
    if (k >= 256) for (let p = 0; p < V; p++) m.bigram[p * V + k] = -30;
  }
  m.bigram[7 * V + EOS] = 20;
  return m;
}

describe('generate', () => {
  it('batched ragged generation equals one-at-a-time generation without a cache', async () => {
    const model = new MockLM({ vocabSize: V, contextWeight: 3 });
    const prompts = [
      [BOS, 260, 1, 2, 3],
      [BOS, 261],
      [BOS, 260, 9],
    ];
    const result = await generate(model, {
      prompts,
      maxNewTokens: 12,
      eosTokenId: EOS,
      padTokenId: PAD,
      processors: [new TopKProcessor(20)],
      sampler: new MultinomialSampler(11),
    });
    for (let s = 0; s < prompts.length; s++) {
      const ref = await reference(model, prompts[s], s, {
        maxNewTokens: 12,
        sampler: new MultinomialSampler(11),
        processors: [new TopKProcessor(20)],
      });
      expect(result.sequences[s]).toEqual(ref);
    }
    // One prefill plus one pass per further token, all three rows together.
    expect(model.forwardCalls.slice(0, 2)).toEqual([
      { batch: 3, seqLen: 5 },
      { batch: 3, seqLen: 1 },
    ]);
  });

  it('is reproducible for a seed and differs across seeds', async () => {
    const run = async (seed: number): Promise<number[][]> =>
      (
        await generate(new MockLM({ vocabSize: V, contextWeight: 2 }), {
          prompts: [
            [BOS, 260],
            [BOS, 260],
          ],
          maxNewTokens: 30,
          eosTokenId: EOS,
          padTokenId: PAD,
          sampler: new MultinomialSampler(seed),
        })
      ).sequences.map((s) => s.tokens);
    expect(await run(5)).toEqual(await run(5));
    expect(await run(5)).not.toEqual(await run(6));
    const [a, b] = await run(5);
    expect(a).not.toEqual(b); // two sequences of one batch draw from different streams
  });

  it('drops finished sequences from the batch and stays exact', async () => {
    const model = endingModel();
    const prompts = [
      [BOS, 260, 7],
      [BOS, 261],
      [BOS, 260, 1, 1],
    ];
    const streamed: number[][] = [[], [], []];
    const result = await generate(model, {
      prompts,
      maxNewTokens: 40,
      eosTokenId: EOS,
      padTokenId: PAD,
      sampler: new MultinomialSampler(4),
      onToken: (s, t) => streamed[s].push(t),
    });
    const batches = model.forwardCalls.map((c) => c.batch);
    // Sequence 0 ends at once (its prompt ends with byte 7).
    expect(result.sequences[0]).toEqual({ tokens: [], finishReason: 'eos' });
    for (let s = 0; s < 3; s++) {
      const ref = await reference(model, prompts[s], s, {
        maxNewTokens: 40,
        sampler: new MultinomialSampler(4),
        processors: [],
      });
      expect(result.sequences[s]).toEqual(ref);
      const { tokens, finishReason } = result.sequences[s];
      expect(streamed[s]).toEqual(finishReason === 'eos' ? [...tokens, EOS] : tokens);
    }
    expect(batches[0]).toBe(3);
    expect(batches[1]).toBe(2);
    expect(Math.min(...batches)).toBeLessThan(3);
    // Batch sizes never grow back.
    for (let i = 1; i < batches.length; i++) expect(batches[i]).toBeLessThanOrEqual(batches[i - 1]);
    const total = result.sequences.reduce(
      (n, s) => n + s.tokens.length + (s.finishReason === 'eos' ? 1 : 0),
      0,
    );
    expect(result.stats.generatedTokens).toBe(total);
    expect(result.stats.forwardPasses).toBe(batches.length);
  });

  it('stops at maxNewTokens with finishReason "length"', async () => {
    const model = new MockLM({ vocabSize: V });
    for (let p = 0; p < V; p++) model.bigram[p * V + EOS] = -50;
    const r = await generate(model, {
      prompts: [[BOS, 260]],
      maxNewTokens: 9,
      eosTokenId: EOS,
      padTokenId: PAD,
      sampler: new GreedySampler(),
    });
    expect(r.sequences[0].tokens).toHaveLength(9);
    expect(r.sequences[0].finishReason).toBe('length');
    expect(model.forwardCalls).toHaveLength(9);
  });

  it('classifier-free guidance equals mixing separately computed cond and null-class logits', async () => {
    const model = endingModel();
    const prompts = [
      [BOS, 260, 3],
      [BOS, 261, 3],
      [BOS, 260, 1],
    ];
    const unconditionalPrompts = prompts.map((p) => [BOS, NULL, ...p.slice(2)]);
    const result = await generate(model, {
      prompts,
      unconditionalPrompts,
      maxNewTokens: 25,
      eosTokenId: EOS,
      padTokenId: PAD,
      processors: [new ClassifierFreeGuidanceProcessor(2.5)],
      sampler: new MultinomialSampler(8),
    });
    expect(model.forwardCalls[0]).toEqual({ batch: 6, seqLen: 3 });
    for (let s = 0; s < 3; s++) {
      const ref = await reference(model, prompts[s], s, {
        maxNewTokens: 25,
        sampler: new MultinomialSampler(8),
        processors: [new ClassifierFreeGuidanceProcessor(2.5)],
        unconditional: unconditionalPrompts[s],
      });
      expect(result.sequences[s]).toEqual(ref);
    }
    // Guidance must matter for this model, or the test above proves nothing.
    const plain = await generate(model, {
      prompts,
      maxNewTokens: 25,
      eosTokenId: EOS,
      padTokenId: PAD,
      sampler: new MultinomialSampler(8),
    });
    expect(plain.sequences.map((s) => s.tokens)).not.toEqual(result.sequences.map((s) => s.tokens));
  });

  it('keeps every sequence inside a grammar and ends each with EOS once it is complete', async () => {
    /** 'a'* then 'b', at most 6 bytes: after 5 'a's only 'b' is allowed. */
    class Ab implements ByteConstraint {
      complete = false;
      n = 0;
      allowedBytes(): Uint8Array {
        const m = new Uint8Array(256);
        if (!this.complete) {
          if (this.n < 5) m[0x61] = 1;
          m[0x62] = 1;
        }
        return m;
      }
      accept(b: number): void {
        if (!this.allowedBytes()[b]) throw new Error(`byte ${b} was not allowed`);
        this.n++;
        if (b === 0x62) this.complete = true;
      }
      acceptsAll(bytes: Uint8Array): boolean {
        return bytes.length === 1 && this.allowedBytes()[bytes[0]] === 1;
      }
    }
    const constraints = [new Ab(), new Ab(), new Ab(), new Ab()];
    const r = await generate(new MockLM({ vocabSize: V, contextWeight: 2 }), {
      prompts: constraints.map(() => [BOS, 260]),
      maxNewTokens: 50,
      eosTokenId: EOS,
      padTokenId: PAD,
      processors: [new GrammarMaskProcessor(constraints, EOS)],
      sampler: new MultinomialSampler(2),
    });
    for (const s of r.sequences) {
      expect(s.finishReason).toBe('eos');
      expect(String.fromCharCode(...s.tokens)).toMatch(/^a{0,5}b$/);
    }
    expect(constraints.every((c) => c.complete)).toBe(true);
  });

  it('refuses bad requests with a clear message', async () => {
    const model = new MockLM({ vocabSize: V, maxPositions: 16 });
    const base = {
      prompts: [[BOS, 260]],
      maxNewTokens: 4,
      eosTokenId: EOS,
      padTokenId: PAD,
      sampler: new GreedySampler(),
    };
    await expect(generate(model, { ...base, prompts: [] })).rejects.toThrow(/no prompts/);
    await expect(generate(model, { ...base, prompts: [[]] })).rejects.toThrow(/prompt 0 is empty/);
    await expect(generate(model, { ...base, prompts: [[BOS, 999]] })).rejects.toThrow(
      /token 999, outside the vocabulary of 262/,
    );
    await expect(generate(model, { ...base, maxNewTokens: 0 })).rejects.toThrow(/maxNewTokens/);
    await expect(generate(model, { ...base, maxNewTokens: 15 })).rejects.toThrow(
      /2-token prompt plus 15 new tokens exceeds the model's 16 positions/,
    );
    await expect(generate(model, { ...base, unconditionalPrompts: [] })).rejects.toThrow(
      /0 null-class prompts for 1 sequences/,
    );
    await expect(generate(model, { ...base, eosTokenId: 400 })).rejects.toThrow(/EOS token 400/);
  });
});
