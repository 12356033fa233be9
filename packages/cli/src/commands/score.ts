import type { Command } from 'commander';
import { scoreImage } from '@jpeglm/byte-lm';
import { canonicalizeImage } from '@jpeglm/codec-tokenizer';
import { describeError, inFile } from '../errors.js';
import { ExitCode } from '../exit-codes.js';
import { readInput, writeStdout } from '../io.js';
import { resolveClass } from '../generation-run.js';
import { MODEL_OPTION_HELP, WEIGHTS_OPTION, openModel, parseWeights } from '../model-loader.js';

interface ScoreCliOptions {
  model?: string;
  weights?: string;
  class?: string;
  json?: boolean;
}

export function register(program: Command): void {
  program
    .command('score')
    .description(
      "Likelihood of images under a model: canonicalise each with the model's profile and " +
        'print the negative log-likelihood in bits per byte (lower = more typical), the basis ' +
        'of likelihood evaluation and anomaly detection. A file that fails is reported on ' +
        'stderr and the others are still scored (exit 2 at the end).',
    )
    .argument('<images...>', 'image files (any format sharp reads, or PPM)')
    .option('--model <dir>', MODEL_OPTION_HELP)
    .option(...WEIGHTS_OPTION)
    .option('--class <name>', 'condition on this class (default: unconditional, NULL_CLASS)')
    .option('--json', 'JSON on stdout, with per-token log-probabilities (natural log)')
    .action(async (images: string[], opts: ScoreCliOptions) => {
      const opened = await openModel(opts.model, parseWeights(opts.weights));
      const { model, tokenizer } = opened;
      let failed = 0;
      const results: unknown[] = [];
      try {
        const classLabel = resolveClass(opts.class, tokenizer.classes);
        for (const file of images) {
          try {
            const input = await readInput(file);
            let s;
            try {
              const jpeg = await canonicalizeImage(input, tokenizer.profile);
              s = await scoreImage(model, tokenizer, jpeg, { classLabel });
            } catch (e) {
              throw inFile(file, e);
            }
            if (opts.json) {
              results.push({
                file,
                class: classLabel,
                bitsPerByte: s.bitsPerByte,
                totalBits: s.totalBits,
                bytes: s.bytes,
                tokens: s.tokens,
                tokenLogProbs: Array.from(s.tokenLogProbs),
              });
            } else {
              await writeStdout(
                `${s.bitsPerByte.toFixed(4)} bits/byte\t${s.bytes} bytes\t${file}\n`,
              );
            }
          } catch (e) {
            const { line, exitCode } = describeError(e);
            if (exitCode === ExitCode.internal) throw e;
            process.stderr.write(`jpeglm: ${line}\n`);
            failed++;
          }
        }
      } finally {
        await model.dispose();
      }
      if (opts.json) {
        const out = {
          model: opened.dir,
          profile: tokenizer.profile.name,
          logBase: 'e',
          images: results,
        };
        await writeStdout(`${JSON.stringify(out)}\n`);
      }
      if (failed > 0) process.exitCode = ExitCode.badInput;
    });
}
