/**
 * A tiny CausalLM for tests of everything that drives a model (generation, scoring, guidance).
 * The logits at a position are a fixed bigram table's row for the last attended token, plus,
 * optionally, a term that depends on every attended (token, position) pair: that makes a wrong
 * attention mask, wrong position ids or a mixed-up cache row change the output, so the
 * generation tests can catch them. It also checks every input shape the real runtime would.
 */
import type { CausalLM, ForwardInput, ForwardOutput, KvCache } from '../src/causal-lm.js';

interface MockCache extends KvCache {
  readonly rows: readonly MockRow[];
}
interface MockRow {
  readonly tokens: number[];
  readonly positions: number[];
  readonly mask: number[];
}

export interface MockLMOptions {
  readonly vocabSize: number;
  readonly maxPositions?: number;
  /** bigram[prev * vocab + next] = logit; default: a fixed pseudo-random table. */
  readonly bigram?: Float32Array;
  /** Weight of the context-dependent term (0 = a pure bigram model). */
  readonly contextWeight?: number;
}

export class MockLM implements CausalLM {
  readonly vocabSize: number;
  readonly maxPositions: number;
  readonly bigram: Float32Array;
  readonly contextWeight: number;
  forwardCalls: { batch: number; seqLen: number }[] = [];

  constructor(o: MockLMOptions) {
    this.vocabSize = o.vocabSize;
    this.maxPositions = o.maxPositions ?? 4096;
    this.contextWeight = o.contextWeight ?? 0;
    if (o.bigram) {
      this.bigram = o.bigram;
    } else {
      this.bigram = new Float32Array(o.vocabSize * o.vocabSize);
      let x = 12345;
      for (let i = 0; i < this.bigram.length; i++) {
        x = (Math.imul(x, 1103515245) + 12345) >>> 0;
        this.bigram[i] = ((x >>> 8) / 16777216) * 4 - 2;
      }
    }
  }

  newCache(batch: number): KvCache {
    const rows: MockRow[] = [];
    for (let b = 0; b < batch; b++) rows.push({ tokens: [], positions: [], mask: [] });
    return { batch, length: 0, rows } as MockCache;
  }

  selectRows(cache: KvCache, rows: readonly number[]): KvCache {
    const c = cache as MockCache;
    const picked = rows.map((r) => {
      const row = c.rows[r];
      if (row === undefined) throw new Error(`selectRows: no row ${r}`);
      return { tokens: [...row.tokens], positions: [...row.positions], mask: [...row.mask] };
    });
    return { batch: rows.length, length: c.length, rows: picked } as MockCache;
  }

  async forward(
    cache: KvCache,
    input: ForwardInput,
    options?: { allPositions?: boolean },
  ): Promise<ForwardOutput> {
    const c = cache as MockCache;
    const { batch, length: past } = c;
    const { seqLen, inputIds } = input;
    const total = past + seqLen;
    if (inputIds.length !== batch * seqLen) throw new Error('inputIds shape');
    if (input.attentionMask && input.attentionMask.length !== batch * total) {
      throw new Error(`attentionMask shape ${input.attentionMask.length} != ${batch}x${total}`);
    }
    if (input.positionIds && input.positionIds.length !== batch * seqLen) {
      throw new Error('positionIds shape');
    }
    if (total > this.maxPositions) throw new Error('past maxPositions');
    this.forwardCalls.push({ batch, seqLen });
    const v = this.vocabSize;
    const all = options?.allPositions ?? false;
    const logits = new Float32Array(batch * (all ? seqLen : 1) * v);
    const rows: MockRow[] = c.rows.map((r) => ({
      tokens: [...r.tokens],
      positions: [...r.positions],
      mask: [...r.mask],
    }));
    for (let b = 0; b < batch; b++) {
      const row = rows[b];
      // The mask over the past must agree with what was given before (it is the same cache).
      for (let t = 0; t < past; t++) {
        if (input.attentionMask && input.attentionMask[b * total + t] !== row.mask[t]) {
          throw new Error(`attention mask changed for past position ${t} of row ${b}`);
        }
      }
      for (let i = 0; i < seqLen; i++) {
        const token = inputIds[b * seqLen + i];
        if (token < 0 || token >= v) throw new Error(`token ${token} out of vocabulary`);
        row.tokens.push(token);
        row.positions.push(input.positionIds ? input.positionIds[b * seqLen + i] : past + i);
        row.mask.push(input.attentionMask ? input.attentionMask[b * total + past + i] : 1);
        if (!all && i !== seqLen - 1) continue;
        const o = ((all ? b * seqLen + i : b) as number) * v;
        this.logitsAt(row, past + i, logits.subarray(o, o + v));
      }
    }
    return { logits, cache: { batch, length: total, rows } as MockCache };
  }

  private logitsAt(row: MockRow, upTo: number, out: Float32Array): void {
    const v = this.vocabSize;
    let last = -1;
    let h = 0;
    for (let t = 0; t <= upTo; t++) {
      if (row.mask[t] === 0) continue;
      last = row.tokens[t];
      h =
        (Math.imul(h ^ (row.tokens[t] + 1), 0x01000193) + Math.imul(row.positions[t] + 7, 31)) >>>
        0;
    }
    if (last < 0) throw new Error('a position attends to nothing');
    for (let k = 0; k < v; k++) {
      let x = this.bigram[last * v + k];
      if (this.contextWeight !== 0) {
        const z = (Math.imul(h ^ k, 0x9e3779b1) >>> 0) / 4294967296;
        x += this.contextWeight * z;
      }
      out[k] = x;
    }
  }

  async dispose(): Promise<void> {}
}
