/**
 * Data folders for the training tests, written the way `jpeglm prep` lays them out (llm.c
 * shards, one `.index.jsonl` per shard, tokenizer.json), from synthetic token sequences.
 */
import { mkdtempSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { JpegTokenizer, getProfile } from '@jpeglm/codec-tokenizer';
import {
  formatIndexEntry,
  shardHeader,
  tokensToBytes,
  type ShardIndexEntry,
} from '../src/index.js';

export const CLASSES = ['ant', 'bee', 'cat'];

export function fixtureTokenizer(): JpegTokenizer {
  return new JpegTokenizer({ profile: getProfile('jpeglm-32-q75'), classes: CLASSES });
}

/**
 * A sample [BOS, class, bytes..., EOS] whose bytes follow from its class and length alone, so a
 * model can learn them exactly: byte k = (37 c + 11 k + 5) mod 256.
 */
export function sample(tok: JpegTokenizer, cls: number | null, bytes: number): number[] {
  const c = cls ?? CLASSES.length;
  const body = Array.from({ length: bytes }, (_, k) => (37 * c + 11 * k + 5) % 256);
  return [tok.bos, tok.classId(cls === null ? null : CLASSES[cls]), ...body, tok.eos];
}

export function shardFileBytes(tokens: readonly number[]): Uint8Array {
  const header = shardHeader(tokens.length);
  const body = tokensToBytes(Uint16Array.from(tokens));
  const out = new Uint8Array(header.length + body.length);
  out.set(header);
  out.set(body, header.length);
  return out;
}

/** Write one shard of `samples` (and its index unless `index` is false). */
export function writeShard(
  dir: string,
  name: string,
  samples: readonly (readonly number[])[],
  index = true,
): void {
  const tokens: number[] = [];
  const entries: ShardIndexEntry[] = [];
  samples.forEach((s, i) => {
    const cls = s[1] >= 260 ? s[1] - 260 : null;
    entries.push({
      offset: tokens.length,
      length: s.length,
      classId: cls,
      path: `s${i}`,
      sha256: '0'.repeat(64),
    });
    tokens.push(...s);
  });
  writeFileSync(path.join(dir, `${name}.bin`), shardFileBytes(tokens));
  if (index) {
    writeFileSync(
      path.join(dir, `${name}.index.jsonl`),
      entries.map((e) => formatIndexEntry(e) + '\n').join(''),
    );
  }
}

export interface FixtureOptions {
  /** Samples per training shard, per shard. */
  readonly trainShards?: readonly (readonly (readonly number[])[])[];
  readonly val?: readonly (readonly number[])[];
}

/** A temporary data folder; by default two training shards and one validation shard. */
export function makeDataDir(options: FixtureOptions = {}): string {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'jpeglm-train-data-'));
  const tok = fixtureTokenizer();
  writeFileSync(path.join(dir, 'tokenizer.json'), JSON.stringify(tok.toJSON(), null, 2));
  const shards = options.trainShards ?? [
    Array.from({ length: 12 }, (_, i) => sample(tok, i % 3, 14 + (i % 5))),
    Array.from({ length: 12 }, (_, i) => sample(tok, i % 4 === 3 ? null : i % 3, 10 + (i % 7))),
  ];
  shards.forEach((s, i) => writeShard(dir, `train_${String(i).padStart(6, '0')}`, s));
  const val = options.val ?? Array.from({ length: 6 }, (_, i) => sample(tok, i % 3, 16));
  if (val.length > 0) writeShard(dir, 'val_000000', val);
  return dir;
}

export function tempDir(prefix: string): string {
  return mkdtempSync(path.join(os.tmpdir(), prefix));
}
