/**
 * prepareDataset in-process (0 workers; the CLI tests run real worker threads and SIGKILL):
 * the shards hold exactly the tokens of canonicalizeImage + tokenize of each source, the split
 * and class counts follow the inputs, bad files become rejects, groups stay together, an
 * aborted or damaged run resumes to the same bytes, and misuse is refused clearly.
 */
import { createHash } from 'node:crypto';
import {
  promises as fs,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  JpegTokenizer,
  canonicalizeImage,
  createRgbImage,
  customProfile,
  getProfile,
  writePpm,
} from '@jpeglm/codec-tokenizer';
import { prepareDataset, type DatasetCard, type PrepOptions } from '../src/dataset/prep.js';
import { openPreparedDataset, readSplit } from '../src/dataset/read.js';
import { splitOf } from '../src/dataset/split.js';

const PROFILE = customProfile({ width: 16, height: 16, quality: 50 }, getProfile('jpeglm-32-q75'));
const root = mkdtempSync(path.join(tmpdir(), 'jpeglm-dataset-prep-'));
afterAll(() => rmSync(root, { recursive: true, force: true }));
const images = path.join(root, 'images');

function picture(w: number, h: number, seed: number): Uint8Array {
  const img = createRgbImage(w, h);
  for (let i = 0; i < img.data.length; i++)
    img.data[i] = (i * (seed + 3) + ((i / w) | 0) * seed) & 255;
  return writePpm(img);
}

function put(rel: string, bytes: Uint8Array | string): void {
  const file = path.join(images, rel);
  mkdirSync(path.dirname(file), { recursive: true });
  writeFileSync(file, bytes);
}

/** Every file of a folder (recursively), name -> bytes. */
function snapshot(dir: string): Map<string, Buffer> {
  const out = new Map<string, Buffer>();
  for (const e of readdirSync(dir, { withFileTypes: true, recursive: true })) {
    if (e.isFile())
      out.set(
        path.relative(dir, path.join(e.parentPath, e.name)),
        readFileSync(path.join(e.parentPath, e.name)),
      );
  }
  return out;
}

const base = (out: string, extra: Partial<PrepOptions> = {}): PrepOptions => ({
  source: { kind: 'folder', path: images },
  out: path.join(root, out),
  profile: PROFILE,
  workers: 0,
  valFraction: 0.3,
  chunkSize: 3,
  shardTokens: 500,
  ...extra,
});

let card: DatasetCard;
let reference: Map<string, Buffer>;

beforeAll(async () => {
  // Mixed sizes and aspect ratios; three classes; two unlabelled top-level files.
  for (let i = 0; i < 24; i++) {
    const cls = ['cat', 'dog', 'owl'][i % 3];
    put(
      `${cls}/img${String(i).padStart(2, '0')}.ppm`,
      picture(8 + (i % 5) * 7, 10 + (i % 4) * 9, i),
    );
  }
  put('top0.ppm', picture(16, 16, 99));
  put('top1.ppm', picture(20, 12, 98));
  put('dog/readme.txt', 'not an image\n');
  put('dog/empty.ppm', '');
  put('owl/cut.ppm', picture(16, 16, 5).subarray(0, 40));
  put('.hidden/x.ppm', picture(16, 16, 1));
  mkdirSync(path.join(images, 'zebra')); // an empty class folder
  const warnings: string[] = [];
  card = await prepareDataset(base('ref', { onWarning: (m) => warnings.push(m) }));
  reference = snapshot(path.join(root, 'ref'));
  expect(warnings).toEqual(['class folder zebra holds no files; no class made']);
});

