/**
 * `jpeglm avc ...`: the H.264 side. Encode videos to a canonical AVC profile, tokenize and
 * detokenize clips, validate and repair streams, render them for viewing.
 */
import { promises as fs } from 'node:fs';
import path from 'node:path';
import {
  AvcTokenizer,
  DEFAULT_AVC_PROFILE,
  avcEncode,
  avcProfile,
  avcProfileHeader,
  avcRender,
  avcRepair,
  avcValidate,
  isCodecError,
  makeAvcTokensFile,
  readAvcTokensFile,
  uint16LEToIds,
  type AvcProfile,
  type AvcRenderFormat,
  type AvcValidation,
} from '@jpeglm/codec-tokenizer';
import {
  OnnxCausalLM,
  clipPrompt,
  generateClips,
  isModelError,
  loadModelDir,
  type ClipPrompt,
  type SamplingOptions,
} from '@jpeglm/byte-lm';
import { Option, type Command } from 'commander';
import { inFile, usageError, UserError } from '../errors.js';
import { ExitCode } from '../exit-codes.js';
import { checkOutputFile, displayName, readFileOrStdin } from '../input.js';
import { firstSignificantByte, writeTokenSequences } from '../token-files.js';
import { assertBinaryStdout, emitBinary, writeFileAtomic, writeStdout } from '../io.js';
import {
  parseMaxProblems,
  printFileReport,
  uncheckedFile,
  verdictExitCode,
  type Verdict,
} from '../verdicts.js';

interface CommonOptions {
  readonly profile: string;
  readonly ffmpeg?: string;
}

function addFfmpeg(cmd: Command): Command {
  return cmd.option(
    '--ffmpeg <path>',
    'ffmpeg binary (default: $JPEGLM_FFMPEG, else the one bundled with @ffmpeg-installer/ffmpeg)',
  );
}

function addCommon(cmd: Command): Command {
  return addFfmpeg(
    cmd.option(
      '--profile <name>',
      'canonical AVC profile: avc-lm-WxH[-Nf][-Nfps] (AVC-LM: 256x144, 15 frames at 3 fps)',
      DEFAULT_AVC_PROFILE,
    ),
  );
}

function profileOf(opts: CommonOptions): AvcProfile {
  try {
    return avcProfile(opts.profile);
  } catch (e) {
    throw isCodecError(e) ? usageError(e.message) : e;
  }
}

/** A tokenizer from --tokenizer FILE, else from the profile (header found with this ffmpeg). */
async function tokenizerOf(
  opts: CommonOptions & { tokenizer?: string; classes?: string },
): Promise<AvcTokenizer> {
  if (opts.tokenizer !== undefined) {
    if (opts.classes !== undefined) throw usageError('--classes comes from the --tokenizer file');
    const text = new TextDecoder().decode(await readFileOrStdin(opts.tokenizer));
    try {
      return AvcTokenizer.fromJSON(text);
    } catch (e) {
      throw inFile(opts.tokenizer, e);
    }
  }
  const classes = opts.classes === undefined ? [] : opts.classes.split(',').map((s) => s.trim());
  try {
    return await AvcTokenizer.forProfile(profileOf(opts), { ffmpeg: opts.ffmpeg, classes });
  } catch (e) {
    if (isCodecError(e) && e.code === 'invalid-argument') throw usageError(e.message);
    throw e;
  }
}

