/**
 * What `generate` and `complete` share once their prompts are known: where the images go,
 * the progress line, running the model, writing files and the summary.
 */
import { existsSync, statSync } from 'node:fs';
import path from 'node:path';
import { Option, type Command } from 'commander';
import {
  generateBestImages,
  generateImages,
  type GeneratedImage,
  type GenerationStats,
  type ImagePrompt,
  type RankedImage,
} from '@jpeglm/byte-lm';
import { isCodecError, mcuCount } from '@jpeglm/codec-tokenizer';
import { ExitCode } from './exit-codes.js';
import { UserError, usageError } from './errors.js';
import { assertBinaryStdout, writeFileAtomic, writeStdout } from './io.js';
import type { OpenedModel } from './model-loader.js';
import { Progress } from './progress.js';
import { closestNames } from './suggest.js';
import type { GenerationSettings } from './sampling-options.js';

/** Largest --n: each image is a row of every forward pass. */
export const MAX_IMAGES = 1024;

export interface OutputOptions {
  out?: string;
  output?: string;
  json?: boolean;
}

/** Add -o/--out (and --output, its alias) and --json. */
export function addOutputOptions(cmd: Command, example: string): Command {
  return cmd
    .option(
      '-o, --out <template>',
      `output file; {i} becomes the image number 1..n (e.g. '${example}'); '-' or none with --n 1: stdout`,
    )
    .addOption(new Option('--output <template>', 'same as --out').hideHelp())
    .option('--json', 'print a JSON summary on stdout (images go to files)');
}

/** Where the images go: files named by a template, or (one image) stdout. */
export type OutputPlan = { kind: 'stdout' } | { kind: 'files'; paths: string[] };

export function planOutputs(n: number, o: OutputOptions, defaultTemplate: string): OutputPlan {
  const template = o.out ?? o.output;
  if (template === '-' || (template === undefined && n === 1 && !o.json)) {
    if (n > 1) throw usageError(`--n ${n} writes several files: give --out with {i}`);
    if (o.json) throw usageError('--json prints the summary on stdout: give --out FILE');
    assertBinaryStdout(
      "redirect to a file (> out.jpg) or use --out FILE (e.g. --out 'img-{i}.jpg')",
    );
    return { kind: 'stdout' };
  }
  const t = template ?? defaultTemplate;
  if (n > 1 && !t.includes('{i}')) {
    throw usageError(`--out '${t}' names one file for ${n} images: put {i} in it`);
  }
  const paths = Array.from({ length: n }, (_, i) => t.replaceAll('{i}', String(i + 1)));
  // A bad destination is found now, not after minutes of generation.
  const dir = path.dirname(path.resolve(paths[0]));
  if (!existsSync(dir) || !statSync(dir).isDirectory()) {
    throw usageError(`--out '${t}': directory ${dir} does not exist`);
  }
  return { kind: 'files', paths };
}

/** A class label the tokenizer knows, or a usage error listing the closest ones. */
export function resolveClass(name: string | undefined, classes: readonly string[]): string | null {
  if (name === undefined) return null;
  if (classes.includes(name)) return name;
  if (classes.length === 0) {
    throw usageError(`unknown class '${name}': this model is unconditional (it has no classes)`);
  }
  const near = closestNames(name, classes, 5);
  throw usageError(
    `unknown class '${name}'; closest: ${near.join(', ')} (jpeglm classes lists all ${classes.length})`,
  );
}

export interface RunImagesInput {
  readonly opened: OpenedModel;
  readonly prompts: readonly ImagePrompt[];
  readonly settings: GenerationSettings;
  readonly plan: OutputPlan;
  readonly json: boolean;
  readonly label: string;
  /** MCUs already in each prompt (complete), for progress. */
  readonly promptMcus?: number;
  /** Tokens in each prompt, for the default length limit. */
  readonly promptTokens?: number;
  /** Extra fields for the JSON summary. */
  readonly summary: Record<string, unknown>;
}