describe('prepareDataset', () => {
  it('writes shards holding exactly tokenize(canonicalizeImage(source)) per sample', async () => {
    const ds = await openPreparedDataset(path.join(root, 'ref'));
    const tok = new JpegTokenizer({ profile: PROFILE, classes: ['cat', 'dog', 'owl'] });
    expect(ds.tokenizer.toJSON()).toEqual(tok.toJSON());
    const all = [...(await readSplit(ds, 'train')), ...(await readSplit(ds, 'val'))];
    expect(all.length).toBe(26);
    for (const s of all) {
      const bytes = readFileSync(path.join(images, s.path));
      const label = s.path.includes('/') ? s.path.split('/')[0] : null;
      const expected = tok.tokenize(await canonicalizeImage(bytes, PROFILE), { classLabel: label });
      expect(Array.from(s.tokens), s.path).toEqual(Array.from(expected));
      expect(s.sha256).toBe(createHash('sha256').update(bytes).digest('hex'));
      expect(s.classId).toBe(label === null ? null : tok.classes.indexOf(label));
    }
    // Several shards per split at 500 tokens each, none over the limit.
    expect(card.splits.train.shards.length).toBeGreaterThan(1);
    for (const sh of [...card.splits.train.shards, ...card.splits.val.shards]) {
      expect(sh.tokens).toBeLessThanOrEqual(500);
    }
  });

  it('splits by sha256 of the path and counts classes, totals and rejects', () => {
    const splitOfPath = (p: string): string => splitOf(p, 0.3);
    const idx = (split: string): string[] =>
      [...reference.entries()]
        .filter(([n]) => n.startsWith(split) && n.endsWith('.index.jsonl'))
        .sort()
        .flatMap(([, b]) => b.toString('utf8').trim().split('\n'))
        .map((l) => (JSON.parse(l) as { path: string }).path);
    const train = idx('train');
    const val = idx('val');
    expect(val.length).toBeGreaterThan(0);
    for (const p of train) expect(splitOfPath(p)).toBe('train');
    for (const p of val) expect(splitOfPath(p)).toBe('val');
    expect([...train, ...val].sort()).toEqual([...train, ...val].sort((a, b) => (a < b ? -1 : 1)));
    expect(card.classes.map((c) => c.label)).toEqual(['cat', 'dog', 'owl']);
    expect(card.classes.map((c) => c.train + c.val)).toEqual([8, 8, 8]);
    expect(card.classes.map((c) => c.rejects)).toEqual([0, 2, 1]);
    expect(card.unlabelled.train + card.unlabelled.val).toBe(2);
    expect(card.totals).toMatchObject({ inputs: 29, samples: 26, rejects: 3 });
    expect(card.totals.tokens).toBe(card.splits.train.tokens + card.splits.val.tokens);
    const rejects = reference
      .get('rejects.jsonl')!
      .toString('utf8')
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l));
    expect(rejects).toEqual([
      { path: 'dog/empty.ppm', reason: 'empty file' },
      { path: 'dog/readme.txt', reason: expect.stringMatching(/not a supported image/) },
      { path: 'owl/cut.ppm', reason: 'PPM raster has 27 bytes, 768 expected' },
    ]);
    expect(reference.has('.prep/plan.json')).toBe(false);
  });

  it('resumes an aborted run, and redoes a damaged work file, to the same bytes', async () => {
    const abort = new AbortController();
    const opts = base('resumed', {
      signal: abort.signal,
      onProgress: (p) => {
        if (p.done >= 7) abort.abort();
      },
    });
    await expect(prepareDataset(opts)).rejects.toThrow(/interrupted/);
    const work = path.join(root, 'resumed', '.prep', 'chunks');
    const chunks = readdirSync(work).sort();
    expect(chunks.length).toBeGreaterThanOrEqual(2);
    expect(chunks.length).toBeLessThan(10);
    // A damaged chunk and a stray temp file are dropped and redone.
    const f = path.join(work, chunks[0]);
    writeFileSync(f, readFileSync(f).subarray(0, 30));
    writeFileSync(path.join(work, '.000009.chunk.abc.tmp'), 'junk');
    const warnings: string[] = [];
    const resumed: number[] = [];
    await prepareDataset(
      base('resumed', {
        onWarning: (m) => warnings.push(m),
        onProgress: (p) => resumed.push(p.resumed),
      }),
    );
    expect(warnings.some((w) => /unreadable work file; redoing/.test(w))).toBe(true);
    expect(resumed[0]).toBe(3 * (chunks.length - 1));
    expect(snapshot(path.join(root, 'resumed'))).toEqual(reference);
    // A finished folder is returned as is; another plan for it is refused.
    await expect(prepareDataset(base('resumed'))).resolves.toEqual(card);
    await expect(prepareDataset(base('resumed', { valFraction: 0.5 }))).rejects.toThrow(
      /already holds a dataset built from other inputs or options/,
    );
  });

  it('refuses to resume an unfinished run under another plan', async () => {
    const abort = new AbortController();
    await expect(
      prepareDataset(
        base('plan', { signal: abort.signal, onProgress: (p) => p.done >= 3 && abort.abort() }),
      ),
    ).rejects.toThrow(/interrupted/);
    await expect(prepareDataset(base('plan', { chunkSize: 4 }))).rejects.toThrow(
      /holds an unfinished prep of other inputs or options/,
    );
  });

  it('keeps every sample of a manifest group in one split (--group-by)', async () => {
    const lines = [];
    for (let i = 0; i < 24; i++) {
      const cls = ['cat', 'dog', 'owl'][i % 3];
      lines.push(
        JSON.stringify({
          path: `images/${cls}/img${String(i).padStart(2, '0')}.ppm`,
          label: cls,
          cp: `G${i % 6}`,
        }),
      );
    }
    writeFileSync(path.join(root, 'm.jsonl'), lines.join('\n') + '\n');
    const c = await prepareDataset(
      base('grouped', {
        source: { kind: 'manifest', path: path.join(root, 'm.jsonl'), groupBy: 'cp' },
        valFraction: 0.5,
      }),
    );
    expect(c.split.key).toBe('field:cp');
    const ds = await openPreparedDataset(path.join(root, 'grouped'));
    const groupOf = (p: string): string => `G${Number(/img(\d+)/.exec(p)![1]) % 6}`;
    const sides = new Map<string, Set<string>>();
    for (const split of ['train', 'val'] as const) {
      for (const s of await readSplit(ds, split)) {
        const g = groupOf(s.path);
        sides.set(g, (sides.get(g) ?? new Set()).add(split));
        expect(splitOf(`cp=${g}`, 0.5)).toBe(split);
      }
    }
    expect(sides.size).toBe(6);
    for (const s of sides.values()) expect(s.size).toBe(1);
    expect(c.splits.val.samples).toBeGreaterThan(0);
    expect(c.splits.train.samples).toBeGreaterThan(0);
  });

  it('refuses an empty input folder, a non-empty foreign output folder and bad options', async () => {
    const empty = path.join(root, 'empty-in');
    mkdirSync(path.join(empty, 'cls'), { recursive: true });
    await expect(
      prepareDataset(base('x1', { source: { kind: 'folder', path: empty } })),
    ).rejects.toThrow(/empty-in: no input files \(expected class subfolders/);
    const foreign = path.join(root, 'foreign');
    mkdirSync(foreign);
    writeFileSync(path.join(foreign, 'notes.txt'), 'mine');
    await expect(prepareDataset(base('foreign'))).rejects.toThrow(/not empty and holds no dataset/);
    await expect(
      prepareDataset({ ...base('x'), out: path.join(images, 'cat', 'data') }),
    ).rejects.toThrow(/output folder is inside the input folder/);
    await expect(prepareDataset(base('x2', { valFraction: 1 }))).rejects.toThrow(/val fraction/);
    await expect(
      prepareDataset(base('x3', { source: { kind: 'folder', path: path.join(root, 'nope') } })),
    ).rejects.toThrow(/nope: no such file or directory/);
  });

  it('stops with the rejects written when every input is rejected', async () => {
    const bad = path.join(root, 'bad-in');
    mkdirSync(path.join(bad, 'a'), { recursive: true });
    writeFileSync(path.join(bad, 'a', 'x.png'), 'nope');
    const out = path.join(root, 'bad-out');
    await expect(
      prepareDataset(base('bad-out', { source: { kind: 'folder', path: bad } })),
    ).rejects.toThrow(/all 1 inputs were rejected/);
    expect(await fs.readFile(path.join(out, 'rejects.jsonl'), 'utf8')).toMatch(/"path":"a\/x.png"/);
  });
});