function registerEncode(avc: Command): void {
  const cmd = avc
    .command('encode')
    .summary('encode a video as a canonical H.264 clip (AVC-LM settings)')
    .description(
      'Encode a video as the canonical Annex B H.264 stream of a profile: the first ' +
        'frames/fps seconds sampled at the profile rate, scaled to fit and padded, yuv420p, ' +
        'libx264 baseline at constant QP 37 with one macroblock per slice. The same input and ' +
        'the same ffmpeg build give the same bytes.',
    )
    .argument('<video>', 'input video (any format ffmpeg reads)')
    .option('-o, --output <file>', 'write the clip here (default: stdout, if not a terminal)');
  addCommon(cmd)
    .addHelpText(
      'after',
      '\nExamples:\n' +
        '  jpeglm avc encode movie.mp4 -o clip.h264\n' +
        '  jpeglm avc encode movie.mp4 --profile avc-lm-128x72-8f > small.h264',
    )
    .action(async (video: string, opts: CommonOptions & { output?: string }) => {
      const profile = profileOf(opts);
      await checkOutputFile(opts.output);
      if (opts.output === undefined || opts.output === '-') assertBinaryStdout();
      const st = await fs.stat(video);
      if (!st.isFile()) throw new UserError(`${video}: not a regular file`);
      let clip: Uint8Array;
      try {
        clip = await avcEncode(video, { profile, ffmpeg: opts.ffmpeg });
      } catch (e) {
        throw inFile(video, e);
      }
      await emitBinary(clip, opts.output);
    });
}

interface TokenizeOptions extends CommonOptions {
  readonly output?: string;
  readonly format: 'json' | 'bin';
  readonly tokenizer?: string;
  readonly classes?: string;
  readonly class?: string;
  readonly saveTokenizer?: string;
}

function registerTokenize(avc: Command): void {
  const cmd = avc
    .command('tokenize')
    .summary('canonical clips to token sequences (SPS/PPS/SEI header stripped)')
    .description(
      'Turn canonical clips into token sequences: BOS, class token (or NULL_CLASS), the ' +
        'Annex B bytes after the fixed SPS/PPS/SEI header (start codes included), EOS. The ' +
        'header, and the SPS/PPS x264 repeats before later IDR pictures, are left out and ' +
        'restored exactly by detokenize. Clips must already be canonical (see `avc encode`).',
    )
    .argument('<clips...>', 'canonical .h264 clips (- for stdin)')
    .option('-o, --output <file>', 'write here (default: stdout; bin is refused on a terminal)')
    .addOption(
      new Option('--format <format>', 'json: a self-describing tokens file; bin: uint16 LE ids')
        .choices(['json', 'bin'])
        .default('json'),
    )
    .option('--tokenizer <file>', 'AVC tokenizer JSON file (profile, header, class labels)')
    .option('--classes <labels>', 'comma-separated class labels: label i is token 260+i')
    .option('--class <label>', 'class token for every clip (default: NULL_CLASS)')
    .option('--save-tokenizer <file>', 'also write the tokenizer JSON file used');
  addCommon(cmd).action(async (clips: string[], opts: TokenizeOptions) => {
    const tokenizer = await tokenizerOf(opts);
    const classLabel = opts.class ?? null;
    try {
      tokenizer.classId(classLabel);
    } catch (e) {
      throw usageError((e as Error).message);
    }
    await checkOutputFile(opts.output);
    await checkOutputFile(opts.saveTokenizer);
    if (opts.format === 'bin' && (opts.output === undefined || opts.output === '-')) {
      assertBinaryStdout();
    }
    const sequences: { source: string; ids: Uint16Array }[] = [];
    for (const clip of clips) {
      const name = displayName(clip);
      const bytes = await readFileOrStdin(clip);
      try {
        sequences.push({ source: name, ids: tokenizer.tokenize(bytes, { classLabel }) });
      } catch (e) {
        throw inFile(name, e);
      }
    }
    await writeTokenSequences(tokenizer, sequences, opts, makeAvcTokensFile);
  });
}

interface DetokenizeOptions extends CommonOptions {
  readonly output?: string;
  readonly index?: string;
  readonly tokenizer?: string;
  readonly classes?: string;
  readonly allowUnterminated?: boolean;
}

