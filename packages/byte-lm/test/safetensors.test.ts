/**
 * Safetensors reader/writer, float16/bfloat16 conversion, and model directories (save, reload,
 * refuse damaged files).
 */
import { mkdtemp, readFile, rm, writeFile, mkdir } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  ModelError,
  bfloat16BitsToFloat32,
  createRandomModel,
  float16BitsToFloat32,
  float32ToBfloat16Bits,
  float32ToFloat16Bits,
  float32ToRaw,
  loadModelDir,
  parseSafetensors,
  rawToFloat32,
  saveModelDir,
  serializeSafetensors,
  type RawTensor,
} from '../src/index.js';

const f32 = (values: number[], shape = [values.length]): RawTensor =>
  float32ToRaw(shape, Float32Array.from(values), 'F32');

/** A file built by hand from the format description, independent of serializeSafetensors. */
function handMade(header: string, data: Uint8Array): Uint8Array {
  const h = new TextEncoder().encode(header);
  const out = new Uint8Array(8 + h.length + data.length);
  new DataView(out.buffer).setBigUint64(0, BigInt(h.length), true);
  out.set(h, 8);
  out.set(data, 8 + h.length);
  return out;
}

function errorOf(fn: () => unknown): ModelError {
  try {
    fn();
  } catch (e) {
    expect(e).toBeInstanceOf(ModelError);
    return e as ModelError;
  }
  throw new Error('expected a ModelError');
}

