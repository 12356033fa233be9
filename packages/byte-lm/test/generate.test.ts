import { spawnSync } from 'node:child_process';
import { promises as fs } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  BytePairEncoding,
  JpegTokenizer,
  canonicalHeader,
  customProfile,
  getProfile,
} from '@jpeglm/codec-tokenizer';
import { generate } from '../src/generate.js';
import { cutBodyAtRestart, generateImages } from '../src/image-generation.js';
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

describe('generateImages (JPEG level)', () => {
  const profile = getProfile('jpeglm-32-q75');
  const header = canonicalHeader(profile);
  let tmp: string;
  beforeAll(async () => {
    tmp = await fs.mkdtemp(path.join(os.tmpdir(), 'jpeglm-images-'));
  });
  afterAll(async () => {
    await fs.rm(tmp, { recursive: true, force: true });
  });
  let fileNo = 0;
  async function expectDecodesCleanly(jpeg: Uint8Array): Promise<void> {
    const file = path.join(tmp, `img-${fileNo++}.jpg`);
    await fs.writeFile(file, jpeg);
    const r = spawnSync('djpeg', ['-outfile', '/dev/null', file], { encoding: 'utf8' });
    expect(r.stderr).toBe('');
    expect(r.status).toBe(0);
  }
  /** A flat-ish random model: every byte the grammar allows stays plausible. */
  const mockFor = (t: JpegTokenizer, seed = 1): MockLM => {
    const m = new MockLM({ vocabSize: t.vocabSize, contextWeight: 1 });
    for (let i = 0; i < m.bigram.length; i++) m.bigram[i] = Math.sin(i * 12.9898 + seed) * 0.5;
    return m;
  };

  it('writes whole files that djpeg decodes cleanly, streaming the bytes as they come', async () => {
    const t = new JpegTokenizer({ profile, classes: ['cat', 'dog'] });
    const streamed: number[][] = [[], [], []];
    const r = await generateImages(mockFor(t), {
      tokenizer: t,
      prompts: [{ classLabel: 'cat' }, { classLabel: 'dog' }, {}],
      sampling: { seed: 3, topK: 100 },
      onBytes: (i, b) => streamed[i].push(...b),
    });
    expect(r.mcuCount).toBe(4);
    for (const [i, img] of r.images.entries()) {
      expect(img).toMatchObject({ finishReason: 'eos', mcus: 4, repaired: false });
      expect(img.warning).toBeUndefined();
      expect(img.jpeg.subarray(0, header.length)).toEqual(header);
      expect([...img.jpeg.subarray(header.length)]).toEqual(streamed[i]);
      await expectDecodesCleanly(img.jpeg);
    }
  });

  it('handles BPE merge tokens under the grammar', async () => {
    // Merges: FF 00 (a stuffed byte), 00 00, and (FF 00) 00.
    const bpe = new BytePairEncoding([
      [0xff, 0x00],
      [0x00, 0x00],
      [256, 0x00],
    ]);
    const t = new JpegTokenizer({ profile, classes: ['cat'], bpe });
    const model = mockFor(t, 2);
    // Make the merges attractive, so that they are actually sampled.
    for (let p = 0; p < t.vocabSize; p++) {
      for (let k = t.firstMergeId; k < t.vocabSize; k++) model.bigram[p * t.vocabSize + k] = 3;
    }
    const r = await generateImages(model, {
      tokenizer: t,
      prompts: [{ classLabel: 'cat' }, { classLabel: 'cat' }],
      sampling: { seed: 5 },
    });
    const merged = r.images.flatMap((i) => i.tokens).filter((id) => id >= t.firstMergeId);
    expect(merged.length).toBeGreaterThan(0);
    for (const img of r.images) await expectDecodesCleanly(img.jpeg);
  });

  it('repairs a stream stopped by the length limit, and says so', async () => {
    const t = new JpegTokenizer({ profile, classes: [] });
    const full = await generateImages(mockFor(t), {
      tokenizer: t,
      prompts: [{}],
      sampling: { seed: 1 },
    });
    const n = full.images[0].tokens.length;
    const cut = await generateImages(mockFor(t), {
      tokenizer: t,
      prompts: [{}],
      sampling: { seed: 1 },
      maxNewTokens: Math.floor(n * 0.75),
    });
    const img = cut.images[0];
    expect(img.finishReason).toBe('length');
    expect(img.repaired).toBe(true);
    expect(img.mcus).toBeGreaterThan(0);
    expect(img.warning).toMatch(
      new RegExp(
        `stopped at the ${Math.floor(n * 0.75)}-token limit at MCU ${img.mcus} of 4; repaired`,
      ),
    );
    // Same seed: the kept MCUs are the full image's own bytes.
    expect(img.tokens).toEqual(full.images[0].tokens.slice(0, img.tokens.length));
    await expectDecodesCleanly(img.jpeg);
    const blank = await generateImages(mockFor(t), {
      tokenizer: t,
      prompts: [{}],
      maxNewTokens: 2,
    });
    expect(blank.images[0].warning).toMatch(/blank \(grey\) image/);
    await expectDecodesCleanly(blank.images[0].jpeg);
  });

  it('completes a prompt cut at a restart marker, with and without guidance', async () => {
    const t = new JpegTokenizer({ profile, classes: ['cat'] });
    const source = await generateImages(mockFor(t, 4), { tokenizer: t, prompts: [{}] });
    const body = source.images[0].jpeg.subarray(header.length);
    const cut = cutBodyAtRestart(body, profile, 0.5);
    for (const cfgScale of [undefined, 3]) {
      const r = await generateImages(mockFor(t), {
        tokenizer: t,
        prompts: [{ classLabel: 'cat', body: cut.body }],
        cfgScale,
        sampling: { seed: 8 },
      });
      const img = r.images[0].jpeg;
      expect(img.subarray(header.length, header.length + cut.body.length)).toEqual(cut.body);
      await expectDecodesCleanly(img);
    }
    await expect(
      generateImages(mockFor(t), { tokenizer: t, prompts: [{ body: Uint8Array.of(0xff, 0xd9) }] }),
    ).rejects.toThrow(/prompt 0 is not the start of a canonical jpeglm-32-q75 scan/);
  });

  it("refuses a model whose vocabulary is not the tokenizer's", async () => {
    const t = new JpegTokenizer({ profile, classes: ['cat'] });
    await expect(
      generateImages(new MockLM({ vocabSize: 300 }), { tokenizer: t, prompts: [{}] }),
    ).rejects.toThrow(/the model has 300 tokens but its tokenizer has 261/);
  });
});