function registerDetokenize(avc: Command): void {
  const cmd = avc
    .command('detokenize')
    .summary('token sequences back to H.264 clips (header restored exactly)')
    .description(
      'Turn a token sequence back into an Annex B clip, restoring the profile header, so ' +
        'detokenize(tokenize(x)) is byte-identical to x. Reads a tokens file from ' +
        '`jpeglm avc tokenize --format json` (which carries its tokenizer), a JSON array of ids, ' +
        'or uint16 little-endian ids; the last two use --tokenizer or --profile/--classes. ' +
        'A generated sequence may not be decodable: run `jpeglm avc repair` on the result.',
    )
    .argument('<file>', 'token file (- for stdin)')
    .option('-o, --output <file>', 'write the clip here (default: stdout, if not a terminal)')
    .option('--index <n>', 'pick sequence n (0-based) of a file that holds several')
    .option('--tokenizer <file>', 'AVC tokenizer JSON file (for id arrays and bin files)')
    .option('--classes <labels>', 'comma-separated class labels the ids were made with')
    .option('--allow-unterminated', 'accept a sequence cut off before EOS (partial generations)');
  addCommon(cmd).action(async (file: string, opts: DetokenizeOptions) => {
    let index = 0;
    if (opts.index !== undefined) {
      if (!/^\d+$/.test(opts.index))
        throw usageError(`--index must be a non-negative integer, got '${opts.index}'`);
      index = Number(opts.index);
    }
    await checkOutputFile(opts.output);
    if (opts.output === undefined || opts.output === '-') assertBinaryStdout();
    const name = displayName(file);
    const bytes = await readFileOrStdin(file);
    const first = firstSignificantByte(bytes);
    let tokenizer: AvcTokenizer;
    let sequences: ArrayLike<number>[];
    try {
      if (first === 0x7b /* { */) {
        if (opts.tokenizer !== undefined || opts.classes !== undefined) {
          throw usageError(`${name} names its own tokenizer; drop --tokenizer/--classes`);
        }
        const f = readAvcTokensFile(new TextDecoder().decode(bytes));
        tokenizer = f.tokenizer;
        sequences = f.sequences.map((s) => s.ids);
      } else if (first === 0x5b /* [ */) {
        tokenizer = await tokenizerOf(opts);
        const json = JSON.parse(new TextDecoder().decode(bytes)) as unknown;
        if (
          !Array.isArray(json) ||
          !json.every((x) => Number.isInteger(x) && x >= 0 && x <= 0xffff)
        ) {
          throw new UserError(`${name}: a JSON array of token ids (integers 0..65535) expected`);
        }
        sequences = [json as number[]];
      } else {
        tokenizer = await tokenizerOf(opts);
        const ids = uint16LEToIds(bytes);
        sequences = opts.allowUnterminated ? [ids] : tokenizer.splitSequences(ids);
      }
    } catch (e) {
      if (e instanceof SyntaxError) throw new UserError(`${name}: invalid JSON: ${e.message}`);
      throw isCodecError(e) ? inFile(name, e) : e;
    }
    if (index >= sequences.length) {
      throw usageError(`--index ${index}: ${name} holds ${sequences.length} sequence(s)`);
    }
    if (sequences.length > 1 && opts.index === undefined) {
      throw usageError(`${name} holds ${sequences.length} sequences; pick one with --index N`);
    }
    let clip: Uint8Array;
    try {
      clip = tokenizer.detokenize(sequences[index], { allowUnterminated: opts.allowUnterminated });
    } catch (e) {
      throw inFile(name, e);
    }
    await emitBinary(clip, opts.output);
  });
}

interface FileResult {
  readonly file: string;
  readonly verdict: Verdict;
  readonly frames: number;
  readonly decodedFrames: number | null;
  readonly decodableFrames: number | null;
  readonly issues: readonly { code: string; message: string; offset?: number; frame?: number }[];
  readonly decodeErrors: readonly string[];
  readonly reason: string | null;
  readonly repair: readonly string[];
  readonly error?: string;
}

function fromValidation(file: string, v: AvcValidation): FileResult {
  return {
    file,
    verdict: v.verdict,
    frames: v.frames,
    decodedFrames: v.decodedFrames ?? null,
    decodableFrames: v.decodableFrames ?? null,
    issues: v.issues.map((i) => ({ ...i })),
    decodeErrors: v.decodeErrors,
    reason: v.reason ?? null,
    repair: v.repairActions,
  };
}

