/**
 * A model's own sampling defaults, read from its `generation_config.json` (Hugging Face's file
 * and key names: temperature, top_k, top_p, min_p, guidance_scale; and best_of, ours: candidates
 * per image, see --best-of). They apply where the user gave no option; a directory without the
 * file has no defaults. Other keys (bos_token_id, ...) are left to their readers.
 */
import { promises as fs } from 'node:fs';
import path from 'node:path';
import { GENERATION_CONFIG_FILE, MAX_BEST_OF } from '@jpeglm/byte-lm';
import { UserError } from './errors.js';

export interface GenerationDefaults {
  readonly temperature?: number;
  readonly topK?: number;
  readonly topP?: number;
  readonly minP?: number;
  /** Classifier-free guidance scale, used only when a class is given. */
  readonly cfg?: number;
  /** Candidates drawn per image, the most likely kept. */
  readonly bestOf?: number;
}

/** HF key, our field, and the values the matching CLI option accepts. */
const KEYS: readonly [string, keyof GenerationDefaults, (v: number) => boolean, string][] = [
  ['temperature', 'temperature', (v) => v >= 0 && v <= 1000, 'a number from 0 to 1000'],
  ['top_k', 'topK', (v) => Number.isInteger(v) && v >= 0 && v <= 1 << 30, 'an integer >= 0'],
  ['top_p', 'topP', (v) => v > 0 && v <= 1, 'in (0, 1]'],
  ['min_p', 'minP', (v) => v >= 0 && v <= 1, 'in [0, 1]'],
  ['guidance_scale', 'cfg', (v) => v >= 0 && v <= 100, 'a number from 0 to 100'],
  [
    'best_of',
    'bestOf',
    (v) => Number.isInteger(v) && v >= 1 && v <= MAX_BEST_OF,
    `an integer from 1 to ${MAX_BEST_OF}`,
  ],
];

const MAX_BYTES = 64 * 1024;

/** Check a parsed generation_config.json; `file` names it in errors. */
export function parseGenerationDefaults(json: unknown, file: string): GenerationDefaults {
  if (typeof json !== 'object' || json === null || Array.isArray(json)) {
    throw new UserError(`${file}: not a JSON object`);
  }
  const obj = json as Record<string, unknown>;
  const out: Record<string, number> = {};
  for (const [key, field, ok, expected] of KEYS) {
    const v = obj[key];
    if (v === undefined || v === null) continue;
    if (typeof v !== 'number' || !Number.isFinite(v) || !ok(v)) {
      throw new UserError(`${file}: ${key} must be ${expected}, got ${JSON.stringify(v)}`);
    }
    out[field] = v;
  }
  return out;
}

/** The sampling defaults of a model directory; none when it has no generation_config.json. */
export async function loadGenerationDefaults(dir: string): Promise<GenerationDefaults> {
  const file = path.join(dir, GENERATION_CONFIG_FILE);
  const st = await fs.stat(file).catch(() => undefined);
  if (st === undefined) return {};
  if (!st.isFile() || st.size > MAX_BYTES) {
    throw new UserError(`${file}: not a small JSON file`);
  }
  let json: unknown;
  try {
    json = JSON.parse(await fs.readFile(file, 'utf8'));
  } catch (e) {
    throw new UserError(`${file}: not valid JSON (${(e as Error).message})`);
  }
  return parseGenerationDefaults(json, file);
}

/**
 * The defaults for one run: guidance mixes class and null-class logits, so a model's default
 * guidance scale applies only when a class is given (an unconditional run has no guidance).
 */
export function modelDefaultsFor(
  defaults: GenerationDefaults,
  classLabel: string | undefined,
): GenerationDefaults {
  return classLabel === undefined ? { ...defaults, cfg: undefined } : defaults;
}
