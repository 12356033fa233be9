/**
 * The sampling options shared by `generate` and `complete`. Values arrive as strings and are
 * checked here, so an absurd value is one line (`jpeglm: --top-p must be ...`) with the usage
 * exit code, never a stack trace or a silent default.
 */
import type { Command } from 'commander';
import { MAX_BEST_OF, type SamplingOptions } from '@jpeglm/byte-lm';
import { usageError } from './errors.js';
import type { GenerationDefaults } from './generation-config.js';

export interface RawSamplingOptions {
  seed?: string;
  temperature?: string;
  topK?: string;
  topP?: string;
  minP?: string;
  cfg?: string;
  bestOf?: string;
  constrain?: boolean;
  maxTokens?: string;
}

export interface GenerationSettings {
  readonly sampling: Required<SamplingOptions>;
  /** True when the seed was drawn at random (it is reported so the run can be repeated). */
  readonly seedWasRandom: boolean;
  /** Classifier-free guidance scale, or undefined for none. */
  readonly cfg: number | undefined;
  /** Candidates drawn per image; the one the model finds most likely is kept. */
  readonly bestOf: number;
  readonly constrain: boolean;
  readonly maxTokens: number | undefined;
}

/** Help-text wording: an option left out takes the model's generation_config.json value. */
const MODEL_DEFAULT = "(default: the model's generation_config.json, else";

/**
 * Add --seed, --temperature, --top-k, --top-p, --min-p, --cfg, --best-of, --no-constrain,
 * --max-tokens.
 */
export function addSamplingOptions(cmd: Command): Command {
  return cmd
    .option(
      '--seed <n>',
      'PRNG seed, 0..4294967295: the same seed and options give the same bytes (default: random, reported)',
    )
    .option('--temperature <t>', `sampling temperature >= 0; 0 = greedy ${MODEL_DEFAULT} 1)`)
    .option('--top-k <k>', `keep only the k most likely tokens (0 = off) ${MODEL_DEFAULT} 0)`)
    .option(
      '--top-p <p>',
      `nucleus sampling: keep the most likely tokens up to mass p, in (0, 1] ${MODEL_DEFAULT} 1)`,
    )
    .option(
      '--min-p <p>',
      `drop tokens less likely than p times the best one, in [0, 1] ${MODEL_DEFAULT} 0)`,
    )
    .option(
      '--cfg <scale>',
      'classifier-free guidance scale S: logits = uncond + S * (cond - uncond), with --class ' +
        `${MODEL_DEFAULT} none)`,
    )
    .option(
      '--best-of <n>',
      `draw n candidates per image and keep the one the model finds most likely (lowest bits per ` +
        `byte), 1..${MAX_BEST_OF}; n times the work ${MODEL_DEFAULT} 1)`,
    )
    .option('--no-constrain', 'do not mask bytes with the JPEG grammar (raw model behaviour)')
    .option(
      '--max-tokens <n>',
      'stop each image after n tokens (default: what the model context allows)',
    );
}

/** A number written in plain decimal notation (no hex, no empty string, no "1e3" surprises). */
function parseNumber(name: string, text: string): number {
  if (!/^[+-]?(\d+\.?\d*|\.\d+)$/.test(text.trim())) {
    throw usageError(`${name} must be a number, got "${text}"`);
  }
  return Number(text);
}

export function parseIntegerOption(name: string, text: string, min: number, max: number): number {
  if (!/^\+?\d+$/.test(text.trim())) {
    throw usageError(`${name} must be an integer from ${min} to ${max}, got "${text}"`);
  }
  const v = Number(text);
  if (!(v >= min && v <= max)) {
    throw usageError(`${name} must be an integer from ${min} to ${max}, got ${text}`);
  }
  return v;
}

export function parseFloatOption(
  name: string,
  text: string,
  check: (v: number) => boolean,
  expected: string,
): number {
  const v = parseNumber(name, text);
  if (!check(v)) throw usageError(`${name} must be ${expected}, got ${text}`);
  return v;
}

/**
 * Checked settings from the raw options; an option left out takes the model's default
 * (generation_config.json, see generation-config.ts), else the neutral value (temperature 1,
 * no truncation, no guidance).
 */
export function generationSettings(
  o: RawSamplingOptions,
  defaults: GenerationDefaults = {},
): GenerationSettings {
  const seedWasRandom = o.seed === undefined;
  const seed =
    o.seed === undefined
      ? Math.floor(Math.random() * 0x100000000)
      : parseIntegerOption('--seed', o.seed, 0, 0xffffffff);
  const temperature =
    o.temperature === undefined
      ? (defaults.temperature ?? 1)
      : parseFloatOption(
          '--temperature',
          o.temperature,
          (v) => v >= 0 && v <= 1000,
          'a number from 0 to 1000',
        );
  const topK =
    o.topK === undefined ? (defaults.topK ?? 0) : parseIntegerOption('--top-k', o.topK, 0, 1 << 30);
  const topP =
    o.topP === undefined
      ? (defaults.topP ?? 1)
      : parseFloatOption('--top-p', o.topP, (v) => v > 0 && v <= 1, 'in (0, 1]');
  const minP =
    o.minP === undefined
      ? (defaults.minP ?? 0)
      : parseFloatOption('--min-p', o.minP, (v) => v >= 0 && v <= 1, 'in [0, 1]');
  const cfg =
    o.cfg === undefined
      ? defaults.cfg
      : parseFloatOption('--cfg', o.cfg, (v) => v >= 0 && v <= 100, 'a number from 0 to 100');
  const bestOf =
    o.bestOf === undefined
      ? (defaults.bestOf ?? 1)
      : parseIntegerOption('--best-of', o.bestOf, 1, MAX_BEST_OF);
  const maxTokens =
    o.maxTokens === undefined
      ? undefined
      : parseIntegerOption('--max-tokens', o.maxTokens, 1, 1 << 30);
  return {
    sampling: { seed, temperature, topK, topP, minP },
    seedWasRandom,
    cfg,
    bestOf,
    constrain: o.constrain !== false,
    maxTokens,
  };
}