function summaryLine(r: FileResult): string {
  if (r.error !== undefined) return `${r.file}: rejected: ${r.error}`;
  const frames =
    r.decodedFrames === null
      ? ` (${r.frames} frames)`
      : ` (${r.frames} frames, ${r.decodableFrames} decodable)`;
  const n = r.issues.length;
  const issues = n > 0 ? `, ${n} issue${n === 1 ? '' : 's'}` : '';
  const why = r.reason !== null ? `: ${r.reason}` : '';
  return `${r.file}: ${r.verdict}${why}${frames}${issues}`;
}

function registerValidate(avc: Command): void {
  const cmd = avc
    .command('validate')
    .summary('check clips: valid, repairable or rejected')
    .description(
      'Check H.264 clips against a canonical profile: start codes, forbidden bit, NAL unit ' +
        'types, slice-header ranges and order, frame numbering, macroblock coverage of every ' +
        'picture, the fixed header; then a decode with ffmpeg (errors, decoded and decodable ' +
        'frames). A clip that is not valid is tried with repair: repairable or rejected with ' +
        'the reason. Exit 0 if all are valid, 1 if some are repairable, 2 if some are rejected ' +
        'or unreadable.',
    )
    .argument('<files...>', 'clips to check')
    .option('--json', 'print a JSON array, one entry per file, instead of text')
    .option('--no-decode', 'skip the ffmpeg decode check (structure only)')
    .option('--max-problems <n>', 'issues listed per file in text output (0 = all)', '20');
  addCommon(cmd).action(
    async (
      files: string[],
      opts: CommonOptions & { json?: boolean; decode: boolean; maxProblems: string },
    ) => {
      const maxProblems = parseMaxProblems(opts.maxProblems);
      const profile = profileOf(opts);
      const header = await avcProfileHeader(profile, { ffmpeg: opts.ffmpeg });
      const results: FileResult[] = [];
      for (const file of files) {
        let result: FileResult;
        try {
          const bytes = await readFileOrStdin(file);
          result = fromValidation(
            file,
            await avcValidate(bytes, { profile, header, ffmpeg: opts.ffmpeg, decode: opts.decode }),
          );
        } catch (e) {
          // ffmpeg failing to run ('io') is not a verdict on the file.
          const error = uncheckedFile(file, e, (x) => isCodecError(x) && x.code === 'io');
          result = {
            file,
            verdict: 'rejected',
            frames: 0,
            decodedFrames: null,
            decodableFrames: null,
            issues: [],
            decodeErrors: [],
            reason: error,
            repair: [],
            error,
          };
        }
        results.push(result);
        if (!opts.json) {
          const lines = result.issues.map((i) => `  ${i.code}: ${i.message}`);
          await printFileReport(summaryLine(result), lines, maxProblems);
        }
      }
      if (opts.json) await writeStdout(`${JSON.stringify(results, null, 2)}\n`);
      process.exitCode = verdictExitCode(results);
    },
  );
}

