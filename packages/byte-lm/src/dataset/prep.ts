/**
 * The dataset job: inputs -> canonical JPEG (images) or canonical H.264 (videos, with an AVC
 * profile) token sequences -> train/val shards, an index per shard, rejects, tokenizer.json and
 * a dataset card (dataset.json). The codec only changes the per-file work (sample.ts) and the
 * tokenizer; listing, chunks, resuming, split and shards are the same for both.
 *
 * Resumability. Inputs are listed in a fixed order and cut into fixed-size chunks. Each chunk's
 * results (token sequences or reject reasons) are written to `.prep/chunks/NNNNNN.chunk` by
 * temp file + rename, so a chunk file is whole or absent: the chunk files are the journal of
 * finished work. A rerun skips the chunks it finds. Once all exist, the outputs are assembled
 * from the chunks in order — a pure function of them — so a run killed at any moment and rerun
 * writes the same bytes as one that never stopped, and worker scheduling cannot change them.
 * The card is written last and `.prep` removed after it.
 */
import { createHash, randomBytes } from 'node:crypto';
import { promises as fs } from 'node:fs';
import path from 'node:path';
import {
  AvcTokenizer,
  CodecError,
  DEFAULT_MAX_MEGAPIXELS,
  FIRST_CLASS_ID,
  JpegTokenizer,
  avcProfileHeader,
  ffmpegVersion,
  resolveFfmpeg,
  type AvcProfile,
  type CanonicalJpegProfile,
} from '@jpeglm/codec-tokenizer';
import {
  MAX_SHARD_TOKENS,
  SHARD_HEADER_BYTES,
  SHARD_MAGIC,
  SHARD_VERSION,
  bytesToTokens,
  formatIndexEntry,
  shardHeader,
  tokensToBytes,
  type ShardIndexEntry,
} from './shard.js';
import { writeFileAtomic } from '../atomic-write.js';
import { listImageFolder, readManifest, type InputListing, type InputSample } from './inputs.js';
import { splitOf, type Split } from './split.js';
import { SamplePool } from './pool.js';
import type { SampleCodec, SampleResult } from './sample.js';

export const DATASET_CARD_FILE = 'dataset.json';
export const DATASET_FORMAT = 'jpeglm-dataset';
export const DATASET_VERSION = 1;
export const REJECTS_FILE = 'rejects.jsonl';
export const DATASET_TOKENIZER_FILE = 'tokenizer.json';
/** The work folder of an unfinished run inside the output folder. */
export const PREP_WORK_DIR = '.prep';
export const DEFAULT_CHUNK_SIZE = 256;
/** llm.c's FineWeb shards hold 100M tokens. */
export const DEFAULT_SHARD_TOKENS = 100_000_000;
export const DEFAULT_VAL_FRACTION = 0.05;
export const DEFAULT_MAX_INPUT_BYTES = 256 * 1024 * 1024;
/** Videos are hashed as a stream and ffmpeg reads only their first seconds: a larger limit. */
export const DEFAULT_MAX_VIDEO_INPUT_BYTES = 4 * 1024 * 1024 * 1024;
/** ffmpeg is killed, and the video rejected, after this long on one file. */
export const DEFAULT_VIDEO_TIMEOUT_MS = 300_000;

/** The codec a dataset is made with: canonical JPEG for images, canonical H.264 for videos. */
export type DatasetCodec = 'jpeg' | 'avc';

/** A dataset's tokenizer: tokenizer.json is one or the other (by its "format"). */
export type DatasetTokenizer = JpegTokenizer | AvcTokenizer;

/** True for AVC profiles (avcProfile/makeAvcProfile), false for canonical JPEG profiles. */
export function isAvcProfile(p: CanonicalJpegProfile | AvcProfile): p is AvcProfile {
  return 'mbsPerSlice' in p;
}

export type PrepSource =
  | { readonly kind: 'folder'; readonly path: string }
  | { readonly kind: 'manifest'; readonly path: string; readonly groupBy?: string };

