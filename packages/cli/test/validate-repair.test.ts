import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

const BIN = fileURLToPath(new URL('../bin/jpeglm.js', import.meta.url));

function run(
  args: string[],
  input?: Buffer,
): { code: number | null; stdout: Buffer; stderr: string } {
  const r = spawnSync(process.execPath, [BIN, ...args], { maxBuffer: 1 << 26, input });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr.toString() };
}

function cjpeg(w: number, h: number, restart: number): Buffer {
  const px = Buffer.alloc(w * h * 3);
  for (let i = 0; i < px.length; i++) px[i] = (i * 7919) % 251;
  const ppm = Buffer.concat([Buffer.from(`P6\n${w} ${h}\n255\n`), px]);
  const args = ['-quality', '75', '-sample', '2x2', '-dct', 'int', '-baseline'];
  if (restart > 0) args.push('-restart', `${restart}B`);
  const r = spawnSync('cjpeg', args, { input: ppm });
  if (r.status !== 0) throw new Error(r.stderr.toString());
  return r.stdout;
}

function sosEnd(jpeg: Buffer): number {
  let i = 2;
  for (;;) {
    const len = jpeg.readUInt16BE(i + 2);
    if (jpeg[i + 1] === 0xda) return i + 2 + len;
    i += 2 + len;
  }
}

function djpegClean(jpeg: Buffer): boolean {
  const r = spawnSync('djpeg', [], { input: jpeg, maxBuffer: 1 << 26 });
  return r.status === 0 && r.stderr.length === 0;
}

let dir: string;
let valid: string;
let truncated: string;
let notJpeg: string;

beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'jpeglm-validate-'));
  const jpeg = cjpeg(48, 32, 1);
  valid = join(dir, 'valid.jpg');
  writeFileSync(valid, jpeg);
  truncated = join(dir, 'truncated.jpg');
  writeFileSync(truncated, jpeg.subarray(0, jpeg.length - 120));
  notJpeg = join(dir, 'notes.txt');
  writeFileSync(notJpeg, 'hello, not an image\n');
});

afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('jpeglm validate', () => {
  it('exits 0 when every file is valid, with one line per file', () => {
    const r = run(['validate', valid, valid]);
    expect(r.code).toBe(0);
    const lines = r.stdout.toString().trim().split('\n');
    expect(lines).toHaveLength(2);
    expect(lines[0]).toMatch(/valid\.jpg: valid \(6 MCUs: 6 intact, 0 damaged, 0 missing\)$/);
  });

  it('exits 1 when some file is repairable and lists its problems', () => {
    const r = run(['validate', valid, truncated]);
    expect(r.code).toBe(1);
    const out = r.stdout.toString();
    expect(out).toMatch(
      /truncated\.jpg: repairable \(6 MCUs: \d intact, \d damaged, \d missing\), \d+ problems?/,
    );
    expect(out).toMatch(/\n {2}offset \d+, MCU \d+: .*(ends|missing)/);
  });

  it('exits 2 when some file is rejected or unreadable; errors are one line each', () => {
    const missing = join(dir, 'no-such.jpg');
    const r = run(['validate', valid, truncated, notJpeg, missing]);
    expect(r.code).toBe(2);
    const out = r.stdout.toString();
    expect(out).toMatch(/notes\.txt: rejected/);
    expect(r.stderr.trim().split('\n')).toEqual([`jpeglm: ${missing}: no such file or directory`]);
    expect(r.stderr).not.toMatch(/\n\s+at /);
  });

  it('--max-megapixels rejects larger frames before decoding them', () => {
    const r = run(['validate', '--max-megapixels', '0.001', valid]);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/valid\.jpg: .*megapixel/);
    expect(run(['repair', '--max-megapixels', '0.001', valid]).code).toBe(2);
    expect(run(['validate', '--max-megapixels', 'lots', valid]).code).toBe(3);
  });

  it('--json prints one entry per file with verdict, counts and problems', () => {
    const r = run(['validate', '--json', valid, truncated, notJpeg]);
    expect(r.code).toBe(2);
    const doc = JSON.parse(r.stdout.toString()) as {
      file: string;
      verdict: string;
      mcuCount: number;
      intactMcus: number;
      problems: { offset: number; mcu: number | null; kind: string; message: string }[];
    }[];
    expect(doc.map((d) => d.verdict)).toEqual(['valid', 'repairable', 'rejected']);
    expect(doc[0].problems).toEqual([]);
    expect(doc[1].mcuCount).toBe(6);
    expect(doc[1].intactMcus).toBeGreaterThan(0);
    expect(doc[1].problems[0].kind).toBe('truncated');
    expect(typeof doc[1].problems[0].offset).toBe('number');
  });

  it('has --help', () => {
    const r = run(['validate', '--help']);
    expect(r.code).toBe(0);
    expect(r.stdout.toString()).toContain('--json');
  });
});

