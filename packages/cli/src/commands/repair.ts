import {
  canonicalHeader,
  DEFAULT_MAX_MEGAPIXELS,
  getProfile,
  isCodecError,
  repairJpeg,
  repairScan,
  type RepairFill,
  type RepairResult,
} from '@jpeglm/codec-tokenizer';
import type { Command } from 'commander';
import { inFile, usageError } from '../errors.js';
import { checkOutputFile, displayName, readFileOrStdin } from '../input.js';
import { assertBinaryStdout, emitBinary } from '../io.js';
import { parseMegapixels } from '../limits.js';

interface RepairCliOptions {
  readonly output?: string;
  readonly fill: string;
  readonly profile?: string;
  readonly maxMegapixels: string;
}

export function register(program: Command): void {
  program
    .command('repair')
    .description(
      'Repair a damaged JPEG: keep every intact MCU, replace damaged and missing ones with flat ' +
        'blocks, renumber restart markers and end with EOI. The header is never invented: a file ' +
        'without a usable header is rejected (exit 2). A valid file is written unchanged.',
    )
    .argument('<file>', 'JPEG file, or - for stdin (with --profile: a headerless scan stream)')
    .option('-o, --output <file>', 'write the repaired JPEG here (atomically) instead of stdout')
    .option(
      '--fill <mode>',
      "replaced MCUs: 'dc' keeps each component's last intact DC level, 'neutral' is mid-grey",
      'dc',
    )
    .option(
      '--profile <name>',
      "FILE holds only a profile's token stream (scan bytes, RST markers, EOI); the header comes from the profile",
    )
    .option(
      '--max-megapixels <n>',
      'refuse frames above this size (from the header, before decoding)',
      String(DEFAULT_MAX_MEGAPIXELS),
    )
    .action(async (file: string, opts: RepairCliOptions) => {
      const maxMegapixels = parseMegapixels(opts.maxMegapixels);
      if (opts.fill !== 'dc' && opts.fill !== 'neutral') {
        throw usageError(`--fill must be 'dc' or 'neutral', got '${opts.fill}'`);
      }
      const fill: RepairFill = opts.fill;
      let header: Uint8Array | undefined;
      if (opts.profile !== undefined) {
        try {
          header = canonicalHeader(getProfile(opts.profile));
        } catch (e) {
          throw isCodecError(e) ? usageError(e.message) : e;
        }
      }
      await checkOutputFile(opts.output);
      if (opts.output === undefined || opts.output === '-') assertBinaryStdout();
      const name = displayName(file);
      const input = await readFileOrStdin(file);
      let result: RepairResult;
      try {
        result =
          header === undefined
            ? repairJpeg(input, { fill, maxMegapixels })
            : repairScan(input, header, { fill, maxMegapixels });
      } catch (e) {
        throw inFile(name, e);
      }
      await emitBinary(result.bytes, opts.output);
      const r = result.report;
      const n = r.problems.length;
      const summary = result.changed
        ? `repaired: kept ${result.keptMcus} of ${r.mcuCount} MCUs, replaced ${result.repairedMcus} ` +
          `(${r.damagedMcus} damaged, ${r.missingMcus} missing); ${n} problem${n === 1 ? '' : 's'} fixed`
        : 'already valid, written unchanged';
      process.stderr.write(`${name}: ${summary}\n`);
    });
}