function registerRepair(avc: Command): void {
  const cmd = avc
    .command('repair')
    .summary('repair a damaged clip into one ffmpeg decodes without errors')
    .description(
      'Repair a clip: restore the profile header, drop damaged, duplicate and stray NAL units, ' +
        'conceal lost or undecodable macroblocks (P_Skip in P pictures, grey in I pictures), put ' +
        'skip pictures (copies of the picture before) in place of lost or undecodable P pictures, ' +
        'until ffmpeg decodes the clip with no error. Rejected (exit 2, no output) when nothing ' +
        'usable remains. A valid clip is written unchanged.',
    )
    .argument('<file>', 'clip to repair (- for stdin)')
    .option(
      '-o, --output <file>',
      'write the repaired clip here (default: stdout, if not a terminal)',
    )
    .option(
      '--max-concealed <fraction>',
      'reject when more than this share of slices is concealed',
      '0.5',
    );
  addCommon(cmd).action(
    async (file: string, opts: CommonOptions & { output?: string; maxConcealed: string }) => {
      const profile = profileOf(opts);
      const maxConcealedFraction = Number(opts.maxConcealed);
      if (!/^\s*(0|1|0?\.\d+|1\.0*)\s*$/.test(opts.maxConcealed)) {
        throw usageError(`--max-concealed must be a number in 0..1, got '${opts.maxConcealed}'`);
      }
      await checkOutputFile(opts.output);
      if (opts.output === undefined || opts.output === '-') assertBinaryStdout();
      const name = displayName(file);
      const bytes = await readFileOrStdin(file);
      const r = await avcRepair(bytes, { profile, ffmpeg: opts.ffmpeg, maxConcealedFraction });
      if (!r.ok) throw new UserError(`${name}: rejected: ${r.reason}`);
      await emitBinary(r.stream, opts.output);
      const summary = r.changed
        ? `repaired: ${r.stats.frames} frames (${r.stats.skipFrames} skip), ` +
          `${r.stats.concealedSlices} slice(s) concealed, ` +
          `${r.stats.droppedFrames} input frame(s) lost; ${r.actions.join('; ')}`
        : 'already valid, written unchanged';
      process.stderr.write(`${name}: ${summary}\n`);
    },
  );
}

function registerRender(avc: Command): void {
  const cmd = avc
    .command('render')
    .summary('render a clip as MP4 or animated GIF for viewing')
    .description(
      'Render a raw H.264 clip for viewing: MP4 (the stream remuxed, not re-encoded) or an ' +
        'animated GIF (palette made for the clip). The format follows the output name unless ' +
        '--format is given. Damaged clips render with ffmpeg concealment; repair them first ' +
        'for a clean result.',
    )
    .argument('<clip>', 'H.264 clip (- for stdin)')
    .option('-o, --output <file>', 'output file, .mp4 or .gif (default: stdout, with --format)')
    .addOption(new Option('--format <format>', 'mp4 or gif').choices(['mp4', 'gif']))
    .option('--fps <n>', 'frames per second (default: the profile rate)')
    .option('--scale <n>', 'GIF: integer upscaling factor, nearest neighbour', '1');
  addCommon(cmd).action(
    async (
      clip: string,
      opts: CommonOptions & { output?: string; format?: string; fps?: string; scale: string },
    ) => {
      const profile = profileOf(opts);
      const ext = opts.output ? path.extname(opts.output).slice(1).toLowerCase() : '';
      const format = (opts.format ?? ext) as AvcRenderFormat;
      if (format !== 'mp4' && format !== 'gif') {
        throw usageError(
          'say the format: an output name ending in .mp4 or .gif, or --format mp4|gif',
        );
      }
      const fps = opts.fps === undefined ? profile.fps : Number(opts.fps);
      if (!(fps > 0 && fps <= 240))
        throw usageError(`--fps must be a number in (0, 240], got '${opts.fps}'`);
      const scale = Number(opts.scale);
      if (!Number.isInteger(scale) || scale < 1 || scale > 16) {
        throw usageError(`--scale must be an integer 1..16, got '${opts.scale}'`);
      }
      await checkOutputFile(opts.output);
      if (opts.output === undefined || opts.output === '-') assertBinaryStdout();
      const name = displayName(clip);
      const bytes = await readFileOrStdin(clip);
      let out: Uint8Array;
      try {
        out = await avcRender(bytes, { format, fps, scale, ffmpeg: opts.ffmpeg });
      } catch (e) {
        throw inFile(name, e);
      }
      await emitBinary(out, opts.output);
    },
  );
}

interface ModelRunOptions {
  readonly ffmpeg?: string;
  readonly model: string;
  readonly n: string;
  readonly class?: string;
  readonly output?: string;
  readonly temperature: string;
  readonly topK: string;
  readonly topP: string;
  readonly seed: string;
  readonly maxTokens?: string;
  readonly cfg?: string;
  readonly threads?: string;
}

