import {
  DEFAULT_MAX_MEGAPIXELS,
  checkCanonicalJpeg,
  canonicalHeader,
  canonicalizeImage,
  isJpeg,
  makeTokensFile,
  type CanonicalJpegProfile,
} from '@jpeglm/codec-tokenizer';
import { Option, type Command } from 'commander';
import { inFile, usageError } from '../errors.js';
import { checkOutputFile, displayName, readFileOrStdin } from '../input.js';
import { assertBinaryStdout } from '../io.js';
import { parseMegapixels } from '../limits.js';
import { Progress } from '../progress.js';
import { addProfileOptions, type ProfileCliOptions } from '../profile-options.js';
import { writeTokenSequences } from '../token-files.js';
import { tokenizerFromOptions, type TokenizerCliOptions } from '../tokenizer-options.js';

interface TokenizeOptions extends ProfileCliOptions, TokenizerCliOptions {
  readonly class?: string;
  readonly format: 'json' | 'bin';
  readonly output?: string;
  readonly saveTokenizer?: string;
  readonly exact?: boolean;
  readonly maxMegapixels: string;
}

/** True when `bytes` starts with the profile's fixed header (so it is meant to be canonical). */
function hasCanonicalHeader(bytes: Uint8Array, profile: CanonicalJpegProfile): boolean {
  const h = canonicalHeader(profile);
  if (!isJpeg(bytes) || bytes.length < h.length) return false;
  for (let i = 0; i < h.length; i++) if (bytes[i] !== h[i]) return false;
  return true;
}

/**
 * The canonical file to tokenize: the input itself when it carries the profile's header (or
 * with --exact, which refuses anything else), otherwise the input canonicalised.
 */
async function canonicalInput(
  bytes: Uint8Array,
  profile: CanonicalJpegProfile,
  options: { exact: boolean; maxMegapixels: number },
): Promise<Uint8Array> {
  if (options.exact || hasCanonicalHeader(bytes, profile)) {
    checkCanonicalJpeg(bytes, profile); // throws, saying what is not canonical or damaged
    return bytes;
  }
  return canonicalizeImage(bytes, profile, { maxMegapixels: options.maxMegapixels });
}

export function register(program: Command): void {
  const cmd = program
    .command('tokenize')
    .summary('images to token sequences (header stripped; json or uint16 bin)')
    .description(
      'Turn images into token sequences: BOS, class token (or NULL_CLASS), the canonical ' +
        "JPEG's scan bytes with restart markers, EOI, EOS. The fixed header is left out " +
        '(detokenize restores it). A JPEG that already is canonical for the profile is ' +
        'tokenized as it is; any other image is canonicalised first (see `jpeglm encode`), ' +
        'unless --exact.',
    )
    .argument('<images...>', 'input images (- for stdin)');
  addProfileOptions(cmd, 'profile size, N or WxH').option(
    '--tokenizer <file>',
    'tokenizer JSON file (profile, class labels, BPE); replaces the profile options',
  );
  cmd
    .option('--classes <labels>', 'comma-separated class labels: label i is token 260+i')
    .option('--bpe <file>', 'BPE merges JSON file (jpeglm-bpe) to apply to the scan bytes')
    .option('--class <label>', 'class token for every image (default: NULL_CLASS)')
    .addOption(
      new Option('--format <format>', 'json: a self-describing tokens file; bin: uint16 LE ids')
        .choices(['json', 'bin'])
        .default('json'),
    )
    .option('-o, --output <file>', 'write here (default: stdout; bin is refused on a terminal)')
    .option('--save-tokenizer <file>', 'also write the tokenizer JSON file used')
    .option('--exact', 'refuse inputs that are not already canonical JPEGs of the profile')
    .option(
      '--max-megapixels <n>',
      'refuse larger images before decoding them',
      String(DEFAULT_MAX_MEGAPIXELS),
    )
    .addHelpText(
      'after',
      '\nbin output holds the sequences back to back (each BOS..EOS), uint16 little-endian; ' +
        'detokenize it with the same --tokenizer or profile options.\n\nExamples:\n' +
        '  jpeglm tokenize a.png b.jpg --profile jpeglm-64-q50 -o tokens.json\n' +
        '  jpeglm tokenize cat.jpg --classes cat,dog --class cat --format bin > cat.bin',
    )
    .action(async (images: string[], opts: TokenizeOptions) => {
      const maxMegapixels = parseMegapixels(opts.maxMegapixels);
      const tokenizer = await tokenizerFromOptions(opts);
      const classLabel = opts.class ?? null;
      if (classLabel !== null) {
        if (tokenizer.classes.length === 0) {
          throw usageError(
            `--class needs a tokenizer with class labels (--classes ${classLabel},... or --tokenizer FILE)`,
          );
        }
        try {
          tokenizer.classId(classLabel);
        } catch (e) {
          throw usageError((e as Error).message);
        }
      }
      if (images.filter((f) => f === '-').length > 1) throw usageError('stdin (-) given twice');
      await checkOutputFile(opts.output);
      await checkOutputFile(opts.saveTokenizer);
      const toStdout = opts.output === undefined || opts.output === '-';
      if (opts.format === 'bin' && toStdout) assertBinaryStdout();

      const progress =
        images.length >= 10
          ? new Progress({ total: images.length, unit: 'images', label: 'tokenize' })
          : undefined;
      const sequences: { source: string; ids: Uint16Array }[] = [];
      for (const image of images) {
        const name = displayName(image);
        const bytes = await readFileOrStdin(image);
        try {
          const jpeg = await canonicalInput(bytes, tokenizer.profile, {
            exact: opts.exact === true,
            maxMegapixels,
          });
          sequences.push({ source: name, ids: tokenizer.tokenize(jpeg, { classLabel }) });
        } catch (e) {
          throw inFile(name, e);
        }
        progress?.tick();
      }
      progress?.finish();

      await writeTokenSequences(tokenizer, sequences, opts, makeTokensFile);
    });
}