export interface PrepProgress {
  /** Samples finished in this run, and in total still to do when it started. */
  readonly done: number;
  readonly todo: number;
  /** Samples already finished by an earlier, interrupted run. */
  readonly resumed: number;
  readonly rejects: number;
}

export interface PrepOptions {
  readonly source: PrepSource;
  readonly out: string;
  /** A canonical JPEG profile for images, or an AVC profile (avcProfile) for videos. */
  readonly profile: CanonicalJpegProfile | AvcProfile;
  /** ffmpeg binary for videos; default: $JPEGLM_FFMPEG, else the bundled one. */
  readonly ffmpeg?: string;
  /** Per-video ffmpeg time limit (default DEFAULT_VIDEO_TIMEOUT_MS). */
  readonly videoTimeoutMs?: number;
  readonly valFraction?: number;
  /** Worker threads; 0 runs in-process. */
  readonly workers: number;
  readonly chunkSize?: number;
  readonly shardTokens?: number;
  /** Default DEFAULT_MAX_INPUT_BYTES for images, DEFAULT_MAX_VIDEO_INPUT_BYTES for videos. */
  readonly maxInputBytes?: number;
  /** Images only. */
  readonly maxMegapixels?: number;
  readonly onProgress?: (p: PrepProgress) => void;
  readonly onWarning?: (message: string) => void;
  /** Stop dispatching and reject; finished chunks stay for the rerun. */
  readonly signal?: AbortSignal;
}

export interface DatasetShardInfo {
  readonly file: string;
  readonly index: string;
  readonly samples: number;
  readonly tokens: number;
}

export interface DatasetSplitInfo {
  readonly samples: number;
  readonly tokens: number;
  readonly shards: DatasetShardInfo[];
}

export interface DatasetClassInfo {
  readonly id: number;
  readonly token: number;
  readonly label: string;
  readonly train: number;
  readonly val: number;
  readonly rejects: number;
}

/** dataset.json; documented in packages/byte-lm/README.md ("Dataset pipeline"). */
export interface DatasetCard {
  readonly format: typeof DATASET_FORMAT;
  readonly version: number;
  /** Absent in cards written before videos were supported: those are 'jpeg'. */
  readonly codec?: DatasetCodec;
  readonly profile: CanonicalJpegProfile | AvcProfile;
  /** AVC datasets: `ffmpeg -version`'s first line (the bytes depend on the ffmpeg build). */
  readonly ffmpeg?: string;
  readonly tokenizer: {
    readonly file: string;
    readonly vocabSize: number;
    readonly sha256: string;
  };
  readonly shardFormat: {
    readonly layout: 'llm.c';
    readonly magic: number;
    readonly version: number;
    readonly headerBytes: number;
    readonly tokenType: 'uint16le';
    readonly sequence: string;
  };
  readonly source: { readonly kind: 'folder' | 'manifest'; readonly inputs: number };
  readonly split: {
    readonly method: 'sha256';
    readonly key: string;
    readonly valFraction: number;
  };
  readonly classes: DatasetClassInfo[];
  readonly unlabelled: { readonly train: number; readonly val: number; readonly rejects: number };
  readonly totals: {
    readonly inputs: number;
    readonly samples: number;
    readonly rejects: number;
    readonly tokens: number;
    /** Bytes between the class token and EOS (JPEG: scan and EOI; AVC: the stream body). */
    readonly scanBytes: number;
  };
  readonly splits: { readonly train: DatasetSplitInfo; readonly val: DatasetSplitInfo };
  readonly rejects: { readonly file: string; readonly count: number };
  /** sha256 of the plan (inputs, profile, options): a rerun must match it. */
  readonly planSha256: string;
}

