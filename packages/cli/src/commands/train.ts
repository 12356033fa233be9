import type { Command } from 'commander';
import {
  checkpointTrainConfig,
  resolveTrainConfig,
  train,
  trainConfigToJson,
  type TrainConfig,
  type TrainEvent,
} from '@jpeglm/byte-lm';
import { UserError } from '../errors.js';
import { ExitCode } from '../exit-codes.js';
import { readInput, writeStdout } from '../io.js';
import { formatDuration } from '../progress.js';
import { parseFloatOption, parseIntegerOption } from '../sampling-options.js';

interface TrainCliOptions {
  data: string;
  out: string;
  config?: string;
  resume?: boolean;
  init?: string;
  steps?: string;
  batch?: string;
  seqLen?: string;
  gradAccum?: string;
  lr?: string;
  minLr?: string;
  warmup?: string;
  weightDecay?: string;
  gradClip?: string;
  classDropout?: string;
  seed?: string;
  valEvery?: string;
  valBatches?: string;
  checkpointEvery?: string;
  logEvery?: string;
  threads?: string;
  json?: boolean;
}

const MAX_CONFIG_BYTES = 1024 * 1024;
const BIG = 2 ** 31 - 1;

async function readConfigFile(file: string): Promise<unknown> {
  const bytes = await readInput(file, MAX_CONFIG_BYTES);
  try {
    return JSON.parse(new TextDecoder().decode(bytes));
  } catch (e) {
    throw new UserError(`${file}: not valid JSON (${(e as Error).message})`);
  }
}

/** Flags that override the config file, parsed strictly (bad values are usage errors). */
function overrides(o: TrainCliOptions): Partial<Omit<TrainConfig, 'model'>> {
  const int = (name: string, v: string | undefined, min = 1): number | undefined =>
    v === undefined ? undefined : parseIntegerOption(name, v, min, BIG);
  const num = (name: string, v: string | undefined, ok: (x: number) => boolean, what: string) =>
    v === undefined ? undefined : parseFloatOption(name, v, ok, what);
  const nonNeg = (x: number): boolean => x >= 0 && Number.isFinite(x);
  return {
    steps: int('--steps', o.steps),
    batchSize: int('--batch', o.batch),
    seqLen: int('--seq-len', o.seqLen),
    gradAccum: int('--grad-accum', o.gradAccum),
    lr: num('--lr', o.lr, (x) => x > 0 && Number.isFinite(x), '> 0'),
    minLr: num('--min-lr', o.minLr, nonNeg, '>= 0'),
    warmupSteps: int('--warmup', o.warmup, 0),
    weightDecay: num('--weight-decay', o.weightDecay, nonNeg, '>= 0'),
    gradClip: num('--grad-clip', o.gradClip, nonNeg, '>= 0 (0 = off)'),
    classDropout: num('--class-dropout', o.classDropout, (x) => x >= 0 && x < 1, 'in [0, 1)'),
    seed: o.seed === undefined ? undefined : parseIntegerOption('--seed', o.seed, 0, 0xffffffff),
    valEvery: int('--val-every', o.valEvery, 0),
    valBatches: int('--val-batches', o.valBatches),
    checkpointEvery: int('--checkpoint-every', o.checkpointEvery, 0),
    logEvery: int('--log-every', o.logEvery),
    threads: int('--threads', o.threads),
  };
}

function rate(x: number): string {
  return x >= 1e6
    ? `${(x / 1e6).toFixed(2)}M`
    : x >= 1e3
      ? `${(x / 1e3).toFixed(1)}k`
      : x.toFixed(0);
}

/** One stderr line per event: the progress a person watches. */
function describe(e: TrainEvent): string {
  switch (e.kind) {
    case 'start':
      return (
        `train: ${(e.parameters / 1e6).toFixed(2)}M parameters, ${rate(e.trainTokens)} training tokens` +
        `${e.validation ? `, ${rate(e.valTokens)} validation tokens` : e.valTokens > 0 ? ', validation split shorter than one window (no validation)' : ', no validation split'}` +
        `, ${e.tokensPerStep} tokens/step, ${e.resumed ? `resuming at step ${e.step}` : e.initialisedFrom !== undefined ? `from ${e.initialisedFrom}` : 'from scratch'}` +
        ` to step ${e.steps}`
      );
    case 'step':
      return (
        `step ${e.step}/${e.steps}  loss ${e.loss.toFixed(4)}  lr ${e.lr.toExponential(2)}` +
        `  |g| ${e.gradNorm.toFixed(3)}  ${rate(e.tokensPerSecond)} tok/s  epoch ${e.epoch}` +
        `  ETA ${formatDuration(e.etaSeconds)}`
      );
    case 'validation':
      return `val  step ${e.step}  ${e.bitsPerByte.toFixed(4)} bits/byte  loss ${e.loss.toFixed(4)}  (${e.tokens} tokens)`;
    case 'checkpoint':
      return `checkpoint at step ${e.step} -> ${e.dir}`;
    case 'best':
      return `best validation so far (step ${e.step}, ${e.bitsPerByte.toFixed(4)} bits/byte) -> ${e.dir}`;
    case 'done':
      return `train: done at step ${e.step}`;
    case 'interrupted':
      return `train: stopped at step ${e.step}; checkpoint saved`;
  }
}

