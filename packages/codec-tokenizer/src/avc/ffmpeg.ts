/**
 * Locating and running ffmpeg. The default binary ships inside the npm package
 * @ffmpeg-installer/ffmpeg (a static build with libx264), so nothing downloads at install time;
 * JPEGLM_FFMPEG or an explicit path selects another one. ffmpeg is always spawned with an
 * argument array, never through a shell.
 */
import { spawn } from 'node:child_process';
import { createRequire } from 'node:module';
import { CodecError } from '../errors.js';

/** Environment variable naming the ffmpeg binary to use instead of the bundled one. */
export const FFMPEG_ENV = 'JPEGLM_FFMPEG';

export interface FfmpegOptions {
  /** Path of the ffmpeg binary; default: $JPEGLM_FFMPEG, else the bundled one. */
  readonly ffmpeg?: string | undefined;
}

let bundled: string | undefined;

/** The bundled ffmpeg from @ffmpeg-installer/ffmpeg; throws if the platform has none. */
export function bundledFfmpegPath(): string {
  if (bundled !== undefined) return bundled;
  try {
    const require = createRequire(import.meta.url);
    const mod = require('@ffmpeg-installer/ffmpeg') as { path: string };
    bundled = mod.path;
    return bundled;
  } catch (e) {
    // The package throws plain strings (unsupported platform, missing binary).
    const why = e instanceof Error ? e.message : String(e);
    throw new CodecError(
      'unsupported',
      `no bundled ffmpeg (${why}); set ${FFMPEG_ENV} or pass --ffmpeg PATH`,
    );
  }
}

/** Which ffmpeg to run: the explicit path, else $JPEGLM_FFMPEG, else the bundled binary. */
export function resolveFfmpeg(explicit?: string): string {
  if (explicit !== undefined && explicit !== '') return explicit;
  const env = process.env[FFMPEG_ENV];
  if (env !== undefined && env !== '') return env;
  return bundledFfmpegPath();
}

export interface FfmpegRunOptions extends FfmpegOptions {
  /** Bytes written to ffmpeg's stdin (for `-i pipe:0`); stdin is closed when absent. */
  readonly input?: Uint8Array;
  /** Kill ffmpeg and fail when stdout grows beyond this (default 1 GiB). */
  readonly maxOutputBytes?: number;
  /** Kill ffmpeg and fail after this many milliseconds (default: no limit). */
  readonly timeoutMs?: number;
  readonly signal?: AbortSignal;
}

export interface FfmpegResult {
  /** Exit status; null when killed by a signal. */
  readonly code: number | null;
  readonly stdout: Uint8Array;
  readonly stderr: string;
}

const DEFAULT_MAX_OUTPUT = 1 << 30;
/** stderr is only read for messages; anything past this is dropped. */
const MAX_STDERR = 1 << 20;

/**
 * Run ffmpeg with an argument array. Resolves with the exit status and both outputs, whatever
 * the status; rejects only when ffmpeg cannot be started, exceeds a limit, or is aborted.
 */
