/**
 * What the CLI end-to-end tests need on top of spawn-jpeglm.ts: input files, one-line
 * failures, and runs with extra environment variables.
 */
import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { expect, vi } from 'vitest';
import { jpeglm, type CliResult } from '../spawn-jpeglm.js';

/**
 * A clean failure: the exit code, exactly one `jpeglm: ...` line on stderr matching `pattern`,
 * no stack trace, nothing on stdout.
 */
export function expectOneLineError(r: CliResult, code: number, pattern: RegExp): void {
  expect(r.code).toBe(code);
  const lines = r.stderr.trimEnd().split('\n');
  expect(lines).toHaveLength(1);
  expect(lines[0]).toMatch(/^jpeglm: /);
  expect(lines[0]).toMatch(pattern);
  expect(r.stderr).not.toMatch(/\n\s+at /);
  expect(r.stdout.length).toBe(0);
}

/** jpeglm with `env` added to this process's environment for this one run. */
export function jpeglmWithEnv(args: readonly string[], env: Record<string, string>): CliResult {
  for (const [name, value] of Object.entries(env)) vi.stubEnv(name, value);
  try {
    return jpeglm(args);
  } finally {
    vi.unstubAllEnvs();
  }
}

/** A function that writes `bytes` to `name` in `dir` and returns the file's path. */
export function fileWriter(dir: string): (name: string, bytes: Uint8Array | string) => string {
  return (name, bytes) => {
    const file = path.join(dir, name);
    writeFileSync(file, bytes);
    return file;
  };
}
