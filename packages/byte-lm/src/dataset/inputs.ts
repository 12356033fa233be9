/**
 * What `prep` reads: an ImageFolder tree (the class is the first-level subfolder's name; files at
 * the top level are unlabelled) or a manifest (CSV with a header row, or JSONL) with a `path`
 * column, an optional `label`, and any other fields (e.g. one to group the split by).
 */
import { promises as fs } from 'node:fs';
import path from 'node:path';
import { CodecError } from '@jpeglm/codec-tokenizer';

export interface InputSample {
  /** The path as listed: relative to the folder (with '/'), or as written in the manifest. */
  readonly path: string;
  /** Where to read it. */
  readonly file: string;
  readonly label: string | null;
  /** What the train/val split hashes: the path, or the value of the group field. */
  readonly splitKey: string;
}

export interface InputListing {
  readonly kind: 'folder' | 'manifest';
  readonly samples: InputSample[];
  /** Class folders without any file (they give no class). */
  readonly emptyClassFolders: string[];
}

/** Manifests are read whole; refuse absurd ones before allocating. */
export const MAX_MANIFEST_BYTES = 256 * 1024 * 1024;

/** Byte-order comparison: the same order on every machine and locale. */
function byCodeUnit(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

const hidden = (name: string): boolean => name.startsWith('.');

async function walk(dir: string, rel: string, out: string[]): Promise<void> {
  const entries = await fs.readdir(dir, { withFileTypes: true });
  entries.sort((a, b) => byCodeUnit(a.name, b.name));
  for (const e of entries) {
    if (hidden(e.name)) continue;
    const full = path.join(dir, e.name);
    const relPath = rel ? `${rel}/${e.name}` : e.name;
    let isDir = e.isDirectory();
    if (e.isSymbolicLink())
      isDir = (await fs.stat(full).catch(() => undefined))?.isDirectory() ?? false;
    if (isDir) await walk(full, relPath, out);
    else out.push(relPath); // unreadable or odd entries become rejects, with the reason
  }
}

/** List an ImageFolder tree in a fixed order (class folders by name, files by path). */
export async function listImageFolder(root: string): Promise<InputListing> {
  const st = await fs.stat(root).catch(() => undefined);
  if (!st) throw new CodecError('io', `${root}: no such file or directory`);
  if (!st.isDirectory()) throw new CodecError('invalid-argument', `${root}: not a folder`);
  const entries = await fs.readdir(root, { withFileTypes: true });
  entries.sort((a, b) => byCodeUnit(a.name, b.name));
  const samples: InputSample[] = [];
  const emptyClassFolders: string[] = [];
  for (const e of entries) {
    if (hidden(e.name)) continue;
    const full = path.join(root, e.name);
    const isDir =
      e.isDirectory() ||
      (e.isSymbolicLink() &&
        ((await fs.stat(full).catch(() => undefined))?.isDirectory() ?? false));
    if (isDir) {
      const files: string[] = [];
      await walk(full, e.name, files);
      if (files.length === 0) emptyClassFolders.push(e.name);
      for (const p of files) {
        samples.push({
          path: p,
          file: path.join(root, ...p.split('/')),
          label: e.name,
          splitKey: p,
        });
      }
    } else {
      samples.push({ path: e.name, file: full, label: null, splitKey: e.name });
    }
  }
  if (samples.length === 0) {
    throw new CodecError(
      'invalid-argument',
      `${root}: no input files (expected class subfolders holding images, the ImageFolder layout)`,
    );
  }
  samples.sort((a, b) => byCodeUnit(a.path, b.path));
  return { kind: 'folder', samples, emptyClassFolders };
}

/** RFC 4180 CSV: quoted fields may hold commas, quotes ("") and newlines. */
export function parseCsv(text: string, name = 'manifest'): string[][] {
  const rows: string[][] = [];
  let row: string[] = [];
  let field = '';
  let i = 0;
  let quoted = false;
  let line = 1;
  if (text.charCodeAt(0) === 0xfeff) i = 1; // a byte-order mark is not part of the first field
  for (; i < text.length; i++) {
    const c = text[i];
    if (quoted) {
      if (c === '"') {
        if (text[i + 1] === '"') {
          field += '"';
          i++;
        } else quoted = false;
      } else {
        if (c === '\n') line++;
        field += c;
      }
    } else if (c === '"') {
      if (field !== '')
        throw new CodecError('corrupt', `${name}:${line}: quote inside an unquoted field`);
      quoted = true;
    } else if (c === ',') {
      row.push(field);
      field = '';
    } else if (c === '\n' || c === '\r') {
      if (c === '\r' && text[i + 1] === '\n') i++;
      row.push(field);
      field = '';
      if (!(row.length === 1 && row[0] === '')) rows.push(row);
      row = [];
      line++;
    } else field += c;
  }
  if (quoted) throw new CodecError('corrupt', `${name}: unterminated quoted field`);
  row.push(field);
  if (!(row.length === 1 && row[0] === '')) rows.push(row);
  return rows;
}

function manifestRecords(
  text: string,
  file: string,
): { line: number; fields: Record<string, unknown> }[] {
  const lower = file.toLowerCase();
  if (lower.endsWith('.jsonl') || lower.endsWith('.ndjson')) {
    const out: { line: number; fields: Record<string, unknown> }[] = [];
    text.split('\n').forEach((raw, i) => {
      const line = raw.trim();
      if (line === '') return;
      let o: unknown;
      try {
        o = JSON.parse(line);
      } catch {
        throw new CodecError('corrupt', `${file}:${i + 1}: not valid JSON`);
      }
      if (typeof o !== 'object' || o === null || Array.isArray(o)) {
        throw new CodecError('corrupt', `${file}:${i + 1}: expected a JSON object`);
      }
      out.push({ line: i + 1, fields: o as Record<string, unknown> });
    });
    return out;
  }
  if (lower.endsWith('.csv')) {
    const rows = parseCsv(text, file);
    if (rows.length === 0) return [];
    const head = rows[0].map((h) => h.trim());
    return rows.slice(1).map((r, i) => {
      if (r.length !== head.length) {
        throw new CodecError(
          'corrupt',
          `${file}: row ${i + 2} has ${r.length} fields, the header has ${head.length}`,
        );
      }
      return { line: i + 2, fields: Object.fromEntries(head.map((h, k) => [h, r[k]])) };
    });
  }
  throw new CodecError(
    'invalid-argument',
    `${file}: a manifest must be .csv (with a header row) or .jsonl`,
  );
}

/**
 * Read a manifest. Paths are relative to the manifest's folder unless absolute; `groupBy`
 * names the field whose value the split hashes (all samples of a group land in one split).
 */
export async function readManifest(file: string, groupBy?: string): Promise<InputListing> {
  const st = await fs.stat(file).catch(() => undefined);
  if (!st) throw new CodecError('io', `${file}: no such file or directory`);
  if (!st.isFile()) throw new CodecError('invalid-argument', `${file}: not a file`);
  if (st.size > MAX_MANIFEST_BYTES) {
    throw new CodecError(
      'too-large',
      `${file}: ${st.size} bytes exceeds the ${MAX_MANIFEST_BYTES}-byte manifest limit`,
    );
  }
  const records = manifestRecords(await fs.readFile(file, 'utf8'), file);
  if (records.length === 0)
    throw new CodecError('invalid-argument', `${file}: the manifest lists no files`);
  const base = path.dirname(file);
  const seen = new Map<string, number>();
  const samples = records.map(({ line, fields }): InputSample => {
    const where = `${file}:${line}`;
    const p = fields.path;
    if (typeof p !== 'string' || p === '')
      throw new CodecError('corrupt', `${where}: needs a non-empty "path"`);
    const first = seen.get(p);
    if (first !== undefined)
      throw new CodecError('corrupt', `${where}: "${p}" is listed twice (first on line ${first})`);
    seen.set(p, line);
    const l = fields.label;
    if (!(l === undefined || l === null || typeof l === 'string')) {
      throw new CodecError('corrupt', `${where}: "label" must be a string`);
    }
    const label = typeof l === 'string' && l !== '' ? l : null;
    let splitKey = p;
    if (groupBy !== undefined) {
      const g = fields[groupBy];
      if (g === undefined || g === null || g === '') {
        throw new CodecError('corrupt', `${where}: no value for the group field "${groupBy}"`);
      }
      splitKey = `${groupBy}=${typeof g === 'string' ? g : JSON.stringify(g)}`;
    }
    return { path: p, file: path.resolve(base, p), label, splitKey };
  });
  return { kind: 'manifest', samples, emptyClassFolders: [] };
}