interface Plan {
  readonly format: 'jpeglm-prep-plan';
  readonly version: 1;
  readonly sourceKind: 'folder' | 'manifest';
  readonly groupBy: string | null;
  readonly inputsSha256: string;
  readonly inputs: number;
  readonly profile: CanonicalJpegProfile | AvcProfile;
  readonly classes: readonly string[];
  readonly valFraction: number;
  readonly chunkSize: number;
  readonly shardTokens: number;
  readonly maxInputBytes: number;
  /** Images. (JPEG plans keep their original fields, so their hashes do not change.) */
  readonly maxMegapixels?: number;
  /** Videos: another ffmpeg build may encode other bytes, so it is part of the plan. */
  readonly codec?: 'avc';
  readonly ffmpeg?: string;
  readonly headerSha256?: string;
}

const sha256 = (data: Uint8Array | string): string =>
  createHash('sha256').update(data).digest('hex');

function checkOptions(o: PrepOptions): {
  valFraction: number;
  chunkSize: number;
  shardTokens: number;
} {
  const valFraction = o.valFraction ?? DEFAULT_VAL_FRACTION;
  const chunkSize = o.chunkSize ?? DEFAULT_CHUNK_SIZE;
  const shardTokens = o.shardTokens ?? DEFAULT_SHARD_TOKENS;
  if (!(valFraction >= 0 && valFraction < 1)) {
    throw new CodecError('invalid-argument', `val fraction must be in [0, 1), got ${valFraction}`);
  }
  if (!(Number.isInteger(chunkSize) && chunkSize >= 1 && chunkSize <= 1 << 20)) {
    throw new CodecError('invalid-argument', `chunk size must be an integer 1..${1 << 20}`);
  }
  if (!(Number.isInteger(shardTokens) && shardTokens >= 1 && shardTokens <= MAX_SHARD_TOKENS)) {
    throw new CodecError(
      'invalid-argument',
      `shard tokens must be an integer 1..${MAX_SHARD_TOKENS}`,
    );
  }
  return { valFraction, chunkSize, shardTokens };
}

async function listInputs(source: PrepSource): Promise<InputListing> {
  return source.kind === 'folder'
    ? listImageFolder(source.path)
    : readManifest(source.path, source.groupBy);
}

/** Class labels in code-unit order of the labels; unlabelled samples use NULL_CLASS. */
function classList(samples: readonly InputSample[]): string[] {
  const set = new Set<string>();
  for (const s of samples) if (s.label !== null) set.add(s.label);
  return [...set].sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
}

// ---- chunk files -------------------------------------------------------------------------

const CHUNK_MAGIC = 'JLMCHUNK';

type ChunkEntry =
  | { readonly sha256: string; readonly tokens: number }
  | {
      readonly sha256: string | null;
      readonly reject: string;
    };

interface Chunk {
  readonly entries: ChunkEntry[];
  readonly tokens: Uint16Array;
}

function chunkName(k: number): string {
  return `${String(k).padStart(6, '0')}.chunk`;
}

function encodeChunk(k: number, first: number, results: SampleResult[]): Uint8Array {
  const entries: ChunkEntry[] = results.map((r) =>
    r.ok ? { sha256: r.sha256, tokens: r.tokens.length } : { sha256: r.sha256, reject: r.reason },
  );
  const json = Buffer.from(JSON.stringify({ chunk: k, first, entries }), 'utf8');
  let total = 0;
  for (const r of results) if (r.ok) total += r.tokens.length;
  const all = new Uint16Array(total);
  let at = 0;
  for (const r of results) {
    if (r.ok) {
      all.set(r.tokens, at);
      at += r.tokens.length;
    }
  }
  const body = tokensToBytes(all);
  const out = new Uint8Array(12 + json.length + body.length);
  out.set(Buffer.from(CHUNK_MAGIC, 'latin1'), 0);
  new DataView(out.buffer).setUint32(8, json.length, true);
  out.set(json, 12);
  out.set(body, 12 + json.length);
  return out;
}

