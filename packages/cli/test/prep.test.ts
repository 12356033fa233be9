/**
 * `jpeglm prep` as a user runs it (the built binary, real worker threads): 1 and 2 workers give
 * the same bytes; a run SIGKILLed at several points (during canonicalisation, again later, during
 * assembly) and rerun ends byte-identical to an uninterrupted run; SIGINT exits 130 and resumes;
 * progress and rejects on stderr; bad input and misuse are one line with the right exit code.
 */
import { spawn } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { createRgbImage, writePpm } from '@jpeglm/codec-tokenizer';
import { chunkFiles, killedWhen, sleep, snapshot } from './helpers/prep-run.js';
import { BIN, jpeglm, scratchDir } from './spawn-jpeglm.js';

const dir = scratchDir('prep');
const input = path.join(dir, 'in');
const COMMON = [
  '--profile',
  'jpeglm-32-q75',
  '--val-fraction',
  '0.25',
  '--chunk-size',
  '4',
  '--shard-tokens',
  '20000',
];

/** `jpeglm prep` of this suite's input into `out`, SIGKILLed as soon as `when()` holds. */
const prepKilledWhen = (out: string, workers: number, when: () => boolean): Promise<boolean> =>
  killedWhen(['prep', input, '--out', out, '--workers', String(workers), ...COMMON], when, 1);

const assembling = (out: string): boolean => {
  try {
    return readdirSync(out).some((n) => n.includes('train_') || n.includes('val_'));
  } catch {
    return false;
  }
};

let reference: Map<string, Buffer>;
let referenceStderr: string;
const INPUTS = 73;
const CHUNKS = Math.ceil(INPUTS / 4);

beforeAll(() => {
  for (let i = 0; i < 72; i++) {
    const cls = ['apple', 'boat', 'cloud', 'dog'][i % 4];
    const w = 40 + (i % 7) * 13;
    const h = 36 + (i % 5) * 17;
    const img = createRgbImage(w, h);
    for (let k = 0; k < img.data.length; k++) img.data[k] = (k * (i + 5) + ((k / w) | 0) * 3) & 255;
    mkdirSync(path.join(input, cls), { recursive: true });
    writeFileSync(path.join(input, cls, `${i}.ppm`), writePpm(img));
  }
  writeFileSync(path.join(input, 'dog', 'broken.png'), '\x89PNG\r\n\x1a\nnot really');
  const r = jpeglm(['prep', input, '--out', path.join(dir, 'ref'), '--workers', '1', ...COMMON]);
  expect(r.code, r.stderr).toBe(0);
  referenceStderr = r.stderr;
  reference = snapshot(path.join(dir, 'ref'));
});

