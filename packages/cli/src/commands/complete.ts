import path from 'node:path';
import type { Command } from 'commander';
import { cutBodyAtRestart } from '@jpeglm/byte-lm';
import { canonicalBody, canonicalizeImage } from '@jpeglm/codec-tokenizer';
import { inFile } from '../errors.js';
import { readInput } from '../io.js';
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
  parseFloatOption,
  parseIntegerOption,
  type RawSamplingOptions,
} from '../sampling-options.js';

interface CompleteCliOptions extends RawSamplingOptions, OutputOptions {
  keep: string;
  class?: string;
  model?: string;
  weights?: string;
  n: string;
}

export function register(program: Command): void {
  const cmd = program
    .command('complete')
    .description(
      "Complete an image: canonicalise IMAGE with the model's profile, keep the first fraction " +
        'of its MCUs (cut just after a restart marker, like JPEG-LM prompts) and let the model ' +
        'write the rest. Sampling, grammar and output options are those of generate.',
    )
    .argument('<image>', 'any image file sharp reads (JPEG, PNG, WebP, ...) or a PPM')
    .option('--keep <fraction>', 'fraction of the MCUs to keep, in [0, 1)', '0.5')
    .option('--class <name>', 'class label to condition on (default: unconditional)')
    .option('--video', VIDEO_OPTION_HELP)
    .option('--model <dir>', MODEL_OPTION_HELP)
    .option('-n, --n <count>', `number of completions, 1..${MAX_IMAGES}`, '1');
  addSamplingOptions(cmd);
  cmd.option(...WEIGHTS_OPTION);
  addOutputOptions(cmd, 'completed-{i}.jpg');
  cmd.action(async (image: string, opts: CompleteCliOptions) => {
    const keep = parseFloatOption(
      '--keep',
      opts.keep,
      (v) => v >= 0 && v < 1,
      'a fraction in [0, 1)',
    );
    const n = parseIntegerOption('--n', opts.n, 1, MAX_IMAGES);
    const weights = parseWeights(opts.weights);
    const modelDir = resolveModelDir(opts.model);
    const defaults = modelDefaultsFor(await loadGenerationDefaults(modelDir), opts.class);
    const settings = generationSettings(opts, defaults);
    const stem = path
      .basename(image)
      .replace(/\.[^.]*$/, '')
      .replace(/[^A-Za-z0-9_.-]+/g, '_');
    const plan = planOutputs(n, opts, `${stem}-completed-{i}.jpg`);
    const input = await readInput(image);
    const opened = await openModel(modelDir, weights);
    try {
      const { tokenizer } = opened;
      const classLabel = resolveClass(opts.class, tokenizer.classes);
      let cut;
      try {
        const jpeg = await canonicalizeImage(input, tokenizer.profile);
        cut = cutBodyAtRestart(canonicalBody(jpeg, tokenizer.profile), tokenizer.profile, keep);
      } catch (e) {
        throw inFile(image, e);
      }
      process.stderr.write(
        `complete: keeping ${cut.keptMcus} of ${cut.totalMcus} MCUs (${cut.body.length} bytes of scan)\n`,
      );
      await runImages({
        opened,
        prompts: Array.from({ length: n }, () => ({ classLabel, body: cut.body })),
        settings,
        plan,
        json: opts.json === true,
        label: 'complete',
        promptMcus: cut.keptMcus,
        promptTokens: 2 + tokenizer.encodeBody(cut.body).length,
        summary: {
          command: 'complete',
          image,
          class: classLabel,
          keptMcus: cut.keptMcus,
          totalMcus: cut.totalMcus,
          promptBytes: cut.body.length,
        },
      });
    } finally {
      await opened.model.dispose();
    }
  });
}
