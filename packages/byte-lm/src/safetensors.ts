/**
 * Safetensors reader and writer (format of github.com/huggingface/safetensors, README "Format"):
 *
 *   u64 little-endian N | N bytes of UTF-8 JSON header | tensor data
 *
 * The header maps each tensor name to {dtype, shape, data_offsets: [begin, end]}, offsets relative
 * to the start of the data, plus an optional "__metadata__" map of strings. The reader enforces
 * what the reference implementation enforces (`SafeTensors::deserialize` / `validate`): the header
 * fits the file and is at most 100 MB, every tensor's byte length matches its dtype and shape, and
 * the tensors tile the data area exactly (sorted by offset, no gap, no overlap, nothing left over).
 * Only the float dtypes a Llama checkpoint uses are accepted: F32, F16, BF16.
 */

import { ModelError } from './model-error.js';

export type SafetensorsDtype = 'F32' | 'F16' | 'BF16';

export const SAFETENSORS_DTYPE_BYTES: Readonly<Record<SafetensorsDtype, number>> = {
  F32: 4,
  F16: 2,
  BF16: 2,
};

/** A tensor as stored: raw little-endian bytes (a view into the file buffer when read). */
export interface RawTensor {
  readonly dtype: SafetensorsDtype;
  readonly shape: readonly number[];
  readonly bytes: Uint8Array;
}

export interface SafetensorsFile {
  readonly metadata: Readonly<Record<string, string>>;
  /** Tensors in file order. */
  readonly tensors: ReadonlyMap<string, RawTensor>;
}

/** The reference implementation's cap on the header size. */
export const MAX_SAFETENSORS_HEADER_BYTES = 100_000_000;

const KNOWN_BUT_UNSUPPORTED = new Set([
  'BOOL',
  'U8',
  'I8',
  'I16',
  'U16',
  'I32',
  'U32',
  'I64',
  'U64',
  'F64',
  'F8_E5M2',
  'F8_E4M3',
]);

function corrupt(message: string, offset?: number): never {
  throw new ModelError('corrupt', `safetensors: ${message}`, offset);
}

function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function isByteCount(v: unknown): v is number {
  return typeof v === 'number' && Number.isSafeInteger(v) && v >= 0;
}

interface HeaderEntry {
  name: string;
  dtype: SafetensorsDtype;
  shape: number[];
  begin: number;
  end: number;
}

/** Parse and validate a whole safetensors file held in memory. Tensor bytes are views, not copies. */
export function parseSafetensors(file: Uint8Array): SafetensorsFile {
  if (file.length < 8) {
    throw new ModelError(
      'truncated',
      `safetensors: file is ${file.length} bytes, shorter than the 8-byte header length`,
    );
  }
  const view = new DataView(file.buffer, file.byteOffset, file.byteLength);
  const n = view.getBigUint64(0, true);
  if (n > BigInt(MAX_SAFETENSORS_HEADER_BYTES)) {
    corrupt(`header length ${n} exceeds the ${MAX_SAFETENSORS_HEADER_BYTES}-byte limit`, 0);
  }
  const headerLen = Number(n);
  if (8 + headerLen > file.length) {
    throw new ModelError(
      'truncated',
      `safetensors: header length ${headerLen} runs past the end of the ${file.length}-byte file`,
      0,
    );
  }
  let text: string;
  try {
    text = new TextDecoder('utf-8', { fatal: true }).decode(file.subarray(8, 8 + headerLen));
  } catch {
    corrupt('header is not valid UTF-8', 8);
  }
  if (!text.startsWith('{')) corrupt('header does not start with "{"', 8);
  let header: unknown;
  try {
    header = JSON.parse(text);
  } catch (e) {
    corrupt(`header is not valid JSON (${(e as Error).message})`, 8);
  }
  if (!isRecord(header)) corrupt('header is not a JSON object', 8);

  const dataStart = 8 + headerLen;
  const dataLen = file.length - dataStart;
  let metadata: Record<string, string> = {};
  const entries: HeaderEntry[] = [];
  for (const [name, raw] of Object.entries(header)) {
    if (name === '__metadata__') {
      if (!isRecord(raw) || !Object.values(raw).every((v) => typeof v === 'string')) {
        corrupt('__metadata__ must map strings to strings');
      }
      metadata = raw as Record<string, string>;
      continue;
    }
    entries.push(parseEntry(name, raw));
  }

  // The tensors must tile the data area: sorted by offset, each starting where the last ended.
  entries.sort((a, b) => a.begin - b.begin || a.end - b.end);
  let expected = 0;
  for (const e of entries) {
    if (e.begin !== expected) {
      corrupt(
        e.begin < expected
          ? `tensor ${e.name} overlaps the previous tensor (starts at ${e.begin}, previous ends at ${expected})`
          : `gap in the data before tensor ${e.name} (starts at ${e.begin}, previous ends at ${expected})`,
      );
    }
    expected = e.end;
  }
  if (expected !== dataLen) {
    if (expected > dataLen) {
      throw new ModelError(
        'truncated',
        `safetensors: tensors need ${expected} data bytes but the file holds ${dataLen}`,
      );
    }
    corrupt(`${dataLen - expected} bytes after the last tensor are not described by the header`);
  }

  const tensors = new Map<string, RawTensor>();
  for (const e of entries) {
    tensors.set(e.name, {
      dtype: e.dtype,
      shape: e.shape,
      bytes: file.subarray(dataStart + e.begin, dataStart + e.end),
    });
  }
  return { metadata, tensors };
}

