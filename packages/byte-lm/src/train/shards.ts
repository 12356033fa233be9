/**
 * The trainer's view of token shards: llm.c-layout shards with their per-shard indexes, as
 * `jpeglm prep` writes them (format and checks in ../dataset/shard.ts):
 *
 *   DATA/dataset.json            card: tokenizer file, train/val shard and index file names
 *   DATA/tokenizer.json
 *   DATA/train_000000.bin + train_000000.index.jsonl, ...  val_000000.bin + val_000000.index.jsonl
 *
 * A folder without a card is read too (shards made by other tools): DATA/tokenizer.json plus
 * `train*.bin` and `val*.bin` in name order, each with its `.index.jsonl` index when present.
 *
 * Opening a shard reads it once to check it (header against size, every id inside the
 * vocabulary, the index against the tokens) and to learn where its samples start (the index
 * offsets, or the BOS positions without an index); it is not kept in memory. Training then reads
 * windows with positional reads.
 */

import { closeSync, openSync, readSync } from 'node:fs';
import { promises as fs } from 'node:fs';
import path from 'node:path';
import { ModelError } from '../model-error.js';
import {
  DATASET_CARD_FILE,
  DATASET_TOKENIZER_FILE,
  type DatasetTokenizer,
} from '../dataset/prep.js';
import { openPreparedDataset, parseDatasetTokenizer } from '../dataset/read.js';
import { SHARD_HEADER_BYTES, decodeShard, parseShardIndex } from '../dataset/shard.js';

export const SHARD_INDEX_SUFFIX = '.index.jsonl';
/** Refusal limits for files read whole. */
const MAX_SHARD_BYTES = SHARD_HEADER_BYTES + 2 * 0x7fffffff;
const MAX_TEXT_BYTES = 1 << 30;

export interface ShardFiles {
  readonly shard: string;
  /** The index file, when the shard has one. */
  readonly index: string | undefined;
}

export interface TrainingData {
  /** JPEG or AVC: training only needs the vocabulary; the model directory gets this file. */
  readonly tokenizer: DatasetTokenizer;
  /** tokenizer.json exactly as stored (copied into the model directory). */
  readonly tokenizerText: string;
  readonly train: readonly ShardFiles[];
  readonly val: readonly ShardFiles[];
}

async function readText(file: string): Promise<string> {
  const st = await fs.stat(file).catch(() => undefined);
  if (!st) throw new ModelError('io', `${file}: missing`);
  if (st.size > MAX_TEXT_BYTES) throw new ModelError('too-large', `${file}: too large`);
  return fs.readFile(file, 'utf8');
}

/** Find the tokenizer and the shards of a data folder (see the module comment). */
export async function locateTrainingData(dir: string): Promise<TrainingData> {
  const st = await fs.stat(dir).catch(() => undefined);
  if (!st) throw new ModelError('io', `${dir}: no such data directory`);
  if (!st.isDirectory()) throw new ModelError('io', `${dir}: not a directory`);
  if (await fs.stat(path.join(dir, DATASET_CARD_FILE)).catch(() => undefined)) {
    const ds = await openPreparedDataset(dir, { codec: 'any' });
    const files = (split: 'train' | 'val'): ShardFiles[] =>
      ds.card.splits[split].shards.map((s) => ({
        shard: path.join(dir, s.file),
        index: path.join(dir, s.index),
      }));
    return {
      tokenizer: ds.tokenizer,
      tokenizerText: await readText(path.join(dir, ds.card.tokenizer.file)),
      train: files('train'),
      val: files('val'),
    };
  }
  const tokFile = path.join(dir, DATASET_TOKENIZER_FILE);
  if (!(await fs.stat(tokFile).catch(() => undefined))) {
    throw new ModelError(
      'io',
      `${dir}: neither ${DATASET_CARD_FILE} nor ${DATASET_TOKENIZER_FILE} (not a data folder from jpeglm prep?)`,
    );
  }
  const tokenizerText = await readText(tokFile);
  let tokenizer: DatasetTokenizer;
  try {
    tokenizer = parseDatasetTokenizer(tokenizerText);
  } catch (e) {
    throw new ModelError('corrupt', `${tokFile}: ${(e as Error).message}`);
  }
  const names = await fs.readdir(dir);
  const pick = (prefix: string): ShardFiles[] =>
    names
      .filter((n) => n.startsWith(prefix) && n.endsWith('.bin'))
      .sort()
      .map((n) => {
        const index = n.slice(0, -'.bin'.length) + SHARD_INDEX_SUFFIX;
        return {
          shard: path.join(dir, n),
          index: names.includes(index) ? path.join(dir, index) : undefined,
        };
      });
  return { tokenizer, tokenizerText, train: pick('train'), val: pick('val') };
}

/** One checked shard: size, sample starts, positional reads. */
export class Shard {
  private fd: number | undefined;

  private constructor(
    readonly file: string,
    readonly tokens: number,
    /** Token positions where samples (BOS) start, ascending. */
    readonly sampleStarts: Uint32Array,
    fd: number,
  ) {
    this.fd = fd;
  }

  static async open(files: ShardFiles, tokenizer: DatasetTokenizer): Promise<Shard> {
    const file = files.shard;
    const st = await fs.stat(file).catch(() => undefined);
    if (!st) throw new ModelError('io', `${file}: missing shard`);
    if (st.size > MAX_SHARD_BYTES) throw new ModelError('too-large', `${file}: too large`);
    const tokens = decodeShard(new Uint8Array(await fs.readFile(file)), file);
    for (let i = 0; i < tokens.length; i++) {
      if (tokens[i] >= tokenizer.vocabSize) {
        throw new ModelError(
          'corrupt',
          `${file}: token ${tokens[i]} at position ${i} is outside the vocabulary (${tokenizer.vocabSize} tokens)`,
        );
      }
    }
    let starts: Uint32Array;
    if (files.index !== undefined) {
      const entries = parseShardIndex(
        await readText(files.index),
        tokens,
        {
          bos: tokenizer.bos,
          eos: tokenizer.eos,
          nullClass: tokenizer.nullClass,
          firstClass: tokenizer.firstClassId,
          classes: tokenizer.classes.length,
        },
        files.index,
      );
      starts = Uint32Array.from(entries, (e) => e.offset);
    } else {
      const found: number[] = [];
      for (let i = 0; i < tokens.length; i++) if (tokens[i] === tokenizer.bos) found.push(i);
      starts = Uint32Array.from(found);
    }
    return new Shard(file, tokens.length, starts, openSync(file, 'r'));
  }

  /** Tokens [start, start + out.length) into `out`. */
  read(start: number, out: Uint16Array): void {
    if (this.fd === undefined) throw new ModelError('invalid-argument', `${this.file} is closed`);
    if (start < 0 || start + out.length > this.tokens) {
      throw new ModelError('invalid-argument', `${this.file}: read past the end`);
    }
    // uint16 little-endian on disk, read straight into the array (the host is little-endian,
    // which serialize.ts checks at load).
    const bytes = new Uint8Array(out.buffer, out.byteOffset, out.byteLength);
    let done = 0;
    while (done < bytes.length) {
      const n = readSync(
        this.fd,
        bytes,
        done,
        bytes.length - done,
        SHARD_HEADER_BYTES + 2 * start + done,
      );
      if (n <= 0) throw new ModelError('truncated', `${this.file}: shard shrank while reading`);
      done += n;
    }
  }

  close(): void {
    if (this.fd !== undefined) closeSync(this.fd);
    this.fd = undefined;
  }
}
