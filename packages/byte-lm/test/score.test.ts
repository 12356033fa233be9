import { describe, expect, it } from 'vitest';
import { logSoftmaxAt, scoreSequence } from '../src/score.js';
import { MockLM } from './mock-lm.js';

const V = 260;
const BOS = 256;
const EOS = 257;
const CLASS = 259;

describe('scoreSequence', () => {
  it('matches a hand-computed likelihood under a bigram model', async () => {
    // All logits 0 except: after CLASS, byte 65 has logit ln(V-1) -> p = (V-1)/(2(V-1)) = 1/2;
    // after 65 the row is flat -> p(66) = 1/V; after 66, EOS has logit ln(3(V-1)) -> p = 3/4.
    const bigram = new Float32Array(V * V);
    bigram[CLASS * V + 65] = Math.log(V - 1);
    bigram[66 * V + EOS] = Math.log(3 * (V - 1));
    const model = new MockLM({ vocabSize: V, bigram });
    const s = await scoreSequence(model, [BOS, CLASS, 65, 66, EOS], { prefixLength: 2 });
    expect(s.tokens).toEqual([65, 66, EOS]);
    expect(s.tokenLogProbs[0]).toBeCloseTo(Math.log(1 / 2), 6);
    expect(s.tokenLogProbs[1]).toBeCloseTo(Math.log(1 / V), 6);
    expect(s.tokenLogProbs[2]).toBeCloseTo(Math.log(3 / 4), 6);
    const bits = 1 + Math.log2(V) + Math.log2(4 / 3);
    expect(s.totalBits).toBeCloseTo(bits, 5);
    expect(s.bytes).toBe(2);
    expect(s.bitsPerByte).toBeCloseTo(bits / 2, 5);
  });

  it('gives the same scores whatever the chunk size (the KV cache carries the context)', async () => {
    const model = new MockLM({ vocabSize: V, contextWeight: 3 });
    const tokens = [BOS, CLASS, ...Array.from({ length: 37 }, (_, i) => (i * 53) % 256), EOS];
    const full = await scoreSequence(model, tokens, { prefixLength: 2 });
    for (const chunkSize of [1, 2, 5, 38]) {
      const c = await scoreSequence(model, tokens, { prefixLength: 2, chunkSize });
      expect(c.tokenLogProbs).toEqual(full.tokenLogProbs);
    }
    // And each value is the log-softmax of the logits the whole prefix gives, computed directly.
    for (const t of [2, 20, tokens.length - 1]) {
      const { logits } = await model.forward(model.newCache(1), {
        inputIds: Int32Array.from(tokens.slice(0, t)),
        seqLen: t,
      });
      expect(full.tokenLogProbs[t - 2]).toBeCloseTo(logSoftmaxAt(logits, tokens[t]), 12);
    }
  });

  it('refuses sequences it cannot score', async () => {
    const model = new MockLM({ vocabSize: V, maxPositions: 8 });
    await expect(scoreSequence(model, [BOS, CLASS], { prefixLength: 2 })).rejects.toThrow(
      /nothing to score/,
    );
    await expect(scoreSequence(model, [BOS, 1, 2], { prefixLength: 0 })).rejects.toThrow(
      /nothing to score/,
    );
    await expect(scoreSequence(model, new Array(10).fill(1), { prefixLength: 1 })).rejects.toThrow(
      /10 tokens exceed the model's 8 positions/,
    );
    await expect(scoreSequence(model, [BOS, 300], { prefixLength: 1 })).rejects.toThrow(
      /token 300 is outside the vocabulary/,
    );
  });
});
