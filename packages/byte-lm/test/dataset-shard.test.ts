/**
 * The shard format (llm.c layout) against numpy, its index checks, and the manifest parsers.
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { BOS_ID, EOS_ID, NULL_CLASS_ID, FIRST_CLASS_ID } from '@jpeglm/codec-tokenizer';
import {
  decodeShard,
  formatIndexEntry,
  parseShardIndex,
  shardHeader,
  tokensToBytes,
  parseShardHeader,
  SHARD_HEADER_BYTES,
} from '../src/dataset/shard.js';
import { parseCsv, readManifest } from '../src/dataset/inputs.js';
import { splitOf } from '../src/dataset/split.js';

const dir = mkdtempSync(path.join(tmpdir(), 'jpeglm-dataset-shard-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function shardBytes(tokens: Uint16Array): Uint8Array {
  const b = new Uint8Array(SHARD_HEADER_BYTES + 2 * tokens.length);
  b.set(shardHeader(tokens.length));
  b.set(tokensToBytes(tokens), SHARD_HEADER_BYTES);
  return b;
}

const FRAMING = {
  bos: BOS_ID,
  eos: EOS_ID,
  nullClass: NULL_CLASS_ID,
  firstClass: FIRST_CLASS_ID,
  classes: 2,
};

describe('llm.c shard layout', () => {
  it('numpy reads our shards with the one-line memmap, and the header as llm.c writes it', () => {
    const tokens = Uint16Array.from({ length: 1000 }, (_, i) => (i * 7919) % 65536);
    const file = path.join(dir, 'train_000000.bin');
    writeFileSync(file, shardBytes(tokens));
    const py = [
      'import numpy as np, sys',
      "t = np.memmap(sys.argv[1], dtype=np.uint16, mode='r', offset=1024)",
      "h = np.fromfile(sys.argv[1], dtype='<i4', count=256)",
      "print(h[0], h[1], h[2], int((h[3:] != 0).sum()), len(t), ','.join(map(str, t[:5])), int(t.astype(np.int64).sum()))",
    ].join('\n');
    const r = spawnSync('python3', ['-c', py, file], { encoding: 'utf8' });
    expect(r.status, r.stderr).toBe(0);
    const sum = tokens.reduce((a, b) => a + b, 0);
    expect(r.stdout.trim()).toBe(
      `20240520 1 1000 0 1000 ${Array.from(tokens.subarray(0, 5)).join(',')} ${sum}`,
    );
    expect(decodeShard(shardBytes(tokens))).toEqual(tokens);
  });

  it('refuses a bad magic, another version, a truncated body and a short file', () => {
    const good = shardBytes(Uint16Array.of(1, 2, 3));
    const badMagic = good.slice();
    badMagic[0] ^= 1;
    expect(() => decodeShard(badMagic, 'x.bin')).toThrow(/x\.bin: not a token shard \(magic/);
    const v2 = good.slice();
    v2[4] = 2;
    expect(() => decodeShard(v2)).toThrow(/shard version 2/);
    expect(() => decodeShard(good.subarray(0, good.length - 1))).toThrow(
      /header says 3 tokens \(1030 bytes\) but the file has 1029/,
    );
    expect(() => decodeShard(good.subarray(0, 100))).toThrow(/shorter than the 1024-byte/);
    const longer = new Uint8Array(good.length + 2);
    longer.set(good);
    expect(() => parseShardHeader(longer, longer.length)).toThrow(/file has 1032 bytes/);
  });
});

describe('shard index', () => {
  // Two samples: class 1 and unlabelled.
  const tokens = Uint16Array.of(
    BOS_ID, FIRST_CLASS_ID + 1, 10, 11, 0xff, 0xd9, EOS_ID,
    BOS_ID, NULL_CLASS_ID, 12, 0xff, 0xd9, EOS_ID,
  ); // prettier-ignore
  const entries = [
    { offset: 0, length: 7, classId: 1, path: 'b/x.png', sha256: 'aa' },
    { offset: 7, length: 6, classId: null, path: 'y.png', sha256: 'bb' },
  ];
  const text = entries.map(formatIndexEntry).join('\n') + '\n';

  it('round-trips and checks every entry against the tokens', () => {
    expect(parseShardIndex(text, tokens, FRAMING)).toEqual(entries);
  });

  it('names the line of a corrupt entry', () => {
    const cases: [string, RegExp][] = [
      [text.replace('"offset":7', '"offset":6'), /idx:2: sample at 6\+6 overlaps/],
      [text.replace('"length":6', '"length":9'), /leaves the shard \(13 tokens\)/],
      [
        text.replace('"classId":1', '"classId":0'),
        /idx:1: tokens at 0\+7 are not \[BOS, class 260/,
      ],
      [text.replace('"classId":1', '"classId":5'), /classId 5 is not null or 0\.\.1/],
      [text.replace('{"offset":0', '{"offset":"0"'), /idx:1: needs integer "offset"/],
      ['{"offset":0,\n', /idx:1: not a JSON object/],
    ];
    for (const [t, re] of cases)
      expect(() => parseShardIndex(t, tokens, FRAMING, 'idx')).toThrow(re);
  });
});

describe('manifests', () => {
  it('parses RFC 4180 CSV: quotes, doubled quotes, commas and newlines in fields, CRLF, BOM', () => {
    const rows = parseCsv('\ufeffpath,label\r\n"a,b.png","say ""hi"""\r\n"multi\nline.png",\n\n');
    expect(rows).toEqual([
      ['path', 'label'],
      ['a,b.png', 'say "hi"'],
      ['multi\nline.png', ''],
    ]);
    expect(() => parseCsv('path\n"open', 'm.csv')).toThrow(/m\.csv: unterminated quoted field/);
    expect(() => parseCsv('path\nab"c"', 'm.csv')).toThrow(/m\.csv:2: quote inside/);
  });

  it('reads CSV and JSONL manifests relative to their folder, with the group as split key', async () => {
    const csv = path.join(dir, 'm.csv');
    writeFileSync(csv, 'path,label,codepoint\nimg/a.png,dog,1F436\nimg/b.png,,1F436\n');
    const m = await readManifest(csv, 'codepoint');
    expect(m.samples).toEqual([
      {
        path: 'img/a.png',
        file: path.join(dir, 'img/a.png'),
        label: 'dog',
        splitKey: 'codepoint=1F436',
      },
      {
        path: 'img/b.png',
        file: path.join(dir, 'img/b.png'),
        label: null,
        splitKey: 'codepoint=1F436',
      },
    ]);
    const jsonl = path.join(dir, 'm.jsonl');
    writeFileSync(jsonl, '{"path":"a.png","label":"cat"}\n\n{"path":"b.png"}\n');
    const j = await readManifest(jsonl);
    expect(j.samples.map((s) => [s.path, s.label, s.splitKey])).toEqual([
      ['a.png', 'cat', 'a.png'],
      ['b.png', null, 'b.png'],
    ]);
  });

  it('refuses malformed manifests with the line at fault', async () => {
    const bad: [string, string, RegExp, string?][] = [
      [
        'dup.jsonl',
        '{"path":"a"}\n{"path":"a"}\n',
        /dup\.jsonl:2: "a" is listed twice \(first on line 1\)/,
      ],
      ['nopath.jsonl', '{"label":"x"}\n', /nopath\.jsonl:1: needs a non-empty "path"/],
      ['notjson.jsonl', '{"path":"a"}\n{oops\n', /notjson\.jsonl:2: not valid JSON/],
      ['rows.csv', 'path,label\na.png\n', /row 2 has 1 fields, the header has 2/],
      [
        'group.jsonl',
        '{"path":"a","cp":"1"}\n{"path":"b"}\n',
        /group\.jsonl:2: no value for the group field "cp"/,
        'cp',
      ],
      ['empty.csv', 'path,label\n', /lists no files/],
      ['m.txt', 'path\na\n', /must be \.csv .* or \.jsonl/],
    ];
    for (const [name, text, re, group] of bad) {
      const f = path.join(dir, name);
      writeFileSync(f, text);
      await expect(readManifest(f, group)).rejects.toThrow(re);
    }
  });
});

describe('split', () => {
  it('is a stable hash split near the requested fraction', () => {
    const keys = Array.from({ length: 4000 }, (_, i) => `class${i % 7}/img${i}.png`);
    const val = keys.filter((k) => splitOf(k, 0.1) === 'val').length;
    expect(val / keys.length).toBeGreaterThan(0.085);
    expect(val / keys.length).toBeLessThan(0.115);
    // Fixed points, so a change of the hash cannot pass unnoticed (sha256("a") starts ca978112).
    expect(0xca978112 / 2 ** 32).toBeCloseTo(0.7914, 4);
    expect(splitOf('a', 0.79)).toBe('train');
    expect(splitOf('a', 0.7915)).toBe('val');
    // Monotone in the fraction: val at f stays val at any larger f.
    for (const k of keys.slice(0, 200)) {
      if (splitOf(k, 0.2) === 'val') expect(splitOf(k, 0.5)).toBe('val');
    }
  });
});
