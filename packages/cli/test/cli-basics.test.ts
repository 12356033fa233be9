import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

const BIN = fileURLToPath(new URL('../bin/jpeglm.js', import.meta.url));

function run(args: string[]): { code: number | null; stdout: string; stderr: string } {
  const r = spawnSync(process.execPath, [BIN, ...args], { encoding: 'utf8' });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

describe('jpeglm command', () => {
  it('prints help and exits 0', () => {
    const r = run(['--help']);
    expect(r.code).toBe(0);
    expect(r.stdout).toContain('Usage: jpeglm');
  });

  it('rejects an unknown command with the usage exit code and no stack trace', () => {
    const r = run(['no-such-command']);
    expect(r.code).toBe(3);
    expect(r.stderr).not.toMatch(/\n\s+at /);
  });
});
