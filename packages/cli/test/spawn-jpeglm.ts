/**
 * Run the built `jpeglm` binary (packages/cli/bin/jpeglm.js; `npx tsc -b` builds it) as a user
 * would, capturing its exit code, stdout bytes and stderr text.
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll } from 'vitest';

export const BIN = fileURLToPath(new URL('../bin/jpeglm.js', import.meta.url));

export interface CliResult {
  readonly code: number | null;
  readonly stdout: Buffer;
  readonly stderr: string;
}

export function jpeglm(args: readonly string[], input?: Uint8Array): CliResult {
  const r = spawnSync(process.execPath, [BIN, ...args], {
    input,
    maxBuffer: 1 << 28,
    env: { ...process.env, JPEGLM_DEBUG: '' },
  });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr.toString('utf8') };
}

/** A fresh temporary directory, removed after the test file. */
export function scratchDir(prefix: string): string {
  const dir = mkdtempSync(path.join(tmpdir(), `jpeglm-${prefix}-`));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

/** Entries of `dir`, to check that nothing (no output, no temporary file) was left behind. */
export function listDir(dir: string): string[] {
  return readdirSync(dir).sort();
}

/** libjpeg-turbo's cjpeg with the canonical settings. */
export function cjpeg(
  input: Uint8Array,
  quality: number,
  restart: number,
  subsampling: '2x2' | '1x1' = '2x2',
): Buffer {
  const r = spawnSync(
    'cjpeg',
    [
      '-quality',
      String(quality),
      '-sample',
      subsampling,
      '-restart',
      `${restart}B`,
      '-dct',
      'int',
      '-baseline',
    ],
    { input, maxBuffer: 1 << 26 },
  );
  if (r.status !== 0) throw new Error(`cjpeg failed: ${r.stderr.toString()}`);
  return r.stdout;
}