/** Parse a chunk file; undefined when it is not a complete chunk k of `count` samples. */
function decodeChunk(bytes: Uint8Array, k: number, count: number): Chunk | undefined {
  if (bytes.length < 12 || Buffer.from(bytes.subarray(0, 8)).toString('latin1') !== CHUNK_MAGIC) {
    return undefined;
  }
  const jsonLength = new DataView(bytes.buffer, bytes.byteOffset).getUint32(8, true);
  if (12 + jsonLength > bytes.length) return undefined;
  let meta: { chunk?: unknown; entries?: unknown };
  try {
    meta = JSON.parse(Buffer.from(bytes.subarray(12, 12 + jsonLength)).toString('utf8'));
  } catch {
    return undefined;
  }
  if (meta.chunk !== k || !Array.isArray(meta.entries) || meta.entries.length !== count) {
    return undefined;
  }
  const entries = meta.entries as ChunkEntry[];
  let total = 0;
  for (const e of entries) if ('tokens' in e) total += e.tokens;
  const body = bytes.subarray(12 + jsonLength);
  if (body.length !== 2 * total) return undefined;
  return { entries, tokens: bytesToTokens(body) };
}

// ---- shard writer ------------------------------------------------------------------------

class ShardWriter {
  readonly shards: DatasetShardInfo[] = [];
  samples = 0;
  tokens = 0;
  private handle: fs.FileHandle | undefined;
  private tmp = '';
  private count = 0;
  private index: string[] = [];

  constructor(
    private readonly out: string,
    private readonly split: Split,
    private readonly limit: number,
  ) {}

  private name(): string {
    return `${this.split}_${String(this.shards.length).padStart(6, '0')}.bin`;
  }

  async add(seq: Uint16Array, entry: Omit<ShardIndexEntry, 'offset' | 'length'>): Promise<void> {
    if (seq.length > this.limit) {
      throw new CodecError(
        'invalid-argument',
        `${entry.path}: ${seq.length} tokens do not fit in a ${this.limit}-token shard`,
      );
    }
    if (this.handle && this.count + seq.length > this.limit) await this.close();
    if (!this.handle) {
      this.tmp = path.join(this.out, `.${this.name()}.${randomBytes(6).toString('hex')}.tmp`);
      this.handle = await fs.open(this.tmp, 'w');
      await this.handle.write(new Uint8Array(SHARD_HEADER_BYTES));
      this.count = 0;
      this.index = [];
    }
    this.index.push(formatIndexEntry({ offset: this.count, length: seq.length, ...entry }));
    await this.handle.write(tokensToBytes(seq));
    this.count += seq.length;
    this.samples++;
    this.tokens += seq.length;
  }

  async close(): Promise<void> {
    if (!this.handle) return;
    const name = this.name();
    await this.handle.write(shardHeader(this.count), 0, SHARD_HEADER_BYTES, 0);
    await this.handle.close();
    this.handle = undefined;
    const indexName = name.replace(/\.bin$/, '.index.jsonl');
    await writeFileAtomic(path.join(this.out, indexName), this.index.join('\n') + '\n');
    await fs.rename(this.tmp, path.join(this.out, name));
    this.shards.push({
      file: name,
      index: indexName,
      samples: this.index.length,
      tokens: this.count,
    });
  }
}

// ---- the job -----------------------------------------------------------------------------

async function outputState(out: string): Promise<'absent' | 'empty' | 'work' | 'done' | 'other'> {
  let names: string[];
  try {
    names = await fs.readdir(out);
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') return 'absent';
    if (code === 'ENOTDIR') throw new CodecError('invalid-argument', `${out}: not a folder`);
    throw e;
  }
  if (names.includes(PREP_WORK_DIR)) return 'work';
  if (names.includes(DATASET_CARD_FILE)) return 'done';
  return names.length === 0 ? 'empty' : 'other';
}

async function readJsonFile(file: string): Promise<unknown> {
  try {
    return JSON.parse(await fs.readFile(file, 'utf8'));
  } catch (e) {
    if (e instanceof SyntaxError) throw new CodecError('corrupt', `${file}: not valid JSON`);
    throw e;
  }
}

/**
 * Build (or finish building) a dataset in `options.out`. Returns the card. An output folder
 * holding a finished dataset of the same plan is returned as is.
 */
