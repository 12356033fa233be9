import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { createRandomModel, saveModelDir } from '@jpeglm/byte-lm';
import {
  AvcTokenizer,
  avcEncode,
  avcKeepFrames,
  avcProfile,
  avcSameBytes,
  avcSplitNalUnits,
  bundledFfmpegPath,
} from '@jpeglm/codec-tokenizer';
import { expectOneLineError, jpeglmWithEnv } from './helpers/cli.js';
import { jpeglm, scratchDir } from './spawn-jpeglm.js';

const SYSTEM_FFMPEG = '/usr/bin/ffmpeg';

function ffmpegErrors(bin: string, file: string): string {
  const r = spawnSync(bin, [
    '-hide_banner',
    '-nostdin',
    '-v',
    'error',
    '-i',
    file,
    '-f',
    'null',
    '-',
  ]);
  return r.stderr.toString('utf8') + (r.status === 0 ? '' : `exit ${r.status}`);
}

const dir = scratchDir('avc-cli');
let source: string;
let clipFile: string;
let clip: Uint8Array;

beforeAll(async () => {
  source = path.join(dir, 'source video.mp4'); // a space: paths go to ffmpeg as one argument
  const r = spawnSync(bundledFfmpegPath(), [
    '-v',
    'error',
    '-f',
    'lavfi',
    '-i',
    'testsrc2=s=320x180:r=25:d=6',
    '-c:v',
    'libx264',
    '-pix_fmt',
    'yuv420p',
    '-y',
    source,
  ]);
  expect(r.status).toBe(0);
  clip = await avcEncode(source);
  clipFile = path.join(dir, 'clip.h264');
  writeFileSync(clipFile, clip);
});

describe('jpeglm avc encode', () => {
  it('writes the canonical clip to a file or to stdout, the same bytes as the library', () => {
    const out = path.join(dir, 'enc.h264');
    const a = jpeglm(['avc', 'encode', source, '-o', out]);
    expect(a.code).toBe(0);
    expect(avcSameBytes(new Uint8Array(readFileSync(out)), clip)).toBe(true);
    const b = jpeglm(['avc', 'encode', source]);
    expect(b.code).toBe(0);
    expect(avcSameBytes(new Uint8Array(b.stdout), clip)).toBe(true);
  });

  it('uses another ffmpeg through --ffmpeg or $JPEGLM_FFMPEG', () => {
    const out = path.join(dir, 'sys.h264');
    const a = jpeglm(['avc', 'encode', source, '-o', out, '--ffmpeg', SYSTEM_FFMPEG]);
    expect(a.code).toBe(0);
    expect(ffmpegErrors(SYSTEM_FFMPEG, out)).toBe('');
    const b = jpeglmWithEnv(['avc', 'encode', source], { JPEGLM_FFMPEG: SYSTEM_FFMPEG });
    expect(avcSameBytes(new Uint8Array(b.stdout), new Uint8Array(readFileSync(out)))).toBe(true);
  });

  it('fails in one line: missing input, missing ffmpeg, unknown profile, not a video', () => {
    expectOneLineError(
      jpeglm(['avc', 'encode', path.join(dir, 'nope.mp4')]),
      2,
      /nope\.mp4: no such file/,
    );
    expectOneLineError(
      jpeglmWithEnv(['avc', 'encode', source], { JPEGLM_FFMPEG: '/nonexistent/ffmpeg' }),
      2,
      /cannot run ffmpeg at \/nonexistent\/ffmpeg \(not found\); set JPEGLM_FFMPEG or pass --ffmpeg/,
    );
    expectOneLineError(
      jpeglm(['avc', 'encode', source, '--profile', 'avc-lm-7x7']),
      3,
      /AVC profile/,
    );
    const junk = path.join(dir, 'junk.mp4');
    writeFileSync(junk, Buffer.from(Array.from({ length: 4000 }, (_, i) => (i * 131 + 7) % 256)));
    expectOneLineError(
      jpeglm(['avc', 'encode', junk, '-o', path.join(dir, 'x.h264')]),
      2,
      /^jpeglm: \S+junk\.mp4: ffmpeg: (moov atom not found|Invalid data found when processing input)$/m,
    );
    expect(existsSync(path.join(dir, 'x.h264'))).toBe(false);
  });
});

