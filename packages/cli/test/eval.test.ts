/**
 * `jpeglm eval` on a tiny prepared dataset (synthetic pictures) with a tiny random model: the
 * held-out bits per byte equal scoring each val sequence directly; constrained samples are all
 * valid; the grid PNG holds exactly the decoded constrained samples, one row per class; bad
 * data and a model from another tokenizer are refused with one line.
 */
import { promises as fs } from 'node:fs';
import path from 'node:path';
import sharp from 'sharp';
import { beforeAll, describe, expect, it } from 'vitest';
import {
  OnnxCausalLM,
  createRandomModel,
  generateImages,
  loadModelDir,
  openPreparedDataset,
  prepareDataset,
  readSplit,
  saveModelDir,
  scoreSequence,
} from '@jpeglm/byte-lm';
import {
  JpegTokenizer,
  createRgbImage,
  customProfile,
  decodeJpeg,
  getProfile,
  writePpm,
} from '@jpeglm/codec-tokenizer';
import { jpeglm, scratchDir } from './spawn-jpeglm.js';

const dir = scratchDir('eval');
const PROFILE = customProfile({ width: 16, height: 16, quality: 50 }, getProfile('jpeglm-32-q75'));
const data = path.join(dir, 'data');
const modelDir = path.join(dir, 'model');
const CLASSES = ['ant', 'bee', 'cow'];
const SAMPLES = 6;
const MAX_TOKENS = 160;

async function makeModel(out: string, tokenizer: JpegTokenizer, seed: number): Promise<void> {
  const m = createRandomModel(
    {
      vocabSize: tokenizer.vocabSize,
      hiddenSize: 32,
      intermediateSize: 64,
      numHiddenLayers: 1,
      numAttentionHeads: 2,
      numKeyValueHeads: 1,
      maxPositionEmbeddings: 256,
    },
    seed,
  );
  await saveModelDir(out, { ...m, tokenizerJson: tokenizer.toJSON() });
}

beforeAll(async () => {
  const input = path.join(dir, 'in');
  for (let i = 0; i < 30; i++) {
    const img = createRgbImage(16 + (i % 3) * 5, 16 + (i % 2) * 7);
    for (let k = 0; k < img.data.length; k++) img.data[k] = (k * (i + 2) + (k >> 4) * 9) & 255;
    await fs.mkdir(path.join(input, CLASSES[i % 3]), { recursive: true });
    await fs.writeFile(path.join(input, CLASSES[i % 3], `${i}.ppm`), writePpm(img));
  }
  await prepareDataset({
    source: { kind: 'folder', path: input },
    out: data,
    profile: PROFILE,
    workers: 0,
    valFraction: 0.3,
  });
  const ds = await openPreparedDataset(data);
  await makeModel(modelDir, ds.tokenizer, 11);
});

const ARGS = [
  'eval',
  '--model',
  modelDir,
  '--data',
  data,
  '--samples',
  String(SAMPLES),
  '--seed',
  '5',
  '--max-tokens',
  String(MAX_TOKENS),
];