export async function prepareDataset(options: PrepOptions): Promise<DatasetCard> {
  const { valFraction, chunkSize, shardTokens } = checkOptions(options);
  const { out, profile } = options;
  const warn = options.onWarning ?? (() => undefined);
  if (options.source.kind === 'folder') {
    // Inside the input tree, the outputs of a first run would be inputs of the rerun.
    const rel = path.relative(path.resolve(options.source.path), path.resolve(out));
    if (rel === '' || (!rel.startsWith('..') && !path.isAbsolute(rel))) {
      throw new CodecError(
        'invalid-argument',
        `${out}: the output folder is inside the input folder ${options.source.path}; put it elsewhere`,
      );
    }
  }
  const listing = await listInputs(options.source);
  for (const d of listing.emptyClassFolders)
    warn(`class folder ${d} holds no files; no class made`);
  const { samples } = listing;
  const classes = classList(samples);
  const video = isAvcProfile(profile);
  const maxInputBytes =
    options.maxInputBytes ?? (video ? DEFAULT_MAX_VIDEO_INPUT_BYTES : DEFAULT_MAX_INPUT_BYTES);
  let tokenizer: DatasetTokenizer;
  let codec: SampleCodec;
  let codecPlan: Pick<Plan, 'maxMegapixels' | 'codec' | 'ffmpeg' | 'headerSha256'>;
  if (video) {
    // One binary for the header and every worker; a missing ffmpeg fails here, before any work.
    const ffmpeg = resolveFfmpeg(options.ffmpeg);
    const header = await avcProfileHeader(profile, { ffmpeg });
    tokenizer = new AvcTokenizer({ profile, header, classes });
    codec = {
      kind: 'avc',
      profile: tokenizer.profile,
      ffmpeg,
      header: header.bytes,
      timeoutMs: options.videoTimeoutMs ?? DEFAULT_VIDEO_TIMEOUT_MS,
    };
    codecPlan = {
      codec: 'avc',
      ffmpeg: await ffmpegVersion({ ffmpeg }),
      headerSha256: sha256(header.bytes),
    };
  } else {
    const maxMegapixels = options.maxMegapixels ?? DEFAULT_MAX_MEGAPIXELS;
    tokenizer = new JpegTokenizer({ profile, classes });
    codec = { kind: 'jpeg', profile: tokenizer.profile, maxMegapixels };
    codecPlan = { maxMegapixels };
  }
  const plan: Plan = {
    format: 'jpeglm-prep-plan',
    version: 1,
    sourceKind: listing.kind,
    groupBy: options.source.kind === 'manifest' ? (options.source.groupBy ?? null) : null,
    inputsSha256: sha256(JSON.stringify(samples.map((s) => [s.path, s.label, s.splitKey]))),
    inputs: samples.length,
    profile: tokenizer.profile,
    classes,
    valFraction,
    chunkSize,
    shardTokens,
    maxInputBytes,
    ...codecPlan,
  };
  const planText = JSON.stringify(plan, null, 2) + '\n';
  const planSha256 = sha256(planText);

  const work = path.join(out, PREP_WORK_DIR);
  const chunksDir = path.join(work, 'chunks');
  const planFile = path.join(work, 'plan.json');
  const state = await outputState(out);
  if (state === 'other') {
    throw new CodecError(
      'invalid-argument',
      `${out}: the output folder is not empty and holds no dataset; choose an empty or new folder`,
    );
  }
  if (state === 'done') {
    const card = (await readJsonFile(path.join(out, DATASET_CARD_FILE))) as DatasetCard;
    if (card.planSha256 !== planSha256) {
      throw new CodecError(
        'invalid-argument',
        `${out}: already holds a dataset built from other inputs or options; choose another folder`,
      );
    }
    return card;
  }
  if (state === 'work') {
    const old = await fs.readFile(planFile, 'utf8').catch(() => undefined);
    if (old !== undefined && old !== planText) {
      throw new CodecError(
        'invalid-argument',
        `${out}: holds an unfinished prep of other inputs or options (${planFile}); rerun it with the same command, or choose another folder`,
      );
    }
  }
  await fs.mkdir(chunksDir, { recursive: true });
  if (state !== 'work' || !(await fs.stat(planFile).catch(() => undefined))) {
    await writeFileAtomic(planFile, planText);
  }

  // Which chunks are done: a chunk file that parses. Leftover temp files are dropped.
  const chunkCount = Math.ceil(samples.length / chunkSize);
  const chunkLength = (k: number): number => Math.min(chunkSize, samples.length - k * chunkSize);
  const done = new Set<number>();
  let resumed = 0;
  let resumedRejects = 0;
  for (const name of await fs.readdir(chunksDir)) {
    const m = /^(\d{6})\.chunk$/.exec(name);
    const file = path.join(chunksDir, name);
    if (!m) {
      await fs.rm(file, { force: true });
      continue;
    }
    const k = Number(m[1]);
    const chunk =
      k < chunkCount
        ? decodeChunk(new Uint8Array(await fs.readFile(file)), k, chunkLength(k))
        : undefined;
    if (!chunk) {
      warn(`${file}: unreadable work file; redoing its samples`);
      await fs.rm(file, { force: true });
      continue;
    }
    done.add(k);
    resumed += chunk.entries.length;
    resumedRejects += chunk.entries.filter((e) => 'reject' in e).length;
  }

  // Canonicalise the missing chunks, a bounded window of them in flight.
  const todoChunks = [...Array(chunkCount).keys()].filter((k) => !done.has(k));
  const todo = todoChunks.reduce((n, k) => n + chunkLength(k), 0);
  let finished = 0;
  let rejects = resumedRejects;
  const report = (): void => options.onProgress?.({ done: finished, todo, resumed, rejects });
  report();
  if (todoChunks.length > 0) {
    const pool = new SamplePool({ codec, classes, maxInputBytes }, options.workers);
    const window = Math.max(2, 2 * options.workers);
    const inflight = new Set<Promise<void>>();
    let failure: unknown;
    const runChunk = async (k: number): Promise<void> => {
      const first = k * chunkSize;
      const part = samples.slice(first, first + chunkLength(k));
      const results = await Promise.all(
        part.map(async (s) => {
          const r = await pool.run({ file: s.file, label: s.label });
          finished++;
          if (!r.ok) rejects++;
          report();
          return r;
        }),
      );
      await writeFileAtomic(path.join(chunksDir, chunkName(k)), encodeChunk(k, first, results));
    };
    try {
      for (const k of todoChunks) {
        if (options.signal?.aborted) break;
        if (failure !== undefined) break;
        const p = runChunk(k).then(
          () => void inflight.delete(p),
          (e) => {
            inflight.delete(p);
            failure ??= e;
          },
        );
        inflight.add(p);
        if (inflight.size >= window) await Promise.race(inflight);
      }
      await Promise.all(inflight);
    } finally {
      await pool.close();
    }
    if (failure !== undefined) throw failure;
    if (options.signal?.aborted) {
      throw new CodecError('io', 'interrupted; finished chunks are kept, rerun to resume');
    }
  }

  return assemble(out, chunksDir, samples, chunkCount, chunkLength, tokenizer, plan, planSha256);
}