export function register(program: Command): void {
  program
    .command('train')
    .summary('train a byte LM on token shards (ONNX Runtime, CPU)')
    .description(
      'Train a Llama-style byte LM on a `jpeglm prep` folder. Each step (forward, cross-entropy, ' +
        'gradients by reverse-mode differentiation of the inference graph, gradient clipping, ' +
        'AdamW) is one ONNX graph run by ONNX Runtime on the CPU. Warmup + cosine learning rate, ' +
        'gradient accumulation, packed sequences, class-label dropout for classifier-free ' +
        'guidance, validation in bits per byte, checkpoints that resume exactly. The output ' +
        'folder is a model directory (config.json, model.safetensors, tokenizer.json) that ' +
        '`generate`, `score` and `eval` load with --model. Ctrl-C stops after the current step ' +
        'and saves a checkpoint (exit 130); rerun with --resume to continue.',
    )
    .requiredOption('--data <dir>', 'data folder written by `jpeglm prep`')
    .requiredOption('--out <dir>', 'output model folder (holds checkpoint/ and train-log.jsonl)')
    .option('--config <file>', 'training config JSON (see packages/byte-lm/README.md, "Training")')
    .option(
      '--resume',
      'continue the checkpoint in --out (with its config unless --config is given)',
    )
    .option(
      '--init <model>',
      "start from this model directory's weights (fine-tuning: same shape and vocabulary, " +
        'any profile; fresh optimizer state); not with --resume',
    )
    .option('--steps <n>', 'optimizer steps in total')
    .option('--batch <n>', 'sequences per micro-batch')
    .option('--seq-len <n>', 'tokens per sequence (window)')
    .option('--grad-accum <n>', 'micro-batches per optimizer step')
    .option('--lr <x>', 'peak learning rate')
    .option('--min-lr <x>', 'learning rate at the end of the cosine decay')
    .option('--warmup <n>', 'linear warmup steps')
    .option('--weight-decay <x>', 'AdamW decoupled weight decay (projection matrices only)')
    .option('--grad-clip <x>', 'global gradient-norm clipping threshold (0 = off)')
    .option(
      '--class-dropout <p>',
      'probability of training a sample with NULL_CLASS instead of its class',
    )
    .option('--seed <n>', 'seed of the initial weights, data order and class dropout')
    .option('--val-every <n>', 'validate every N steps (0 = only at the end)')
    .option('--val-batches <n>', 'validation batches per validation')
    .option('--checkpoint-every <n>', 'checkpoint every N steps (0 = at the end and on Ctrl-C)')
    .option('--log-every <n>', 'progress line every N steps')
    .option('--threads <n>', 'ONNX Runtime threads (default: the number of cores)')
    .option('--json', 'print a JSON summary on stdout at the end')
    .addHelpText(
      'after',
      '\nExamples:\n' +
        '  jpeglm prep emoji/ --profile jpeglm-32-q75 --out data/emoji\n' +
        '  jpeglm train --data data/emoji --out models/emoji --steps 2000 --batch 8 --seq-len 512\n' +
        '  jpeglm train --data data/emoji --out models/emoji --resume --steps 4000\n' +
        '  jpeglm train --data data/emoji-q25 --out models/emoji-q25 --init models/emoji\n' +
        '  jpeglm generate --model models/emoji --class dog --out dog.jpg',
    )
    .action(async (opts: TrainCliOptions) => {
      const flags = overrides(opts);
      let base: unknown = {};
      if (opts.config !== undefined) {
        base = await readConfigFile(opts.config);
      } else if (opts.resume) {
        const stored = await checkpointTrainConfig(opts.out);
        if (stored) base = trainConfigToJson(stored);
      }
      let config: TrainConfig;
      try {
        config = resolveTrainConfig(base, flags);
      } catch (e) {
        const where = opts.config ?? 'training config';
        throw new UserError(`${where}: ${(e as Error).message}`, ExitCode.usage);
      }

      const abort = new AbortController();
      let signals = 0;
      const onSignal = (): void => {
        signals++;
        if (signals === 1) {
          process.stderr.write(
            '\ntrain: stopping after this step and saving a checkpoint (Ctrl-C again to quit without saving)\n',
          );
          abort.abort();
        } else {
          process.exit(ExitCode.interrupted);
        }
      };
      process.on('SIGINT', onSignal);
      process.on('SIGTERM', onSignal);
      let bpb: number | undefined;
      try {
        const result = await train({
          dataDir: opts.data,
          outDir: opts.out,
          config,
          resume: opts.resume ?? false,
          ...(opts.init !== undefined ? { init: opts.init } : {}),
          signal: abort.signal,
          onEvent: (e) => {
            if (e.kind === 'validation') bpb = e.bitsPerByte;
            process.stderr.write(`${describe(e)}\n`);
          },
        });
        if (opts.json) {
          await writeStdout(
            `${JSON.stringify({
              out: opts.out,
              step: result.step,
              interrupted: result.interrupted,
              loss: result.lastLoss ?? null,
              bitsPerByte: bpb ?? null,
            })}\n`,
          );
        }
        if (result.interrupted) {
          throw new UserError(
            `interrupted at step ${result.step}; checkpoint saved in ${opts.out}, rerun with --resume to continue`,
            ExitCode.interrupted,
          );
        }
      } finally {
        process.off('SIGINT', onSignal);
        process.off('SIGTERM', onSignal);
      }
    });
}
