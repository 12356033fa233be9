/**
 * The trainer's data side: shard reading and checking, packed windows, class-label dropout,
 * the epoch order and its resumable position, the learning-rate schedule, the training config.
 */
import { readFileSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import {
  BatchLoader,
  IGNORE_INDEX,
  TokenStream,
  learningRate,
  locateTrainingData,
  packWindows,
  resolveTrainConfig,
  trainConfigToJson,
  validationBatches,
  windowCount,
} from '../src/index.js';
import { unitHash } from '../src/train/data.js';
import {
  fixtureTokenizer,
  makeDataDir,
  sample,
  shardFileBytes,
  tempDir,
  writeShard,
} from './train-fixtures.js';

const dirs: string[] = [];
const track = (d: string): string => (dirs.push(d), d);
afterAll(() => dirs.forEach((d) => rmSync(d, { recursive: true, force: true })));

const tok = fixtureTokenizer();

async function openTrain(dir: string): Promise<TokenStream> {
  const found = await locateTrainingData(dir);
  return TokenStream.open(found.train, found.tokenizer);
}

describe('shards', () => {
  it('reads the stream across shard boundaries, with sample starts from the indexes', async () => {
    const a = [sample(tok, 0, 5), sample(tok, 1, 3)];
    const b = [sample(tok, 2, 4)];
    const dir = track(makeDataDir({ trainShards: [a, b], val: [] }));
    const s = await openTrain(dir);
    const all = [...a.flat(), ...b.flat()];
    expect(s.length).toBe(all.length);
    expect(Array.from(s.sampleStarts)).toEqual([0, 8, 14]);
    const out = new Uint16Array(7);
    s.read(10, out);
    expect(Array.from(out)).toEqual(all.slice(10, 17));
    expect(s.startsIn(8, 15)).toEqual([8, 14]);
    s.close();
  });

  it('finds sample starts from BOS tokens when a shard has no index', async () => {
    const dir = track(tempDir('jpeglm-train-noidx-'));
    writeFileSync(path.join(dir, 'tokenizer.json'), JSON.stringify(tok.toJSON()));
    writeShard(dir, 'train_a', [sample(tok, 0, 4), sample(tok, null, 2)], false);
    const s = await openTrain(dir);
    expect(Array.from(s.sampleStarts)).toEqual([0, 7]);
    s.close();
  });

  it('refuses corrupt shards and indexes with the file named', async () => {
    const dir = track(makeDataDir({ trainShards: [[sample(tok, 0, 4)]], val: [] }));
    const shard = path.join(dir, 'train_000000.bin');
    const good = readFileSync(shard);
    const bad = async (bytes: Uint8Array, re: RegExp): Promise<void> => {
      writeFileSync(shard, bytes);
      await expect(openTrain(dir)).rejects.toThrow(re);
      writeFileSync(shard, good);
    };
    const magic = Uint8Array.from(good);
    magic[0] ^= 1;
    await bad(magic, /train_000000\.bin: not a token shard/);
    await bad(good.subarray(0, good.length - 2), /header says 7 tokens .* file has/);
    await bad(good.subarray(0, 100), /shorter than the 1024-byte shard header/);
    const outside = shardFileBytes([tok.bos, tok.classId('ant'), 9999, tok.eos]);
    await bad(outside, /token 9999 at position 2 is outside the vocabulary/);
    // An index that disagrees with its shard.
    const idx = path.join(dir, 'train_000000.index.jsonl');
    const text = readFileSync(idx, 'utf8');
    writeFileSync(idx, text.replace('"offset":0', '"offset":1'));
    await expect(openTrain(dir)).rejects.toThrow(/index\.jsonl:1/);
    writeFileSync(idx, text);
    await expect(openTrain(dir)).resolves.toBeInstanceOf(TokenStream);
  });

  it('says what is missing in a data folder', async () => {
    await expect(locateTrainingData('/nonexistent/data')).rejects.toThrow(/no such data directory/);
    const empty = track(tempDir('jpeglm-train-empty-'));
    await expect(locateTrainingData(empty)).rejects.toThrow(
      /neither dataset.json nor tokenizer.json/,
    );
  });
});

describe('packed windows', () => {
  const samples = Array.from({ length: 40 }, (_, i) => sample(tok, i % 3, 6 + (i % 4)));

  it('inputs and shifted targets; class targets unscored; positions 0..L-1', async () => {
    const dir = track(makeDataDir({ trainShards: [samples], val: [] }));
    const s = await openTrain(dir);
    const flat = samples.flat();
    const L = 16;
    const b = packWindows(s, [0, 16], 0, { seqLen: L, classDropout: 0, seed: 1 });
    let scored = 0;
    for (let r = 0; r < 2; r++) {
      for (let i = 0; i < L; i++) {
        const p = r * 16 + i;
        expect(Number(b.inputIds[r * L + i])).toBe(flat[p]);
        expect(Number(b.positionIds[r * L + i])).toBe(i);
        const isClassTarget = flat[p] === tok.bos; // the next token is a class token
        const t = Number(b.targets[r * L + i]);
        expect(t).toBe(isClassTarget ? IGNORE_INDEX : flat[p + 1]);
        if (!isClassTarget) scored++;
      }
    }
    expect(b.scored).toBe(scored);
    s.close();
  });

  it('drops class tokens to NULL_CLASS at the requested rate, the same wherever cut', async () => {
    const many = Array.from({ length: 600 }, (_, i) => sample(tok, i % 3, 3));
    const dir = track(makeDataDir({ trainShards: [many], val: [] }));
    const s = await openTrain(dir);
    const L = 50;
    const starts = Array.from({ length: windowCount(s.length, L) }, (_, k) => k * L);
    const b = packWindows(s, starts, 3, { seqLen: L, classDropout: 0.3, seed: 7 });
    let classes = 0;
    let dropped = 0;
    for (let i = 0; i < b.inputIds.length; i++) {
      const t = Number(b.inputIds[i]);
      if (t === tok.nullClass) dropped++;
      if (t === tok.nullClass || t >= tok.firstClassId) classes++;
    }
    expect(classes).toBeGreaterThan(500);
    expect(dropped / classes).toBeGreaterThan(0.25);
    expect(dropped / classes).toBeLessThan(0.35);
    // A window starting one token later sees the same decisions for the samples it shares.
    const shifted = packWindows(s, [1], 3, { seqLen: L, classDropout: 0.3, seed: 7 });
    for (let i = 0; i < L - 1; i++) expect(shifted.inputIds[i]).toBe(b.inputIds[i + 1]);
    // Another epoch draws again.
    const other = packWindows(s, starts, 4, { seqLen: L, classDropout: 0.3, seed: 7 });
    expect(Array.from(other.inputIds)).not.toEqual(Array.from(b.inputIds));
    s.close();
  });

  it('unitHash is uniform enough and depends on every argument', () => {
    const n = 20000;
    let sum = 0;
    for (let i = 0; i < n; i++) sum += unitHash(1, 0, i);
    expect(sum / n).toBeCloseTo(0.5, 1);
    expect(unitHash(1, 0, 5)).not.toBe(unitHash(2, 0, 5));
    expect(unitHash(1, 0, 5)).not.toBe(unitHash(1, 1, 5));
    expect(unitHash(1, 0, 5)).not.toBe(unitHash(1, 0, 5 + 2 ** 32));
  });

  it('validation windows spread over the whole stream and leave BOS targets unscored', async () => {
    const dir = track(makeDataDir({ trainShards: [samples], val: [] }));
    const s = await openTrain(dir);
    const W = windowCount(s.length, 20);
    // 6 of the W windows: evenly spaced from the first, not the first 6.
    const batches = [...validationBatches(s, { batchSize: 3, seqLen: 20, maxBatches: 2 })];
    expect(batches.map((b) => b.rows)).toEqual([3, 3]);
    const firstTokens = batches.flatMap((b) =>
      Array.from({ length: b.rows }, (_, r) => Number(b.inputIds[r * 20])),
    );
    const expected = [0, 1, 2, 3, 4, 5].map((i) => samples.flat()[Math.floor((i * W) / 6) * 20]);
    expect(firstTokens).toEqual(expected);
    expect(Math.floor((5 * W) / 6)).toBeGreaterThan(W / 2);
    // Enough batches for every window: all of them, in order.
    const all = [...validationBatches(s, { batchSize: 4, seqLen: 20, maxBatches: 100 })];
    expect(all.reduce((a, b) => a + b.rows, 0)).toBe(W);
    expect(Number(all[1].inputIds[0])).toBe(samples.flat()[4 * 20]);
    for (const b of batches) {
      for (let i = 0; i < b.targets.length; i++) expect(Number(b.targets[i])).not.toBe(tok.bos);
    }
    s.close();
  });
});

describe('epoch order and data position', () => {
  it('visits every window once per epoch and resumes from (epoch, cursor)', async () => {
    const samples = Array.from({ length: 30 }, (_, i) => sample(tok, i % 3, 8));
    const dir = track(makeDataDir({ trainShards: [samples], val: [] }));
    const s = await openTrain(dir);
    const o = { batchSize: 5, seqLen: 10, classDropout: 0.2, seed: 3 };
    const straight = new BatchLoader(s, o);
    const W = straight.windows;
    expect(s.length).toBe(330);
    expect(W).toBe(32);
    const perm = Array.from(straight.permutation(0)).sort((a, b) => a - b);
    expect(perm).toEqual(Array.from({ length: W }, (_, i) => i));
    expect(Array.from(straight.permutation(1))).not.toEqual(Array.from(straight.permutation(0)));
    const seen: bigint[][] = [];
    for (let k = 0; k < 20; k++) seen.push(Array.from(straight.next().inputIds));
    // 32 windows, 5 per batch: 6 batches per epoch (2 windows left over), then the next epoch.
    const resumedAt = new BatchLoader(s, o, { epoch: 0, cursor: 30 });
    const replay = new BatchLoader(s, o);
    for (let k = 0; k < 6; k++) replay.next();
    expect(replay.position).toEqual({ epoch: 0, cursor: 30 });
    for (let k = 6; k < 20; k++) {
      expect(Array.from(resumedAt.next().inputIds)).toEqual(seen[k]);
    }
    expect(resumedAt.position).toEqual(straight.position);
    expect(straight.position).toEqual({ epoch: 3, cursor: 10 });
    expect(() => new BatchLoader(s, { ...o, batchSize: 40 })).toThrow(/fewer than one batch/);
    s.close();
  });
});

describe('learning-rate schedule', () => {
  const s = { peak: 1e-3, floor: 1e-4, warmupSteps: 10, totalSteps: 110 };
  it('warms up linearly, decays along a cosine, then stays at the floor', () => {
    expect(learningRate(s, 0)).toBeCloseTo(1e-4, 12);
    expect(learningRate(s, 9)).toBeCloseTo(1e-3, 12);
    expect(learningRate(s, 10)).toBeCloseTo(1e-3, 12);
    expect(learningRate(s, 60)).toBeCloseTo(5.5e-4, 12);
    expect(learningRate(s, 110)).toBe(1e-4);
    expect(learningRate(s, 500)).toBe(1e-4);
    for (let t = 11; t < 110; t++) {
      expect(learningRate(s, t)).toBeLessThan(learningRate(s, t - 1));
    }
  });
});

describe('training config', () => {
  it('merges file and overrides, refuses unknown keys and bad values', () => {
    const c = resolveTrainConfig(
      { steps: 50, model: { hidden_size: 64, num_attention_heads: 2, vocab_size: 999 } },
      { batchSize: 3 },
    );
    expect(c.steps).toBe(50);
    expect(c.batchSize).toBe(3);
    expect(c.model.hiddenSize).toBe(64);
    expect(resolveTrainConfig(trainConfigToJson(c))).toEqual(c);
    expect(() => resolveTrainConfig({ step: 5 })).toThrow(/unknown training config key "step"/);
    expect(() => resolveTrainConfig({ model: { hidden: 5 } })).toThrow(/unknown model field/);
    expect(() => resolveTrainConfig({ class_dropout: 1.5 })).toThrow(/class_dropout/);
    expect(() => resolveTrainConfig({ lr: 1e-3, min_lr: 1e-2 })).toThrow(/exceeds lr/);
    expect(() =>
      resolveTrainConfig({ seq_len: 64, model: { max_position_embeddings: 32 } }),
    ).toThrow(/exceeds max_position_embeddings/);
    expect(() => resolveTrainConfig({ batch_size: 0 })).toThrow(/batchSize must be at least 1/);
  });
});