function numberOption(name: string, text: string, lo: number, hi: number, integer = false): number {
  const v = Number(text);
  if (
    text.trim() === '' ||
    !Number.isFinite(v) ||
    v < lo ||
    v > hi ||
    (integer && !Number.isInteger(v))
  ) {
    throw usageError(
      `${name} must be ${integer ? 'an integer' : 'a number'} in ${lo}..${hi}, got '${text}'`,
    );
  }
  return v;
}

function addModelOptions(cmd: Command, defaultOut: string): Command {
  return cmd
    .requiredOption('--model <dir>', 'model directory whose tokenizer.json is an AVC tokenizer')
    .option('-n, --n <count>', 'number of clips, generated as one batch', '1')
    .option('--class <label>', 'class label to condition on (default: unconditional)')
    .option('-o, --output <pattern>', `output file; {i} is the clip number (default ${defaultOut})`)
    .option('--temperature <t>', 'sampling temperature (0 = greedy)', '1')
    .option('--top-k <k>', 'keep the k most likely tokens (0 = off)', '0')
    .option('--top-p <p>', 'nucleus sampling mass (1 = off)', '1')
    .option('--seed <n>', 'random seed', '0')
    .option('--max-tokens <n>', 'new tokens per clip at most (default: the rest of the context)')
    .option('--cfg <scale>', 'classifier-free guidance scale (needs --class)')
    .option('--threads <n>', 'ONNX Runtime intra-op threads');
}

/**
 * Open the model, generate, and write every clip that repair accepts. Clips with nothing
 * usable are reported on stderr and make the exit status 2.
 */
async function runModel(
  opts: ModelRunOptions,
  prompts: (tokenizer: AvcTokenizer) => ClipPrompt[],
  defaultOut: string,
): Promise<void> {
  const n = numberOption('--n', opts.n, 1, 64, true);
  const sampling: SamplingOptions = {
    temperature: numberOption('--temperature', opts.temperature, 0, 100),
    topK: numberOption('--top-k', opts.topK, 0, 1 << 20, true),
    topP: numberOption('--top-p', opts.topP, 0, 1),
    seed: numberOption('--seed', opts.seed, 0, 2 ** 32 - 1, true),
  };
  const maxNewTokens =
    opts.maxTokens === undefined
      ? undefined
      : numberOption('--max-tokens', opts.maxTokens, 1, 1 << 24, true);
  const cfgScale = opts.cfg === undefined ? undefined : numberOption('--cfg', opts.cfg, 0, 100);
  if (cfgScale !== undefined && opts.class === undefined) throw usageError('--cfg needs --class');
  const threads =
    opts.threads === undefined ? undefined : numberOption('--threads', opts.threads, 1, 256, true);
  const pattern = opts.output ?? defaultOut;
  if (n > 1 && !pattern.includes('{i}'))
    throw usageError(`-o ${pattern}: several clips need {i} in the name`);
  const outputs = Array.from({ length: n }, (_, i) => pattern.replaceAll('{i}', String(i)));
  for (const o of outputs) await checkOutputFile(o);

  const loaded = await loadModelDir(opts.model).catch((e: unknown) => {
    throw isModelError(e) || isCodecError(e) ? new UserError(e.message) : e;
  });
  if (loaded.tokenizerJson === undefined) {
    throw new UserError(`${opts.model}: no tokenizer.json (an AVC model needs its tokenizer)`);
  }
  let tokenizer: AvcTokenizer;
  try {
    tokenizer = AvcTokenizer.fromJSON(loaded.tokenizerJson);
  } catch (e) {
    throw inFile(path.join(opts.model, 'tokenizer.json'), e);
  }
  if (opts.class !== undefined) {
    try {
      tokenizer.classId(opts.class);
    } catch (e) {
      throw usageError((e as Error).message);
    }
  }
  const base = prompts(tokenizer);
  const all = Array.from({ length: n }, (_, i) => base[i % base.length]);
  const model = await OnnxCausalLM.create(loaded, { intraOpNumThreads: threads });
  try {
    const { clips, stats } = await generateClips(model, {
      tokenizer,
      prompts: all,
      sampling,
      cfgScale,
      maxNewTokens,
      ffmpeg: opts.ffmpeg,
    });
    let rejected = 0;
    for (let i = 0; i < clips.length; i++) {
      const c = clips[i];
      if (c.clip === undefined) {
        rejected++;
        const why = c.repair.ok ? '' : c.repair.reason;
        process.stderr.write(`jpeglm: clip ${i}: rejected, nothing decodable (${why})\n`);
        continue;
      }
      await writeFileAtomic(outputs[i], c.clip);
      const r = c.repair;
      const note =
        r.ok && r.changed
          ? `repaired: ${r.stats.concealedSlices} slice(s) concealed, ${r.stats.frames} frames`
          : 'decodable as generated';
      process.stderr.write(
        `${outputs[i]}: ${c.tokens.length} tokens (${c.finishReason}); ${note}\n`,
      );
    }
    process.stderr.write(
      `${stats.generatedTokens} tokens in ${stats.seconds.toFixed(1)} s (${stats.tokensPerSecond.toFixed(1)} tokens/s)\n`,
    );
    if (rejected > 0) process.exitCode = ExitCode.badInput;
  } finally {
    await model.dispose();
  }
}

