/**
 * What the `jpeglm prep` resume tests (prep.test.ts, prep-video.test.ts) share: a byte snapshot
 * of an output folder, the count of finished chunks, and a prep run killed at a chosen moment.
 */
import { spawn } from 'node:child_process';
import { readFileSync, readdirSync } from 'node:fs';
import path from 'node:path';
import { BIN } from '../spawn-jpeglm.js';

/** Every file under `d`, by relative path, with its bytes. */
export function snapshot(d: string): Map<string, Buffer> {
  const out = new Map<string, Buffer>();
  for (const e of readdirSync(d, { withFileTypes: true, recursive: true })) {
    const full = path.join(e.parentPath, e.name);
    if (e.isFile()) out.set(path.relative(d, full), readFileSync(full));
  }
  return out;
}

export const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** Chunks a prep run into `out` has finished so far (0 before the folder exists). */
export function chunkFiles(out: string): number {
  try {
    return readdirSync(path.join(out, '.prep', 'chunks')).filter((n) => n.endsWith('.chunk'))
      .length;
  } catch {
    return 0;
  }
}

/**
 * Start `jpeglm ARGS...`, SIGKILL it as soon as `when()` holds (checked every `pollMs`); resolves
 * to whether the kill hit a running process (false: it had already finished).
 */
export async function killedWhen(
  args: readonly string[],
  when: () => boolean,
  pollMs: number,
): Promise<boolean> {
  const child = spawn(process.execPath, [BIN, ...args], { stdio: 'ignore' });
  let exited = false;
  const done = new Promise<void>((r) => child.on('exit', () => ((exited = true), r())));
  while (!exited) {
    if (when()) {
      child.kill('SIGKILL');
      await done;
      return child.signalCode === 'SIGKILL';
    }
    await sleep(pollMs);
  }
  return false;
}