describe('safetensors format', () => {
  it('writes the documented layout: u64 header length, space-padded JSON, packed data', () => {
    const file = serializeSafetensors([['a', f32([1, 2])]], { format: 'pt' });
    const n = Number(new DataView(file.buffer).getBigUint64(0, true));
    expect((8 + n) % 8).toBe(0);
    const header = new TextDecoder().decode(file.subarray(8, 8 + n));
    expect(header.trimEnd()).toBe(
      '{"__metadata__":{"format":"pt"},"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}}',
    );
    expect(header.slice(header.trimEnd().length)).toMatch(/^ *$/);
    expect(Array.from(new Float32Array(file.slice(8 + n).buffer))).toEqual([1, 2]);
  });

  it('reads a hand-made file and round-trips every dtype with metadata', () => {
    const data = new Uint8Array(new Float32Array([0.5, -2, 3]).buffer);
    const parsed = parseSafetensors(
      handMade('{"x":{"dtype":"F32","shape":[3,1],"data_offsets":[0,12]}}', data),
    );
    expect(parsed.tensors.get('x')!.shape).toEqual([3, 1]);
    expect(Array.from(rawToFloat32(parsed.tensors.get('x')!))).toEqual([0.5, -2, 3]);

    const values = Float32Array.from([0, 1, -1.5, 65504, 1e-7, 3.14159]);
    const tensors: [string, RawTensor][] = [
      ['w.f32', float32ToRaw([2, 3], values, 'F32')],
      ['w.f16', float32ToRaw([6], values, 'F16')],
      ['w.bf16', float32ToRaw([3, 2], values, 'BF16')],
      ['empty', float32ToRaw([0, 4], new Float32Array(0), 'F32')],
    ];
    const back = parseSafetensors(serializeSafetensors(tensors, { note: 'x' }));
    expect(back.metadata).toEqual({ note: 'x' });
    expect([...back.tensors.keys()].sort()).toEqual(['empty', 'w.bf16', 'w.f16', 'w.f32']);
    for (const [name, t] of tensors) {
      const b = back.tensors.get(name)!;
      expect(b.dtype).toBe(t.dtype);
      expect(b.shape).toEqual(t.shape);
      expect(Array.from(b.bytes)).toEqual(Array.from(t.bytes));
    }
    expect(Array.from(rawToFloat32(back.tensors.get('w.f32')!))).toEqual(Array.from(values));
    expect(rawToFloat32(back.tensors.get('w.f16')!)[3]).toBe(65504);
  });

  const good =
    '{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},"b":{"dtype":"F16","shape":[2],"data_offsets":[8,12]}}';
  const goodData = new Uint8Array(12);

  it.each([
    [
      'a file shorter than 8 bytes',
      new Uint8Array(5),
      /shorter than the 8-byte header length/,
      'truncated',
    ],
    [
      'a header running past the end',
      (() => {
        const f = handMade(good, goodData);
        new DataView(f.buffer).setBigUint64(0, 10_000n, true);
        return f;
      })(),
      /runs past the end/,
      'truncated',
    ],
    [
      'a header over 100 MB',
      (() => {
        const f = handMade(good, goodData);
        new DataView(f.buffer).setBigUint64(0, 2n ** 40n, true);
        return f;
      })(),
      /exceeds/,
      'corrupt',
    ],
    [
      'invalid UTF-8',
      handMade('{"a\uFFFD', goodData).map((b, i) => (i === 11 ? 0xff : b)),
      /UTF-8/,
      'corrupt',
    ],
    ['non-JSON', handMade('{"a":', goodData), /not valid JSON/, 'corrupt'],
    ['a non-object header', handMade('[1,2]', goodData), /does not start with "\{"/, 'corrupt'],
    [
      'an unsupported dtype',
      handMade('{"a":{"dtype":"I64","shape":[1],"data_offsets":[0,8]}}', new Uint8Array(8)),
      /dtype I64; only F32, F16 and BF16/,
      'unsupported',
    ],
    [
      'an unknown dtype',
      handMade('{"a":{"dtype":"Q7","shape":[1],"data_offsets":[0,1]}}', new Uint8Array(1)),
      /unknown dtype "Q7"/,
      'corrupt',
    ],
    [
      'a negative dim',
      handMade('{"a":{"dtype":"F32","shape":[-2],"data_offsets":[0,8]}}', new Uint8Array(8)),
      /invalid shape/,
      'corrupt',
    ],
    [
      'reversed offsets',
      handMade('{"a":{"dtype":"F32","shape":[2],"data_offsets":[8,0]}}', new Uint8Array(8)),
      /invalid data_offsets/,
      'corrupt',
    ],
    [
      'a shape/size mismatch',
      handMade('{"a":{"dtype":"F32","shape":[3],"data_offsets":[0,8]}}', new Uint8Array(8)),
      /needs 12 bytes but data_offsets span 8/,
      'corrupt',
    ],
    [
      'a gap',
      handMade('{"a":{"dtype":"F32","shape":[1],"data_offsets":[4,8]}}', new Uint8Array(8)),
      /gap in the data before tensor a/,
      'corrupt',
    ],
    [
      'overlapping tensors',
      handMade(
        '{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},"b":{"dtype":"F32","shape":[1],"data_offsets":[4,8]}}',
        new Uint8Array(8),
      ),
      /overlaps/,
      'corrupt',
    ],
    [
      'trailing bytes',
      handMade(good, new Uint8Array(16)),
      /4 bytes after the last tensor/,
      'corrupt',
    ],
    [
      'truncated data',
      handMade(good, new Uint8Array(10)),
      /need 12 data bytes but the file holds 10/,
      'truncated',
    ],
    [
      'non-string metadata',
      handMade('{"__metadata__":{"a":1}}', new Uint8Array(0)),
      /__metadata__/,
      'corrupt',
    ],
    [
      'an unknown entry field',
      handMade('{"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4],"x":1}}', new Uint8Array(4)),
      /unknown field "x"/,
      'corrupt',
    ],
  ] as const)('refuses %s', (_what, file, message, code) => {
    const e = errorOf(() => parseSafetensors(file));
    expect(e.message).toMatch(message);
    expect(e.message).toMatch(/^safetensors: /);
    expect(e.code).toBe(code);
  });

  it('never throws anything but ModelError on corrupted bytes (fuzz)', () => {
    const base = serializeSafetensors([
      ['a', f32([1, 2, 3, 4], [2, 2])],
      ['b', float32ToRaw([3], Float32Array.from([5, 6, 7]), 'BF16')],
    ]);
    let x = 99;
    const rand = (n: number): number => {
      x = (Math.imul(x, 1103515245) + 12345) >>> 0;
      return (x >>> 8) % n;
    };
    let refused = 0;
    for (let trial = 0; trial < 3000; trial++) {
      const f = base.slice(0, trial % 7 === 0 ? rand(base.length) : base.length);
      for (let k = 0; k < 1 + rand(3); k++) if (f.length) f[rand(f.length)] = rand(256);
      try {
        const p = parseSafetensors(f);
        // Accepted files are self-consistent.
        for (const t of p.tensors.values()) rawToFloat32(t);
      } catch (e) {
        expect(e).toBeInstanceOf(ModelError);
        refused++;
      }
    }
    expect(refused).toBeGreaterThan(1000);
  });
});

