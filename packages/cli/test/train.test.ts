/**
 * `jpeglm train` as a user runs it: prep a folder of images, train, resume, generate from the
 * result; Ctrl-C saves a checkpoint; bad data, bad flags and a checkpoint of another config are
 * one-line errors with the documented exit codes.
 */
import { spawn } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import sharp from 'sharp';
import { beforeAll, describe, expect, it } from 'vitest';
import { loadModelDir } from '@jpeglm/byte-lm';
import { BIN, jpeglm, scratchDir } from './spawn-jpeglm.js';

const root = scratchDir('train');
const images = path.join(root, 'images');
const data = path.join(root, 'data');
const configFile = path.join(root, 'train.json');

const TINY = {
  model: {
    hidden_size: 32,
    intermediate_size: 64,
    num_hidden_layers: 1,
    num_attention_heads: 2,
    num_key_value_heads: 1,
  },
  steps: 4,
  batch_size: 2,
  seq_len: 64,
  warmup_steps: 1,
  val_every: 2,
  val_batches: 2,
  checkpoint_every: 2,
  log_every: 1,
  threads: 1,
};

/** Small images of three classes: a disc of the class colour on a light background. */
async function writeImages(): Promise<void> {
  const colours: Record<string, number[]> = {
    red: [220, 30, 30],
    green: [30, 200, 60],
    blue: [40, 60, 230],
  };
  for (const [name, rgb] of Object.entries(colours)) {
    mkdirSync(path.join(images, name), { recursive: true });
    for (let i = 0; i < 4; i++) {
      const w = 32;
      const px = Buffer.alloc(w * w * 3, 245);
      for (let y = 0; y < w; y++) {
        for (let x = 0; x < w; x++) {
          if ((x - 16) ** 2 + (y - 16) ** 2 < (6 + 2 * i) ** 2) px.set(rgb, (y * w + x) * 3);
        }
      }
      await sharp(px, { raw: { width: w, height: w, channels: 3 } })
        .png()
        .toFile(path.join(images, name, `${i}.png`));
    }
  }
}

beforeAll(async () => {
  await writeImages();
  const r = jpeglm([
    'prep',
    images,
    '--profile',
    'jpeglm-32-q75',
    '--out',
    data,
    '--workers',
    '1',
    '--val-fraction',
    '0.25',
  ]);
  expect(r.code, r.stderr).toBe(0);
  writeFileSync(configFile, JSON.stringify(TINY));
});