describe('jpeglm avc tokenize / detokenize', () => {
  it('round-trips a clip through a JSON tokens file and through uint16 ids', () => {
    const json = path.join(dir, 'tokens.json');
    expect(jpeglm(['avc', 'tokenize', clipFile, '-o', json]).code).toBe(0);
    const f = JSON.parse(readFileSync(json, 'utf8')) as {
      format: string;
      sequences: { ids: number[] }[];
    };
    expect(f.format).toBe('jpeglm-avc-tokens');
    expect(f.sequences[0].ids.slice(0, 2)).toEqual([256, 259]);
    const back = jpeglm(['avc', 'detokenize', json]);
    expect(back.code).toBe(0);
    expect(avcSameBytes(new Uint8Array(back.stdout), clip)).toBe(true);

    const bin = path.join(dir, 'tokens.bin');
    expect(
      jpeglm([
        'avc',
        'tokenize',
        clipFile,
        '--format',
        'bin',
        '-o',
        bin,
        '--classes',
        'a,b',
        '--class',
        'b',
      ]).code,
    ).toBe(0);
    const ids = new Uint16Array(new Uint8Array(readFileSync(bin)).buffer);
    expect(ids[1]).toBe(261);
    const out = path.join(dir, 'back.h264');
    expect(jpeglm(['avc', 'detokenize', bin, '--classes', 'a,b', '-o', out]).code).toBe(0);
    expect(avcSameBytes(new Uint8Array(readFileSync(out)), clip)).toBe(true);
  });

  it('refuses a clip that is not canonical for the profile', () => {
    const r = jpeglm(['avc', 'tokenize', clipFile, '--profile', 'avc-lm-64x48']);
    expectOneLineError(r, 2, /clip\.h264: the stream does not start with the profile header/);
  });
});

describe('jpeglm avc validate / repair', () => {
  let damaged: string;
  let noise: string;

  beforeAll(() => {
    // Lose three slices in the middle.
    damaged = path.join(dir, 'damaged.h264');
    const u = avcSplitNalUnits(clip).units;
    writeFileSync(
      damaged,
      Buffer.concat([clip.subarray(0, u[1000].offset), clip.subarray(u[1003].offset)]),
    );
    noise = path.join(dir, 'noise.h264');
    writeFileSync(
      noise,
      Buffer.from(Array.from({ length: 3000 }, (_, i) => ((i * 37 + 11) % 251) + 4)),
    );
  });

  it('exits 0 / 1 / 2 for valid / repairable / rejected, with --json details', () => {
    expect(jpeglm(['avc', 'validate', clipFile]).code).toBe(0);
    const r1 = jpeglm(['avc', 'validate', damaged]);
    expect(r1.code).toBe(1);
    expect(r1.stdout.toString()).toMatch(/damaged\.h264: repairable \(15 frames, \d+ decodable\)/);
    const r2 = jpeglm(['avc', 'validate', clipFile, damaged, noise, '--json']);
    expect(r2.code).toBe(2);
    const j = JSON.parse(r2.stdout.toString()) as {
      verdict: string;
      reason: string | null;
      issues: unknown[];
    }[];
    expect(j.map((x) => x.verdict)).toEqual(['valid', 'repairable', 'rejected']);
    expect(j[2].reason).toMatch(/no start code/);
    expect(j[1].issues.length).toBeGreaterThan(0);
  });

  it('repairs into a clip ffmpeg decodes without errors; rejects noise without writing anything', () => {
    const out = path.join(dir, 'repaired.h264');
    const r = jpeglm(['avc', 'repair', damaged, '-o', out]);
    expect(r.code).toBe(0);
    expect(r.stderr).toMatch(/damaged\.h264: repaired: 15 frames/);
    expect(ffmpegErrors(bundledFfmpegPath(), out)).toBe('');
    expect(ffmpegErrors(SYSTEM_FFMPEG, out)).toBe('');
    expect(jpeglm(['avc', 'validate', out]).code).toBe(0);
    const unchanged = jpeglm(['avc', 'repair', clipFile]);
    expect(avcSameBytes(new Uint8Array(unchanged.stdout), clip)).toBe(true);
    const bad = path.join(dir, 'bad-out.h264');
    expectOneLineError(
      jpeglm(['avc', 'repair', noise, '-o', bad]),
      2,
      /noise\.h264: rejected: not an H\.264 Annex B stream/,
    );
    expect(existsSync(bad)).toBe(false);
  });
});

