/**
 * The embedded default model (models/emoji-48) out of the box, as the README's quickstart runs
 * it: `npx jpeglm generate --class dog > dog.jpg` from any directory, with no --model. Needs the
 * built CLI (`npx tsc -b`; npm test does it) and djpeg.
 */
import { spawnSync } from 'node:child_process';
import { closeSync, openSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { loadGenerationDefaults } from '../src/generation-config.js';
import { defaultModelCandidates } from '../src/model-loader.js';
import { BIN, jpeglm, scratchDir } from './spawn-jpeglm.js';

const tmp = scratchDir('default-model');
const [modelDir] = defaultModelCandidates();

/** Run the CLI in `cwd` with stdout redirected to `file`, as a shell's `>` does. */
function jpeglmTo(file: string, args: readonly string[], cwd: string) {
  const fd = openSync(file, 'w');
  try {
    const r = spawnSync(process.execPath, [BIN, ...args], {
      cwd,
      stdio: ['ignore', fd, 'pipe'],
      encoding: 'utf8',
    });
    return { code: r.status, stderr: r.stderr };
  } finally {
    closeSync(fd);
  }
}

/** djpeg's PPM of a JPEG, after checking it decoded with no warning (djpeg exits 2 on one). */
function djpegPpm(file: string): Buffer {
  const r = spawnSync('djpeg', ['-pnm', file]);
  expect(r.stderr.toString()).toBe('');
  expect(r.status).toBe(0);
  return r.stdout;
}

describe('the embedded default model', () => {
  it('is models/emoji-48 of the repository', () => {
    const repoRoot = fileURLToPath(new URL('../../../', import.meta.url));
    expect(path.relative(repoRoot, modelDir)).toBe(path.join('models', 'emoji-48'));
  });

  it('generate --class dog > dog.jpg writes a 48x48 JPEG that djpeg decodes cleanly', () => {
    const out = path.join(tmp, 'dog.jpg');
    // From an unrelated directory: the default is found from the CLI's own location.
    const r = jpeglmTo(out, ['generate', '--class', 'dog'], tmp);
    expect(r.stderr).not.toMatch(/warning/i);
    expect(r.code).toBe(0);
    const jpeg = readFileSync(out);
    expect([...jpeg.subarray(0, 2)]).toEqual([0xff, 0xd8]);
    const ppm = djpegPpm(out);
    const header = 'P6\n48 48\n255\n';
    expect(ppm.subarray(0, header.length).toString('latin1')).toBe(header);
    expect(ppm.length).toBe(header.length + 48 * 48 * 3);
  });

  it("samples with the model's generation_config.json unless options say otherwise", async () => {
    const d = await loadGenerationDefaults(modelDir);
    expect(d.temperature).toBeDefined();
    expect(d.cfg).toBeDefined();
    const a = path.join(tmp, 'a.jpg');
    const b = path.join(tmp, 'b.jpg');
    expect(jpeglmTo(a, ['generate', '--class', 'dog', '--seed', '5'], tmp).code).toBe(0);
    const explicit = [
      ['--temperature', String(d.temperature)],
      ['--top-k', String(d.topK ?? 0)],
      ['--top-p', String(d.topP ?? 1)],
      ['--min-p', String(d.minP ?? 0)],
      ['--cfg', String(d.cfg)],
      ['--best-of', String(d.bestOf ?? 1)],
    ].flat();
    const r = jpeglmTo(b, ['generate', '--class', 'dog', '--seed', '5', ...explicit], tmp);
    expect(r.code).toBe(0);
    expect(readFileSync(a).equals(readFileSync(b))).toBe(true);
  });

  it('classes lists the classes of the model, dog among them', () => {
    const r = jpeglm(['classes']);
    expect(r.code).toBe(0);
    const listed = r.stdout.toString('utf8').trimEnd().split('\n');
    const tokenizer = JSON.parse(readFileSync(path.join(modelDir, 'tokenizer.json'), 'utf8'));
    expect(listed).toEqual(tokenizer.classTokens.labels);
    expect(listed).toContain('dog');
    expect(listed.length).toBeGreaterThan(1000);
  });
});
