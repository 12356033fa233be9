import { availableParallelism } from 'node:os';
import { promises as fs } from 'node:fs';
import type { Command } from 'commander';
import {
  DEFAULT_CHUNK_SIZE,
  DEFAULT_SHARD_TOKENS,
  DEFAULT_VAL_FRACTION,
  prepareDataset,
  type PrepSource,
} from '@jpeglm/byte-lm';
import {
  DEFAULT_AVC_PROFILE,
  DEFAULT_MAX_MEGAPIXELS,
  avcProfile,
  isCodecError,
  type AvcProfile,
  type CanonicalJpegProfile,
} from '@jpeglm/codec-tokenizer';
import { UserError, usageError } from '../errors.js';
import { ExitCode } from '../exit-codes.js';
import { writeStdout } from '../io.js';
import { parseMegapixels } from '../limits.js';
import { Progress } from '../progress.js';
import {
  addProfileOptions,
  hasProfileOverrides,
  resolveProfile,
  type ProfileCliOptions,
} from '../profile-options.js';
import { parseFloatOption, parseIntegerOption } from '../sampling-options.js';

interface PrepCliOptions extends ProfileCliOptions {
  out: string;
  groupBy?: string;
  valFraction: string;
  workers?: string;
  chunkSize: string;
  shardTokens: string;
  maxMegapixels: string;
  video?: boolean;
  ffmpeg?: string;
  json?: boolean;
}

/**
 * The profile: an AVC one with --video or an `avc-lm-...` name (videos), else a canonical JPEG
 * one (images). The JPEG field options have no meaning for videos.
 */
function prepProfile(opts: PrepCliOptions): CanonicalJpegProfile | AvcProfile {
  const video = opts.video === true || (opts.profile?.startsWith('avc-') ?? false);
  if (!video) {
    if (opts.ffmpeg !== undefined) throw usageError('--ffmpeg needs --video (or an AVC --profile)');
    return resolveProfile(opts);
  }
  if (hasProfileOverrides(opts)) {
    throw usageError(
      '--size/--quality/--restart/--subsampling/--fit/--background are JPEG profile options; ' +
        'a video size and length are in the AVC profile name (avc-lm-WxH[-Nf][-Nfps])',
    );
  }
  try {
    return avcProfile(opts.profile ?? DEFAULT_AVC_PROFILE);
  } catch (e) {
    throw isCodecError(e) ? usageError(e.message) : e;
  }
}

async function source(input: string, groupBy: string | undefined): Promise<PrepSource> {
  const st = await fs.stat(input).catch(() => undefined);
  if (!st) throw new UserError(`${input}: no such file or directory`);
  if (st.isDirectory()) {
    if (groupBy !== undefined) {
      throw usageError('--group-by needs a manifest input (the field is read from its rows)');
    }
    return { kind: 'folder', path: input };
  }
  return { kind: 'manifest', path: input, groupBy };
}

