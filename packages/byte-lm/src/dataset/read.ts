/**
 * Reading a prepared dataset back: the card, the tokenizer, and each split's shards with their
 * indexes, every part checked against the others so a damaged file is one clear error.
 */
import { promises as fs } from 'node:fs';
import path from 'node:path';
import {
  AVC_TOKENIZER_FORMAT,
  AvcTokenizer,
  CodecError,
  JpegTokenizer,
} from '@jpeglm/codec-tokenizer';
import { decodeShard, parseShardIndex, type ShardIndexEntry } from './shard.js';
import {
  DATASET_CARD_FILE,
  DATASET_FORMAT,
  DATASET_VERSION,
  type DatasetCard,
  type DatasetTokenizer,
} from './prep.js';
import type { Split } from './split.js';

/** A dataset folder, opened; image datasets have a JpegTokenizer, video datasets an AvcTokenizer. */
export interface PreparedDataset<T extends DatasetTokenizer = JpegTokenizer> {
  readonly dir: string;
  readonly card: DatasetCard;
  readonly tokenizer: T;
}

export interface OpenDatasetOptions {
  /** 'any' opens video (AVC) datasets too; by default only image (JPEG) datasets open. */
  readonly codec: 'any';
}

export interface DatasetSample extends ShardIndexEntry {
  readonly shard: string;
  /** The sequence [BOS, class, scan bytes, EOS]. */
  readonly tokens: Uint16Array;
}

const MAX_JSON_BYTES = 64 * 1024 * 1024;

/**
 * A dataset's tokenizer.json (JSON text): an AVC tokenizer when its "format" says so, else a
 * JPEG tokenizer. Throws CodecError on anything else.
 */
export function parseDatasetTokenizer(text: string): DatasetTokenizer {
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch {
    throw new CodecError('corrupt', 'not valid JSON');
  }
  const format = (json as { format?: unknown } | null)?.format;
  return format === AVC_TOKENIZER_FORMAT
    ? AvcTokenizer.fromJSON(json)
    : JpegTokenizer.fromJSON(json);
}

async function readText(file: string): Promise<string> {
  const st = await fs.stat(file).catch(() => undefined);
  if (!st) throw new CodecError('io', `${file}: missing`);
  if (st.size > MAX_JSON_BYTES) {
    throw new CodecError('too-large', `${file}: ${st.size} bytes exceeds ${MAX_JSON_BYTES}`);
  }
  return fs.readFile(file, 'utf8');
}

/**
 * Open a dataset folder written by prepareDataset: card and tokenizer, checked. Without
 * `{ codec: 'any' }` a video dataset is refused, for callers that work on images only.
 */
export async function openPreparedDataset(dir: string): Promise<PreparedDataset>;
export async function openPreparedDataset(
  dir: string,
  options: OpenDatasetOptions,
): Promise<PreparedDataset<DatasetTokenizer>>;
export async function openPreparedDataset(
  dir: string,
  options?: OpenDatasetOptions,
): Promise<PreparedDataset<DatasetTokenizer>> {
  const st = await fs.stat(dir).catch(() => undefined);
  if (!st) throw new CodecError('io', `${dir}: no such dataset folder`);
  if (!st.isDirectory()) throw new CodecError('invalid-argument', `${dir}: not a folder`);
  const cardFile = path.join(dir, DATASET_CARD_FILE);
  if (!(await fs.stat(cardFile).catch(() => undefined))) {
    const unfinished = await fs.stat(path.join(dir, '.prep')).catch(() => undefined);
    throw new CodecError(
      'invalid-argument',
      unfinished
        ? `${dir}: an unfinished prep (rerun the same jpeglm prep command to finish it)`
        : `${cardFile}: missing (not a dataset folder from jpeglm prep?)`,
    );
  }
  let card: DatasetCard;
  try {
    card = JSON.parse(await readText(cardFile)) as DatasetCard;
  } catch (e) {
    if (e instanceof SyntaxError) throw new CodecError('corrupt', `${cardFile}: not valid JSON`);
    throw e;
  }
  if (card?.format !== DATASET_FORMAT || typeof card.version !== 'number') {
    throw new CodecError('corrupt', `${cardFile}: not a jpeglm dataset card`);
  }
  if (card.version !== DATASET_VERSION) {
    throw new CodecError(
      'unsupported',
      `${cardFile}: dataset version ${card.version}, expected ${DATASET_VERSION}`,
    );
  }
  const ok = (s: unknown): boolean =>
    typeof s === 'object' && s !== null && Array.isArray((s as { shards?: unknown }).shards);
  if (!card.splits || !ok(card.splits.train) || !ok(card.splits.val) || !card.tokenizer) {
    throw new CodecError('corrupt', `${cardFile}: card lacks its split or tokenizer entries`);
  }
  const codec = card.codec ?? 'jpeg';
  if (codec !== 'jpeg' && options?.codec !== 'any') {
    throw new CodecError(
      'unsupported',
      `${dir}: a video (${codec.toUpperCase()}) dataset; only image (JPEG) datasets are read here`,
    );
  }
  const tokFile = path.join(dir, card.tokenizer.file);
  let tokenizer: DatasetTokenizer;
  try {
    tokenizer = parseDatasetTokenizer(await readText(tokFile));
  } catch (e) {
    if (e instanceof CodecError) throw new CodecError(e.code, `${tokFile}: ${e.message}`);
    throw e;
  }
  if ((tokenizer instanceof AvcTokenizer ? 'avc' : 'jpeg') !== codec) {
    throw new CodecError(
      'corrupt',
      `${tokFile}: not a${codec === 'avc' ? 'n AVC' : ' JPEG'} tokenizer, as the card's codec says`,
    );
  }
  if (tokenizer.vocabSize !== card.tokenizer.vocabSize) {
    throw new CodecError(
      'corrupt',
      `${tokFile}: ${tokenizer.vocabSize} tokens, the card says ${card.tokenizer.vocabSize}`,
    );
  }
  return { dir, card, tokenizer };
}

/** Read one shard and its index; throws CodecError naming the file at the first problem. */
export async function readShardWithIndex(
  dataset: PreparedDataset<DatasetTokenizer>,
  shardFile: string,
  indexFile: string,
): Promise<DatasetSample[]> {
  const file = path.join(dataset.dir, shardFile);
  const idx = path.join(dataset.dir, indexFile);
  const st = await fs.stat(file).catch(() => undefined);
  if (!st) throw new CodecError('io', `${file}: missing shard`);
  const tokens = decodeShard(new Uint8Array(await fs.readFile(file)), file);
  const t = dataset.tokenizer;
  const entries = parseShardIndex(
    await readText(idx),
    tokens,
    {
      bos: t.bos,
      eos: t.eos,
      nullClass: t.nullClass,
      firstClass: t.firstClassId,
      classes: t.classes.length,
    },
    idx,
  );
  return entries.map((e) => ({
    ...e,
    shard: shardFile,
    tokens: tokens.subarray(e.offset, e.offset + e.length),
  }));
}

/** Every sample of a split, in shard order. */
export async function readSplit(
  dataset: PreparedDataset<DatasetTokenizer>,
  split: Split,
): Promise<DatasetSample[]> {
  const out: DatasetSample[] = [];
  for (const s of dataset.card.splits[split].shards) {
    const samples = await readShardWithIndex(dataset, s.file, s.index);
    if (samples.length !== s.samples) {
      throw new CodecError(
        'corrupt',
        `${path.join(dataset.dir, s.index)}: ${samples.length} samples, the card says ${s.samples}`,
      );
    }
    out.push(...samples);
  }
  return out;
}