describe('float16 and bfloat16 conversion', () => {
  it('every float16 bit pattern survives float16 -> float32 -> float16', () => {
    for (let h = 0; h < 0x10000; h++) {
      const v = float16BitsToFloat32(h);
      if (Number.isNaN(v)) {
        expect(Number.isNaN(float16BitsToFloat32(float32ToFloat16Bits(v)))).toBe(true);
      } else {
        expect(float32ToFloat16Bits(v)).toBe(h);
      }
    }
  });

  it('rounds to the nearest float16, ties to even (IEEE 754)', () => {
    const cases: [number, number][] = [
      [1 + 2 ** -11, 0x3c00], // tie between 1 and 1+2^-10: even (1)
      [1 + 3 * 2 ** -11, 0x3c02], // tie: even (1 + 2^-9)
      [1 + 2 ** -11 + 2 ** -20, 0x3c01], // just above the tie: up
      [65504, 0x7bff], // max finite
      [65519.99, 0x7bff], // below the rounding boundary
      [65520, 0x7c00], // rounds to infinity
      [2 ** -24, 0x0001], // smallest subnormal
      [2 ** -25, 0x0000], // tie between 0 and 2^-24: even (0)
      [3 * 2 ** -26, 0x0001],
      [2 ** -14 - 2 ** -25, 0x0400], // rounds up into the normal range
      [-0, 0x8000],
      [-Infinity, 0xfc00],
    ];
    for (const [v, h] of cases) expect(float32ToFloat16Bits(v)).toBe(h);
    // Random values: the result is a nearest representable value.
    let x = 5;
    for (let i = 0; i < 20000; i++) {
      x = (Math.imul(x, 1664525) + 1013904223) >>> 0;
      const v = Math.fround(((x / 2 ** 32) * 2 - 1) * 2 ** ((i % 30) - 20));
      const h = float32ToFloat16Bits(v);
      const err = Math.abs(float16BitsToFloat32(h) - v);
      expect(err).toBeLessThanOrEqual(Math.abs(float16BitsToFloat32(h + 1) - v));
      if ((h & 0x7fff) > 0)
        expect(err).toBeLessThanOrEqual(Math.abs(float16BitsToFloat32(h - 1) - v));
    }
  });

  it('bfloat16 keeps the top 16 bits, rounded to nearest even', () => {
    expect(float32ToBfloat16Bits(1)).toBe(0x3f80);
    expect(float32ToBfloat16Bits(1 + 2 ** -8)).toBe(0x3f80); // tie: even
    expect(float32ToBfloat16Bits(1 + 3 * 2 ** -8)).toBe(0x3f82); // tie: even
    expect(float32ToBfloat16Bits(-2.5)).toBe(0xc020);
    expect(bfloat16BitsToFloat32(0x3f81)).toBe(1 + 2 ** -7);
    expect(Number.isNaN(bfloat16BitsToFloat32(float32ToBfloat16Bits(NaN)))).toBe(true);
    expect(float32ToBfloat16Bits(3.4e38)).toBe(0x7f80); // rounds to infinity
  });
});

