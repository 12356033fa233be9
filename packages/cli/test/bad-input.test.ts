import { spawnSync } from 'node:child_process';
import { chmodSync, mkdirSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import {
  canonicalHeader,
  canonicalizeRgb,
  getProfile,
  idsToUint16LE,
} from '@jpeglm/codec-tokenizer';
import { lavfiImage } from '../../codec-tokenizer/test/fixtures/images.js';
import { fileWriter } from './helpers/cli.js';
import { BIN, jpeglm, listDir, scratchDir } from './spawn-jpeglm.js';

/**
 * Every command meets bad input the same way: exactly one line on stderr, `jpeglm: FILE: ...`,
 * a non-zero exit code (2 for bad input), no stack trace, and no output file (not even a
 * temporary one) left behind.
 */
const dir = scratchDir('bad-input');
const inputs = path.join(dir, 'in');
const outputs = path.join(dir, 'out');
mkdirSync(inputs);
mkdirSync(outputs);

const save = fileWriter(inputs);

const P64 = getProfile('jpeglm-64-q50');
const canonical = canonicalizeRgb(lavfiImage('mandelbrot', 64, 64), P64);
const huge = canonical.slice();
const sof = huge.findIndex((b, i) => b === 0xff && huge[i + 1] === 0xc0);
huge.set([0xea, 0x60, 0xea, 0x60], sof + 5); // the header claims 60000x60000

const images: Record<string, [string, RegExp]> = {
  'zero-byte file': [save('empty.jpg', ''), /empty file/],
  'non-image': [save('notes.txt', 'just some text\n'), /not a supported image/],
  'truncated JPEG': [save('cut.jpg', canonical.subarray(0, 400)), /truncated|without EOI/],
  'absurd dimensions': [save('huge.jpg', huge), /60000x60000.*above the limit/],
  'missing path': [path.join(inputs, 'no-such.png'), /no such file or directory/],
  directory: [inputs, /is a directory/],
};

function expectCleanFailure(args: string[], file: string, why: RegExp, code = 2): void {
  const before = listDir(outputs);
  const r = jpeglm(args);
  expect(r.code, args.join(' ')).toBe(code);
  expect(r.stdout.length).toBe(0);
  const lines = r.stderr.split('\n').filter((l) => l !== '');
  expect(lines, r.stderr).toHaveLength(1);
  expect(lines[0].startsWith(`jpeglm: ${file}: `), lines[0]).toBe(true);
  expect(lines[0]).toMatch(why);
  expect(r.stderr).not.toMatch(/\bat .*\.(js|ts):\d+/);
  expect(listDir(outputs)).toEqual(before);
}

describe('bad input to encode and tokenize', () => {
  for (const [what, [file, why]] of Object.entries(images)) {
    it(`${what}: one line, exit 2, no output`, () => {
      expectCleanFailure(['encode', file, '-o', path.join(outputs, 'x.jpg')], file, why);
      expectCleanFailure(
        ['tokenize', file, '--profile', 'jpeglm-64-q50', '-o', path.join(outputs, 'x.json')],
        file,
        why,
      );
    });
  }

  it('a bad file among good ones writes nothing', () => {
    const good = save('good.jpg', canonical);
    const bad = images['truncated JPEG'][0];
    expectCleanFailure(
      [
        'tokenize',
        good,
        bad,
        good,
        '--profile',
        'jpeglm-64-q50',
        '--format',
        'bin',
        '-o',
        path.join(outputs, 'x.bin'),
      ],
      bad,
      /truncated|without EOI/,
    );
  });

  it.skipIf(process.getuid?.() === 0)('unreadable file: permission denied', () => {
    const file = save('secret.png', 'x');
    chmodSync(file, 0o000);
    expectCleanFailure(
      ['encode', file, '-o', path.join(outputs, 'x.jpg')],
      file,
      /permission denied/,
    );
  });

  it('tokenize refuses a canonical-looking file with damaged scan data', () => {
    const h = canonicalHeader(P64).length;
    const m = canonical.slice();
    for (let i = h + 10; i < h + 40; i++) if (m[i] !== 0xff && m[i - 1] !== 0xff) m[i] = 0x5a;
    const file = save('damaged.jpg', m);
    expectCleanFailure(
      ['tokenize', file, '--profile', 'jpeglm-64-q50', '-o', path.join(outputs, 'x.json')],
      file,
      /damaged scan data at byte \d+/,
    );
  });

  it('a megapixel limit below the image refuses it before decoding', () => {
    const file = save('ok.jpg', canonical);
    expectCleanFailure(
      [
        'encode',
        file,
        '--profile',
        'jpeglm-48-q50',
        '--max-megapixels',
        '0.001',
        '-o',
        path.join(outputs, 'y.jpg'),
      ],
      file,
      /above the limit of 0\.001/,
    );
  });
});

describe('bad input to detokenize', () => {
  const tokens = (ids: number[]): Uint8Array => idsToUint16LE(ids);
  const bodyIds = Array.from(canonical.subarray(-40));
  const cases: Record<string, [string, RegExp]> = {
    'zero-byte file': [save('empty.bin', ''), /empty file/],
    'non-token file': [save('image.jpg', canonical), /not a token file/],
    'odd byte count': [save('odd.bin', Uint8Array.of(0, 1, 0)), /odd number of bytes/],
    'no EOS': [save('cut.bin', tokens([256, 259, ...bodyIds])), /has no EOS/],
    'unknown class token': [
      save('class.bin', tokens([256, 300, ...bodyIds, 257])),
      /token 300 at position 1/,
    ],
    'special token inside': [
      save('inside.bin', tokens([256, 259, 1, 256, 2, 257])),
      /BOS at position 3 is not a byte token/,
    ],
    'broken JSON': [save('broken.json', '{"format": "jpeglm-tokens", '), /invalid JSON/],
    'wrong JSON': [save('wrong.json', '{"format": "something-else"}'), /not a jpeglm tokens file/],
    'id array out of range': [save('ids.json', '[256, 259, 70000, 257]'), /token ids/],
    'missing path': [path.join(inputs, 'no-such.bin'), /no such file or directory/],
    directory: [inputs, /is a directory/],
  };
  for (const [what, [file, why]] of Object.entries(cases)) {
    it(`${what}: one line, exit 2, no output`, () => {
      expectCleanFailure(['detokenize', file, '-o', path.join(outputs, 'x.jpg')], file, why);
    });
  }

  it('names the sequence that is broken in a multi-sequence file', () => {
    const good = [256, 259, ...bodyIds, 257];
    const file = save('two.bin', tokens([...good, 256, 259, 1, 258, 257]));
    const r = jpeglm(['detokenize', file, '--out-dir', outputs]);
    expect(r.code).toBe(2);
    expect(r.stderr).toBe(
      `jpeglm: ${file}: sequence 1: token PAD at position 3 is not a byte token\n`,
    );
    expect(listDir(outputs)).toEqual([]);
  });
});

describe('binary output to a terminal', () => {
  // util-linux `script` runs the command with a pseudo-terminal as its stdout.
  const hasScript = spawnSync('script', ['--version']).status === 0;
  it.skipIf(!hasScript)('is refused with the usage exit code, before any work', () => {
    const file = save('tty.jpg', canonical);
    for (const args of [
      ['encode', file],
      ['tokenize', file, '--profile', 'jpeglm-64-q50', '--format', 'bin'],
    ]) {
      const command = [process.execPath, BIN, ...args].map((a) => `'${a}'`).join(' ');
      const r = spawnSync('script', ['-qec', command, '/dev/null'], { encoding: 'utf8' });
      expect(r.status).toBe(3);
      expect(r.stdout.trim()).toBe(
        'jpeglm: refusing to write binary data to a terminal; redirect to a file (> out.jpg) or use -o FILE',
      );
    }
  });
});