export function register(program: Command): void {
  const cmd = program
    .command('prep')
    .summary(
      'build a token dataset (llm.c shards) from a folder of images or videos, or a manifest',
    )
    .description(
      'Canonicalise every image with a profile (in parallel worker threads), tokenize it as ' +
        '[BOS, class, scan bytes, EOS] and write train/val token shards in the llm.c layout, an ' +
        'index per shard, rejects.jsonl, tokenizer.json and a dataset card (dataset.json). The ' +
        'input is an ImageFolder tree (the class is the subfolder name; top-level files are ' +
        'unlabelled) or a manifest (.csv with a header row, or .jsonl) with `path` and optional ' +
        '`label`. Unreadable or non-image files are listed in rejects.jsonl and never stop the ' +
        'run. Interrupted (even killed) runs resume: rerun the same command. With --video (or an ' +
        'AVC profile, avc-lm-WxH[-Nf][-Nfps]) the inputs are videos, canonicalised to H.264 by ' +
        'ffmpeg and tokenized as [BOS, class, stream bytes after the SPS/PPS/SEI header, EOS]; ' +
        'the dataset then holds an AVC tokenizer.json.',
    )
    .argument('<input>', 'ImageFolder root (or video folder), or a manifest .csv/.jsonl');
  addProfileOptions(cmd, "image size, N or WxH (default: the profile's)")
    .requiredOption('--out <dir>', 'output folder (new or empty, or an unfinished prep to resume)')
    .option(
      '--group-by <field>',
      'manifest field whose value decides the split (all samples of a group land in one split)',
    )
    .option(
      '--val-fraction <f>',
      'fraction of paths (or groups) that go to val, by sha256, in [0, 1)',
      String(DEFAULT_VAL_FRACTION),
    )
    .option('--workers <n>', 'worker threads, 1..256 (default: the number of cores)')
    .option('--chunk-size <n>', 'samples per resumable work unit', String(DEFAULT_CHUNK_SIZE))
    .option('--shard-tokens <n>', 'tokens per shard at most', String(DEFAULT_SHARD_TOKENS))
    .option(
      '--max-megapixels <n>',
      'reject larger images before decoding them (images only)',
      String(DEFAULT_MAX_MEGAPIXELS),
    )
    .option(
      '--video',
      `inputs are videos: canonical H.264 with an AVC profile (default ${DEFAULT_AVC_PROFILE})`,
    )
    .option(
      '--ffmpeg <path>',
      'ffmpeg binary for --video (default: $JPEGLM_FFMPEG, else the one bundled with @ffmpeg-installer/ffmpeg)',
    )
    .option('--json', 'print the dataset card (JSON) on stdout at the end')
    .addHelpText(
      'after',
      '\nExamples:\n' +
        '  jpeglm prep photos/ --profile jpeglm-64-q50 --out data/photos\n' +
        '  jpeglm prep datasets/emoji/build/manifest.jsonl --group-by codepoint \\\n' +
        '      --profile jpeglm-48-q50 --val-fraction 0.05 --out data/emoji\n' +
        '  jpeglm prep clips/ --video --profile avc-lm-256x144 --out data/clips\n' +
        '\nRead a shard in Python:\n' +
        "  np.memmap('train_000000.bin', dtype=np.uint16, mode='r', offset=1024)",
    )
    .action(async (input: string, opts: PrepCliOptions) => {
      const profile = prepProfile(opts);
      const valFraction = parseFloatOption(
        '--val-fraction',
        opts.valFraction,
        (v) => v >= 0 && v < 1,
        'in [0, 1)',
      );
      const workers =
        opts.workers === undefined
          ? availableParallelism()
          : parseIntegerOption('--workers', opts.workers, 1, 256);
      const chunkSize = parseIntegerOption('--chunk-size', opts.chunkSize, 1, 1 << 20);
      const shardTokens = parseIntegerOption('--shard-tokens', opts.shardTokens, 64, 0x7fffffff);
      const maxMegapixels = parseMegapixels(opts.maxMegapixels);
      const src = await source(input, opts.groupBy);

      const abort = new AbortController();
      const onSignal = (): void => abort.abort();
      process.once('SIGINT', onSignal);
      process.once('SIGTERM', onSignal);
      let progress: Progress | undefined;
      let shown = 0;
      try {
        const card = await prepareDataset({
          source: src,
          out: opts.out,
          profile,
          ffmpeg: opts.ffmpeg,
          valFraction,
          workers,
          chunkSize,
          shardTokens,
          maxMegapixels,
          signal: abort.signal,
          onWarning: (m) => process.stderr.write(`jpeglm: warning: ${m}\n`),
          onProgress: (p) => {
            if (!progress) {
              if (p.resumed > 0) {
                process.stderr.write(
                  `prep: resuming; ${p.resumed} files were done by an earlier run\n`,
                );
              }
              progress = new Progress({ total: p.todo, unit: 'files', label: 'prep' });
            }
            // The first report (nothing done yet) only sets the stage.
            if (p.done > shown) progress.tick(p.done - shown, `${p.rejects} rejects`);
            shown = p.done;
          },
        });
        progress?.finish();
        const { totals, splits } = card;
        process.stderr.write(
          `prep: ${totals.samples} samples (${splits.train.samples} train, ${splits.val.samples} val), ` +
            `${totals.tokens} tokens, ${card.classes.length} classes, ${totals.rejects} rejects -> ${opts.out}\n`,
        );
        if (opts.json) await writeStdout(`${JSON.stringify(card, null, 2)}\n`);
      } catch (e) {
        if (abort.signal.aborted) {
          progress?.finish();
          throw new UserError(
            `interrupted; finished work is kept in ${opts.out}, rerun the same command to resume`,
            ExitCode.interrupted,
          );
        }
        throw e;
      } finally {
        process.off('SIGINT', onSignal);
        process.off('SIGTERM', onSignal);
      }
    });
}
