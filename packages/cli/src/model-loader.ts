/**
 * Finding and opening the model a command runs: `--model DIR`, or else the embedded default
 * model, `models/emoji-48` of the repository checkout (found from this package's location, so
 * it works from a fresh clone after `npm ci`, whatever the working directory).
 */
import { existsSync, statSync } from 'node:fs';
import { promises as fs } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import {
  OnnxCausalLM,
  TOKENIZER_FILE,
  checkVocabulary,
  loadModelDir,
  type WeightFormat,
} from '@jpeglm/byte-lm';
import { JpegTokenizer, isCodecError } from '@jpeglm/codec-tokenizer';
import { ExitCode } from './exit-codes.js';
import { UserError, usageError } from './errors.js';

/** The embedded default model: a directory under the repository's `models/` (issue 6). */
export const DEFAULT_MODEL = path.join('models', 'emoji-48');

/** What `--model` help texts say about the default. */
export const MODEL_OPTION_HELP = `model directory (default: ${DEFAULT_MODEL}, the embedded emoji model)`;

const WEIGHT_FORMATS: readonly WeightFormat[] = ['float32', 'int8', 'int4'];

/**
 * `--weights` (commander's option arguments): the precision the projection weights run at. The model files stay float32; int8
 * and int4 are quantised when the model is opened (ORT MatMulNBits, per-32-block scales), which
 * is 2-3x faster on CPU and changes the logits slightly, so a seed gives other bytes.
 */
export const WEIGHTS_OPTION = [
  '--weights <format>',
  'projection weights at float32 (exact), int8 or int4 (quantised on load: faster on CPU, ' +
    'slightly different results)',
  'float32',
] as const;

/** The `--weights` value, checked. */
export function parseWeights(text: string | undefined): WeightFormat {
  const format = WEIGHT_FORMATS.find((f) => f === (text ?? 'float32'));
  if (format === undefined) {
    throw usageError(`--weights must be float32, int8 or int4, got "${text}"`);
  }
  return format;
}

/** Where the default model is looked for: the repository root above packages/cli. */
export function defaultModelCandidates(): string[] {
  const here = path.dirname(fileURLToPath(import.meta.url)); // packages/cli/{dist,src}
  const repoRoot = path.resolve(here, '..', '..', '..');
  return [path.join(repoRoot, DEFAULT_MODEL)];
}

/** The model directory to use: `--model` if given, else the default model, else a usage error. */
export function resolveModelDir(
  option: string | undefined,
  candidates: readonly string[] = defaultModelCandidates(),
): string {
  if (option !== undefined) return option;
  const found = candidates.find((d) => existsSync(d) && statSync(d).isDirectory());
  if (found === undefined) {
    throw new UserError(
      `no model given and no default model installed (looked in ${candidates.join(', ')}); pass --model DIR`,
      ExitCode.usage,
    );
  }
  return found;
}

/** Turn a library error about a model file into a one-line user error naming the directory. */
function modelProblem(dir: string, e: unknown): unknown {
  if (isCodecError(e)) {
    const msg = e.message.includes(dir) ? e.message : `${dir}: ${e.message}`;
    return new UserError(msg, ExitCode.badInput);
  }
  return e;
}

/** Read only the tokenizer of a model directory (vocabulary, classes, profile). */
export async function loadTokenizer(dir: string): Promise<JpegTokenizer> {
  const file = path.join(dir, TOKENIZER_FILE);
  let text: string;
  try {
    text = await fs.readFile(file, 'utf8');
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code === 'ENOENT' || code === 'ENOTDIR') {
      const st = await fs.stat(dir).catch(() => undefined);
      if (!st) throw new UserError(`${dir}: no such model directory`);
      if (!st.isDirectory()) throw new UserError(`${dir}: not a directory`);
      throw new UserError(`${file}: missing (a model directory needs its tokenizer)`);
    }
    throw e;
  }
  try {
    return JpegTokenizer.fromJSON(text);
  } catch (e) {
    throw isCodecError(e) ? new UserError(`${file}: ${e.message}`) : e;
  }
}

export interface OpenedModel {
  readonly dir: string;
  readonly model: OnnxCausalLM;
  readonly tokenizer: JpegTokenizer;
}

/** Load config, weights and tokenizer, check they belong together, and start the runtime. */
export async function openModel(
  option: string | undefined,
  weights: WeightFormat = 'float32',
): Promise<OpenedModel> {
  const dir = resolveModelDir(option);
  const tokenizer = await loadTokenizer(dir);
  let model: OnnxCausalLM;
  try {
    model = await OnnxCausalLM.create(await loadModelDir(dir), { weightFormat: weights });
  } catch (e) {
    throw modelProblem(dir, e);
  }
  try {
    checkVocabulary(model, tokenizer);
  } catch (e) {
    await model.dispose();
    throw modelProblem(dir, e);
  }
  return { dir, model, tokenizer };
}
