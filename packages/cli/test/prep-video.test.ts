/**
 * `jpeglm prep --video` as a user runs it (the built binary, real worker threads, real ffmpeg):
 * an AVC dataset whose shards match `jpeglm avc encode | avc tokenize` of each clip, 1 and 2 workers giving
 * the same bytes, a run SIGKILLed twice and rerun ending byte-identical, `jpeglm train` taking
 * the dataset and `jpeglm avc complete` taking the model, and misuse refused in one line.
 */
import { spawnSync } from 'node:child_process';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { chunkFiles, killedWhen, snapshot } from './helpers/prep-run.js';
import { jpeglm, scratchDir } from './spawn-jpeglm.js';

const dir = scratchDir('prep-video');
const input = path.join(dir, 'in');
const PROFILE = 'avc-lm-32x32-2f';
const COMMON = ['--video', '--profile', PROFILE, '--val-fraction', '0.3', '--chunk-size', '1'];

/** Nine one-second lavfi clips in three classes, and a text file among them. */
const SOURCES = ['testsrc', 'testsrc2', 'smptebars', 'rgbtestsrc', 'color=c=blue', 'yuvtestsrc'];

/** `jpeglm prep` of this suite's input into `out`, SIGKILLed as soon as `when()` holds. */
const prepKilledWhen = (out: string, workers: number, when: () => boolean): Promise<boolean> =>
  killedWhen(['prep', input, '--out', out, '--workers', String(workers), ...COMMON], when, 2);

const CLIPS = 9;
let reference: Map<string, Buffer>;
let referenceStderr: string;

beforeAll(() => {
  for (let i = 0; i < CLIPS; i++) {
    const cls = ['alpha', 'beta', 'gamma'][i % 3];
    const name = SOURCES[i % SOURCES.length];
    const src = `${name}${name.includes('=') ? ':' : '='}s=${40 + 8 * i}x36:r=6:d=1,hue=h=${40 * i}`;
    const file = path.join(input, cls, `clip${i}.mkv`);
    mkdirSync(path.dirname(file), { recursive: true });
    const r = spawnSync('ffmpeg', ['-v', 'error', '-f', 'lavfi', '-i', src, '-c:v', 'mpeg4', file]);
    expect(r.status, r.stderr.toString()).toBe(0);
  }
  writeFileSync(path.join(input, 'beta', 'readme.txt'), 'this is not a video\n'.repeat(10));
  const r = jpeglm(['prep', input, '--out', path.join(dir, 'ref'), '--workers', '1', ...COMMON]);
  expect(r.code, r.stderr).toBe(0);
  referenceStderr = r.stderr;
  reference = snapshot(path.join(dir, 'ref'));
}, 60_000);

