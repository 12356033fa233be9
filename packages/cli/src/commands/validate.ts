import {
  DEFAULT_MAX_MEGAPIXELS,
  validateJpeg,
  type ValidationReport,
} from '@jpeglm/codec-tokenizer';
import type { Command } from 'commander';
import { usageError } from '../errors.js';
import { displayName, readFileOrStdin } from '../input.js';
import { writeStdout } from '../io.js';
import { parseMegapixels } from '../limits.js';
import {
  parseMaxProblems,
  printFileReport,
  uncheckedFile,
  verdictExitCode,
  type Verdict,
} from '../verdicts.js';

interface ValidateCliOptions {
  readonly json?: boolean;
  readonly maxProblems: string;
  readonly maxMegapixels: string;
}

interface FileResult {
  readonly file: string;
  readonly verdict: Verdict;
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
      const maxProblems = parseMaxProblems(opts.maxProblems);
      if (files.filter((f) => f === '-').length > 1) throw usageError('stdin (-) given twice');
      const results: FileResult[] = [];
      for (const path of files) {
        const file = displayName(path);
        let result: FileResult;
        try {
          result = fromReport(file, validateJpeg(await readFileOrStdin(path), { maxMegapixels }));
        } catch (e) {
          const error = uncheckedFile(file, e);
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
          await printFileReport(summaryLine(result), result.problems.map(problemLine), maxProblems);
        }
      }
      if (opts.json) await writeStdout(`${JSON.stringify(results, null, 2)}\n`);
      process.exitCode = verdictExitCode(results);
    });
}