export async function runImages(input: RunImagesInput): Promise<void> {
  const { opened, prompts, settings, plan } = input;
  const { model, tokenizer } = opened;
  if (settings.cfg !== undefined && prompts.every((p) => (p.classLabel ?? null) === null)) {
    throw usageError('--cfg mixes class and null-class logits: it needs --class');
  }

  // Progress in MCUs when the grammar tracks them (a good ETA), else in tokens; every candidate
  // of --best-of is a row of its own.
  const n = prompts.length;
  const rows = n * settings.bestOf;
  const promptMcus = input.promptMcus ?? 0;
  const maxTokens = settings.maxTokens ?? model.maxPositions - (input.promptTokens ?? 2);
  const byMcu = settings.constrain;
  const progress = new Progress({
    total: byMcu ? rows * (mcuCount(tokenizer.profile) - promptMcus) : rows * maxTokens,
    unit: byMcu ? 'MCUs' : 'tokens',
    label: input.label,
  });
  const mcuDone = new Array<number>(rows).fill(promptMcus);
  let tokens = 0;
  const started = performance.now();
  const tokenRate = (): string => {
    const secs = Math.max((performance.now() - started) / 1000, 1e-3);
    return `(${tokens} tokens, ${(tokens / secs).toFixed(0)} tokens/s)`;
  };

  const options = {
    tokenizer,
    prompts,
    sampling: settings.sampling,
    cfgScale: settings.cfg,
    constrain: settings.constrain,
    maxNewTokens: maxTokens,
    onToken: (row: number, _token: number, mcus: number | undefined) => {
      tokens++;
      if (mcus !== undefined) {
        const delta = mcus - mcuDone[row];
        mcuDone[row] = mcus;
        progress.tick(delta, tokenRate());
      } else {
        progress.tick(1, tokenRate());
      }
    },
  };
  let result: { images: (GeneratedImage | RankedImage)[]; stats: GenerationStats };
  try {
    result =
      settings.bestOf > 1
        ? await generateBestImages(model, { ...options, bestOf: settings.bestOf })
        : await generateImages(model, options);
  } catch (e) {
    throw asUserError(e);
  }
  const { images, stats } = result;
  progress.finish(
    `(${stats.generatedTokens} tokens, ${stats.tokensPerSecond.toFixed(0)} tokens/s, ` +
      `${n} image${n === 1 ? '' : 's'}` +
      `${settings.bestOf > 1 ? `, best of ${settings.bestOf} each` : ''})`,
  );
  if (settings.seedWasRandom) {
    process.stderr.write(
      `${input.label}: seed ${settings.sampling.seed} (pass --seed to repeat)\n`,
    );
  }
  for (const img of images)
    if (img.warning) process.stderr.write(`jpeglm: warning: ${img.warning}\n`);

  if (plan.kind === 'stdout') {
    await writeStdout(images[0].jpeg);
    return;
  }
  for (let i = 0; i < n; i++) await writeFileAtomic(plan.paths[i], images[i].jpeg);
  if (input.json) {
    const summary = {
      ...input.summary,
      model: opened.dir,
      profile: tokenizer.profile.name,
      seed: settings.sampling.seed,
      sampling: {
        ...settings.sampling,
        cfg: settings.cfg ?? null,
        bestOf: settings.bestOf,
        constrain: settings.constrain,
      },
      images: images.map((img, i) => ({
        file: plan.paths[i],
        bytes: img.jpeg.length,
        tokens: img.tokens.length,
        finishReason: img.finishReason,
        mcus: img.mcus ?? null,
        repaired: img.repaired,
        warning: img.warning ?? null,
        ...('bitsPerByte' in img
          ? { bitsPerByte: img.bitsPerByte, candidateBitsPerByte: img.candidateBitsPerByte }
          : {}),
      })),
      stats,
    };
    await writeStdout(`${JSON.stringify(summary, null, 2)}\n`);
  } else {
    for (const p of plan.paths) process.stderr.write(`wrote ${p}\n`);
  }
}

/** Options the library refuses (e.g. --max-tokens beyond the context) are usage errors. */
function asUserError(e: unknown): unknown {
  if (isCodecError(e) && e.code === 'invalid-argument') {
    return new UserError(e.message, ExitCode.usage);
  }
  return e;
}
