/**
 * `jpeglm generate | complete | score | classes` end to end, on a tiny random-weight model built
 * here (weights from createRandomModel, tokenizer for the 32x32 profile). Needs the built CLI
 * (`npx tsc -b`; npm test does it) and djpeg.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, promises as fs } from 'node:fs';
import path from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { createRandomModel, cutBodyAtRestart, saveModelDir } from '@jpeglm/byte-lm';
import {
  JpegTokenizer,
  canonicalBody,
  canonicalHeader,
  canonicalizeRgb,
  createRgbImage,
  getProfile,
  writePpm,
} from '@jpeglm/codec-tokenizer';
import { UserError } from '../src/errors.js';
import { ExitCode } from '../src/exit-codes.js';
import { defaultModelCandidates, resolveModelDir } from '../src/model-loader.js';
import { generationSettings } from '../src/sampling-options.js';
import { closestNames, editDistance } from '../src/suggest.js';
import { expectOneLineError } from './helpers/cli.js';
import { BIN, jpeglm, scratchDir } from './spawn-jpeglm.js';

const PROFILE = getProfile('jpeglm-32-q75');
const CLASSES = ['cat', 'dog', 'golden_retriever', 'goldfish', 'hotdog'];

/** djpeg decodes the file with no warning (it exits 2 on warnings) and no message at all. */
function expectDecodesCleanly(file: string): void {
  const r = spawnSync('djpeg', ['-outfile', '/dev/null', file], { encoding: 'utf8' });
  expect(r.stderr).toBe('');
  expect(r.status).toBe(0);
}

const tmp = scratchDir('generate');
let modelDir: string;
let imageJpeg: string;
let imagePpm: string;
let canonical: Uint8Array;

beforeAll(async () => {
  modelDir = path.join(tmp, 'model');
  const tokenizer = new JpegTokenizer({ profile: PROFILE, classes: CLASSES });
  const model = createRandomModel(
    {
      vocabSize: tokenizer.vocabSize,
      hiddenSize: 32,
      intermediateSize: 64,
      numHiddenLayers: 2,
      numAttentionHeads: 2,
      numKeyValueHeads: 1,
      maxPositionEmbeddings: 2048,
    },
    7,
  );
  await saveModelDir(modelDir, { ...model, tokenizerJson: tokenizer.toJSON() });

  // A smooth test picture, as a canonical JPEG and as a PPM.
  const img = createRgbImage(32, 32);
  for (let y = 0; y < 32; y++) {
    for (let x = 0; x < 32; x++) {
      const o = (y * 32 + x) * 3;
      img.data[o] = x * 8;
      img.data[o + 1] = y * 8;
      img.data[o + 2] = 255 - x * 4 - y * 4;
    }
  }
  canonical = canonicalizeRgb(img, PROFILE);
  imageJpeg = path.join(tmp, 'picture.jpg');
  imagePpm = path.join(tmp, 'picture.ppm');
  await fs.writeFile(imageJpeg, canonical);
  await fs.writeFile(imagePpm, writePpm(img));
});

describe('jpeglm classes', () => {
  it('lists the class labels, as text and as JSON', () => {
    const text = jpeglm(['classes', '--model', modelDir]);
    expect(text.code).toBe(0);
    expect(text.stdout.toString()).toBe(CLASSES.map((c) => `${c}\n`).join(''));
    const json = JSON.parse(jpeglm(['classes', '--model', modelDir, '--json']).stdout.toString());
    expect(json.profile).toBe('jpeglm-32-q75');
    expect(json.classes[1]).toEqual({ label: 'dog', id: 261 });
  });
});