function parseEntry(name: string, raw: unknown): HeaderEntry {
  if (!isRecord(raw)) corrupt(`entry for tensor ${name} is not an object`);
  for (const key of Object.keys(raw)) {
    if (key !== 'dtype' && key !== 'shape' && key !== 'data_offsets') {
      corrupt(`tensor ${name} has an unknown field ${JSON.stringify(key)}`);
    }
  }
  const { dtype, shape, data_offsets: offsets } = raw;
  if (typeof dtype !== 'string') corrupt(`tensor ${name} has no dtype`);
  if (!(dtype in SAFETENSORS_DTYPE_BYTES)) {
    if (KNOWN_BUT_UNSUPPORTED.has(dtype)) {
      throw new ModelError(
        'unsupported',
        `safetensors: tensor ${name} has dtype ${dtype}; only F32, F16 and BF16 are supported`,
      );
    }
    corrupt(`tensor ${name} has unknown dtype ${JSON.stringify(dtype)}`);
  }
  if (!Array.isArray(shape) || !shape.every(isByteCount)) {
    corrupt(`tensor ${name} has an invalid shape ${JSON.stringify(shape)}`);
  }
  if (
    !Array.isArray(offsets) ||
    offsets.length !== 2 ||
    !isByteCount(offsets[0]) ||
    !isByteCount(offsets[1]) ||
    offsets[1] < offsets[0]
  ) {
    corrupt(`tensor ${name} has invalid data_offsets ${JSON.stringify(offsets)}`);
  }
  const d = dtype as SafetensorsDtype;
  let elements = 1;
  for (const dim of shape as number[]) elements *= dim;
  const bytes = elements * SAFETENSORS_DTYPE_BYTES[d];
  if (!Number.isSafeInteger(bytes) || bytes !== offsets[1] - offsets[0]) {
    corrupt(
      `tensor ${name}: shape ${JSON.stringify(shape)} of ${d} needs ${bytes} bytes but data_offsets span ${offsets[1] - offsets[0]}`,
    );
  }
  return { name, dtype: d, shape: shape as number[], begin: offsets[0], end: offsets[1] };
}

/**
 * Serialise tensors (in the given order) to a safetensors file. The header is padded with spaces
 * to a multiple of 8 bytes, as the reference writer does, so the data of every F32 tensor starts
 * 4-byte aligned and can be viewed without copying.
 */
export function serializeSafetensors(
  tensors: Iterable<readonly [string, RawTensor]>,
  metadata?: Readonly<Record<string, string>>,
): Uint8Array {
  const header: Record<string, unknown> = {};
  if (metadata && Object.keys(metadata).length > 0) header.__metadata__ = { ...metadata };
  const list: [string, RawTensor][] = [];
  let offset = 0;
  for (const [name, t] of tensors) {
    if (name === '__metadata__') corrupt('a tensor may not be named __metadata__');
    if (name in header) corrupt(`duplicate tensor name ${name}`);
    const elements = t.shape.reduce((a, b) => a * b, 1);
    const bytes = elements * SAFETENSORS_DTYPE_BYTES[t.dtype];
    if (bytes !== t.bytes.length) {
      corrupt(
        `tensor ${name}: shape ${JSON.stringify(t.shape)} of ${t.dtype} needs ${bytes} bytes, got ${t.bytes.length}`,
      );
    }
    header[name] = { dtype: t.dtype, shape: [...t.shape], data_offsets: [offset, offset + bytes] };
    list.push([name, t]);
    offset += bytes;
  }
  let json = JSON.stringify(header);
  let headerBytes = new TextEncoder().encode(json);
  const pad = (8 - (headerBytes.length % 8)) % 8;
  if (pad > 0) {
    json += ' '.repeat(pad);
    headerBytes = new TextEncoder().encode(json);
  }
  const out = new Uint8Array(8 + headerBytes.length + offset);
  new DataView(out.buffer).setBigUint64(0, BigInt(headerBytes.length), true);
  out.set(headerBytes, 8);
  let pos = 8 + headerBytes.length;
  for (const [, t] of list) {
    out.set(t.bytes, pos);
    pos += t.bytes.length;
  }
  return out;
}
