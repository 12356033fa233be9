import {
  DEFAULT_MAX_MEGAPIXELS,
  canonicalizeImage,
  customProfile,
  getProfile,
  probeImage,
  DEFAULT_PROFILE_NAME,
} from '@jpeglm/codec-tokenizer';
import type { Command } from 'commander';
import { inFile } from '../errors.js';
import { checkOutputFile, displayName, readFileOrStdin } from '../input.js';
import { assertBinaryStdout, emitBinary } from '../io.js';
import { parseMegapixels } from '../limits.js';
import { addProfileOptions, resolveProfile, type ProfileCliOptions } from '../profile-options.js';

interface EncodeOptions extends ProfileCliOptions {
  readonly output?: string;
  readonly maxMegapixels: string;
  readonly reencode?: boolean;
}

export function register(program: Command): void {
  const cmd = program
    .command('encode')
    .summary('encode any image as a canonical JPEG (byte-identical to cjpeg at the target size)')
    .description(
      'Encode any image (JPEG, PNG, WebP, GIF, TIFF, AVIF, PPM) as a canonical JPEG: EXIF ' +
        'orientation applied, alpha flattened, centre-cropped (or padded) and resized to the ' +
        'profile, then our baseline encoder. With --profile the image gets that profile; ' +
        "without it the image keeps its own size (unless --size) and JPEG-LM's settings " +
        '(quality 25, 4:2:0, a restart marker every MCU). An RGB image already at the target ' +
        'size encodes to exactly the bytes of `cjpeg -quality Q -sample 2x2 -restart RB -dct ' +
        'int -baseline`.',
    )
    .argument('<image>', 'input image, or - for stdin');
  addProfileOptions(cmd, "output size, N or WxH (default: the profile's, or the image's own)")
    .option('-o, --output <file>', 'write the JPEG here (default: stdout, if not a terminal)')
    .option(
      '--max-megapixels <n>',
      'refuse larger images before decoding them',
      String(DEFAULT_MAX_MEGAPIXELS),
    )
    .option('--reencode', 'decode and re-encode an input that already is canonical for the profile')
    .addHelpText(
      'after',
      '\nExamples:\n' +
        '  jpeglm encode photo.heic --profile jpeglm-256-q25 -o photo.jpg\n' +
        '  jpeglm encode in.ppm --quality 50 --restart 4 > out.jpg\n' +
        '  jpeglm encode logo.png --size 64 --fit pad --background "#000000" -o logo.jpg',
    )
    .action(async (image: string, opts: EncodeOptions) => {
      const maxMegapixels = parseMegapixels(opts.maxMegapixels);
      resolveProfile(opts); // option values are checked before any file is touched
      await checkOutputFile(opts.output);
      if (opts.output === undefined || opts.output === '-') assertBinaryStdout();
      const name = displayName(image);
      const bytes = await readFileOrStdin(image);
      try {
        let profile;
        if (opts.profile !== undefined || opts.size !== undefined) {
          profile = resolveProfile(opts);
        } else {
          // No profile and no size: the image keeps its own (displayed) size.
          const { width, height } = await probeImage(bytes, { maxMegapixels });
          const own = customProfile({ width, height }, getProfile(DEFAULT_PROFILE_NAME));
          profile = resolveProfile(opts, own);
        }
        const jpeg = await canonicalizeImage(bytes, profile, {
          maxMegapixels,
          keepCanonical: !opts.reencode,
        });
        await emitBinary(jpeg, opts.output);
      } catch (e) {
        throw inFile(name, e);
      }
    });
}
