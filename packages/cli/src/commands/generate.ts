import type { Command } from 'commander';
import {
  MAX_IMAGES,
  addOutputOptions,
  planOutputs,
  resolveClass,
  runImages,
  type OutputOptions,
} from '../generation-run.js';
import { loadGenerationDefaults, modelDefaultsFor } from '../generation-config.js';
import { VIDEO_OPTION_HELP } from '../video-alias.js';
import {
  MODEL_OPTION_HELP,
  WEIGHTS_OPTION,
  openModel,
  parseWeights,
  resolveModelDir,
} from '../model-loader.js';
import {
  addSamplingOptions,
  generationSettings,
  parseIntegerOption,
  type RawSamplingOptions,
} from '../sampling-options.js';

interface GenerateCliOptions extends RawSamplingOptions, OutputOptions {
  class?: string;
  model?: string;
  weights?: string;
  n: string;
}

export function register(program: Command): void {
  const cmd = program
    .command('generate')
    .description(
      'Generate images with a byte language model: one JPEG per image, sampled byte by byte. ' +
        'The JPEG grammar masks the logits (unless --no-constrain), so every file decodes; a ' +
        'stream stopped by --max-tokens is repaired into a whole image (a warning says so). ' +
        'Progress (MCUs, tokens/s, ETA) goes to stderr.',
    )
    .option(
      '--class <name>',
      'class label to condition on (default: unconditional; see jpeglm classes)',
    )
    .option('--video', VIDEO_OPTION_HELP)
    .option('--model <dir>', MODEL_OPTION_HELP)
    .option('-n, --n <count>', `number of images, 1..${MAX_IMAGES}, generated as one batch`, '1');
  addSamplingOptions(cmd);
  cmd.option(...WEIGHTS_OPTION);
  addOutputOptions(cmd, 'dog-{i}.jpg');
  cmd.action(async (opts: GenerateCliOptions) => {
    const n = parseIntegerOption('--n', opts.n, 1, MAX_IMAGES);
    const weights = parseWeights(opts.weights);
    const modelDir = resolveModelDir(opts.model);
    const defaults = modelDefaultsFor(await loadGenerationDefaults(modelDir), opts.class);
    const settings = generationSettings(opts, defaults);
    const stem = (opts.class ?? 'unconditional').replace(/[^A-Za-z0-9_.-]+/g, '_');
    const plan = planOutputs(n, opts, `${stem}-{i}.jpg`);
    const opened = await openModel(modelDir, weights);
    try {
      const classLabel = resolveClass(opts.class, opened.tokenizer.classes);
      await runImages({
        opened,
        prompts: Array.from({ length: n }, () => ({ classLabel })),
        settings,
        plan,
        json: opts.json === true,
        label: 'generate',
        summary: { command: 'generate', class: classLabel },
      });
    } finally {
      await opened.model.dispose();
    }
  });
}
