import { describe, expect, it } from 'vitest';
import {
  ByteTokensOnlyProcessor,
  ClassifierFreeGuidanceProcessor,
  EndOfImageProcessor,
  MinPProcessor,
  TemperatureProcessor,
  TopKProcessor,
  TopPProcessor,
  applyProcessors,
  rankTokens,
  softmax,
  tokenBytes,
  type LogitsContext,
} from '../src/logits-processors.js';
import { GrammarMaskProcessor, type ByteConstraint } from '../src/constraint.js';

const NEG = -Infinity;
const ctx = (over: Partial<LogitsContext> = {}): LogitsContext => ({
  sequence: 0,
  tokens: [],
  generated: 0,
  ...over,
});
const row = (values: number[]): Float32Array => Float32Array.from(values);
/** Indices of the tokens still possible. */
const kept = (r: Float32Array): number[] => [...r.keys()].filter((i) => r[i] !== NEG);

describe('helpers', () => {
  it('rankTokens orders by logit, ties by lower id, and leaves out -inf', () => {
    expect(rankTokens(row([1, 3, NEG, 3, 2]))).toEqual([1, 3, 4, 0]);
  });
  it('softmax is exact on a simple row and maps -inf to 0', () => {
    const p = softmax(row([0, Math.log(3), NEG]));
    expect(p[0]).toBeCloseTo(0.25, 7);
    expect(p[1]).toBeCloseTo(0.75, 7);
    expect(p[2]).toBe(0);
  });
});

describe('TemperatureProcessor', () => {
  it('divides logits by T and keeps -inf', () => {
    expect([...new TemperatureProcessor(2).process(row([1, -4, NEG]))]).toEqual([0.5, -2, NEG]);
    expect([...new TemperatureProcessor(0.5).process(row([1, -4]))]).toEqual([2, -8]);
  });
  it('refuses T <= 0 and non-numbers', () => {
    for (const t of [0, -1, Number.NaN, Infinity]) {
      expect(() => new TemperatureProcessor(t)).toThrow(/temperature must be/);
    }
  });
});

describe('TopKProcessor', () => {
  const base = [1, 3, 3, 2, NEG, 0];
  it('keeps exactly the k highest, ties to the lower id', () => {
    expect(kept(new TopKProcessor(1).process(row(base)))).toEqual([1]);
    expect(kept(new TopKProcessor(2).process(row(base)))).toEqual([1, 2]);
    expect(kept(new TopKProcessor(3).process(row(base)))).toEqual([1, 2, 3]);
  });
  it('keeps everything for k = 0 or k beyond the possible tokens, without touching values', () => {
    expect([...new TopKProcessor(0).process(row(base))]).toEqual(base);
    expect([...new TopKProcessor(5).process(row(base))]).toEqual(base);
    expect([...new TopKProcessor(100).process(row(base))]).toEqual(base);
  });
  it('leaves kept logits unchanged', () => {
    const r = new TopKProcessor(2).process(row(base));
    expect([...r]).toEqual([NEG, 3, 3, NEG, NEG, NEG]);
  });
  it('refuses negative or fractional k', () => {
    expect(() => new TopKProcessor(-1)).toThrow(/top-k must be an integer >= 0/);
    expect(() => new TopKProcessor(1.5)).toThrow(/top-k/);
  });
});

describe('TopPProcessor', () => {
  // Probabilities 0.1, 0.5, 0.15, 0.25 (ids 0..3), plus a masked id 4.
  const base = [Math.log(0.1), Math.log(0.5), Math.log(0.15), Math.log(0.25), NEG];
  it('keeps the minimal most-probable set whose mass reaches p', () => {
    expect(kept(new TopPProcessor(0.45).process(row(base)))).toEqual([1]);
    expect(kept(new TopPProcessor(0.7).process(row(base)))).toEqual([1, 3]);
    expect(kept(new TopPProcessor(0.76).process(row(base)))).toEqual([1, 2, 3]);
    expect(kept(new TopPProcessor(0.95).process(row(base)))).toEqual([0, 1, 2, 3]);
  });
  it('is a no-op at p = 1', () => {
    const r = new TopPProcessor(1).process(row(base));
    expect([...r]).toEqual([...row(base)]);
  });
  it('breaks ties at the boundary by keeping the lower id only', () => {
    // 0.3, 0.3, 0.4: p = 0.5 needs the 0.4 and one 0.3; the lower id wins.
    const r = new TopPProcessor(0.5).process(row([Math.log(0.3), Math.log(0.3), Math.log(0.4)]));
    expect(kept(r)).toEqual([0, 2]);
  });
  it('always keeps at least the most likely token', () => {
    expect(kept(new TopPProcessor(1e-9).process(row([0, 5, 1])))).toEqual([1]);
  });
  it('refuses p outside (0, 1]', () => {
    for (const p of [0, -0.1, 1.01, Number.NaN]) {
      expect(() => new TopPProcessor(p)).toThrow(/top-p must be a number in \(0, 1\]/);
    }
  });
});

