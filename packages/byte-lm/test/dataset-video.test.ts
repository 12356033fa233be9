/**
 * prepareDataset with an AVC profile (in-process; the CLI test runs worker threads and SIGKILL):
 * the shards hold exactly AvcTokenizer.tokenize(avcEncode(clip)) per sample and detokenize back
 * to the canonical stream, the card and tokenizer.json say AVC, a text file is a reject with
 * ffmpeg's reason, the trainer's reader accepts the folder, and a rerun with another profile
 * is refused. Clips are tiny lavfi renders and the profile keeps 2 frames at 32x32.
 */
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  AVC_TOKENIZER_FORMAT,
  AvcTokenizer,
  avcEncode,
  avcProfile,
  ffmpegVersion,
} from '@jpeglm/codec-tokenizer';
import { prepareDataset, type DatasetCard, type PrepOptions } from '../src/dataset/prep.js';
import { openPreparedDataset, readSplit } from '../src/dataset/read.js';
import { splitOf } from '../src/dataset/split.js';
import { locateTrainingData } from '../src/train/shards.js';

const PROFILE = avcProfile('avc-lm-32x32-2f');
const root = mkdtempSync(path.join(tmpdir(), 'jpeglm-dataset-video-'));
afterAll(() => rmSync(root, { recursive: true, force: true }));
const videos = path.join(root, 'videos');

/** Six short clips of distinct lavfi sources in three classes, in MPEG-4 Part 2 / Matroska. */
const CLIPS: readonly [string, string][] = [
  ['bars/a.mkv', 'smptebars=s=64x48:r=6:d=1'],
  ['bars/b.mkv', 'rgbtestsrc=s=48x48:r=6:d=1'],
  ['pattern/a.mkv', 'testsrc=s=64x36:r=6:d=1'],
  ['pattern/b.mkv', 'testsrc2=s=40x40:r=6:d=1'],
  ['plain/a.mkv', 'color=c=red:s=32x48:r=6:d=1'],
  ['plain/b.mkv', 'mandelbrot=s=48x32:r=6,trim=duration=1'],
];

const base = (out: string, extra: Partial<PrepOptions> = {}): PrepOptions => ({
  source: { kind: 'folder', path: videos },
  out: path.join(root, out),
  profile: PROFILE,
  workers: 0,
  valFraction: 0.5,
  chunkSize: 2,
  shardTokens: 20_000,
  ...extra,
});

let card: DatasetCard;

beforeAll(async () => {
  for (const [rel, lavfi] of CLIPS) {
    const file = path.join(videos, rel);
    mkdirSync(path.dirname(file), { recursive: true });
    const r = spawnSync('ffmpeg', [
      '-hide_banner',
      '-v',
      'error',
      '-f',
      'lavfi',
      '-i',
      lavfi,
      '-c:v',
      'mpeg4',
      '-y',
      file,
    ]);
    expect(r.status, r.stderr.toString()).toBe(0);
  }
  writeFileSync(path.join(videos, 'plain', 'notes.txt'), 'not a video\n'.repeat(20));
  card = await prepareDataset(base('ref'));
}, 60_000);

