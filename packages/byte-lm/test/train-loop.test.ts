/**
 * The trainer end to end on tiny models: it overfits a tiny dataset, a run interrupted and
 * resumed lands on the same weights as an uninterrupted one, gradient accumulation equals the
 * larger batch, the output directory loads in the runtime and its validation bits per byte agree
 * with score.ts, and bad resumes are refused with clear messages.
 */
import { existsSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { JpegTokenizer, getProfile } from '@jpeglm/codec-tokenizer';
import {
  OnnxCausalLM,
  loadCheckpoint,
  loadModelDir,
  resolveTrainConfig,
  scoreSequence,
  train,
  type TrainConfig,
  type TrainEvent,
} from '../src/index.js';
import { fixtureTokenizer, makeDataDir, sample, tempDir } from './train-fixtures.js';

const dirs: string[] = [];
const track = (d: string): string => (dirs.push(d), d);
afterAll(() => dirs.forEach((d) => rmSync(d, { recursive: true, force: true })));

const TINY = {
  model: {
    hidden_size: 32,
    intermediate_size: 64,
    num_hidden_layers: 2,
    num_attention_heads: 4,
    num_key_value_heads: 2,
    max_position_embeddings: 64,
  },
  batch_size: 4,
  seq_len: 24,
  lr: 1e-2,
  min_lr: 1e-3,
  warmup_steps: 4,
  class_dropout: 0.2,
  log_every: 1,
  val_every: 0,
  val_batches: 4,
  checkpoint_every: 0,
  threads: 1,
};

function config(extra: Record<string, unknown> = {}): TrainConfig {
  return resolveTrainConfig({ ...TINY, ...extra });
}

async function run(
  data: string,
  out: string,
  cfg: TrainConfig,
  opts: { resume?: boolean; init?: string; stopAt?: number } = {},
): Promise<{ events: TrainEvent[]; result: Awaited<ReturnType<typeof train>> }> {
  const events: TrainEvent[] = [];
  const ctl = new AbortController();
  const result = await train({
    dataDir: data,
    outDir: out,
    config: cfg,
    resume: opts.resume,
    ...(opts.init !== undefined ? { init: opts.init } : {}),
    signal: ctl.signal,
    onEvent: (e) => {
      events.push(e);
      if (e.kind === 'step' && e.step === opts.stopAt) ctl.abort();
    },
  });
  return { events, result };
}

function weightsOf(out: string): Promise<Map<string, Float32Array>> {
  return loadCheckpoint(path.join(out, 'checkpoint')).then((c) => new Map(c.optimizer.weights));
}

function maxDiff(a: Map<string, Float32Array>, b: Map<string, Float32Array>): number {
  let m = 0;
  for (const [k, x] of a) {
    const y = b.get(k)!;
    for (let i = 0; i < x.length; i++) m = Math.max(m, Math.abs(x[i] - y[i]));
  }
  return m;
}

describe('training a tiny model', () => {
  it('overfits a tiny dataset in a few seconds', async () => {
    const data = track(makeDataDir());
    const out = track(tempDir('jpeglm-train-overfit-'));
    const { events, result } = await run(data, out, config({ steps: 60, class_dropout: 0 }));
    const losses = events.flatMap((e) => (e.kind === 'step' ? [e.loss] : []));
    expect(losses[0]).toBeGreaterThan(4); // ~ln(263) at initialisation
    expect(result.lastLoss).toBeLessThan(0.35);
    expect(result.interrupted).toBe(false);
    expect(result.step).toBe(60);
    // The end-of-run validation on held-out samples of the same pattern is low too.
    expect(result.lastBitsPerByte).toBeLessThan(1);
    // The JSONL log holds the same events.
    const lines = readFileSync(path.join(out, 'train-log.jsonl'), 'utf8').trim().split('\n');
    const kinds = lines.map((l) => (JSON.parse(l) as { kind: string }).kind);
    expect(kinds[0]).toBe('start');
    expect(kinds.filter((k) => k === 'step')).toHaveLength(60);
    expect(kinds).toContain('validation');
    expect(kinds.at(-1)).toBe('done');
  });

  it('resumes an interrupted run onto the same trajectory (accumulation and dropout on)', async () => {
    const data = track(makeDataDir());
    const cfg = config({ steps: 7, grad_accum: 2, batch_size: 2 });
    const straight = track(tempDir('jpeglm-train-straight-'));
    const whole = await run(data, straight, cfg);
    const split = track(tempDir('jpeglm-train-split-'));
    const first = await run(data, split, cfg, { stopAt: 3 });
    expect(first.result).toMatchObject({ step: 3, interrupted: true });
    expect(first.events.at(-1)).toEqual({ kind: 'interrupted', step: 3 });
    const mid = await loadCheckpoint(path.join(split, 'checkpoint'));
    expect(mid.progress.step).toBe(3);
    const second = await run(data, split, cfg, { resume: true });
    expect(second.result).toMatchObject({ step: 7, interrupted: false });
    // Losses of steps 4..7 and the final weights agree with the uninterrupted run.
    const lossesOf = (ev: TrainEvent[]): number[] =>
      ev.flatMap((e) => (e.kind === 'step' && e.step > 3 ? [e.loss] : []));
    expect(lossesOf(second.events)).toEqual(lossesOf(whole.events));
    // Same thread count, same kernels: bitwise identical.
    expect(maxDiff(await weightsOf(straight), await weightsOf(split))).toBe(0);
    const [a, b] = await Promise.all([
      loadCheckpoint(path.join(straight, 'checkpoint')),
      loadCheckpoint(path.join(split, 'checkpoint')),
    ]);
    expect(b.progress.position).toEqual(a.progress.position);
    expect(b.progress.tokensSeen).toBe(a.progress.tokensSeen);
    expect(maxDiff(new Map(a.optimizer.v), new Map(b.optimizer.v))).toBeLessThanOrEqual(1e-6);
  });

  it('gradient accumulation over 2 micro-batches of 2 equals batches of 4', async () => {
    const data = track(makeDataDir());
    const big = track(tempDir('jpeglm-train-b4-'));
    const small = track(tempDir('jpeglm-train-b2x2-'));
    const a = await run(data, big, config({ steps: 3, batch_size: 4 }));
    const b = await run(data, small, config({ steps: 3, batch_size: 2, grad_accum: 2 }));
    const loss = (ev: TrainEvent[]): number[] =>
      ev.flatMap((e) => (e.kind === 'step' ? [e.loss] : []));
    loss(a.events).forEach((l, i) => expect(loss(b.events)[i]).toBeCloseTo(l, 5));
    expect(maxDiff(await weightsOf(big), await weightsOf(small))).toBeLessThan(1e-5);
  });

  it('writes a model directory the runtime loads; validation bits/byte match score.ts', async () => {
    const tok = fixtureTokenizer();
    // One validation window = exactly one sample, so the packed validation sees what scoring sees.
    const val = [sample(tok, 1, 22)];
    const data = track(makeDataDir({ val }));
    const out = track(tempDir('jpeglm-train-model-'));
    const { events } = await run(data, out, config({ steps: 5, seq_len: 24 }));
    const v = events.filter((e) => e.kind === 'validation').at(-1);
    expect(v?.kind).toBe('validation');
    const loaded = await loadModelDir(out);
    expect(loaded.config.vocabSize).toBe(tok.vocabSize);
    expect(loaded.config.bosTokenId).toBe(tok.bos);
    expect(loaded.tokenizerJson).toEqual(tok.toJSON());
    const lm = await OnnxCausalLM.fromModelDir(out, { intraOpNumThreads: 1 });
    const s = await scoreSequence(lm, val[0], { prefixLength: 2 });
    await lm.dispose();
    if (v?.kind !== 'validation') throw new Error('no validation');
    expect(v.bitsPerByte).toBeCloseTo(s.bitsPerByte, 4);
  });

  it('keeps the weights of the best validation in best/, across a resume', async () => {
    const tok = fixtureTokenizer();
    const val = [sample(tok, 1, 22)];
    const data = track(makeDataDir({ val }));
    const out = track(tempDir('jpeglm-train-best-'));
    // A learning rate high enough that validation does not improve at every check.
    const cfg = config({ steps: 12, val_every: 2, lr: 5e-2, min_lr: 5e-2, seq_len: 24 });
    const first = await run(data, out, cfg, { stopAt: 6 });
    const second = await run(data, out, cfg, { resume: true });
    const events = [...first.events, ...second.events];
    let lowest = Infinity;
    let bestStep = -1;
    let bestBpb = NaN;
    events.forEach((e, i) => {
      if (e.kind !== 'validation') return;
      const improved = e.bitsPerByte < lowest;
      const next = events[i + 1];
      // A 'best' event follows exactly the validations that beat every earlier one.
      expect(next?.kind === 'best').toBe(improved);
      if (!improved) return;
      lowest = e.bitsPerByte;
      bestStep = e.step;
      bestBpb = e.bitsPerByte;
      if (next?.kind === 'best')
        expect(next).toMatchObject({ step: e.step, dir: path.join(out, 'best') });
    });
    expect(events.filter((e) => e.kind === 'validation').length).toBeGreaterThan(4);
    // Both cases occur: validations that set a new best and validations that do not.
    const bests = events.filter((e) => e.kind === 'best').length;
    expect(bests).toBeGreaterThan(1);
    expect(bests).toBeLessThan(events.filter((e) => e.kind === 'validation').length);
    expect(JSON.parse(readFileSync(path.join(out, 'best', 'best.json'), 'utf8'))).toEqual({
      step: bestStep,
      bitsPerByte: bestBpb,
    });
    // best/ is a model directory holding that step's weights.
    const lm = await OnnxCausalLM.fromModelDir(path.join(out, 'best'), { intraOpNumThreads: 1 });
    const s = await scoreSequence(lm, val[0], { prefixLength: 2 });
    await lm.dispose();
    expect(s.bitsPerByte).toBeCloseTo(bestBpb, 4);
  });

  it('resumes from checkpoint.old, the state a crash between the two renames leaves', async () => {
    const data = track(makeDataDir());
    const out = track(tempDir('jpeglm-train-crash-'));
    await run(data, out, config({ steps: 2 }));
    renameSync(path.join(out, 'checkpoint'), path.join(out, 'checkpoint.old'));
    const { result } = await run(data, out, config({ steps: 3 }), { resume: true });
    expect(result.step).toBe(3);
    expect(existsSync(path.join(out, 'checkpoint.old'))).toBe(false);
    expect((await loadCheckpoint(path.join(out, 'checkpoint'))).progress.step).toBe(3);
  });

  it('starts from a trained model with init, and refuses one of another shape or vocabulary', async () => {
    const data = track(makeDataDir());
    const trained = track(tempDir('jpeglm-train-init-a-'));
    await run(data, trained, config({ steps: 60, class_dropout: 0 }));
    // One step at a negligible learning rate: its loss is the loaded weights' loss.
    const tuned = track(tempDir('jpeglm-train-init-b-'));
    const slow = { steps: 1, lr: 1e-9, min_lr: 1e-9, warmup_steps: 0, class_dropout: 0 };
    const { events } = await run(data, tuned, config(slow), { init: trained });
    const start = events.find((e) => e.kind === 'start');
    expect(start).toMatchObject({ resumed: false, initialisedFrom: trained });
    const first = events.find((e) => e.kind === 'step');
    expect(first?.kind === 'step' && first.loss).toBeLessThan(0.5); // from scratch: ~ln(263)

    const wide = config({ ...slow, model: { ...TINY.model, hidden_size: 48 } });
    await expect(
      run(data, track(tempDir('jpeglm-train-init-c-')), wide, { init: trained }),
    ).rejects.toThrow(/hidden_size is 32, the training config's is 48/);
    const otherClasses = track(makeDataDir());
    const renamed = new JpegTokenizer({
      profile: getProfile('jpeglm-32-q75'),
      classes: ['ant', 'bee', 'dog'],
    });
    writeFileSync(path.join(otherClasses, 'tokenizer.json'), JSON.stringify(renamed.toJSON()));
    await expect(
      run(otherClasses, track(tempDir('jpeglm-train-init-d-')), config(slow), { init: trained }),
    ).rejects.toThrow(/vocabulary \(byte, special or class tokens\) differs from the data's/);
    await expect(run(data, tuned, config(slow), { init: trained, resume: true })).rejects.toThrow(
      /choose one/,
    );
  });

  it('refuses a checkpoint of another config, a missing checkpoint, and clobbering a run', async () => {
    const data = track(makeDataDir());
    const out = track(tempDir('jpeglm-train-refuse-'));
    await run(data, out, config({ steps: 1 }));
    const other = config({ steps: 2, model: { ...TINY.model, hidden_size: 48 } });
    await expect(run(data, out, other, { resume: true })).rejects.toThrow(
      /was trained with hidden_size = 32, this run asks for 48/,
    );
    await expect(run(data, out, config({ steps: 2, seed: 9 }), { resume: true })).rejects.toThrow(
      /trained with seed = 1, this run asks for 9/,
    );
    await expect(run(data, out, config({ steps: 2 }))).rejects.toThrow(/pass --resume/);
    const fresh = track(tempDir('jpeglm-train-none-'));
    await expect(run(data, fresh, config({ steps: 2 }), { resume: true })).rejects.toThrow(
      /no checkpoint to resume/,
    );
    const otherData = track(makeDataDir({ trainShards: [[sample(fixtureTokenizer(), 0, 200)]] }));
    await expect(run(otherData, out, config({ steps: 2 }), { resume: true })).rejects.toThrow(
      /trained on other data/,
    );
  });
});
