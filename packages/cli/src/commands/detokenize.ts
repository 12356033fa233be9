import path from 'node:path';
import {
  CodecError,
  isCodecError,
  readTokensFile,
  uint16LEToIds,
  type JpegTokenizer,
} from '@jpeglm/codec-tokenizer';
import type { Command } from 'commander';
import { inFile, usageError, UserError } from '../errors.js';
import { checkOutputDirectory, checkOutputFile, displayName, readFileOrStdin } from '../input.js';
import { assertBinaryStdout, emitBinary, writeFileAtomic } from '../io.js';
import { addProfileOptions } from '../profile-options.js';
import { firstSignificantByte } from '../token-files.js';
import {
  hasTokenizerOptions,
  tokenizerFromOptions,
  type TokenizerCliOptions,
} from '../tokenizer-options.js';

interface DetokenizeOptions extends TokenizerCliOptions {
  readonly output?: string;
  readonly outDir?: string;
  readonly index?: string;
  readonly allowUnterminated?: boolean;
}

interface Sequence {
  readonly source?: string;
  readonly ids: ArrayLike<number>;
}

function parseJson(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch (e) {
    throw new CodecError('invalid-argument', `invalid JSON: ${(e as Error).message}`);
  }
}

/** A bare JSON array: one sequence of ids, or an array of such sequences. */
function sequencesFromArray(json: unknown[]): Sequence[] {
  const isIds = (a: unknown): a is number[] =>
    Array.isArray(a) && a.every((x) => Number.isInteger(x) && x >= 0 && x <= 0xffff);
  if (isIds(json)) return [{ ids: json }];
  if (json.every(isIds)) return json.map((ids) => ({ ids }));
  throw new CodecError(
    'invalid-argument',
    'JSON array must hold token ids (integers 0..65535) or arrays of them',
  );
}

/** A file-system-safe output name for sequence `i`, from its source file when known. */
function outputName(s: Sequence, i: number, used: Set<string>): string {
  let base = s.source ? path.basename(s.source).replace(/\.[^.]*$/, '') : '';
  base = base.replace(/[^A-Za-z0-9._-]/g, '_').replace(/^\.+/, '');
  if (base === '' || base === 'stdin') base = `seq-${String(i).padStart(5, '0')}`;
  let name = `${base}.jpg`;
  for (let k = 1; used.has(name); k++) name = `${base}-${k}.jpg`;
  used.add(name);
  return name;
}

export function register(program: Command): void {
  const cmd = program
    .command('detokenize')
    .summary('token sequences back to JPEG files (header restored exactly)')
    .description(
      'Turn token sequences back into JPEG files: the profile header is restored, so ' +
        'detokenize(tokenize(x)) is byte-identical to the canonical file. Reads a tokens file ' +
        'from `jpeglm tokenize --format json` (which names its tokenizer), a JSON array of ids, ' +
        'or uint16 little-endian ids (--format bin); the last two need the tokenizer options ' +
        'that made them.',
    )
    .argument('<file>', 'token file (- for stdin)')
    .option('-o, --output <file>', 'write the JPEG here (default: stdout, if not a terminal)')
    .option('--out-dir <dir>', 'write every sequence of the file into this directory')
    .option('--index <n>', 'pick sequence n (0-based) of a file that holds several')
    .option('--allow-unterminated', 'accept sequences cut off before EOS (partial generations)');
  addProfileOptions(cmd, 'profile size, N or WxH (for id arrays and bin files)')
    .option('--tokenizer <file>', 'tokenizer JSON file (for id arrays and bin files)')
    .option('--classes <labels>', 'comma-separated class labels the ids were made with')
    .option('--bpe <file>', 'BPE merges JSON file the ids were made with')
    .addHelpText(
      'after',
      '\nExamples:\n' +
        '  jpeglm detokenize tokens.json -o image.jpg\n' +
        '  jpeglm detokenize tokens.json --out-dir images/\n' +
        '  jpeglm detokenize cat.bin --classes cat,dog > cat.jpg',
    )
    .action(async (file: string, opts: DetokenizeOptions) => {
      if (opts.output !== undefined && opts.outDir !== undefined) {
        throw usageError('give either -o/--output or --out-dir, not both');
      }
      let index: number | undefined;
      if (opts.index !== undefined) {
        if (!/^\d+$/.test(opts.index)) {
          throw usageError(`--index must be a non-negative integer, got '${opts.index}'`);
        }
        index = Number(opts.index);
      }
      if (opts.outDir !== undefined) await checkOutputDirectory(opts.outDir);
      else {
        await checkOutputFile(opts.output);
        if (opts.output === undefined || opts.output === '-') assertBinaryStdout();
      }
      const name = displayName(file);
      const bytes = await readFileOrStdin(file);

      let tokenizer: JpegTokenizer;
      let sequences: Sequence[];
      try {
        const first = firstSignificantByte(bytes);
        if (first === 0x7b /* { */) {
          if (hasTokenizerOptions(opts)) {
            throw usageError(
              `${name} names its own tokenizer; drop --tokenizer/--profile/--classes/--bpe`,
            );
          }
          ({ tokenizer, sequences } = readTokensFile(new TextDecoder().decode(bytes)));
        } else if (first === 0x5b /* [ */) {
          tokenizer = await tokenizerFromOptions(opts);
          sequences = sequencesFromArray(parseJson(new TextDecoder().decode(bytes)) as unknown[]);
        } else {
          tokenizer = await tokenizerFromOptions(opts);
          const firstId = bytes.length >= 2 ? bytes[0] | (bytes[1] << 8) : -1;
          if (firstId !== tokenizer.bos && firstId !== tokenizer.pad) {
            throw new UserError(
              `${name}: not a token file (expected a JSON tokens file, a JSON id array, or uint16 ids starting with BOS = ${tokenizer.bos})`,
            );
          }
          sequences = tokenizer.splitSequences(uint16LEToIds(bytes)).map((ids) => ({ ids }));
        }
      } catch (e) {
        // Errors about side files (tokenizer, BPE) already name those files.
        throw isCodecError(e) ? inFile(name, e) : e;
      }

      if (sequences.length === 0) throw new UserError(`${name}: holds no token sequences`);
      const picked =
        index === undefined
          ? sequences.map((s, i) => ({ s, i }))
          : [{ s: sequences[index], i: index }];
      if (index !== undefined && picked[0].s === undefined) {
        throw usageError(`--index ${index}: ${name} holds ${sequences.length} sequences`);
      }
      if (picked.length > 1 && opts.outDir === undefined) {
        throw usageError(
          `${name} holds ${picked.length} sequences; pick one with --index N or write all with --out-dir DIR`,
        );
      }
      const jpegs = picked.map(({ s, i }) => {
        try {
          return tokenizer.detokenize(s.ids, { allowUnterminated: opts.allowUnterminated });
        } catch (e) {
          if (!isCodecError(e)) throw e;
          const where = sequences.length > 1 ? `sequence ${i}: ` : '';
          throw new UserError(`${name}: ${where}${e.message}`);
        }
      });

      if (opts.outDir === undefined) {
        await emitBinary(jpegs[0], opts.output);
        return;
      }
      const used = new Set<string>();
      for (let k = 0; k < picked.length; k++) {
        const out = path.join(opts.outDir, outputName(picked[k].s, picked[k].i, used));
        await writeFileAtomic(out, jpegs[k]);
      }
    });
}