describe('MinPProcessor', () => {
  // Relative probabilities 1, 0.5, 0.3, 0.2.
  const base = [0, Math.log(0.5), Math.log(0.3), Math.log(0.2)];
  it('keeps tokens at least minP times as likely as the best', () => {
    expect(kept(new MinPProcessor(0.4).process(row(base)))).toEqual([0, 1]);
    expect(kept(new MinPProcessor(0.25).process(row(base)))).toEqual([0, 1, 2]);
    expect(kept(new MinPProcessor(0.6).process(row(base)))).toEqual([0]);
    expect(kept(new MinPProcessor(0).process(row(base)))).toEqual([0, 1, 2, 3]);
  });
  it('refuses minP outside [0, 1]', () => {
    expect(() => new MinPProcessor(-0.1)).toThrow(/min-p/);
    expect(() => new MinPProcessor(1.5)).toThrow(/min-p/);
  });
});

describe('ClassifierFreeGuidanceProcessor', () => {
  it('computes uncond + S * (cond - uncond)', () => {
    const unconditional = row([0, 1, 5, NEG]);
    expect([
      ...new ClassifierFreeGuidanceProcessor(2).process(row([1, 2, 3, 4]), ctx({ unconditional })),
    ]).toEqual([2, 3, 1, NEG]);
    expect([
      ...new ClassifierFreeGuidanceProcessor(1).process(row([1, 2, 3, 4]), ctx({ unconditional })),
    ]).toEqual([1, 2, 3, NEG]);
    expect([
      ...new ClassifierFreeGuidanceProcessor(0).process(row([1, 2, 3, 4]), ctx({ unconditional })),
    ]).toEqual([0, 1, 5, NEG]);
  });
  it('needs the null-class row', () => {
    expect(() => new ClassifierFreeGuidanceProcessor(3).process(row([1]), ctx())).toThrow(
      /null-class/,
    );
  });
});

describe('ByteTokensOnlyProcessor and EndOfImageProcessor', () => {
  const vocab = 262; // 256 bytes, BOS 256, EOS 257, PAD 258, NULL 259, two classes
  it('masks every special token but EOS', () => {
    const r = new ByteTokensOnlyProcessor(257).process(new Float32Array(vocab));
    expect(kept(r)).toEqual([...Array(256).keys(), 257]);
  });
  it('allows only EOS right after FF D9, and nothing changes otherwise', () => {
    const p = new EndOfImageProcessor(257);
    expect(
      kept(p.process(new Float32Array(vocab), ctx({ tokens: [256, 260, 1, 0xff, 0xd9] }))),
    ).toEqual([257]);
    const untouched = p.process(
      new Float32Array(vocab).fill(1),
      ctx({ tokens: [0xff, 0x00, 0xd9] }),
    );
    expect(kept(untouched)).toHaveLength(vocab);
  });
});

/** A toy language: 'a' (0x61) any number of times, then 'b' (0x62), then complete. */
class AThenB implements ByteConstraint {
  complete = false;
  accepted: number[] = [];
  allowedBytes(): Uint8Array {
    const m = new Uint8Array(256);
    if (!this.complete) {
      m[0x61] = 1;
      m[0x62] = 1;
    }
    return m;
  }
  accept(byte: number): void {
    if (this.complete || (byte !== 0x61 && byte !== 0x62))
      throw new Error(`byte ${byte} not allowed`);
    this.accepted.push(byte);
    if (byte === 0x62) this.complete = true;
  }
  acceptsAll(bytes: Uint8Array): boolean {
    let done = this.complete;
    for (const b of bytes) {
      if (done || (b !== 0x61 && b !== 0x62)) return false;
      if (b === 0x62) done = true;
    }
    return true;
  }
}