describe('prepareDataset --video', () => {
  it('writes shards holding exactly tokenize(avcEncode(clip)) per sample', async () => {
    const ds = await openPreparedDataset(path.join(root, 'ref'), { codec: 'any' });
    const tok = await AvcTokenizer.forProfile(PROFILE, { classes: ['bars', 'pattern', 'plain'] });
    expect(ds.tokenizer).toBeInstanceOf(AvcTokenizer);
    expect(ds.tokenizer.toJSON()).toEqual(tok.toJSON());
    const train = await readSplit(ds, 'train');
    const val = await readSplit(ds, 'val');
    const all = [...train, ...val];
    expect(all.map((s) => s.path).sort()).toEqual(CLIPS.map(([rel]) => rel));
    // The split is the same path hash as for images; this set has both splits.
    for (const s of train) expect(splitOf(s.path, 0.5)).toBe('train');
    for (const s of val) expect(splitOf(s.path, 0.5)).toBe('val');
    expect(train.length * val.length).toBeGreaterThan(0);
    const bodies = new Set<string>();
    for (const s of all) {
      const file = path.join(videos, s.path);
      const label = s.path.split('/')[0];
      const stream = await avcEncode(file, { profile: PROFILE });
      const expected = tok.tokenize(stream, { classLabel: label });
      expect(Array.from(s.tokens), s.path).toEqual(Array.from(expected));
      expect(Buffer.from(ds.tokenizer.detokenize(s.tokens)).equals(Buffer.from(stream))).toBe(true);
      expect(s.sha256).toBe(createHash('sha256').update(readFileSync(file)).digest('hex'));
      expect(s.classId).toBe(tok.classes.indexOf(label));
      bodies.add(Buffer.from(s.tokens).toString('hex'));
    }
    // Distinct sources give distinct sequences (the clips were really read).
    expect(bodies.size).toBe(CLIPS.length);
  });

  it('records the codec, AVC profile, ffmpeg and an AVC tokenizer.json', async () => {
    expect(card.codec).toBe('avc');
    expect(card.profile).toEqual({ ...PROFILE });
    expect(card.ffmpeg).toBe(await ffmpegVersion());
    expect(card.shardFormat.sequence).toMatch(/Annex B/);
    const text = readFileSync(path.join(root, 'ref', 'tokenizer.json'), 'utf8');
    expect(JSON.parse(text).format).toBe(AVC_TOKENIZER_FORMAT);
    expect(card.tokenizer.sha256).toBe(createHash('sha256').update(text).digest('hex'));
    expect(card.classes.map((c) => [c.label, c.train + c.val, c.rejects])).toEqual([
      ['bars', 2, 0],
      ['pattern', 2, 0],
      ['plain', 2, 1],
    ]);
    expect(card.totals).toMatchObject({ inputs: 7, samples: 6, rejects: 1 });
  });

  it('rejects a non-video file with a one-line reason and keeps going', () => {
    const lines = readFileSync(path.join(root, 'ref', 'rejects.jsonl'), 'utf8')
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as { path: string; reason: string });
    expect(lines).toHaveLength(1);
    expect(lines[0].path).toBe('plain/notes.txt');
    // ffmpeg builds differ: some fail to probe the text, some find no frame in it.
    expect(lines[0].reason).toMatch(/^ffmpeg: |not a video/);
    expect(lines[0].reason).not.toContain('\n');
  });

  it('is read by the trainer as AVC data (its tokenizer.json is the one copied to the model)', async () => {
    const data = await locateTrainingData(path.join(root, 'ref'));
    expect(data.tokenizer).toBeInstanceOf(AvcTokenizer);
    expect(data.tokenizerText).toBe(readFileSync(path.join(root, 'ref', 'tokenizer.json'), 'utf8'));
    expect(data.train.length + data.val.length).toBe(
      card.splits.train.shards.length + card.splits.val.shards.length,
    );
  });

  it('refuses to finish a dataset with another profile, and a card/tokenizer mismatch', async () => {
    await expect(
      prepareDataset(base('ref', { profile: avcProfile('avc-lm-32x32-3f') })),
    ).rejects.toThrow(/already holds a dataset built from other inputs or options/);
    // The same plan returns the finished card unchanged.
    expect(await prepareDataset(base('ref'))).toEqual(card);
    const bad = path.join(root, 'mismatch');
    mkdirSync(bad);
    for (const f of ['dataset.json', 'tokenizer.json']) {
      writeFileSync(path.join(bad, f), readFileSync(path.join(root, 'ref', f)));
    }
    writeFileSync(
      path.join(bad, 'dataset.json'),
      JSON.stringify({ ...card, codec: 'jpeg' }, null, 2),
    );
    await expect(openPreparedDataset(bad)).rejects.toThrow(/not a JPEG tokenizer/);
    // Image-only readers (jpeglm eval) refuse a video dataset by default.
    await expect(openPreparedDataset(path.join(root, 'ref'))).rejects.toThrow(
      /a video \(AVC\) dataset; only image \(JPEG\) datasets/,
    );
  });
});