export function runFfmpeg(
  args: readonly string[],
  opts: FfmpegRunOptions = {},
): Promise<FfmpegResult> {
  const bin = resolveFfmpeg(opts.ffmpeg);
  const maxOut = opts.maxOutputBytes ?? DEFAULT_MAX_OUTPUT;
  return new Promise((resolve, reject) => {
    const child = spawn(bin, [...args], {
      stdio: [opts.input ? 'pipe' : 'ignore', 'pipe', 'pipe'],
      signal: opts.signal,
    });
    const chunks: Buffer[] = [];
    let outBytes = 0;
    let stderr = '';
    let failure: Error | undefined;
    let timer: NodeJS.Timeout | undefined;
    const fail = (e: Error): void => {
      if (failure === undefined) failure = e;
      child.kill('SIGKILL');
    };
    if (opts.timeoutMs !== undefined) {
      timer = setTimeout(
        () => fail(new CodecError('io', `ffmpeg: no result after ${opts.timeoutMs} ms`)),
        opts.timeoutMs,
      );
    }
    const { stdout, stderr: errStream } = child;
    if (!stdout || !errStream)
      throw new CodecError('io', 'ffmpeg: could not open its output pipes');
    stdout.on('data', (c: Buffer) => {
      outBytes += c.length;
      if (outBytes > maxOut)
        fail(new CodecError('too-large', `ffmpeg: output exceeds ${maxOut} bytes`));
      else chunks.push(c);
    });
    errStream.setEncoding('utf8');
    errStream.on('data', (s: string) => {
      if (stderr.length < MAX_STDERR) stderr += s;
    });
    child.on('error', (e: NodeJS.ErrnoException) => {
      if (e.code === 'ENOENT' || e.code === 'EACCES') {
        fail(
          new CodecError(
            'io',
            `cannot run ffmpeg at ${bin} (${e.code === 'ENOENT' ? 'not found' : 'permission denied'}); set ${FFMPEG_ENV} or pass --ffmpeg PATH`,
          ),
        );
      } else fail(e);
    });
    if (opts.input && child.stdin) {
      // ffmpeg may stop reading early (bad data, -frames); a broken pipe is not our error.
      child.stdin.on('error', () => undefined);
      child.stdin.end(opts.input);
    }
    child.on('close', (code) => {
      if (timer) clearTimeout(timer);
      if (failure) reject(failure);
      else resolve({ code, stdout: new Uint8Array(Buffer.concat(chunks)), stderr });
    });
  });
}

/** ffmpeg's log prefix "[h264 @ 0x55d0c8]" carries no information for a reader. */
const LOG_PREFIX = /^\[[^\]]*@ 0x[0-9a-f]+\]\s*/i;

/** The distinct non-empty lines of an ffmpeg log, without "[ctx @ 0x...]" prefixes. */
export function ffmpegLogLines(stderr: string): string[] {
  const seen = new Set<string>();
  const out: string[] = [];
  for (const raw of stderr.split(/\r?\n/)) {
    const line = raw.replace(LOG_PREFIX, '').trim();
    if (line === '' || seen.has(line)) continue;
    seen.add(line);
    out.push(line);
  }
  return out;
}

/** Generic last words that say less than the line that caused them. */
const GENERIC =
  /^(Conversion failed!|Error while (processing|decoding|filtering).*|Error reinitializing filters!|Exiting normally.*)$/;

/** One line describing why ffmpeg failed: its first specific error message. */
export function ffmpegErrorLine(stderr: string, code: number | null): string {
  const lines = ffmpegLogLines(stderr);
  const specific = lines.find((l) => !GENERIC.test(l)) ?? lines[0];
  const status = code === null ? 'killed' : `exit status ${code}`;
  return specific ? `ffmpeg: ${specific}` : `ffmpeg failed (${status}) without a message`;
}

/** Run ffmpeg and return its stdout, or throw a CodecError carrying ffmpeg's one-line reason. */
export async function runFfmpegChecked(
  args: readonly string[],
  opts: FfmpegRunOptions = {},
  code: 'corrupt' | 'io' = 'corrupt',
): Promise<FfmpegResult> {
  const r = await runFfmpeg(args, opts);
  if (r.code !== 0) throw new CodecError(code, ffmpegErrorLine(r.stderr, r.code));
  return r;
}

const versions = new Map<string, Promise<string>>();

/** The first line of `ffmpeg -version`, e.g. "ffmpeg version 5.1.6 ..." (cached per binary). */
export function ffmpegVersion(opts: FfmpegOptions = {}): Promise<string> {
  const bin = resolveFfmpeg(opts.ffmpeg);
  let v = versions.get(bin);
  if (v === undefined) {
    v = runFfmpegChecked(['-hide_banner', '-version'], { ffmpeg: bin }, 'io').then((r) =>
      Buffer.from(r.stdout).toString('utf8').split('\n')[0].trim(),
    );
    v.catch(() => versions.delete(bin));
    versions.set(bin, v);
  }
  return v;
}