describe('GrammarMaskProcessor', () => {
  const vocab = 262;
  const EOS = 257;
  it("allows only the grammar's bytes, and no special token, while incomplete", () => {
    const g = new AThenB();
    const p = new GrammarMaskProcessor([g], EOS);
    const r = p.process(new Float32Array(vocab).fill(1), ctx());
    expect(kept(r)).toEqual([0x61, 0x62]);
    expect(r[0x61]).toBe(1); // allowed logits untouched
  });
  it('advances with accepted bytes, ignores special tokens, and allows only EOS once complete', () => {
    const g = new AThenB();
    const p = new GrammarMaskProcessor([new AThenB(), g], EOS);
    p.accept(1, 0x61);
    p.accept(1, 0x62);
    expect(g.accepted).toEqual([0x61, 0x62]);
    expect(g.complete).toBe(true);
    const r = p.process(new Float32Array(vocab).fill(3), ctx({ sequence: 1 }));
    expect(kept(r)).toEqual([EOS]);
    p.accept(1, EOS); // EOS is not a byte: the grammar is not told
    expect(g.accepted).toEqual([0x61, 0x62]);
  });
  it('reports a grammar with no way forward instead of sampling from nothing', () => {
    const dead: ByteConstraint = {
      complete: false,
      allowedBytes: () => new Uint8Array(256),
      accept: () => {},
      acceptsAll: () => false,
    };
    expect(() =>
      new GrammarMaskProcessor([dead], EOS).process(new Float32Array(vocab), ctx()),
    ).toThrow(/allows no byte/);
    expect(() =>
      new GrammarMaskProcessor([dead], EOS).process(new Float32Array(vocab), ctx({ sequence: 1 })),
    ).toThrow(/no grammar constraint for sequence 1/);
  });
});

describe('BPE merge tokens', () => {
  // 256 bytes, BOS..NULL 256..259, one class 260, merges 261.. : "aa", "ab", "ba", "FF D9".
  const merges = {
    first: 261,
    bytes: [
      Uint8Array.of(0x61, 0x61),
      Uint8Array.of(0x61, 0x62),
      Uint8Array.of(0x62, 0x61),
      Uint8Array.of(0xff, 0xd9),
    ],
  };
  const vocab = 265;
  it('tokenBytes maps bytes, merges and specials', () => {
    expect(tokenBytes(7)).toEqual(Uint8Array.of(7));
    expect(tokenBytes(262, merges)).toEqual(Uint8Array.of(0x61, 0x62));
    expect(tokenBytes(260, merges)).toBeUndefined();
    expect(tokenBytes(262)).toBeUndefined();
  });
  it('the grammar mask allows a merge exactly when the grammar accepts all its bytes', () => {
    const g = new AThenB();
    const p = new GrammarMaskProcessor([g], 257, merges);
    expect(kept(p.process(new Float32Array(vocab), ctx()))).toEqual([0x61, 0x62, 261, 262]);
    p.accept(0, 261); // "aa"
    expect(g.accepted).toEqual([0x61, 0x61]);
    p.accept(0, 262); // "ab" completes the sentence
    expect(g.complete).toBe(true);
    expect(kept(p.process(new Float32Array(vocab), ctx()))).toEqual([257]);
  });
  it('byte-tokens-only keeps merges and EOS', () => {
    const r = new ByteTokensOnlyProcessor(257, merges).process(new Float32Array(vocab));
    expect(kept(r)).toEqual([...Array(256).keys(), 257, 261, 262, 263, 264]);
  });
  it('end-of-image sees FF D9 inside a merge or across two tokens', () => {
    const p = new EndOfImageProcessor(257, merges);
    const only = (tokens: number[]): number[] =>
      kept(p.process(new Float32Array(vocab), ctx({ tokens })));
    expect(only([256, 260, 1, 264])).toEqual([257]);
    expect(only([256, 260, 263, 0xff, 0xd9])).toEqual([257]);
    expect(only([256, 260, 0xff, 0xd9, 263])).toHaveLength(vocab);
    expect(only([256, 0xd9])).toHaveLength(vocab); // the class/BOS token is not a byte
  });
});

describe('composition', () => {
  it('runs processors in order (mask, then temperature, then top-k)', () => {
    const g = new AThenB();
    const logits = new Float32Array(262).fill(0);
    logits[0x61] = 2;
    logits[0x62] = 4;
    logits[0x63] = 10; // the best logit, but the grammar forbids it
    const r = applyProcessors(
      [new GrammarMaskProcessor([g], 257), new TemperatureProcessor(2), new TopKProcessor(1)],
      logits,
      ctx(),
    );
    expect(kept(r)).toEqual([0x62]);
    expect(r[0x62]).toBe(2);
  });
});