describe('reading a damaged dataset', () => {
  it('names the damaged file: shard, index, card, tokenizer', async () => {
    const copy = async (name: string): Promise<string> => {
      const dir = path.join(root, name);
      await fs.cp(path.join(root, 'ref'), dir, { recursive: true });
      return dir;
    };
    const shard = card.splits.train.shards[0];
    let d = await copy('dmg1');
    await fs.truncate(path.join(d, shard.file), 2000);
    await expect(readSplit(await openPreparedDataset(d), 'train')).rejects.toThrow(
      new RegExp(`${shard.file}: header says \\d+ tokens .* but the file has 2000 bytes`),
    );
    d = await copy('dmg2');
    const idx = path.join(d, shard.index);
    await fs.writeFile(idx, (await fs.readFile(idx, 'utf8')).replace('"offset":0', '"offset":1'));
    await expect(readSplit(await openPreparedDataset(d), 'train')).rejects.toThrow(
      /index\.jsonl:1: tokens at 1\+\d+ are not \[BOS/,
    );
    d = await copy('dmg3');
    await fs.writeFile(path.join(d, 'dataset.json'), '{"format":');
    await expect(openPreparedDataset(d)).rejects.toThrow(/dataset\.json: not valid JSON/);
    d = await copy('dmg4');
    await fs.writeFile(path.join(d, 'tokenizer.json'), '{}');
    await expect(openPreparedDataset(d)).rejects.toThrow(/tokenizer\.json: /);
    await expect(openPreparedDataset(images)).rejects.toThrow(/dataset\.json: missing/);
  });
});