describe('jpeglm eval', () => {
  it('reports held-out bits/byte, validity and a grid of the constrained samples', async () => {
    const grid = path.join(dir, 'grid.png');
    const r = jpeglm([...ARGS, '--json', '--grid', grid]);
    expect(r.code, r.stderr).toBe(0);
    const report = JSON.parse(r.stdout.toString('utf8'));

    // Bits per byte: the same as scoring every val sequence on its own.
    const model = await OnnxCausalLM.create(await loadModelDir(modelDir));
    const ds = await openPreparedDataset(data);
    const val = await readSplit(ds, 'val');
    expect(val.length).toBeGreaterThan(2);
    let bits = 0;
    let bytes = 0;
    for (const s of val) {
      const sc = await scoreSequence(model, Array.from(s.tokens), { prefixLength: 2 });
      bits += sc.totalBits;
      bytes += sc.bytes;
    }
    expect(report.val.samples).toBe(val.length);
    expect(report.val.bytes).toBe(bytes);
    expect(report.val.bitsPerByte).toBeCloseTo(bits / bytes, 9);
    // A random model is near uniform over the vocabulary: about log2(V) bits per token.
    expect(report.val.bitsPerByte).toBeGreaterThan(7.5);
    expect(report.val.bitsPerByte).toBeLessThan(9.5);
    expect(
      report.val.perClass.reduce((n: number, c: { samples: number }) => n + c.samples, 0),
    ).toBe(val.length);

    // The grammar makes every constrained sample valid; a random model rarely ends a JPEG.
    expect(report.validity.checkers).toEqual(['validator', 'decoder', 'djpeg']);
    expect(report.validity.constrained).toMatchObject({
      samples: SAMPLES,
      valid: SAMPLES,
      rate: 1,
    });
    expect(report.validity.unconstrained.samples).toBe(SAMPLES);
    expect(report.validity.unconstrained.valid).toBeLessThan(SAMPLES);
    expect(report.validity.unconstrained.problems.length).toBeGreaterThan(0);

    // The grid: row c holds the constrained samples of class c (prompts cycle the classes).
    const tokenizer = ds.tokenizer;
    const gen = await generateImages(model, {
      tokenizer,
      prompts: Array.from({ length: SAMPLES }, (_, i) => ({ classLabel: CLASSES[i % 3] })),
      constrain: true,
      sampling: { seed: 5, temperature: 1 },
      maxNewTokens: MAX_TOKENS,
    });
    await model.dispose();
    const { data: png, info } = await sharp(grid).raw().toBuffer({ resolveWithObject: true });
    const cols = SAMPLES / 3;
    expect([info.width, info.height, info.channels]).toEqual([2 + cols * 18, 2 + 3 * 18, 3]);
    gen.images.forEach((img, i) => {
      const tile = decodeJpeg(img.jpeg);
      const x0 = 2 + Math.floor(i / 3) * 18;
      const y0 = 2 + (i % 3) * 18;
      for (let y = 0; y < 16; y++) {
        const got = png.subarray(
          ((y0 + y) * info.width + x0) * 3,
          ((y0 + y) * info.width + x0 + 16) * 3,
        );
        expect(
          Buffer.from(got).equals(Buffer.from(tile.data.subarray(y * 48, (y + 1) * 48))),
          `tile ${i}`,
        ).toBe(true);
      }
    });
  });

  it('prints a short text report without --json', () => {
    const r = jpeglm([...ARGS, '--samples', '2']);
    expect(r.code, r.stderr).toBe(0);
    const lines = r.stdout.toString('utf8').trim().split('\n');
    expect(lines[0]).toMatch(/^val bits\/byte\t\d+\.\d{4}\t\(\d+ samples, \d+ bytes\)$/);
    expect(lines[1]).toMatch(/^valid unconstrained\t\d\/2 \(\d+\.\d%\)$/);
    expect(lines[2]).toBe('valid constrained\t2/2 (100.0%)');
  });

  it('refuses damaged data and a model made for another tokenizer, in one line', async () => {
    const other = path.join(dir, 'other-model');
    await makeModel(other, new JpegTokenizer({ profile: PROFILE, classes: ['ant', 'bee'] }), 3);
    let r = jpeglm(['eval', '--model', other, '--data', data, '--samples', '0']);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(
      /the dataset's tokenizer .*3 classes\) is not the model's .*2 classes\)/,
    );

    const broken = path.join(dir, 'broken');
    await fs.cp(data, broken, { recursive: true });
    await fs.truncate(path.join(broken, 'val_000000.bin'), 1500);
    r = jpeglm(['eval', '--model', modelDir, '--data', broken, '--samples', '0']);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(
      /val_000000\.bin: header says \d+ tokens .* the file has 1500 bytes\n$/,
    );
    expect(r.stderr.trim().split('\n')).toHaveLength(1);

    r = jpeglm(['eval', '--model', modelDir, '--data', dir, '--samples', '0']);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/dataset\.json: missing \(not a dataset folder from jpeglm prep\?\)/);
    r = jpeglm(['eval', '--model', modelDir]);
    expect(r.code).toBe(3);
    expect(r.stderr).toMatch(/required option '--data <dir>'/);
    r = jpeglm([
      'eval',
      '--model',
      modelDir,
      '--data',
      data,
      '--samples',
      '0',
      '--grid',
      path.join(dir, 'g.png'),
    ]);
    expect(r.code).toBe(3);
    expect(r.stderr).toMatch(/--grid needs --samples of at least 1/);
  });
});
