/**
 * The options that pick a canonical profile, shared by `encode` and `tokenize`:
 * --profile NAME, then any of --size/--quality/--restart/--subsampling/--fit/--background to
 * change single fields of it.
 */
import {
  DEFAULT_PROFILE_NAME,
  PROFILES,
  customProfile,
  getProfile,
  isCodecError,
  parseColour,
  parseSize,
  type CanonicalJpegProfile,
  type ProfileOverrides,
} from '@jpeglm/codec-tokenizer';
import { Option, type Command } from 'commander';
import { usageError } from './errors.js';

export interface ProfileCliOptions {
  readonly profile?: string;
  readonly size?: string;
  readonly quality?: string;
  readonly restart?: string;
  readonly subsampling?: string;
  readonly fit?: string;
  readonly background?: string;
}

export function addProfileOptions(cmd: Command, sizeHelp: string): Command {
  return cmd
    .option(
      '--profile <name>',
      `canonical profile: ${Object.keys(PROFILES).join(', ')} (see packages/codec-tokenizer/README.md)`,
    )
    .option('--size <N|WxH>', sizeHelp)
    .option('--quality <1-100>', 'JPEG quality, libjpeg scaling of the Annex K tables')
    .option('--restart <MCUs>', 'restart interval in MCUs, 0 = no restart markers')
    .addOption(new Option('--subsampling <mode>', 'chroma subsampling').choices(['4:2:0', '4:4:4']))
    .addOption(
      new Option('--fit <mode>', 'crop to the centre, or pad with the background').choices([
        'crop',
        'pad',
      ]),
    )
    .option('--background <colour>', 'colour for transparency and padding: #rrggbb or r,g,b');
}

function integer(name: string, text: string, lo: number, hi: number): number {
  const v = /^\d+$/.test(text.trim()) ? Number(text) : NaN;
  if (!Number.isInteger(v) || v < lo || v > hi) {
    throw usageError(`${name} must be an integer ${lo}..${hi}, got '${text}'`);
  }
  return v;
}

function overrides(opts: ProfileCliOptions): ProfileOverrides {
  try {
    return {
      ...(opts.size !== undefined ? parseSize(opts.size) : {}),
      quality: opts.quality === undefined ? undefined : integer('--quality', opts.quality, 1, 100),
      restartInterval:
        opts.restart === undefined ? undefined : integer('--restart', opts.restart, 0, 65535),
      subsampling: opts.subsampling as ProfileOverrides['subsampling'],
      fit: opts.fit as ProfileOverrides['fit'],
      background: opts.background === undefined ? undefined : parseColour(opts.background),
    };
  } catch (e) {
    if (isCodecError(e)) throw usageError(e.message);
    throw e;
  }
}

/** True if any option that changes a profile field was given. */
export function hasProfileOverrides(opts: ProfileCliOptions): boolean {
  return [opts.size, opts.quality, opts.restart, opts.subsampling, opts.fit, opts.background].some(
    (v) => v !== undefined,
  );
}

export function namedProfile(name: string): CanonicalJpegProfile {
  try {
    return getProfile(name);
  } catch (e) {
    // The message lists the known names.
    if (isCodecError(e)) throw usageError(e.message);
    throw e;
  }
}

/**
 * The profile the options describe. `base` is the profile used when --profile is absent
 * (default: JPEG-LM's jpeglm-256-q25).
 */
export function resolveProfile(
  opts: ProfileCliOptions,
  base: CanonicalJpegProfile = getProfile(DEFAULT_PROFILE_NAME),
): CanonicalJpegProfile {
  const start = opts.profile !== undefined ? namedProfile(opts.profile) : base;
  try {
    return customProfile(overrides(opts), start);
  } catch (e) {
    if (isCodecError(e)) throw usageError(e.message);
    throw e;
  }
}