describe('jpeglm repair', () => {
  it('writes a repaired file atomically with -o; it decodes in djpeg without warnings', () => {
    const out = join(dir, 'fixed.jpg');
    const r = run(['repair', truncated, '-o', out]);
    expect(r.code).toBe(0);
    expect(r.stdout.length).toBe(0);
    expect(r.stderr).toMatch(/truncated\.jpg: repaired: kept \d of 6 MCUs, replaced \d/);
    const fixed = readFileSync(out);
    expect(djpegClean(fixed)).toBe(true);
    expect(djpegClean(readFileSync(truncated))).toBe(false);
    // The input's header is kept as it is.
    const h = sosEnd(fixed);
    expect(fixed.subarray(0, h).equals(readFileSync(truncated).subarray(0, h))).toBe(true);
    expect(readdirSync(dir).filter((f) => f.endsWith('.tmp'))).toEqual([]);
  });

  it('writes to stdout when it is not a terminal', () => {
    const r = run(['repair', truncated, '--fill', 'neutral']);
    expect(r.code).toBe(0);
    expect(r.stdout.subarray(0, 2).equals(Buffer.from([0xff, 0xd8]))).toBe(true);
    expect(djpegClean(r.stdout)).toBe(true);
  });

  it('reads stdin for -', () => {
    const r = run(['repair', '-'], readFileSync(truncated));
    expect(r.code).toBe(0);
    expect(djpegClean(r.stdout)).toBe(true);
    expect(r.stderr).toMatch(/^stdin: repaired/);
    const v = run(['validate', '-', valid], readFileSync(truncated));
    expect(v.code).toBe(1);
    expect(v.stdout.toString()).toMatch(/^stdin: repairable/);
  });

  it('writes a valid file unchanged', () => {
    const r = run(['repair', valid]);
    expect(r.code).toBe(0);
    expect(r.stdout.equals(readFileSync(valid))).toBe(true);
    expect(r.stderr).toMatch(/already valid/);
  });

  it('rejects a file without a usable header: exit 2, one line, no output file', () => {
    const out = join(dir, 'never.jpg');
    const r = run(['repair', notJpeg, '-o', out]);
    expect(r.code).toBe(2);
    expect(r.stderr.trim().split('\n')).toHaveLength(1);
    expect(r.stderr).toMatch(/^jpeglm: .*notes\.txt: cannot repair: /);
    expect(existsSync(out)).toBe(false);
  });

  it('repairs a headerless token stream with --profile', () => {
    // jpeglm-32-q75: 32x32, quality 75, 4:2:0, restart every MCU.
    const px = Buffer.alloc(32 * 32 * 3);
    for (let i = 0; i < px.length; i++) px[i] = (i * 31) % 256;
    const jpeg = spawnSync(
      'cjpeg',
      ['-quality', '75', '-sample', '2x2', '-restart', '1B', '-dct', 'int', '-baseline'],
      { input: Buffer.concat([Buffer.from('P6\n32 32\n255\n'), px]) },
    ).stdout;
    const body = jpeg.subarray(sosEnd(jpeg));
    const stream = join(dir, 'tokens.bin');
    writeFileSync(stream, body.subarray(0, Math.floor(body.length * 0.6)));
    const out = join(dir, 'from-tokens.jpg');
    const r = run(['repair', stream, '--profile', 'jpeglm-32-q75', '-o', out]);
    expect(r.code).toBe(0);
    const fixed = readFileSync(out);
    expect(fixed.subarray(0, sosEnd(jpeg)).equals(jpeg.subarray(0, sosEnd(jpeg)))).toBe(true);
    expect(djpegClean(fixed)).toBe(true);
  });

  it('refuses bad options with the usage exit code', () => {
    expect(run(['repair', truncated, '--fill', 'purple']).code).toBe(3);
    const r = run(['repair', truncated, '--profile', 'no-such-profile']);
    expect(r.code).toBe(3);
    expect(r.stderr).toMatch(/unknown profile/);
  });

  it('has --help', () => {
    const r = run(['repair', '--help']);
    expect(r.code).toBe(0);
    expect(r.stdout.toString()).toContain('--output');
  });
});
