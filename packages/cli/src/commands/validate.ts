import {
  DEFAULT_MAX_MEGAPIXELS,
  validateJpeg,
  type ValidationReport,
} from '@jpeglm/codec-tokenizer';
import type { Command } from 'commander';
import { describeError, usageError } from '../errors.js';
import { ExitCode } from '../exit-codes.js';
import { displayName, readFileOrStdin } from '../input.js';
import { writeStdout } from '../io.js';
import { parseMegapixels } from '../limits.js';

interface ValidateCliOptions {
  readonly json?: boolean;
  readonly maxProblems: string;
  readonly maxMegapixels: string;
}

interface FileResult {
  readonly file: string;
  readonly verdict: 'valid' | 'repairable' | 'rejected';
  readonly mcuCount: number;
  readonly intactMcus: number;
  readonly damagedMcus: number;
  readonly missingMcus: number;
  readonly problems: readonly {
    offset: number;
    /** null for problems outside any MCU (header, markers, trailing data). */
    mcu: number | null;
    kind: string;
    message: string;
  }[];
  /** Set when the file could not be read at all (counted as rejected). */
  readonly error?: string;
}

function fromReport(file: string, r: ValidationReport): FileResult {
  return {
    file,
    verdict: r.verdict,
    mcuCount: r.mcuCount,
    intactMcus: r.intactMcus,
    damagedMcus: r.damagedMcus,
    missingMcus: r.missingMcus,
    problems: r.problems.map((p) => ({
      offset: p.offset,
      mcu: p.mcu,
      kind: p.kind,
      message: p.message,
    })),
  };
}

function summaryLine(r: FileResult): string {
  if (r.error !== undefined) return `${r.file}: rejected: ${r.error}`;
  const counts =
    r.mcuCount > 0
      ? ` (${r.mcuCount} MCU${r.mcuCount === 1 ? '' : 's'}: ${r.intactMcus} intact, ` +
        `${r.damagedMcus} damaged, ${r.missingMcus} missing)`
      : '';
  const n = r.problems.length;
  const probs = n > 0 ? `, ${n} problem${n === 1 ? '' : 's'}` : '';
  return `${r.file}: ${r.verdict}${counts}${probs}`;
}

function problemLine(p: FileResult['problems'][number]): string {
  const where = [`offset ${p.offset}`];
  if (p.mcu !== null) where.push(`MCU ${p.mcu}`);
  return `  ${where.join(', ')}: ${p.message}`;
}

export function register(program: Command): void {
  program
    .command('validate')
    .description(
      'Check JPEG files: valid, repairable (some MCUs intact) or rejected, with every problem ' +
        'found (byte offset, MCU, message). Exit 0 if all are valid, 1 if some are repairable, ' +
        '2 if some are rejected or unreadable.',
    )
    .argument('<files...>', 'JPEG files to check (- reads one from stdin)')
    .option('--json', 'print a JSON array, one entry per file, instead of text')
    .option('--max-problems <n>', 'problems listed per file in text output (0 = all)', '20')
    .option(
      '--max-megapixels <n>',
      'reject frames above this size (from the header, before decoding)',
      String(DEFAULT_MAX_MEGAPIXELS),
    )
    .action(async (files: string[], opts: ValidateCliOptions) => {
      const maxMegapixels = parseMegapixels(opts.maxMegapixels);
      const maxProblems = Number(opts.maxProblems);
      if (!Number.isInteger(maxProblems) || maxProblems < 0) {
        throw usageError(
          `--max-problems must be a non-negative integer, got '${opts.maxProblems}'`,
        );
      }
      if (files.filter((f) => f === '-').length > 1) throw usageError('stdin (-) given twice');
      const results: FileResult[] = [];
      for (const path of files) {
        const file = displayName(path);
        let result: FileResult;
        try {
          result = fromReport(file, validateJpeg(await readFileOrStdin(path), { maxMegapixels }));
        } catch (e) {
          const { line, exitCode } = describeError(e);
          if (exitCode === ExitCode.internal) throw e;
          // Messages about unreadable files usually name the file already.
          const error = line.startsWith(`${file}: `) ? line.slice(file.length + 2) : line;
          process.stderr.write(`jpeglm: ${file}: ${error}\n`);
          result = {
            file,
            verdict: 'rejected',
            mcuCount: 0,
            intactMcus: 0,
            damagedMcus: 0,
            missingMcus: 0,
            problems: [],
            error,
          };
        }
        results.push(result);
        if (!opts.json) {
          const lines = [summaryLine(result)];
          const shown = maxProblems === 0 ? result.problems : result.problems.slice(0, maxProblems);
          for (const p of shown) lines.push(problemLine(p));
          if (shown.length < result.problems.length) {
            lines.push(`  ... ${result.problems.length - shown.length} more (use --json for all)`);
          }
          await writeStdout(`${lines.join('\n')}\n`);
        }
      }
      if (opts.json) await writeStdout(`${JSON.stringify(results, null, 2)}\n`);
      const rejected = results.some((r) => r.verdict === 'rejected');
      const repairable = results.some((r) => r.verdict === 'repairable');
      process.exitCode = rejected
        ? ExitCode.badInput
        : repairable
          ? ExitCode.repairable
          : ExitCode.ok;
    });
}
