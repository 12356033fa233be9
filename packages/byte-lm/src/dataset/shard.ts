/**
 * Token shards in llm.c's layout (karpathy/llm.c, dev/data/data_common.py `write_datafile`):
 *
 *   header   256 little-endian int32: [0] magic 20240520, [1] version 1, [2] token count, rest 0
 *   tokens   `count` little-endian uint16 token ids
 *
 * so `np.memmap(file, dtype=np.uint16, mode='r', offset=1024)` reads the tokens. Each shard has
 * an index (`<shard>.index.jsonl`, one sample per line) saying where each sequence starts.
 */
import { CodecError } from '@jpeglm/codec-tokenizer';

export const SHARD_MAGIC = 20240520;
export const SHARD_VERSION = 1;
/** Header length in int32 words, and in bytes. */
export const SHARD_HEADER_INTS = 256;
export const SHARD_HEADER_BYTES = SHARD_HEADER_INTS * 4;
/** Typed arrays use the host's byte order; the files are little-endian on every host. */
const LITTLE_ENDIAN = new Uint8Array(Uint16Array.of(1).buffer)[0] === 1;
/** The token count is an int32 in the header. */
export const MAX_SHARD_TOKENS = 0x7fffffff;

/** The 1024-byte header of a shard holding `tokens` tokens. */
export function shardHeader(tokens: number): Uint8Array {
  if (!(Number.isInteger(tokens) && tokens >= 0 && tokens <= MAX_SHARD_TOKENS)) {
    throw new CodecError('invalid-argument', `shard token count ${tokens} out of range`);
  }
  const header = new Uint8Array(SHARD_HEADER_BYTES);
  const view = new DataView(header.buffer);
  view.setInt32(0, SHARD_MAGIC, true);
  view.setInt32(4, SHARD_VERSION, true);
  view.setInt32(8, tokens, true);
  return header;
}

/**
 * Check a shard's header against the file's length and return its token count. `fileBytes`
 * is the whole file's size (the header may be all that was read).
 */
export function parseShardHeader(header: Uint8Array, fileBytes: number, name = 'shard'): number {
  if (header.length < SHARD_HEADER_BYTES || fileBytes < SHARD_HEADER_BYTES) {
    throw new CodecError(
      'truncated',
      `${name}: ${fileBytes} bytes, shorter than the ${SHARD_HEADER_BYTES}-byte shard header`,
    );
  }
  const view = new DataView(header.buffer, header.byteOffset, SHARD_HEADER_BYTES);
  const magic = view.getInt32(0, true);
  if (magic !== SHARD_MAGIC) {
    throw new CodecError(
      'corrupt',
      `${name}: not a token shard (magic ${magic}, expected ${SHARD_MAGIC})`,
    );
  }
  const version = view.getInt32(4, true);
  if (version !== SHARD_VERSION) {
    throw new CodecError(
      'unsupported',
      `${name}: shard version ${version}; this reader knows version ${SHARD_VERSION} (uint16 tokens)`,
    );
  }
  const tokens = view.getInt32(8, true);
  const expected = SHARD_HEADER_BYTES + 2 * tokens;
  if (tokens < 0 || expected !== fileBytes) {
    throw new CodecError(
      tokens >= 0 && fileBytes < expected ? 'truncated' : 'corrupt',
      `${name}: header says ${tokens} tokens (${expected} bytes) but the file has ${fileBytes} bytes`,
    );
  }
  return tokens;
}

/** The tokens of a whole shard file's bytes (a copy, so alignment never matters). */
export function decodeShard(bytes: Uint8Array, name = 'shard'): Uint16Array {
  const count = parseShardHeader(bytes, bytes.length, name);
  return bytesToTokens(bytes.subarray(SHARD_HEADER_BYTES, SHARD_HEADER_BYTES + 2 * count));
}

/** Token ids from little-endian uint16 bytes (any alignment; a copy). */
export function bytesToTokens(body: Uint8Array): Uint16Array {
  const count = body.length >>> 1;
  const out = new Uint16Array(count);
  if (LITTLE_ENDIAN) {
    new Uint8Array(out.buffer).set(body.subarray(0, 2 * count));
    return out;
  }
  const view = new DataView(body.buffer, body.byteOffset, body.length);
  for (let i = 0; i < count; i++) out[i] = view.getUint16(2 * i, true);
  return out;
}