function registerGenerate(avc: Command): void {
  const cmd = avc
    .command('generate')
    .summary('generate clips with an AVC byte model (always repaired to decodable clips)')
    .description(
      'Generate H.264 clips with a byte language model whose tokenizer is an AVC tokenizer: ' +
        'sampled byte by byte from BOS and the class token, then the profile header restored ' +
        'and the stream repaired so that ffmpeg decodes it with no error. A clip with nothing ' +
        'usable (no decodable IDR picture) is reported and not written (exit 2).',
    );
  addFfmpeg(addModelOptions(cmd, 'clip-{i}.h264')).action(async (opts: ModelRunOptions) => {
    await runModel(opts, () => [{ classLabel: opts.class ?? null }], 'clip-{i}.h264');
  });
}

function registerComplete(avc: Command): void {
  const cmd = avc
    .command('complete')
    .summary('continue a clip after its first frames with an AVC byte model')
    .description(
      'Keep the first --keep-frames pictures of a canonical clip and let the model continue ' +
        'it; the result is repaired so ffmpeg decodes it with no error (the kept pictures always ' +
        'survive).',
    )
    .argument('<clip>', "canonical clip of the model's profile")
    .option('--keep-frames <n>', 'pictures of the clip to keep as the prompt', '10');
  addFfmpeg(addModelOptions(cmd, 'completed-{i}.h264')).action(
    async (clip: string, opts: ModelRunOptions & { keepFrames: string }) => {
      const keep = numberOption('--keep-frames', opts.keepFrames, 1, 1000, true);
      const bytes = await readFileOrStdin(clip);
      await runModel(
        opts,
        (tokenizer) => {
          try {
            return [clipPrompt(tokenizer, bytes, keep, opts.class ?? null)];
          } catch (e) {
            throw inFile(displayName(clip), e);
          }
        },
        'completed-{i}.h264',
      );
    },
  );
}

export function register(program: Command): void {
  const avc = program
    .command('avc')
    .summary(
      'H.264 clips: encode, tokenize, detokenize, validate, repair, render, generate, complete',
    )
    .description(
      'The AVC-LM side of jpeglm: videos as canonical H.264 (Annex B) byte streams. ffmpeg is ' +
        'the one bundled with @ffmpeg-installer/ffmpeg unless $JPEGLM_FFMPEG or --ffmpeg names ' +
        'another; different ffmpeg/x264 builds may write different bytes for the same video.',
    );
  registerEncode(avc);
  registerTokenize(avc);
  registerDetokenize(avc);
  registerValidate(avc);
  registerRepair(avc);
  registerRender(avc);
  registerGenerate(avc);
  registerComplete(avc);
  for (const sub of avc.commands) sub.exitOverride();
}