describe('cutBodyAtRestart', () => {
  const profile = getProfile('jpeglm-32-q75'); // 4 MCUs, restart interval 1: RST0..RST2
  // A fake body with the marker structure of a canonical one: data, RST0, data, RST1, ...
  const body = Uint8Array.of(
    1,
    0xff,
    0x00,
    2,
    0xff,
    0xd0,
    3,
    0xff,
    0xd1,
    4,
    5,
    0xff,
    0xd2,
    6,
    0xff,
    0xd9,
  );
  it('cuts just after the RST marker ending the kept MCUs', () => {
    expect(cutBodyAtRestart(body, profile, 0)).toMatchObject({ keptMcus: 0, totalMcus: 4 });
    expect(cutBodyAtRestart(body, profile, 0).body).toHaveLength(0);
    const half = cutBodyAtRestart(body, profile, 0.5);
    expect(half.keptMcus).toBe(2);
    expect([...half.body]).toEqual([1, 0xff, 0x00, 2, 0xff, 0xd0, 3, 0xff, 0xd1]);
    expect(cutBodyAtRestart(body, profile, 0.3).keptMcus).toBe(1); // round(1.2)
    expect(cutBodyAtRestart(body, profile, 0.95).keptMcus).toBe(3); // never the whole image
  });
  it('refuses fractions outside [0, 1) and scans with too few markers', () => {
    expect(() => cutBodyAtRestart(body, profile, 1)).toThrow(/keep must be a fraction in \[0, 1\)/);
    expect(() => cutBodyAtRestart(body, profile, -0.1)).toThrow(/keep must be/);
    expect(() => cutBodyAtRestart(Uint8Array.of(1, 2, 0xff, 0xd9), profile, 0.5)).toThrow(
      /has 0 restart markers, fewer than the 2 needed/,
    );
    const noRestart = customProfile({ restartInterval: 0 }, profile);
    expect(() => cutBodyAtRestart(body, noRestart, 0.5)).toThrow(/has no restart markers/);
  });
});