describe('jpeglm train', () => {
  it('trains from a prep folder into a model directory that generate loads; --resume continues', () => {
    const out = path.join(root, 'model');
    const r = jpeglm(['train', '--data', data, '--out', out, '--config', configFile, '--json']);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stderr).toMatch(/^train: .*M parameters/m);
    expect(r.stderr).toMatch(/^step 4\/4 {2}loss \d+\.\d{4} .* tok\/s/m);
    expect(r.stderr).toMatch(/^val {2}step 4 {2}\d+\.\d{4} bits\/byte/m);
    const summary = JSON.parse(r.stdout.toString()) as Record<string, unknown>;
    expect(summary).toMatchObject({ step: 4, interrupted: false });
    expect(typeof summary.bitsPerByte).toBe('number');
    const log = readFileSync(path.join(out, 'train-log.jsonl'), 'utf8').trim().split('\n');
    expect(JSON.parse(log.at(-1)!)).toMatchObject({ kind: 'done', step: 4 });

    // Continue to 6 steps with the stored config.
    const again = jpeglm(['train', '--data', data, '--out', out, '--resume', '--steps', '6']);
    expect(again.code, again.stderr).toBe(0);
    expect(again.stderr).toMatch(/resuming at step 4 to step 6/);
    expect(again.stderr).toMatch(/^step 6\/6/m);

    const gen = jpeglm([
      'generate',
      '--model',
      out,
      '--class',
      'red',
      '--n',
      '1',
      '--seed',
      '3',
      '--out',
      path.join(root, 'red-{i}.jpg'),
    ]);
    expect(gen.code, gen.stderr).toBe(0);
  });

  it('Ctrl-C stops after the current step, saves a checkpoint and exits 130', async () => {
    const out = path.join(root, 'interrupted');
    const child = spawn(process.execPath, [
      BIN,
      'train',
      '--data',
      data,
      '--out',
      out,
      '--config',
      configFile,
      '--steps',
      '100000',
      '--checkpoint-every',
      '0',
      '--val-every',
      '0',
    ]);
    let stderr = '';
    let sent = false;
    child.stderr.on('data', (d: Buffer) => {
      stderr += d.toString();
      if (!sent && /^step 3\//m.test(stderr)) {
        sent = true;
        child.kill('SIGINT');
      }
    });
    const code = await new Promise<number | null>((resolve) => child.on('close', resolve));
    expect(code, stderr).toBe(130);
    expect(stderr).toMatch(/jpeglm: interrupted at step \d+; checkpoint saved in .*--resume/);
    expect(existsSync(path.join(out, 'checkpoint', 'trainer-state.json'))).toBe(true);
    const state = JSON.parse(
      readFileSync(path.join(out, 'checkpoint', 'trainer-state.json'), 'utf8'),
    ) as { step: number };
    expect(state.step).toBeGreaterThanOrEqual(3);
    const model = await loadModelDir(out);
    expect(model.config.hiddenSize).toBe(32);
  });

  it('refuses missing or corrupt data, bad flags and a checkpoint of another config', () => {
    const missing = jpeglm([
      'train',
      '--data',
      path.join(root, 'nope'),
      '--out',
      path.join(root, 'x'),
    ]);
    expect(missing.code).toBe(2);
    expect(missing.stderr).toMatch(/^jpeglm: .*nope: no such data directory\n$/);

    const badLr = jpeglm(['train', '--data', data, '--out', path.join(root, 'x'), '--lr', '-1']);
    expect(badLr.code).toBe(3);
    expect(badLr.stderr).toMatch(/--lr must be > 0/);

    const badKey = path.join(root, 'bad.json');
    writeFileSync(badKey, JSON.stringify({ stepz: 3 }));
    const typo = jpeglm([
      'train',
      '--data',
      data,
      '--out',
      path.join(root, 'x'),
      '--config',
      badKey,
    ]);
    expect(typo.code).toBe(3);
    expect(typo.stderr).toMatch(/unknown training config key "stepz"/);

    const corrupt = path.join(root, 'corrupt');
    mkdirSync(corrupt);
    for (const f of [
      'dataset.json',
      'tokenizer.json',
      'train_000000.index.jsonl',
      'val_000000.bin',
      'val_000000.index.jsonl',
    ]) {
      writeFileSync(path.join(corrupt, f), readFileSync(path.join(data, f)));
    }
    const shard = readFileSync(path.join(data, 'train_000000.bin'));
    writeFileSync(path.join(corrupt, 'train_000000.bin'), shard.subarray(0, shard.length - 6));
    const bad = jpeglm([
      'train',
      '--data',
      corrupt,
      '--out',
      path.join(root, 'y'),
      '--config',
      configFile,
    ]);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toMatch(/^jpeglm: .*train_000000\.bin: header says \d+ tokens/);

    const out = path.join(root, 'model');
    const other = path.join(root, 'other.json');
    writeFileSync(other, JSON.stringify({ ...TINY, model: { ...TINY.model, hidden_size: 64 } }));
    const mismatch = jpeglm(['train', '--data', data, '--out', out, '--config', other, '--resume']);
    expect(mismatch.code).toBe(2);
    expect(mismatch.stderr).toMatch(/was trained with hidden_size = 32, this run asks for 64/);
    expect(mismatch.stderr.split('\n').filter(Boolean)).toHaveLength(1);

    // --init: a model of another shape is refused in one line (exit 2), as is --init with --resume.
    const wide = jpeglm([
      'train',
      '--data',
      data,
      '--out',
      path.join(root, 'z'),
      '--config',
      other,
      '--init',
      out,
    ]);
    expect(wide.code).toBe(2);
    expect(wide.stderr).toMatch(
      /^jpeglm: .*model: hidden_size is 32, the training config's is 64$/m,
    );
    expect(wide.stderr.split('\n').filter(Boolean)).toHaveLength(1);
    const both = jpeglm(['train', '--data', data, '--out', out, '--init', out, '--resume']);
    expect(both.code).toBe(2);
    expect(both.stderr).toMatch(/choose one/);
  });

  it('--init fine-tunes a trained model in a new run', () => {
    const out = path.join(root, 'tuned');
    const r = jpeglm([
      'train',
      '--data',
      data,
      '--out',
      out,
      '--config',
      configFile,
      '--init',
      path.join(root, 'model'),
    ]);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stderr).toMatch(/, from .*model to step 4$/m);
    const log = readFileSync(path.join(out, 'train-log.jsonl'), 'utf8').trim().split('\n');
    expect(JSON.parse(log[0])).toMatchObject({
      kind: 'start',
      resumed: false,
      initialisedFrom: path.join(root, 'model'),
    });
  });
});