describe('jpeglm prep', () => {
  it('writes shards, indexes, card, tokenizer and rejects; reports progress on stderr', () => {
    expect([...reference.keys()].sort()).toEqual([
      'dataset.json',
      'rejects.jsonl',
      'tokenizer.json',
      'train_000000.bin',
      'train_000000.index.jsonl',
      'val_000000.bin',
      'val_000000.index.jsonl',
    ]);
    const card = JSON.parse(reference.get('dataset.json')!.toString('utf8'));
    expect(card.totals).toMatchObject({ inputs: INPUTS, samples: 72, rejects: 1 });
    expect(card.classes.map((c: { label: string }) => c.label)).toEqual([
      'apple',
      'boat',
      'cloud',
      'dog',
    ]);
    expect(reference.get('rejects.jsonl')!.toString()).toMatch(
      /^\{"path":"dog\/broken.png","reason":"not a supported image/,
    );
    expect(referenceStderr).toMatch(/prep: 73\/73 files 100\.0% [\d.]+ files\/s 1 rejects/);
    expect(referenceStderr).toMatch(
      /prep: 72 samples \(\d+ train, \d+ val\), \d+ tokens, 4 classes, 1 rejects/,
    );
  });

  it('gives the same bytes with 2 worker threads as with 1', () => {
    const out = path.join(dir, 'two');
    const r = jpeglm(['prep', input, '--out', out, '--workers', '2', '--json', ...COMMON]);
    expect(r.code, r.stderr).toBe(0);
    expect(JSON.parse(r.stdout.toString('utf8'))).toEqual(
      JSON.parse(reference.get('dataset.json')!.toString()),
    );
    expect(snapshot(out)).toEqual(reference);
  });

  it('survives SIGKILL at several points: the rerun ends byte-identical to an uninterrupted run', async () => {
    const out = path.join(dir, 'killed');
    // 1: as soon as the first chunk is journaled; 2: halfway; 3: during assembly.
    expect(await prepKilledWhen(out, 2, () => chunkFiles(out) >= 1)).toBe(true);
    const first = chunkFiles(out);
    expect(first).toBeLessThan(CHUNKS);
    expect(
      await prepKilledWhen(out, 1, () => chunkFiles(out) >= Math.max(first + 1, CHUNKS / 2)),
    ).toBe(true);
    expect(chunkFiles(out)).toBeLessThan(CHUNKS);
    await prepKilledWhen(out, 2, () => assembling(out));
    expect(existsSync(path.join(out, 'dataset.json')) || existsSync(path.join(out, '.prep'))).toBe(
      true,
    );
    const r = jpeglm(['prep', input, '--out', out, '--workers', '2', ...COMMON]);
    expect(r.code, r.stderr).toBe(0);
    expect(snapshot(out)).toEqual(reference);
    // Timed kills at arbitrary moments, then one rerun.
    const out2 = path.join(dir, 'killed2');
    for (const ms of [120, 260, 400]) {
      const t0 = Date.now();
      await prepKilledWhen(out2, 2, () => Date.now() - t0 >= ms);
    }
    const r2 = jpeglm(['prep', input, '--out', out2, '--workers', '1', ...COMMON]);
    expect(r2.code, r2.stderr).toBe(0);
    expect(snapshot(out2)).toEqual(reference);
  });

  it('exits 130 on SIGINT, keeping finished work, and the rerun resumes it', async () => {
    const out = path.join(dir, 'sigint');
    const child = spawn(
      process.execPath,
      [BIN, 'prep', input, '--out', out, '--workers', '1', ...COMMON],
      {
        stdio: ['ignore', 'ignore', 'pipe'],
      },
    );
    let stderr = '';
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    const exit = new Promise<number | null>((r) => child.on('exit', (code) => r(code)));
    while (chunkFiles(out) < 2) await sleep(1);
    child.kill('SIGINT');
    const code = await exit;
    if (code === 0) return; // finished before the signal landed: nothing to resume
    expect(code).toBe(130);
    expect(stderr).toMatch(
      /jpeglm: interrupted; finished work is kept in .*, rerun the same command to resume/,
    );
    const r = jpeglm(['prep', input, '--out', out, '--workers', '2', ...COMMON]);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stderr).toMatch(/prep: resuming; \d+ files were done by an earlier run/);
    expect(snapshot(out)).toEqual(reference);
  });

  it('refuses misuse and bad input with one line and the right exit code', () => {
    const cases: [string[], number, RegExp][] = [
      [
        ['prep', path.join(dir, 'nope'), '--out', path.join(dir, 'o1')],
        2,
        /nope: no such file or directory/,
      ],
      [
        ['prep', input, '--out', path.join(dir, 'o2'), '--group-by', 'x'],
        3,
        /--group-by needs a manifest input/,
      ],
      [
        ['prep', input, '--out', path.join(dir, 'o3'), '--val-fraction', '1'],
        3,
        /--val-fraction must be in \[0, 1\)/,
      ],
      [
        ['prep', input, '--out', path.join(dir, 'o4'), '--workers', '0'],
        3,
        /--workers must be an integer from 1 to 256/,
      ],
      [['prep', input, '--out', input], 2, /the output folder is inside the input folder/],
      [['prep', input, '--out', dir], 2, /not empty and holds no dataset/],
      [
        ['prep', input, '--out', path.join(dir, 'ref'), ...COMMON, '--val-fraction', '0.5'],
        2,
        /already holds a dataset built from other inputs/,
      ],
      [
        ['prep', input, '--out', path.join(dir, 'o5'), '--profile', 'nope'],
        3,
        /unknown profile "nope"/,
      ],
    ];
    for (const [args, code, re] of cases) {
      const r = jpeglm(args);
      expect(r.code, `${args.join(' ')}: ${r.stderr}`).toBe(code);
      expect(r.stderr).toMatch(re);
      expect(r.stderr).not.toMatch(/\n.*\n/); // one line
      expect(r.stderr).not.toMatch(/at .*\.js:\d+/);
    }
    const emptyIn = path.join(dir, 'empty-in');
    mkdirSync(emptyIn);
    const r = jpeglm(['prep', emptyIn, '--out', path.join(dir, 'o6')]);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/empty-in: no input files/);
  });

  it('reads a CSV manifest with --group-by', () => {
    const rows = ['path,label,group'];
    for (let i = 0; i < 12; i++)
      rows.push(`in/${['apple', 'boat', 'cloud', 'dog'][i % 4]}/${i},"${i % 4}",g${i % 3}`);
    // Paths in the manifest are relative to its folder; fix the file names.
    const csv = path.join(dir, 'm.csv');
    writeFileSync(
      csv,
      rows.map((l, k) => (k === 0 ? l : l.replace(/\/(\d+),/, '/$1.ppm,'))).join('\n') + '\n',
    );
    const out = path.join(dir, 'manifest-out');
    const r = jpeglm(['prep', csv, '--out', out, '--group-by', 'group', '--json', ...COMMON]);
    expect(r.code, r.stderr).toBe(0);
    const card = JSON.parse(r.stdout.toString('utf8'));
    expect(card.split.key).toBe('field:group');
    expect(card.source).toEqual({ kind: 'manifest', inputs: 12 });
    expect(card.classes.map((c: { label: string }) => c.label)).toEqual(['0', '1', '2', '3']);
    expect(card.totals.samples).toBe(12);
  });
});
