#!/usr/bin/env node
// Builds the emoji dataset: ImageFolder tree + manifest.jsonl + summary.json. See README.md.
//   npm ci --prefix datasets/emoji && node datasets/emoji/build.mjs --out datasets/emoji/build
import { createHash } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdir, readFile, rename, rm, writeFile } from 'node:fs/promises';
import { availableParallelism } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { performance } from 'node:perf_hooks';
import { URL, fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';

const HERE = dirname(fileURLToPath(import.meta.url));
const USAGE = `Usage: node build.mjs --out DIR [options]

Builds a labelled 64x64 emoji image dataset from the emoji packages installed by
'npm ci --prefix datasets/emoji'. DIR is replaced only if it holds an earlier build.

Options:
  --out DIR          output folder (required)
  --sets LIST        comma-separated sets (default: noto,twemoji,openmoji,fluent-color,fluent-flat;
                     also available: openmoji-black)
  --size N           image side in pixels (default 64)
  --padding N        white margin around the drawing, in pixels (default 4)
  --min-images N     keep classes with at least N images (default 4)
  --variants N       also render N augmented variants of every image: smaller, shifted and,
                     where the class allows, mirrored (default 0; see README.md, "Variants")
  --workers N        render threads (default ${defaultWorkers()})
  --update-docs      rewrite classes.json and CLASSES.md beside this script
  --help             show this help
`;

/** The machine is shared: one render thread unless told otherwise, two at most by default. */
function defaultWorkers() {
  return Math.max(1, Math.min(2, availableParallelism() - 1));
}

/** Marks a folder as this recipe's output, so a rebuild may replace it. */
const MARKER = '.jpeglm-emoji-build';

/**
 * @param {string} flag @param {string | undefined} value @param {number} fallback
 * @param {number} min @param {number} max
 */
function intOption(flag, value, fallback, min, max) {
  if (value === undefined) return fallback;
  const n = Number(value);
  if (!Number.isInteger(n) || n < min || n > max) {
    throw new UsageError(`${flag} must be an integer from ${min} to ${max}, not ${value}`);
  }
  return n;
}

class UsageError extends Error {}

/**
 * @param {string[]} argv
 */
async function parseOptions(argv) {
  const { values, positionals } = parseArgs({
    args: argv,
    allowPositionals: true,
    options: {
      out: { type: 'string' },
      sets: { type: 'string' },
      size: { type: 'string' },
      padding: { type: 'string' },
      'min-images': { type: 'string' },
      variants: { type: 'string' },
      workers: { type: 'string' },
      'update-docs': { type: 'boolean', default: false },
      help: { type: 'boolean', default: false },
    },
  });
  if (values.help) return null;
  if (positionals.length > 0) throw new UsageError(`unexpected argument ${positionals[0]}`);
  if (values.out === undefined) throw new UsageError('--out DIR is required');
  const { SETS, DEFAULT_SETS } = await import('./lib/sets.mjs');
  const sets = values.sets === undefined ? [...DEFAULT_SETS] : values.sets.split(',');
  for (const s of sets) {
    if (!Object.hasOwn(SETS, s)) {
      throw new UsageError(`unknown set ${s} (known: ${Object.keys(SETS).join(', ')})`);
    }
  }
  if (new Set(sets).size !== sets.length) throw new UsageError('--sets lists a set twice');
  const size = intOption('--size', values.size, 64, 16, 1024);
  return {
    out: resolve(values.out),
    sets,
    isDefaultSelection:
      values.sets === undefined &&
      values['min-images'] === undefined &&
      values.variants === undefined,
    size,
    padding: intOption('--padding', values.padding, 4, 0, Math.floor(size / 4)),
    minImages: intOption('--min-images', values['min-images'], 4, 1, 1000),
    variants: intOption('--variants', values.variants, 0, 0, 64),
    workers: intOption('--workers', values.workers, defaultWorkers(), 1, 64),
    updateDocs: values['update-docs'],
  };
}

/** @param {string} dir */
function isOurs(dir) {
  return existsSync(join(dir, MARKER));
}

/** Refuses to replace a folder this recipe did not write. @param {string} dir */
async function clearOwnFolder(dir) {
  if (!existsSync(dir)) return;
  if (!isOurs(dir)) {
    throw new UsageError(`${dir} exists and is not an emoji build; choose another --out`);
  }
  await rm(dir, { recursive: true });
}

/** @param {string} text */
function sha256(text) {
  return createHash('sha256').update(text).digest('hex');
}

function log(message) {
  process.stderr.write(`emoji: ${message}\n`);
}

/**
 * @param {number} done @param {number} totalCount @param {number} startMs
 */
function progressLine(done, totalCount, startMs) {
  const seconds = (performance.now() - startMs) / 1000;
  const rate = done / Math.max(seconds, 1e-3);
  const eta = (totalCount - done) / Math.max(rate, 1e-9);
  return `${done}/${totalCount} images, ${rate.toFixed(0)}/s, ETA ${eta.toFixed(0)} s`;
}

async function main() {
  const options = await parseOptions(process.argv.slice(2));
  if (options === null) {
    process.stdout.write(USAGE);
    return;
  }
  const started = performance.now();
  if (existsSync(options.out) && !isOurs(options.out)) {
    throw new UsageError(`${options.out} exists and is not an emoji build; choose another --out`);
  }
  // The emoji packages are this recipe's own dependencies; load them only after --help.
  const { loadCatalogue } = await import('./lib/metadata.mjs');
  const { openSet } = await import('./lib/sets.mjs');
  const { assignClasses, selectClasses } = await import('./lib/classes.mjs');
  const { classesJson, classesMarkdown, attributionMarkdown, total } =
    await import('./lib/docs.mjs');
  const { runPool } = await import('./lib/pool.mjs');
  const { jitterFor, mirrorable, MIN_SCALE, MAX_SHIFT } = await import('./lib/jitter.mjs');

  const { entries, unnamed } = loadCatalogue();
  const sets = options.sets.map((name) => openSet(name));
  const labels = assignClasses(entries);

  /** @type {{entry: import('./lib/metadata.mjs').CatalogueEntry, set: string,
   *   source: import('./lib/sets.mjs').SourceImage}[]} */
  const available = [];
  for (const entry of entries) {
    if (!labels.has(entry.codepoint)) continue;
    for (const set of sets) {
      const source = set.lookup(entry);
      if (source !== null) available.push({ entry, set: set.name, source });
    }
  }
  const images = available.map((a) => ({ codepoint: a.entry.codepoint, set: a.set }));
  const selected = selectClasses(labels, images, options.sets, options.minImages);
  const all = selectClasses(labels, images, options.sets, 1);

  const membersOf = (label) =>
    entries
      .filter((e) => labels.get(e.codepoint) === label)
      .map((e) => ({ codepoint: e.codepoint, emoji: e.emoji, name: e.name }));
  const classDocs = [...selected].map(([label, perSet]) => ({
    label,
    perSet,
    members: membersOf(label),
  }));
  const dropped = [...all]
    .filter(([label]) => !selected.has(label))
    .map(([label, perSet]) => ({ label, perSet, members: membersOf(label) }));

  // Deterministic order: class label, then CLDR order of the emoji, then set order.
  const setRank = new Map(options.sets.map((s, i) => [s, i]));
  // Variants follow their original, so an image's renderings stay together in the manifest.
  const planned = available
    .filter((a) => selected.has(labels.get(a.entry.codepoint)))
    .map((a) => ({ ...a, label: labels.get(a.entry.codepoint) }))
    .sort(
      (a, b) =>
        (a.label < b.label ? -1 : a.label > b.label ? 1 : 0) ||
        a.entry.order - b.entry.order ||
        setRank.get(a.set) - setRank.get(b.set),
    )
    .flatMap((a) => {
      const stem = `images/${a.label}/${a.set}-${a.entry.codepoint.toLowerCase()}`;
      const original = { ...a, path: `${stem}.png`, variant: 0, jitter: undefined };
      const variants = Array.from({ length: options.variants }, (_, i) => ({
        ...a,
        path: `${stem}-v${i + 1}.png`,
        variant: i + 1,
        jitter: jitterFor(a.source.source, i + 1, mirrorable(a.label)),
      }));
      return [original, ...variants];
    });
  log(
    `${entries.length} emoji, ${labels.size} in scope, ${selected.size} classes, ` +
      `${planned.length} images from ${options.sets.join(', ')}; ${options.workers} worker(s)`,
  );

  const partial = `${options.out}.partial`;
  await clearOwnFolder(partial);
  await mkdir(partial, { recursive: true });
  await writeFile(join(partial, MARKER), 'datasets/emoji build in progress or finished\n');
  for (const label of selected.keys())
    await mkdir(join(partial, 'images', label), { recursive: true });

  const renderStart = performance.now();
  let lastReport = 0;
  const results = await runPool(
    new URL('./lib/render-worker.mjs', import.meta.url),
    planned.map((p) => ({
      input: p.source.input,
      outPath: join(partial, p.path),
      source: p.source.source,
      options: { size: options.size, padding: options.padding, jitter: p.jitter },
    })),
    options.workers,
    (done) => {
      const now = performance.now();
      if (now - lastReport > 2000 || done === planned.length) {
        lastReport = now;
        log(progressLine(done, planned.length, renderStart));
      }
    },
  );

  const setInfo = new Map(sets.map((s) => [s.name, s]));
  const manifest = planned
    .map((p, i) =>
      JSON.stringify({
        path: p.path,
        label: p.label,
        set: p.set,
        codepoint: p.entry.codepoint,
        emoji: p.entry.emoji,
        name: p.entry.name,
        licence: setInfo.get(p.set).info.licence,
        source: p.source.source,
        ...(p.variant > 0 ? { variant: p.variant, jitter: p.jitter } : {}),
        sha256: results[i].sha256,
      }),
    )
    .join('\n');
  const manifestText = `${manifest}\n`;
  const classesText = classesJson(classDocs);
  const classesMd = classesMarkdown(classDocs, options.sets, {
    minImages: options.minImages,
    dropped,
  });
  const bytes = results.reduce((n, r) => n + r.bytes, 0);
  const summary = {
    dataset: 'jpeglm emoji',
    layout:
      'images/<label>/<set>-<codepoint>.png (variants: <set>-<codepoint>-v<k>.png); ' +
      'manifest.jsonl paths are relative to this folder',
    image: {
      format: 'png',
      colour: 'rgb',
      size: options.size,
      padding: options.padding,
      background: '#ffffff',
    },
    sets: sets.map((s) => ({
      name: s.name,
      package: `${s.info.package}@${s.version}`,
      licence: s.info.licence,
      images: planned.filter((p) => p.set === s.name).length,
    })),
    skinTones: 'excluded: only the default (yellow or neutral) rendering of each emoji',
    minImages: options.minImages,
    variants: {
      perImage: options.variants,
      minScale: MIN_SCALE,
      maxShift: MAX_SHIFT,
      mirror: 'odd variants of classes whose names carry no direction, text or clock',
    },
    classes: selected.size,
    images: planned.length,
    pngBytes: bytes,
    emojiWithoutCldrName: unnamed,
    perClass: Object.fromEntries(
      classDocs.map((c) => [c.label, { images: total(c.perSet), ...c.perSet }]),
    ),
    leftOut: Object.fromEntries(dropped.map((c) => [c.label, total(c.perSet)])),
    manifest: { path: 'manifest.jsonl', lines: planned.length, sha256: sha256(manifestText) },
    classesJsonSha256: sha256(classesText),
  };
  await writeFile(join(partial, 'manifest.jsonl'), manifestText);
  await writeFile(join(partial, 'classes.json'), classesText);
  await writeFile(join(partial, 'CLASSES.md'), classesMd);
  await writeFile(
    join(partial, 'ATTRIBUTION.md'),
    attributionMarkdown(sets, { size: options.size, padding: options.padding }),
  );
  await writeFile(join(partial, 'summary.json'), `${JSON.stringify(summary, null, 2)}\n`);

  await clearOwnFolder(options.out);
  await rename(partial, options.out);

  const committed = [
    [join(HERE, 'classes.json'), classesText],
    [join(HERE, 'CLASSES.md'), classesMd],
  ];
  if (options.updateDocs) {
    for (const [path, text] of committed) await writeFile(path, text);
    log('updated classes.json and CLASSES.md beside build.mjs');
  } else if (options.isDefaultSelection) {
    for (const [path, text] of committed) {
      const current = existsSync(path) ? await readFile(path, 'utf8') : '';
      if (current !== text) log(`warning: ${path} differs from this build (--update-docs)`);
    }
  }
  const seconds = ((performance.now() - started) / 1000).toFixed(1);
  log(
    `wrote ${planned.length} images in ${selected.size} classes (${(bytes / 1e6).toFixed(1)} MB ` +
      `of PNG) to ${options.out} in ${seconds} s; manifest sha256 ${summary.manifest.sha256}`,
  );
}

main().catch((error) => {
  if (error instanceof UsageError || String(error?.code).startsWith('ERR_PARSE_ARGS')) {
    process.stderr.write(`emoji: ${error.message} (see --help)\n`);
    process.exitCode = 2;
    return;
  }
  if (error?.code === 'ERR_MODULE_NOT_FOUND' || error?.code === 'MODULE_NOT_FOUND') {
    process.stderr.write(
      `emoji: ${error.message.split('\n')[0]}\n` +
        `Install the recipe's packages first: npm ci --prefix datasets/emoji\n`,
    );
    process.exitCode = 1;
    return;
  }
  process.stderr.write(`emoji: ${error instanceof Error ? error.message : String(error)}\n`);
  process.exitCode = 1;
});