describe('jpeglm generate', () => {
  it('writes one JPEG to stdout that djpeg decodes cleanly, reproducibly per seed', async () => {
    const a = jpeglm(['generate', '--model', modelDir, '--class', 'dog', '--seed', '3']);
    expect(a.code).toBe(0);
    expect([...a.stdout.subarray(0, 2)]).toEqual([0xff, 0xd8]);
    expect(a.stdout.subarray(0, canonicalHeader(PROFILE).length)).toEqual(
      Buffer.from(canonicalHeader(PROFILE)),
    );
    expect(a.stderr).toMatch(/generate: .*MCUs.*tokens\/s/);
    const file = path.join(tmp, 'stdout.jpg');
    await fs.writeFile(file, a.stdout);
    expectDecodesCleanly(file);
    const again = jpeglm(['generate', '--model', modelDir, '--class', 'dog', '--seed', '3']);
    expect(again.stdout.equals(a.stdout)).toBe(true);
    const other = jpeglm(['generate', '--model', modelDir, '--class', 'dog', '--seed', '4']);
    expect(other.code).toBe(0);
    expect(other.stdout.equals(a.stdout)).toBe(false);
  });

  it('runs with int8 and int4 weights (quantised on load), still writing clean JPEGs', async () => {
    for (const weights of ['int8', 'int4']) {
      const r = jpeglm(['generate', '--model', modelDir, '--class', 'cat', '--weights', weights]);
      expect(r.code).toBe(0);
      const file = path.join(tmp, `${weights}.jpg`);
      await fs.writeFile(file, r.stdout);
      expectDecodesCleanly(file);
    }
  });

  it('writes a batch of files with every sampling option and guidance, with a JSON summary', () => {
    const out = path.join(tmp, 'batch-{i}.jpg');
    const r = jpeglm([
      'generate',
      '--model',
      modelDir,
      '--class',
      'golden_retriever',
      '--n',
      '3',
      '--seed',
      '1',
      '--temperature',
      '0.9',
      '--top-k',
      '50',
      '--top-p',
      '0.95',
      '--min-p',
      '0.01',
      '--cfg',
      '2',
      '--out',
      out,
      '--json',
    ]);
    expect(r.stderr).not.toMatch(/warning/);
    expect(r.code).toBe(0);
    const summary = JSON.parse(r.stdout.toString());
    expect(summary.images).toHaveLength(3);
    expect(summary.sampling).toMatchObject({
      seed: 1,
      topK: 50,
      topP: 0.95,
      cfg: 2,
      constrain: true,
    });
    expect(summary.stats.tokensPerSecond).toBeGreaterThan(0);
    const files = new Set<string>();
    for (const [i, img] of summary.images.entries()) {
      expect(img.file).toBe(path.join(tmp, `batch-${i + 1}.jpg`));
      expect(img).toMatchObject({ finishReason: 'eos', mcus: 4, repaired: false });
      expectDecodesCleanly(img.file);
      files.add(img.file);
    }
    expect(files.size).toBe(3);
  });

  it('keeps the most likely of --best-of candidates per image, reporting their scores', () => {
    const run = (bestOf: string, name: string) =>
      jpeglm([
        'generate',
        '--model',
        modelDir,
        '--class',
        'golden_retriever',
        '--n',
        '2',
        '--seed',
        '4',
        '--best-of',
        bestOf,
        '--out',
        path.join(tmp, `${name}-{i}.jpg`),
        '--json',
      ]);
    const r = run('3', 'best');
    expect(r.code).toBe(0);
    expect(r.stderr.toString()).toMatch(/2 images, best of 3 each/);
    const summary = JSON.parse(r.stdout.toString());
    expect(summary.sampling.bestOf).toBe(3);
    for (const img of summary.images) {
      expect(img.candidateBitsPerByte).toHaveLength(3);
      expect(img.bitsPerByte).toBe(Math.min(...img.candidateBitsPerByte));
      expectDecodesCleanly(img.file);
    }
    // Without --best-of: no ranking, no scores.
    const plain = JSON.parse(run('1', 'plain').stdout.toString());
    expect(plain.images[0].bitsPerByte).toBeUndefined();
  });

  it('repairs a stream stopped by --max-tokens and says so on stderr', () => {
    const out = path.join(tmp, 'short.jpg');
    const r = jpeglm([
      'generate',
      '--model',
      modelDir,
      '--seed',
      '5',
      '--max-tokens',
      '100',
      '--out',
      out,
    ]);
    expect(r.code).toBe(0);
    expect(r.stderr).toMatch(
      /warning: image 1 stopped at the 100-token limit at MCU [1-3] of 4; repaired \([1-3] of 4 MCUs filled in\)/,
    );
    expectDecodesCleanly(out);
    // Stopped before the first MCU is whole: nothing to keep, a blank image, still a valid file.
    const tiny = path.join(tmp, 'tiny.jpg');
    const t = jpeglm([
      'generate',
      '--model',
      modelDir,
      '--seed',
      '5',
      '--max-tokens',
      '3',
      '--out',
      tiny,
    ]);
    expect(t.code).toBe(0);
    expect(t.stderr).toMatch(
      /before its first MCU was complete; written as a blank \(grey\) image/,
    );
    expectDecodesCleanly(tiny);
  });

  it('runs unconstrained with --no-constrain', async () => {
    const out = path.join(tmp, 'raw.jpg');
    const r = jpeglm([
      'generate',
      '--model',
      modelDir,
      '--seed',
      '2',
      '--no-constrain',
      '--max-tokens',
      '40',
      '--out',
      out,
    ]);
    expect(r.code).toBe(0);
    const bytes = await fs.readFile(out);
    expect(bytes.subarray(0, canonicalHeader(PROFILE).length)).toEqual(
      Buffer.from(canonicalHeader(PROFILE)),
    );
  });

  it('names the closest classes when the class is unknown', () => {
    const r = jpeglm([
      'generate',
      '--model',
      modelDir,
      '--class',
      'dgo',
      '--out',
      path.join(tmp, 'x.jpg'),
    ]);
    expectOneLineError(r, 3, /unknown class 'dgo'; closest: dog, /);
    const gold = jpeglm([
      'generate',
      '--model',
      modelDir,
      '--class',
      'golden',
      '--out',
      path.join(tmp, 'x.jpg'),
    ]);
    expect(gold.stderr).toMatch(/closest: golden_retriever, goldfish/);
  });

  it('refuses absurd options with one line and the usage exit code', () => {
    const out = path.join(tmp, 'never-{i}.jpg');
    const cases: [string[], RegExp][] = [
      [['--n', '0'], /--n must be an integer from 1/],
      [['--n', 'four'], /--n must be an integer/],
      [['--temperature', '-1'], /--temperature must be a number from 0/],
      [['--temperature', 'hot'], /--temperature must be a number/],
      [['--top-p', '0'], /--top-p must be in \(0, 1\]/],
      [['--top-p', '1.5'], /--top-p must be in \(0, 1\]/],
      [['--top-k', '-2'], /--top-k must be an integer/],
      [['--min-p', '2'], /--min-p must be in \[0, 1\]/],
      [['--seed', '-1'], /--seed must be an integer from 0 to 4294967295/],
      [['--max-tokens', '0'], /--max-tokens must be an integer from 1/],
      [['--max-tokens', '5000'], /exceeds the model's 2048 positions/],
      [['--cfg', '2'], /--cfg .* needs --class/],
      [['--best-of', '0'], /--best-of must be an integer from 1 to 64, got 0/],
      [['--best-of', '65'], /--best-of must be an integer from 1 to 64/],
      [['--weights', 'fp8'], /--weights must be float32, int8 or int4, got "fp8"/],
      [['--n', '2', '--out', path.join(tmp, 'one.jpg')], /put \{i\} in it/],
      [['--out', path.join(tmp, 'no-such-dir', 'x.jpg')], /no-such-dir does not exist/],
    ];
    for (const [args, pattern] of cases) {
      const r = jpeglm(['generate', '--model', modelDir, '--out', out, ...args]);
      expectOneLineError(r, 3, pattern);
    }
    expect(existsSync(path.join(tmp, 'never-1.jpg'))).toBe(false);
  });

  it('refuses to write JPEG bytes to a terminal, with a hint', () => {
    // `script` gives the command a pseudo-terminal as stdout.
    const cmd = [process.execPath, BIN, 'generate', '--model', modelDir]
      .map((a) => `'${a.replace(/'/g, `'\\''`)}'`)
      .join(' ');
    const r = spawnSync('script', ['-qec', cmd, '/dev/null'], { encoding: 'utf8' });
    expect(r.status).toBe(3);
    expect(r.stdout).toMatch(/refusing to write binary data to a terminal; .*--out/);
  });

  it('reports missing and mismatched models clearly', async () => {
    const missing = jpeglm(['generate', '--model', path.join(tmp, 'nope')]);
    expectOneLineError(missing, 2, /nope: no such model directory/);
    // Same weights, but a tokenizer with one class more: the vocabularies disagree.
    const bad = path.join(tmp, 'mismatch');
    await fs.mkdir(bad);
    for (const f of ['config.json', 'model.safetensors']) {
      await fs.copyFile(path.join(modelDir, f), path.join(bad, f));
    }
    const other = new JpegTokenizer({ profile: PROFILE, classes: [...CLASSES, 'extra'] });
    await fs.writeFile(path.join(bad, 'tokenizer.json'), JSON.stringify(other.toJSON()));
    const r = jpeglm(['generate', '--model', bad, '--out', path.join(tmp, 'm.jpg')]);
    expectOneLineError(r, 2, /the model has 265 tokens but its tokenizer has 266/);
    await fs.writeFile(path.join(bad, 'tokenizer.json'), '{"format": "something else"}');
    const corrupt = jpeglm(['classes', '--model', bad]);
    expectOneLineError(corrupt, 2, /tokenizer.json: not a jpeglm tokenizer file/);
  });

  it('asks for --model when no default model is installed', () => {
    // The repository ships one, so the lookup is pointed at an empty place.
    const missing = path.join(tmp, 'no-models-here');
    expect(() => resolveModelDir(undefined, [missing])).toThrow(
      /no model given and no default model installed \(looked in .*no-models-here\); pass --model DIR/,
    );
    try {
      resolveModelDir(undefined, [missing]);
    } catch (e) {
      expect((e as UserError).exitCode).toBe(ExitCode.usage);
    }
    expect(resolveModelDir(undefined)).toBe(defaultModelCandidates()[0]);
    expect(resolveModelDir('elsewhere', [missing])).toBe('elsewhere');
  });
});

describe('jpeglm complete', () => {
  it('keeps the first MCUs up to a restart marker and lets the model finish the image', async () => {
    const out = path.join(tmp, 'completed.jpg');
    const r = jpeglm([
      'complete',
      imagePpm,
      '--model',
      modelDir,
      '--keep',
      '0.5',
      '--seed',
      '9',
      '--out',
      out,
    ]);
    expect(r.code).toBe(0);
    expect(r.stderr).toMatch(/keeping 2 of 4 MCUs/);
    const cut = cutBodyAtRestart(canonicalBody(canonical, PROFILE), PROFILE, 0.5);
    // The prompt ends just after a restart marker.
    expect(cut.body[cut.body.length - 2]).toBe(0xff);
    expect(cut.body[cut.body.length - 1]).toBe(0xd1);
    const bytes = new Uint8Array(await fs.readFile(out));
    const header = canonicalHeader(PROFILE);
    const prefix = new Uint8Array(header.length + cut.body.length);
    prefix.set(header);
    prefix.set(cut.body, header.length);
    expect(bytes.subarray(0, prefix.length)).toEqual(prefix);
    expect(bytes.length).toBeGreaterThan(prefix.length);
    expectDecodesCleanly(out);
  });

  it('refuses a fraction outside [0, 1)', () => {
    const r = jpeglm([
      'complete',
      imageJpeg,
      '--model',
      modelDir,
      '--keep',
      '1',
      '--out',
      path.join(tmp, 'k.jpg'),
    ]);
    expectOneLineError(r, 3, /--keep must be a fraction in \[0, 1\)/);
  });
});

describe('jpeglm score', () => {
  it('reports bits per byte, with per-token log-probabilities in JSON', async () => {
    const junk = path.join(tmp, 'junk.jpg');
    await fs.writeFile(junk, 'not an image at all');
    const r = jpeglm([
      'score',
      imageJpeg,
      junk,
      imagePpm,
      '--model',
      modelDir,
      '--class',
      'cat',
      '--json',
    ]);
    // The junk file is reported and skipped; the others are scored; exit 2 at the end.
    expect(r.code).toBe(2);
    expect(r.stderr.trimEnd().split('\n')).toHaveLength(1);
    expect(r.stderr).toMatch(/^jpeglm: .*junk\.jpg: /);
    const out = JSON.parse(r.stdout.toString());
    expect(out.images).toHaveLength(2);
    const [a, b] = out.images;
    const bodyBytes = canonicalBody(canonical, PROFILE).length;
    expect(a.bytes).toBe(bodyBytes);
    expect(a.tokenLogProbs).toHaveLength(bodyBytes + 1); // the body, then EOS
    const bits = -a.tokenLogProbs.reduce((s: number, v: number) => s + v, 0) / Math.LN2;
    expect(a.totalBits).toBeCloseTo(bits, 6);
    expect(a.bitsPerByte).toBeCloseTo(bits / bodyBytes, 9);
    // A near-uniform random model over 265 tokens: about log2(265) = 8.05 bits per token.
    expect(a.bitsPerByte).toBeGreaterThan(7);
    expect(a.bitsPerByte).toBeLessThan(9.5);
    // The PPM canonicalises to the same JPEG, so it scores the same.
    expect(b.bitsPerByte).toBeCloseTo(a.bitsPerByte, 9);
  });

  it('prints one line per image in text mode', () => {
    const r = jpeglm(['score', imageJpeg, '--model', modelDir]);
    expect(r.code).toBe(0);
    expect(r.stdout.toString()).toMatch(/^\d+\.\d{4} bits\/byte\t\d+ bytes\t.*picture\.jpg\n$/);
  });

  it('scores with int8 weights close to, but not exactly at, the float32 figure', () => {
    const bits = (weights: string): number =>
      JSON.parse(
        jpeglm([
          'score',
          imageJpeg,
          '--model',
          modelDir,
          '--weights',
          weights,
          '--json',
        ]).stdout.toString(),
      ).images[0].bitsPerByte;
    const exact = bits('float32');
    const int8 = bits('int8');
    expect(int8).not.toBe(exact);
    expect(Math.abs(int8 - exact)).toBeLessThan(0.05);
  });
});

describe('class suggestions and option parsing (in process)', () => {
  it('ranks known names by edit distance, substrings first', () => {
    expect(editDistance('kitten', 'sitting')).toBe(3);
    expect(editDistance('', 'abc')).toBe(3);
    expect(editDistance('dog', 'dog')).toBe(0);
    expect(closestNames('dgo', CLASSES, 2)).toEqual(['dog', 'cat']);
    expect(closestNames('Retriever', CLASSES, 1)).toEqual(['golden_retriever']);
  });
  it('parses sampling options strictly', () => {
    const s = generationSettings({ seed: '7', temperature: '0.5', topK: '40', topP: '.9' });
    expect(s.sampling).toEqual({ seed: 7, temperature: 0.5, topK: 40, topP: 0.9, minP: 0 });
    expect(s).toMatchObject({ seedWasRandom: false, constrain: true, cfg: undefined, bestOf: 1 });
    const r = generationSettings({ constrain: false });
    expect(r.seedWasRandom).toBe(true);
    expect(Number.isInteger(r.sampling.seed) && r.sampling.seed <= 0xffffffff).toBe(true);
    expect(r.constrain).toBe(false);
    for (const bad of ['1e3', '0x10', '', ' ', 'NaN', 'Infinity']) {
      expect(() => generationSettings({ temperature: bad })).toThrow(/--temperature must be/);
    }
    expect(() => generationSettings({ topK: '2.5' })).toThrow(/--top-k must be an integer/);
  });
});