/** Little-endian bytes of token ids (the shard body). */
export function tokensToBytes(tokens: Uint16Array): Uint8Array {
  const out = new Uint8Array(tokens.length * 2);
  if (LITTLE_ENDIAN) {
    out.set(new Uint8Array(tokens.buffer, tokens.byteOffset, tokens.byteLength));
    return out;
  }
  const view = new DataView(out.buffer);
  for (let i = 0; i < tokens.length; i++) view.setUint16(2 * i, tokens[i], true);
  return out;
}

/** One line of a shard index: a sample's sequence [BOS, class, scan bytes, EOS]. */
export interface ShardIndexEntry {
  /** First token of the sequence, counted from the first token of the shard. */
  readonly offset: number;
  /** Tokens in the sequence, BOS and EOS included. */
  readonly length: number;
  /** Position in the dataset's class list (token id 260 + classId); null: unlabelled. */
  readonly classId: number | null;
  /** Source file as listed (relative to the input folder or the manifest's folder). */
  readonly path: string;
  /** sha256 of the source file's bytes, hex. */
  readonly sha256: string;
}

/** One JSON object per line, keys in a fixed order (so the file is byte-reproducible). */
export function formatIndexEntry(e: ShardIndexEntry): string {
  return JSON.stringify({
    offset: e.offset,
    length: e.length,
    classId: e.classId,
    path: e.path,
    sha256: e.sha256,
  });
}

/**
 * Parse and check a shard index against its shard: entries in order, back to back or with gaps
 * never overlapping, inside the shard, each one a framed sequence [BOS, class, ..., EOS].
 */
export function parseShardIndex(
  text: string,
  tokens: Uint16Array,
  framing: { bos: number; eos: number; nullClass: number; firstClass: number; classes: number },
  name = 'index',
): ShardIndexEntry[] {
  const entries: ShardIndexEntry[] = [];
  const lines = text.split('\n');
  if (lines[lines.length - 1] === '') lines.pop();
  let next = 0;
  lines.forEach((line, i) => {
    const where = `${name}:${i + 1}`;
    let o: unknown;
    try {
      o = JSON.parse(line);
    } catch {
      throw new CodecError('corrupt', `${where}: not a JSON object`);
    }
    const r = o as Record<string, unknown>;
    const isInt = (v: unknown): v is number => typeof v === 'number' && Number.isInteger(v);
    if (typeof o !== 'object' || o === null || !isInt(r.offset) || !isInt(r.length)) {
      throw new CodecError('corrupt', `${where}: needs integer "offset" and "length"`);
    }
    if (typeof r.path !== 'string' || typeof r.sha256 !== 'string') {
      throw new CodecError('corrupt', `${where}: needs string "path" and "sha256"`);
    }
    const classId = r.classId;
    if (!(classId === null || (isInt(classId) && classId >= 0 && classId < framing.classes))) {
      throw new CodecError(
        'corrupt',
        `${where}: classId ${String(classId)} is not null or 0..${framing.classes - 1}`,
      );
    }
    const { offset, length } = r;
    if (offset < next || length < 3 || offset + length > tokens.length) {
      throw new CodecError(
        'corrupt',
        `${where}: sample at ${offset}+${length} overlaps the previous one or leaves the shard (${tokens.length} tokens)`,
      );
    }
    const cls = classId === null ? framing.nullClass : framing.firstClass + classId;
    if (
      tokens[offset] !== framing.bos ||
      tokens[offset + 1] !== cls ||
      tokens[offset + length - 1] !== framing.eos
    ) {
      throw new CodecError(
        'corrupt',
        `${where}: tokens at ${offset}+${length} are not [BOS, class ${cls}, ..., EOS]; the index does not match its shard`,
      );
    }
    next = offset + length;
    entries.push({ offset, length, classId, path: r.path, sha256: r.sha256 });
  });
  return entries;
}