describe('jpeglm avc render', () => {
  it('renders MP4 (remuxed) and GIF', () => {
    const mp4 = path.join(dir, 'clip.mp4');
    expect(jpeglm(['avc', 'render', clipFile, '-o', mp4]).code).toBe(0);
    const m = readFileSync(mp4);
    expect(m.subarray(4, 8).toString('latin1')).toBe('ftyp');
    const probe = spawnSync('ffprobe', [
      '-v',
      'error',
      '-count_frames',
      '-select_streams',
      'v:0',
      '-show_entries',
      'stream=nb_read_frames,codec_name,width,height',
      '-of',
      'csv=p=0',
      mp4,
    ]);
    expect(probe.stdout.toString().trim()).toBe('h264,256,144,15');
    const gif = path.join(dir, 'clip.gif');
    expect(jpeglm(['avc', 'render', clipFile, '-o', gif, '--scale', '2']).code).toBe(0);
    expect(readFileSync(gif).subarray(0, 6).toString('latin1')).toBe('GIF89a');
    expectOneLineError(
      jpeglm(['avc', 'render', clipFile, '-o', path.join(dir, 'clip.avi')]),
      3,
      /\.mp4 or \.gif/,
    );
  });
});

describe('jpeglm avc generate / complete (tiny random model)', () => {
  let modelDir: string;
  let small: string;

  beforeAll(async () => {
    const profile = avcProfile('avc-lm-64x48-4f');
    const tokenizer = await AvcTokenizer.forProfile(profile);
    const model = createRandomModel(
      {
        vocabSize: tokenizer.vocabSize,
        hiddenSize: 32,
        intermediateSize: 64,
        numHiddenLayers: 1,
        numAttentionHeads: 2,
        maxPositionEmbeddings: 8192,
      },
      11,
    );
    modelDir = path.join(dir, 'avc-model');
    await saveModelDir(modelDir, { ...model, tokenizerJson: tokenizer.toJSON() });
    small = path.join(dir, 'small.h264');
    writeFileSync(small, await avcEncode(source, { profile }));
  });

  it('complete keeps the first frames and writes decodable clips', () => {
    const out = path.join(dir, 'done-{i}.h264');
    const r = jpeglm([
      'avc',
      'complete',
      small,
      '--keep-frames',
      '2',
      '--model',
      modelDir,
      '-n',
      '2',
      '-o',
      out,
      '--max-tokens',
      '150',
      '--seed',
      '5',
    ]);
    expect(r.code).toBe(0);
    expect(r.stderr).toMatch(/tokens\/s/);
    const keep = avcKeepFrames(new Uint8Array(readFileSync(small)), 2);
    for (const i of [0, 1]) {
      const f = out.replace('{i}', String(i));
      expect(ffmpegErrors(bundledFfmpegPath(), f)).toBe('');
      expect(ffmpegErrors(SYSTEM_FFMPEG, f)).toBe('');
      expect(avcSameBytes(avcKeepFrames(new Uint8Array(readFileSync(f)), 2), keep)).toBe(true);
    }
  });

  it('complete --video is avc complete: the same bytes for the same seed', () => {
    const common = [
      '--keep-frames',
      '2',
      '--model',
      modelDir,
      '--max-tokens',
      '120',
      '--seed',
      '9',
    ];
    const viaAvc = path.join(dir, 'via-avc.h264');
    const viaAlias = path.join(dir, 'via-alias.h264');
    expect(jpeglm(['avc', 'complete', small, ...common, '-o', viaAvc]).code).toBe(0);
    expect(jpeglm(['complete', '--video', small, ...common, '--out', viaAlias]).code).toBe(0);
    expect(readFileSync(viaAlias).equals(readFileSync(viaAvc))).toBe(true);
    const gen = jpeglm(['generate', '--video', '--model', modelDir, '--max-tokens', '50']);
    expect(gen.stderr.toString()).toMatch(/clip 0: rejected, nothing decodable/);
  });

  it('generate reports a clip with nothing decodable as rejected and writes nothing', () => {
    const out = path.join(dir, 'gen-{i}.h264');
    const r = jpeglm(['avc', 'generate', '--model', modelDir, '-o', out, '--max-tokens', '100']);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/clip 0: rejected, nothing decodable/);
    expect(existsSync(out.replace('{i}', '0'))).toBe(false);
  });

  it('refuses a model without an AVC tokenizer and bad options in one line', () => {
    expectOneLineError(
      jpeglm(['avc', 'generate', '--model', path.join(dir, 'none')]),
      2,
      /no such model directory/,
    );
    expectOneLineError(
      jpeglm(['avc', 'complete', small, '--model', modelDir, '--keep-frames', '0']),
      3,
      /--keep-frames/,
    );
  });
});

it('jpeglm avc --help lists the subcommands', () => {
  const r = jpeglm(['avc', '--help']);
  expect(r.code).toBe(0);
  for (const c of [
    'encode',
    'tokenize',
    'detokenize',
    'validate',
    'repair',
    'render',
    'generate',
    'complete',
  ]) {
    expect(r.stdout.toString()).toContain(c);
  }
});
