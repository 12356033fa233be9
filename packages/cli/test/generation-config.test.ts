/**
 * A model's sampling defaults (generation_config.json, Hugging Face key names) and how they
 * combine with the command-line options.
 */
import { promises as fs } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import {
  loadGenerationDefaults,
  modelDefaultsFor,
  parseGenerationDefaults,
} from '../src/generation-config.js';
import { generationSettings } from '../src/sampling-options.js';
import { scratchDir } from './spawn-jpeglm.js';

const tmp = scratchDir('generation-config');

describe('generation_config.json', () => {
  it('reads the sampling keys and ignores the others', () => {
    const d = parseGenerationDefaults(
      {
        temperature: 0.9,
        top_k: 40,
        top_p: 0.95,
        min_p: 0,
        guidance_scale: 3,
        best_of: 4,
        bos_token_id: 256,
      },
      'g.json',
    );
    expect(d).toEqual({ temperature: 0.9, topK: 40, topP: 0.95, minP: 0, cfg: 3, bestOf: 4 });
    expect(parseGenerationDefaults({ bos_token_id: 256 }, 'g.json')).toEqual({});
  });

  it('refuses values the matching option would refuse, naming the file and key', () => {
    const cases: [unknown, RegExp][] = [
      [{ temperature: -1 }, /g.json: temperature must be a number from 0 to 1000, got -1/],
      [{ top_k: 2.5 }, /top_k must be an integer/],
      [{ top_p: 0 }, /top_p must be in \(0, 1\]/],
      [{ min_p: '0.1' }, /min_p must be in \[0, 1\], got "0.1"/],
      [{ guidance_scale: 1000 }, /guidance_scale must be a number from 0 to 100/],
      [{ best_of: 0 }, /best_of must be an integer from 1 to 64, got 0/],
      [{ best_of: 2.5 }, /best_of must be an integer from 1 to 64/],
      [[1, 2], /g.json: not a JSON object/],
    ];
    for (const [json, pattern] of cases) {
      expect(() => parseGenerationDefaults(json, 'g.json')).toThrow(pattern);
    }
  });

  it('loads from a model directory; none without the file; a broken file is an error', async () => {
    const dir = path.join(tmp, 'm');
    await fs.mkdir(dir);
    expect(await loadGenerationDefaults(dir)).toEqual({});
    await fs.writeFile(path.join(dir, 'generation_config.json'), '{"top_k": 50}');
    expect(await loadGenerationDefaults(dir)).toEqual({ topK: 50 });
    await fs.writeFile(path.join(dir, 'generation_config.json'), '{"top_k": ');
    await expect(loadGenerationDefaults(dir)).rejects.toThrow(
      /generation_config.json: not valid JSON/,
    );
  });

  it('fills the options left out; given options win; guidance only with a class', () => {
    const d = { temperature: 0.8, topK: 30, topP: 0.9, cfg: 3, bestOf: 4 };
    const s = generationSettings({ seed: '1', topK: '5' }, modelDefaultsFor(d, 'dog'));
    expect(s.sampling).toEqual({ seed: 1, temperature: 0.8, topK: 5, topP: 0.9, minP: 0 });
    expect(s.cfg).toBe(3);
    expect(s.bestOf).toBe(4);
    expect(generationSettings({ bestOf: '2' }, d).bestOf).toBe(2);
    expect(generationSettings({}).bestOf).toBe(1);
    expect(generationSettings({ seed: '1', cfg: '1.5' }, modelDefaultsFor(d, 'dog')).cfg).toBe(1.5);
    const u = generationSettings({ seed: '1' }, modelDefaultsFor(d, undefined));
    expect(u.cfg).toBeUndefined();
    expect(u.sampling.temperature).toBe(0.8);
    // No defaults: the neutral settings.
    expect(generationSettings({ seed: '1' }).sampling).toEqual({
      seed: 1,
      temperature: 1,
      topK: 0,
      topP: 1,
      minP: 0,
    });
  });
});