describe('jpeglm prep --video', () => {
  it('writes an AVC dataset whose samples are `jpeglm avc encode | avc tokenize` of each clip', () => {
    expect(referenceStderr).toMatch(/files\/s/);
    expect(referenceStderr).toMatch(
      new RegExp(`prep: ${CLIPS} samples .* 3 classes, 1 rejects -> `),
    );
    const card = JSON.parse(reference.get('dataset.json')!.toString()) as {
      codec: string;
      profile: { name: string };
      ffmpeg: string;
      splits: Record<'train' | 'val', { shards: { file: string; index: string }[] }>;
    };
    expect(card.codec).toBe('avc');
    expect(card.profile.name).toBe(PROFILE);
    expect(card.ffmpeg).toMatch(/^ffmpeg version /);
    const tokenizerJson = reference.get('tokenizer.json')!;
    expect(JSON.parse(tokenizerJson.toString()).format).toBe('jpeglm-avc-tokenizer');
    const rejects = reference.get('rejects.jsonl')!.toString().trim().split('\n');
    expect(rejects).toHaveLength(1);
    expect(JSON.parse(rejects[0])).toMatchObject({ path: 'beta/readme.txt' });

    // Every indexed sample equals what `jpeglm avc encode | jpeglm avc tokenize` makes of its
    // source, with the dataset's own tokenizer.json.
    const tokenizerFile = path.join(dir, 'ref', 'tokenizer.json');
    let seen = 0;
    for (const split of ['train', 'val'] as const) {
      for (const sh of card.splits[split].shards) {
        const bin = reference.get(sh.file)!;
        const tokens = new Uint16Array(bin.buffer, bin.byteOffset + 1024, (bin.length - 1024) / 2);
        for (const line of reference.get(sh.index)!.toString().trim().split('\n')) {
          const e = JSON.parse(line) as { offset: number; length: number; path: string };
          const label = e.path.split('/')[0];
          const clip = jpeglm(['avc', 'encode', path.join(input, e.path), '--profile', PROFILE]);
          expect(clip.code, clip.stderr).toBe(0);
          const t = jpeglm(
            ['avc', 'tokenize', '-', '--tokenizer', tokenizerFile, '--class', label],
            clip.stdout,
          );
          expect(t.code, t.stderr).toBe(0);
          const ids = (JSON.parse(t.stdout.toString()) as { sequences: { ids: number[] }[] })
            .sequences[0].ids;
          expect(Array.from(tokens.subarray(e.offset, e.offset + e.length)), e.path).toEqual(ids);
          seen++;
        }
      }
    }
    expect(seen).toBe(CLIPS);
  });

  it('gives the same bytes with 2 worker threads, and after SIGKILLs and a rerun', async () => {
    const two = path.join(dir, 'two');
    const r = jpeglm(['prep', input, '--out', two, '--workers', '2', ...COMMON]);
    expect(r.code, r.stderr).toBe(0);
    expect(snapshot(two)).toEqual(reference);

    const out = path.join(dir, 'killed');
    expect(await prepKilledWhen(out, 2, () => chunkFiles(out) >= 1)).toBe(true);
    const first = chunkFiles(out);
    expect(first).toBeLessThan(CLIPS + 1);
    expect(await prepKilledWhen(out, 1, () => chunkFiles(out) >= first + 3)).toBe(true);
    expect(chunkFiles(out)).toBeLessThan(CLIPS + 1);
    const again = jpeglm(['prep', input, '--out', out, '--workers', '2', ...COMMON]);
    expect(again.code, again.stderr).toBe(0);
    expect(again.stderr).toMatch(/resuming; \d+ files were done by an earlier run/);
    expect(snapshot(out)).toEqual(reference);
  }, 60_000);

  it('trains on the dataset, and the model continues clips with `jpeglm avc complete`', () => {
    const config = path.join(dir, 'train.json');
    writeFileSync(
      config,
      JSON.stringify({
        model: {
          hidden_size: 32,
          intermediate_size: 64,
          num_hidden_layers: 1,
          num_attention_heads: 2,
          num_key_value_heads: 1,
        },
        steps: 2,
        batch_size: 2,
        seq_len: 64,
        warmup_steps: 1,
        val_every: 2,
        val_batches: 1,
        checkpoint_every: 2,
        log_every: 1,
        threads: 1,
      }),
    );
    const model = path.join(dir, 'model');
    const t = jpeglm([
      'train',
      '--data',
      path.join(dir, 'ref'),
      '--out',
      model,
      '--config',
      config,
    ]);
    expect(t.code, t.stderr).toBe(0);
    expect(readFileSync(path.join(model, 'tokenizer.json'))).toEqual(
      reference.get('tokenizer.json'),
    );
    // A 2-step model cannot write a clip from nothing; continuing a real one after its first
    // picture always leaves a decodable clip (repair keeps the prompt).
    const source = jpeglm([
      'avc',
      'encode',
      path.join(input, 'beta', 'clip1.mkv'),
      '--profile',
      PROFILE,
    ]);
    expect(source.code, source.stderr).toBe(0);
    const prompt = path.join(dir, 'prompt.h264');
    writeFileSync(prompt, source.stdout);
    const clip = path.join(dir, 'completed.h264');
    const g = jpeglm([
      'avc',
      'complete',
      prompt,
      '--keep-frames',
      '1',
      '--model',
      model,
      '--class',
      'beta',
      '--max-tokens',
      '16',
      '-o',
      clip,
    ]);
    expect(g.code, g.stderr).toBe(0);
    expect(readFileSync(clip).length).toBeGreaterThan(0);
  }, 60_000);

  it('refuses misuse in one line', () => {
    const cases: [string[], RegExp][] = [
      [['--ffmpeg', '/usr/bin/ffmpeg'], /--ffmpeg needs --video/],
      [['--video', '--size', '64'], /JPEG profile options/],
      [['--video', '--profile', 'jpeglm-32-q75'], /unknown AVC profile "jpeglm-32-q75"/],
      [['--profile', 'avc-lm-33x32'], /width 33 must be an even integer/],
      [
        ['--video', '--ffmpeg', path.join(dir, 'no-such-ffmpeg')],
        /cannot run ffmpeg at .*no-such-ffmpeg/,
      ],
    ];
    for (const [args, message] of cases) {
      const out = path.join(dir, `bad-${args.join('_').replace(/[^a-z0-9]+/gi, '')}`);
      const r = jpeglm(['prep', input, '--out', out, ...args]);
      expect(r.code, args.join(' ')).not.toBe(0);
      expect(r.stderr, args.join(' ')).toMatch(message);
      expect(r.stderr.trim().split('\n'), args.join(' ')).toHaveLength(1);
    }
  });
});