async function assemble(
  out: string,
  chunksDir: string,
  samples: readonly InputSample[],
  chunkCount: number,
  chunkLength: (k: number) => number,
  tokenizer: DatasetTokenizer,
  plan: Plan,
  planSha256: string,
): Promise<DatasetCard> {
  // Anything a killed assembly left behind is rewritten or removed.
  for (const name of await fs.readdir(out)) {
    if (/^\..*\.tmp$/.test(name) || /^(train|val)_\d{6}\.(bin|index\.jsonl)$/.test(name)) {
      await fs.rm(path.join(out, name), { force: true });
    }
  }
  const writers = {
    train: new ShardWriter(out, 'train', plan.shardTokens),
    val: new ShardWriter(out, 'val', plan.shardTokens),
  };
  const classes = plan.classes;
  const counts = classes.map(() => ({ train: 0, val: 0, rejects: 0 }));
  const unlabelled = { train: 0, val: 0, rejects: 0 };
  const rejectLines: string[] = [];
  let scanBytes = 0;
  for (let k = 0; k < chunkCount; k++) {
    const file = path.join(chunksDir, chunkName(k));
    const chunk = decodeChunk(new Uint8Array(await fs.readFile(file)), k, chunkLength(k));
    if (!chunk) throw new CodecError('corrupt', `${file}: work file damaged during the run; rerun`);
    let at = 0;
    for (let i = 0; i < chunk.entries.length; i++) {
      const e = chunk.entries[i];
      const s = samples[k * plan.chunkSize + i];
      const classId = s.label === null ? null : classes.indexOf(s.label);
      const bucket = classId === null ? unlabelled : counts[classId];
      if ('reject' in e) {
        rejectLines.push(JSON.stringify({ path: s.path, reason: e.reject }));
        bucket.rejects++;
        continue;
      }
      const seq = chunk.tokens.subarray(at, at + e.tokens);
      at += e.tokens;
      const split = splitOf(s.splitKey, plan.valFraction);
      bucket[split]++;
      scanBytes += seq.length - 3;
      await writers[split].add(seq, { classId, path: s.path, sha256: e.sha256 });
    }
  }
  await writers.train.close();
  await writers.val.close();

  const tokenizerText = JSON.stringify(tokenizer.toJSON(), null, 2) + '\n';
  await writeFileAtomic(path.join(out, DATASET_TOKENIZER_FILE), tokenizerText);
  await writeFileAtomic(
    path.join(out, REJECTS_FILE),
    rejectLines.length ? rejectLines.join('\n') + '\n' : '',
  );
  const splitInfo = (w: ShardWriter): DatasetSplitInfo => ({
    samples: w.samples,
    tokens: w.tokens,
    shards: w.shards,
  });
  const card: DatasetCard = {
    format: DATASET_FORMAT,
    version: DATASET_VERSION,
    codec: plan.codec ?? 'jpeg',
    profile: tokenizer.profile,
    ...(plan.ffmpeg !== undefined ? { ffmpeg: plan.ffmpeg } : {}),
    tokenizer: {
      file: DATASET_TOKENIZER_FILE,
      vocabSize: tokenizer.vocabSize,
      sha256: sha256(tokenizerText),
    },
    shardFormat: {
      layout: 'llm.c',
      magic: SHARD_MAGIC,
      version: SHARD_VERSION,
      headerBytes: SHARD_HEADER_BYTES,
      tokenType: 'uint16le',
      sequence:
        plan.codec === 'avc'
          ? 'BOS, class token or NULL_CLASS, Annex B bytes after the SPS/PPS/SEI header (start codes included), EOS'
          : 'BOS, class token or NULL_CLASS, scan bytes (RST markers included), FF D9, EOS',
    },
    source: { kind: plan.sourceKind, inputs: samples.length },
    split: {
      method: 'sha256',
      key: plan.groupBy === null ? 'path' : `field:${plan.groupBy}`,
      valFraction: plan.valFraction,
    },
    classes: classes.map((label, id) => ({
      id,
      token: FIRST_CLASS_ID + id,
      label,
      ...counts[id],
    })),
    unlabelled,
    totals: {
      inputs: samples.length,
      samples: writers.train.samples + writers.val.samples,
      rejects: rejectLines.length,
      tokens: writers.train.tokens + writers.val.tokens,
      scanBytes,
    },
    splits: { train: splitInfo(writers.train), val: splitInfo(writers.val) },
    rejects: { file: REJECTS_FILE, count: rejectLines.length },
    planSha256,
  };
  if (card.totals.samples === 0) {
    throw new CodecError(
      'invalid-argument',
      `all ${samples.length} inputs were rejected (reasons in ${path.join(out, REJECTS_FILE)})`,
    );
  }
  await writeFileAtomic(path.join(out, DATASET_CARD_FILE), JSON.stringify(card, null, 2) + '\n');
  await fs.rm(path.join(out, PREP_WORK_DIR), { recursive: true, force: true });
  return card;
}