describe('model directories', () => {
  let dir: string;
  const cfg = {
    vocabSize: 40,
    hiddenSize: 16,
    intermediateSize: 24,
    numHiddenLayers: 2,
    numAttentionHeads: 2,
  };
  beforeAll(async () => {
    dir = await mkdtemp(path.join(os.tmpdir(), 'byte-lm-dir-'));
  });
  afterAll(async () => rm(dir, { recursive: true, force: true }));

  it.each(['float32', 'float16', 'bfloat16'] as const)(
    'saves and reloads %s weights exactly',
    async (dtype) => {
      const m = createRandomModel({ ...cfg, torchDtype: dtype }, 3);
      const d = path.join(dir, dtype);
      await saveModelDir(d, {
        config: m.config,
        weights: m.weights,
        tokenizerJson: '{"vocab": [1]}',
      });
      const back = await loadModelDir(d);
      expect(back.config).toEqual(m.config);
      expect(back.tokenizerJson).toEqual({ vocab: [1] });
      for (const [name, t] of m.weights) expect(back.weights.get(name)!.data).toEqual(t.data);
      const json = JSON.parse(await readFile(path.join(d, 'config.json'), 'utf8'));
      expect(json.torch_dtype).toBe(dtype);
      const st = parseSafetensors(
        new Uint8Array(await readFile(path.join(d, 'model.safetensors'))),
      );
      expect(st.tensors.get('model.embed_tokens.weight')!.dtype).toBe(
        { float32: 'F32', float16: 'F16', bfloat16: 'BF16' }[dtype],
      );
    },
  );

  it('accepts a tied checkpoint that also stores lm_head.weight equal to the embedding', async () => {
    const m = createRandomModel({ ...cfg, tieWordEmbeddings: true }, 4);
    const d = path.join(dir, 'tied');
    await saveModelDir(d, m);
    const untiedCopy = new Map(m.weights);
    untiedCopy.set('lm_head.weight', m.weights.get('model.embed_tokens.weight')!);
    const file = serializeSafetensors(
      [...untiedCopy].map(([n, t]) => [n, float32ToRaw(t.shape, t.data, 'F32')] as const),
    );
    await writeFile(path.join(d, 'model.safetensors'), file);
    const back = await loadModelDir(d);
    expect(back.weights.has('lm_head.weight')).toBe(false);
  });

  it('reports missing and damaged files with the file name', async () => {
    const m = createRandomModel(cfg, 5);
    const d = path.join(dir, 'bad');
    await expect(loadModelDir(path.join(dir, 'nope'))).rejects.toThrow(/no such model directory/);
    await mkdir(d);
    await expect(loadModelDir(d)).rejects.toThrow(/config.json: missing/);
    await saveModelDir(d, m);
    const st = path.join(d, 'model.safetensors');
    const bytes = await readFile(st);
    await writeFile(st, bytes.subarray(0, bytes.length - 3));
    await expect(loadModelDir(d)).rejects.toThrow(
      /model.safetensors: safetensors: tensors need \d+ data bytes/,
    );
    await saveModelDir(d, m);
    await writeFile(path.join(d, 'config.json'), '{"vocab_size": 40,');
    await expect(loadModelDir(d)).rejects.toThrow(/config.json: not valid JSON/);
    // A config that disagrees with the weights: the tensor is named.
    await saveModelDir(d, { ...m, config: { ...m.config } });
    const json = JSON.parse(await readFile(path.join(d, 'config.json'), 'utf8'));
    await writeFile(
      path.join(d, 'config.json'),
      JSON.stringify({ ...json, intermediate_size: 32 }),
    );
    await expect(loadModelDir(d)).rejects.toThrow(
      /model.safetensors: tensor model.layers.0.mlp.gate_proj.weight has shape \[24,16\] but the config implies \[32,16\]/,
    );
    await expect(loadModelDir(d, { maxBytes: 100 })).rejects.toThrow(/exceeds the 100-byte limit/);
    await rm(path.join(d, 'model.safetensors'));
    await writeFile(path.join(d, 'config.json'), JSON.stringify(json));
    await expect(loadModelDir(d)).rejects.toThrow(/model.safetensors: missing/);
  });
});
