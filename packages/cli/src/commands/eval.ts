import { spawnSync } from 'node:child_process';
import type { Command } from 'commander';
import {
  generateImages,
  heldOutBitsPerByte,
  jpegDecodeProblem,
  openPreparedDataset,
  readSplit,
  type GeneratedImage,
} from '@jpeglm/byte-lm';
import { decodeJpeg, isCodecError, type RgbImage } from '@jpeglm/codec-tokenizer';
import { UserError, usageError } from '../errors.js';
import { checkOutputFile } from '../input.js';
import { writeFileAtomic, writeStdout } from '../io.js';
import { MODEL_OPTION_HELP, WEIGHTS_OPTION, openModel, parseWeights } from '../model-loader.js';
import { encodePng, tileGrid } from '../png.js';
import { Progress } from '../progress.js';
import { parseFloatOption, parseIntegerOption } from '../sampling-options.js';

interface EvalCliOptions {
  model?: string;
  weights?: string;
  data: string;
  samples: string;
  maxVal?: string;
  seed: string;
  temperature: string;
  maxTokens?: string;
  grid?: string;
  json?: boolean;
}

/** djpeg (libjpeg-turbo) exits 2 on any warning; undefined when it is not installed. */
function djpegAvailable(): boolean {
  const r = spawnSync('djpeg', ['-version'], { stdio: 'ignore' });
  return r.error === undefined;
}

function djpegClean(jpeg: Uint8Array): boolean {
  const r = spawnSync('djpeg', ['-outfile', '/dev/null'], {
    input: jpeg,
    stdio: ['pipe', 'ignore', 'pipe'],
  });
  return r.status === 0 && r.stderr.length === 0;
}

interface ValidityReport {
  readonly samples: number;
  readonly valid: number;
  readonly rate: number;
  /** Streams the model did not finish itself (length limit, EOS before EOI) and were repaired. */
  readonly repaired: number;
  /** The first few reasons a sample was invalid. */
  readonly problems: string[];
}

function validity(images: readonly GeneratedImage[], useDjpeg: boolean): ValidityReport {
  let valid = 0;
  let repaired = 0;
  const problems: string[] = [];
  images.forEach((img, i) => {
    if (img.repaired) repaired++;
    // Only the model's own stream counts: a repaired file is ours, not the model's.
    const why = img.repaired
      ? (img.warning ?? 'repaired')
      : (jpegDecodeProblem(img.jpeg) ??
        (useDjpeg && !djpegClean(img.jpeg) ? 'djpeg reports a warning' : undefined));
    if (why === undefined) valid++;
    else if (problems.length < 5) problems.push(`sample ${i + 1}: ${why}`);
  });
  return {
    samples: images.length,
    valid,
    rate: images.length ? valid / images.length : 0,
    repaired,
    problems,
  };
}

