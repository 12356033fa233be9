import { mkdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import sharp from 'sharp';
import { describe, expect, it } from 'vitest';
import {
  BytePairEncoding,
  canonicalHeader,
  canonicalizeRgb,
  getProfile,
  readTokensFile,
  uint16LEToIds,
} from '@jpeglm/codec-tokenizer';
import { lavfiImage } from '../../codec-tokenizer/test/fixtures/images.js';
import { fileWriter } from './helpers/cli.js';
import { jpeglm, listDir, scratchDir } from './spawn-jpeglm.js';

const dir = scratchDir('tokenize');
const P64 = getProfile('jpeglm-64-q50');

const save = fileWriter(dir);

const canonA = canonicalizeRgb(lavfiImage('mandelbrot', 64, 64), P64);
const canonB = canonicalizeRgb(lavfiImage('testsrc2', 64, 64), P64);
const fileA = save('a.jpg', canonA);
const fileB = save('b.jpg', canonB);

describe('jpeglm tokenize / detokenize', () => {
  it('print help', () => {
    for (const c of ['tokenize', 'detokenize']) {
      const r = jpeglm([c, '--help']);
      expect(r.code).toBe(0);
      expect(r.stdout.toString()).toContain(`Usage: jpeglm ${c}`);
    }
  });

  it('json: a self-describing file that detokenizes to the same bytes', () => {
    const r = jpeglm([
      'tokenize',
      fileA,
      fileB,
      '--profile',
      'jpeglm-64-q50',
      '--classes',
      'fractal,chart',
      '--class',
      'chart',
    ]);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    const { tokenizer, sequences } = readTokensFile(r.stdout.toString());
    expect(tokenizer.profile).toEqual(P64);
    expect(tokenizer.classes).toEqual(['fractal', 'chart']);
    expect(sequences.map((s) => s.source)).toEqual([fileA, fileB]);
    const ids = sequences[0].ids;
    expect([ids[0], ids[1], ids[ids.length - 1]]).toEqual([256, 261, 257]);
    expect(ids.length).toBe(canonA.length - canonicalHeader(P64).length + 3);
    const json = JSON.parse(r.stdout.toString());
    expect(json.sequences[1].class).toBe('chart');

    const tokens = save('ab.json', r.stdout);
    for (const [i, canon] of [canonA, canonB].entries()) {
      const d = jpeglm(['detokenize', tokens, '--index', String(i)]);
      expect(d.code).toBe(0);
      expect(d.stdout.equals(canon)).toBe(true);
    }
    const outDir = path.join(dir, 'all');
    mkdirSync(outDir);
    expect(jpeglm(['detokenize', tokens, '--out-dir', outDir]).code).toBe(0);
    expect(listDir(outDir)).toEqual(['a.jpg', 'b.jpg']);
    expect(readFileSync(path.join(outDir, 'b.jpg')).equals(canonB)).toBe(true);
    const many = jpeglm(['detokenize', tokens]);
    expect(many.code).toBe(3);
    expect(many.stderr).toMatch(
      /holds 2 sequences; pick one with --index N or write all with --out-dir DIR/,
    );
    const missing = jpeglm(['detokenize', tokens, '--out-dir', path.join(dir, 'nope')]);
    expect(missing.code).toBe(3);
    expect(missing.stderr).toMatch(/nope: not an existing directory/);
  });

  it('bin: uint16 LE sequences back to back, read with the same tokenizer', () => {
    const tokFile = path.join(dir, 'tok.json');
    const out = path.join(dir, 'ab.bin');
    const r = jpeglm([
      'tokenize',
      fileA,
      fileB,
      '--profile',
      'jpeglm-64-q50',
      '--format',
      'bin',
      '-o',
      out,
      '--save-tokenizer',
      tokFile,
    ]);
    expect(r.code).toBe(0);
    const ids = uint16LEToIds(new Uint8Array(readFileSync(out)));
    expect(ids[0]).toBe(256);
    expect(ids.filter((x) => x === 257).length).toBe(2);
    const d = jpeglm(['detokenize', out, '--tokenizer', tokFile, '--index', '1']);
    expect(d.stdout.equals(canonB)).toBe(true);
    const d2 = jpeglm(['detokenize', out, '--profile', 'jpeglm-64-q50', '--index', '0']);
    expect(d2.stdout.equals(canonA)).toBe(true);
  });

  it('canonicalises non-canonical inputs like `jpeglm encode`, unless --exact', async () => {
    const img = lavfiImage('mandelbrot', 100, 80);
    const png = save(
      'm.png',
      await sharp(img.data, { raw: { width: 100, height: 80, channels: 3 } })
        .png()
        .toBuffer(),
    );
    const enc = jpeglm(['encode', png, '--profile', 'jpeglm-48-q50']);
    const tok = jpeglm(['tokenize', png, '--profile', 'jpeglm-48-q50']);
    const seq = readTokensFile(tok.stdout.toString()).sequences[0].ids;
    const back = jpeglm(['detokenize', save('m.json', tok.stdout)]);
    expect(back.stdout.equals(enc.stdout)).toBe(true);
    expect(seq.length).toBe(
      enc.stdout.length - canonicalHeader(getProfile('jpeglm-48-q50')).length + 3,
    );
    const exact = jpeglm(['tokenize', png, '--profile', 'jpeglm-48-q50', '--exact']);
    expect(exact.code).toBe(2);
    expect(exact.stderr).toBe(`jpeglm: ${png}: not a JPEG file (no SOI marker)\n`);
    const other = jpeglm(['tokenize', fileA, '--profile', 'jpeglm-48-q50', '--exact']);
    expect(other.stderr).toMatch(
      /not a canonical jpeglm-48-q50 JPEG: image is 64x64, expected 48x48/,
    );
  });

  it('applies a BPE file and reads JSON id arrays', () => {
    const body = (j: Uint8Array): Uint8Array => j.subarray(canonicalHeader(P64).length);
    const bpe = BytePairEncoding.train([body(canonA), body(canonB)], { merges: 50 });
    const bpeFile = save('bpe.json', JSON.stringify(bpe.toJSON()));
    const r = jpeglm([
      'tokenize',
      fileA,
      '--profile',
      'jpeglm-64-q50',
      '--bpe',
      bpeFile,
      '--classes',
      'x',
    ]);
    const { tokenizer, sequences } = readTokensFile(r.stdout.toString());
    expect(tokenizer.vocabSize).toBe(261 + bpe.merges.length);
    expect(bpe.merges.length).toBeGreaterThan(10);
    expect(sequences[0].ids.length).toBeLessThan(canonA.length - canonicalHeader(P64).length + 3);
    expect(jpeglm(['detokenize', save('bpe-tokens.json', r.stdout)]).stdout.equals(canonA)).toBe(
      true,
    );
    const arr = save('ids.json', JSON.stringify(Array.from(sequences[0].ids)));
    const d = jpeglm([
      'detokenize',
      arr,
      '--profile',
      'jpeglm-64-q50',
      '--bpe',
      bpeFile,
      '--classes',
      'x',
    ]);
    expect(d.code).toBe(0);
    expect(d.stdout.equals(canonA)).toBe(true);
    const without = jpeglm(['detokenize', arr, '--profile', 'jpeglm-64-q50']);
    expect(without.code).toBe(2);
    expect(without.stderr).toMatch(
      new RegExp(`^jpeglm: ${arr}: token \\d+ at position \\d+ is outside the vocabulary`),
    );
  });

  it('rejects bad tokenizer options with the usage exit code', () => {
    const cases: [string[], RegExp][] = [
      [['--class', 'cat'], /--class needs a tokenizer with class labels/],
      [['--classes', 'a,b', '--class', 'c'], /unknown class label "c" \(known: a, b\)/],
      [['--classes', 'a,,b'], /--classes must be/],
      [['--classes', 'a,a'], /listed twice/],
      [
        ['--tokenizer', fileA, '--profile', 'jpeglm-64-q50'],
        /--tokenizer already fixes the profile/,
      ],
      [['--format', 'xml'], /xml/],
    ];
    for (const [args, why] of cases) {
      const r = jpeglm(['tokenize', fileA, ...args]);
      expect(r.code, args.join(' ')).toBe(3);
      expect(r.stderr).toMatch(why);
    }
    const badTok = jpeglm(['tokenize', fileA, '--tokenizer', fileA]);
    expect(badTok.code).toBe(2);
    expect(badTok.stderr).toBe(
      `jpeglm: ${fileA}: invalid JSON: ${badTok.stderr.split('invalid JSON: ')[1]}`,
    );
    expect(listDir(dir).filter((f) => f.endsWith('.tmp'))).toEqual([]);
  });
});