export function register(program: Command): void {
  program
    .command('eval')
    .summary('evaluate a model on a prepared dataset: val bits/byte, sample validity, sample grid')
    .description(
      'Held-out bits per byte of the model on the val split of a dataset from jpeglm prep; ' +
        'the validity rate of unconstrained samples (raw model) against samples masked by the ' +
        'JPEG grammar (a sample is valid when the model ended its own stream and it decodes with ' +
        'no warning: our validator, our decoder and djpeg if installed); optionally a PNG grid ' +
        'of the constrained samples, one row per class.',
    )
    .option('--model <dir>', MODEL_OPTION_HELP)
    .option(...WEIGHTS_OPTION)
    .requiredOption('--data <dir>', 'dataset folder written by jpeglm prep')
    .option('--samples <n>', 'samples per mode (unconstrained, constrained), classes in turn', '8')
    .option('--max-val <n>', 'score at most the first n val samples (default: all)')
    .option('--seed <n>', 'PRNG seed for the samples', '0')
    .option('--temperature <t>', 'sampling temperature for the samples', '1')
    .option('--max-tokens <n>', 'tokens per sample at most (default: what the context allows)')
    .option('--grid <file.png>', 'write the constrained samples as a PNG grid, one row per class')
    .option('--json', 'print the report as JSON on stdout')
    .action(async (opts: EvalCliOptions) => {
      const samples = parseIntegerOption('--samples', opts.samples, 0, 4096);
      const maxVal =
        opts.maxVal === undefined
          ? undefined
          : parseIntegerOption('--max-val', opts.maxVal, 0, 1 << 30);
      const seed = parseIntegerOption('--seed', opts.seed, 0, 0xffffffff);
      const temperature = parseFloatOption(
        '--temperature',
        opts.temperature,
        (v) => v >= 0 && v <= 1000,
        'a number from 0 to 1000',
      );
      const maxTokens =
        opts.maxTokens === undefined
          ? undefined
          : parseIntegerOption('--max-tokens', opts.maxTokens, 1, 1 << 30);
      if (opts.grid !== undefined) {
        if (samples === 0) throw usageError('--grid needs --samples of at least 1');
        await checkOutputFile(opts.grid);
      }
      let dataset;
      try {
        dataset = await openPreparedDataset(opts.data);
      } catch (e) {
        if (isCodecError(e)) throw new UserError(e.message);
        throw e;
      }
      const opened = await openModel(opts.model, parseWeights(opts.weights));
      const { model, tokenizer } = opened;
      try {
        if (JSON.stringify(dataset.tokenizer.toJSON()) !== JSON.stringify(tokenizer.toJSON())) {
          const d = dataset.tokenizer;
          throw new UserError(
            `${opts.data}: the dataset's tokenizer (${d.profile.name}, ${d.classes.length} classes) is not the model's ` +
              `(${tokenizer.profile.name}, ${tokenizer.classes.length} classes); evaluate a model on the data it was trained for`,
          );
        }
        let val;
        try {
          val = await readSplit(dataset, 'val');
        } catch (e) {
          if (isCodecError(e)) throw new UserError(e.message);
          throw e;
        }
        if (maxVal !== undefined) val = val.slice(0, maxVal);
        const progress = new Progress({ total: val.length, unit: 'samples', label: 'eval val' });
        let shown = 0;
        const heldOut = await heldOutBitsPerByte(model, val, (done) => {
          progress.tick(done - shown);
          shown = done;
        });
        if (val.length > 0) progress.finish();
        if (val.length === 0) process.stderr.write('jpeglm: warning: the val split is empty\n');
        if (heldOut.tooLong > 0) {
          process.stderr.write(
            `jpeglm: warning: ${heldOut.tooLong} val samples exceed the model's ${model.maxPositions} positions; not scored\n`,
          );
        }

        const classes = tokenizer.classes;
        const prompts = Array.from({ length: samples }, (_, i) => ({
          classLabel: classes.length ? classes[i % classes.length] : null,
        }));
        const useDjpeg = djpegAvailable();
        const run = async (constrain: boolean): Promise<GeneratedImage[]> => {
          if (samples === 0) return [];
          process.stderr.write(
            `eval: ${samples} ${constrain ? 'constrained' : 'unconstrained'} samples\n`,
          );
          const r = await generateImages(model, {
            tokenizer,
            prompts,
            constrain,
            sampling: { seed, temperature },
            maxNewTokens: maxTokens,
          });
          return r.images;
        };
        const unconstrained = validity(await run(false), useDjpeg);
        const constrainedImages = await run(true);
        const constrained = validity(constrainedImages, useDjpeg);

        if (opts.grid !== undefined) {
          const rows = new Map<string, RgbImage[]>();
          constrainedImages.forEach((img, i) => {
            const key = prompts[i].classLabel ?? '(unlabelled)';
            let pixels: RgbImage;
            try {
              pixels = decodeJpeg(img.jpeg);
            } catch {
              return; // the validity report counts it; the grid shows what decodes
            }
            rows.set(key, [...(rows.get(key) ?? []), pixels]);
          });
          if (rows.size === 0)
            throw new UserError('no constrained sample decodes; no grid written');
          await writeFileAtomic(opts.grid, encodePng(tileGrid([...rows.values()])));
        }

        const perClass = [...heldOut.perClass].map(([id, g]) => ({
          class: id === null ? null : classes[id],
          samples: g.samples,
          bitsPerByte: g.bitsPerByte,
        }));
        const report = {
          model: opened.dir,
          data: opts.data,
          profile: tokenizer.profile.name,
          val: {
            samples: heldOut.samples,
            bytes: heldOut.bytes,
            bitsPerByte: heldOut.samples > 0 ? heldOut.bitsPerByte : null,
            tooLong: heldOut.tooLong,
            perClass,
          },
          validity: {
            checkers: useDjpeg ? ['validator', 'decoder', 'djpeg'] : ['validator', 'decoder'],
            unconstrained,
            constrained,
          },
          sampling: { seed, temperature, maxTokens: maxTokens ?? null },
          grid: opts.grid ?? null,
        };
        if (opts.json) {
          await writeStdout(`${JSON.stringify(report, null, 2)}\n`);
        } else {
          const pct = (v: ValidityReport): string =>
            `${v.valid}/${v.samples} (${(100 * v.rate).toFixed(1)}%)`;
          await writeStdout(
            `val bits/byte\t${report.val.bitsPerByte === null ? 'n/a' : report.val.bitsPerByte.toFixed(4)}\t(${heldOut.samples} samples, ${heldOut.bytes} bytes)\n` +
              `valid unconstrained\t${pct(unconstrained)}\n` +
              `valid constrained\t${pct(constrained)}\n` +
              (opts.grid ? `grid\t${opts.grid}\n` : ''),
          );
        }
      } finally {
        await model.dispose();
      }
    });
}
