#!/usr/bin/env node
/**
 * The quality evidence of the embedded emoji model (issue 6, section 3), in one command:
 *
 *   npx tsc -b   # (npm ci does it) this script imports the built packages
 *   node models/emoji-48/evaluate.mjs --data DIR
 *
 * DIR is the prepared dataset the model was trained on (`jpeglm prep ...`, see README.md); it
 * holds the tokens of every real image, so the emoji npm packages are not needed here.
 *
 * Writes into the model folder (or --out):
 *   eval.json               the `jpeglm eval --json` report: val bits/byte, validity
 *   class-consistency.json  a 1-nearest-neighbour classifier on the real images labels
 *                           generated images: accuracy per class, CFG scales 1 and 3, chance;
 *                           and train bits/byte measured as eval measures val
 *   samples.png, .json      sample grid: one row per class, a real image then one column per seed
 *   evaluation.md           the figures of the reports as tables
 *
 * Sampling settings are the model's generation_config.json (the CLI's defaults) unless
 * --temperature/--top-k/--top-p/--best-of are given. For sweeps, write elsewhere: --out DIR,
 * and pick --parts (eval,consistency,grid), --cfgs, --per-class, --skip-train-bpb.
 */
import { spawnSync } from 'node:child_process';
import { promises as fs } from 'node:fs';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';

const here = path.dirname(fileURLToPath(import.meta.url));
const root = path.resolve(here, '..', '..');
const dist = (pkg, file) => path.join(root, 'packages', pkg, 'dist', file);
const {
  OnnxCausalLM,
  checkVocabulary,
  generateBestImages,
  generateImages,
  heldOutBitsPerByte,
  loadModelDir,
  openPreparedDataset,
  readSplit,
} = await import(dist('byte-lm', 'index.js'));
const { JpegTokenizer, decodeJpeg } = await import(dist('codec-tokenizer', 'index.js'));
const { encodePng, tileGrid } = await import(dist('cli', 'png.js'));
const { loadGenerationDefaults } = await import(dist('cli', 'generation-config.js'));

const { values: args } = parseArgs({
  options: {
    data: { type: 'string' },
    model: { type: 'string', default: here },
    out: { type: 'string' },
    parts: { type: 'string', default: 'eval,consistency,grid' },
    'per-class': { type: 'string', default: '8' },
    'top-classes': { type: 'string', default: '20' },
    'eval-samples': { type: 'string', default: '16' },
    'grid-classes': {
      type: 'string',
      default: 'dog,cat,monkey,clock-face,pizza,car,rocket,face-with-tears-of-joy',
    },
    'grid-seeds': { type: 'string', default: '6' },
    temperature: { type: 'string' },
    'top-k': { type: 'string' },
    'top-p': { type: 'string' },
    'best-of': { type: 'string' },
    seed: { type: 'string', default: '1' },
    cfgs: { type: 'string', default: '1,3' },
    'skip-train-bpb': { type: 'boolean', default: false },
  },
});
if (args.data === undefined) {
  process.stderr.write(
    'usage: node models/emoji-48/evaluate.mjs --data PREPARED_DIR [--out DIR]\n',
  );
  process.exit(3);
}
const modelDir = path.resolve(args.model);
const outDir = path.resolve(args.out ?? modelDir);
const parts = new Set(args.parts.split(','));
const log = (s) => process.stderr.write(`evaluate: ${s}\n`);

const defaults = await loadGenerationDefaults(modelDir);
const sampling = {
  temperature: Number(args.temperature ?? defaults.temperature ?? 1),
  topK: Number(args['top-k'] ?? defaults.topK ?? 0),
  topP: Number(args['top-p'] ?? defaults.topP ?? 1),
  minP: defaults.minP ?? 0,
};
// Candidates per image, the most likely kept (generateBestImages); 1 = plain sampling.
const bestOf = Number(args['best-of'] ?? defaults.bestOf ?? 1);
const seed = Number(args.seed);
await fs.mkdir(outDir, { recursive: true });

// (a) The `jpeglm eval` report, from the CLI itself: its validity checks (our validator, our
// decoder, djpeg) live there. Unconstrained samples that do not end by 1024 tokens (about twice
// an image) count as invalid, which keeps a rambling model from taking 8K tokens each.
if (parts.has('eval')) {
  log('jpeglm eval (val bits/byte, validity)');
  const bin = path.join(root, 'packages', 'cli', 'bin', 'jpeglm.js');
  const evalArgs = [
    bin,
    'eval',
    '--model',
    modelDir,
    '--data',
    args.data,
    '--samples',
    args['eval-samples'],
    '--seed',
    String(seed),
    '--max-tokens',
    '1024',
    '--json',
  ];
  const r = spawnSync(process.execPath, evalArgs, {
    stdio: ['ignore', 'pipe', 'inherit'],
    maxBuffer: 1 << 26,
  });
  if (r.status !== 0) throw new Error(`jpeglm eval exited ${r.status}`);
  const report = JSON.parse(r.stdout.toString('utf8'));
  report.model = path.relative(root, modelDir) || '.';
  report.data = '<prepared dataset>';
  report.command = `jpeglm ${evalArgs.slice(1).join(' ').replace(modelDir, report.model).replace(args.data, 'DATA')}`;
  await fs.writeFile(path.join(outDir, 'eval.json'), JSON.stringify(report, null, 2) + '\n');
  const v = report.validity;
  log(
    `val ${report.val.bitsPerByte.toFixed(4)} bits/byte; valid unconstrained ${v.unconstrained.valid}/${v.unconstrained.samples}, constrained ${v.constrained.valid}/${v.constrained.samples}`,
  );
}

let model;
let tokenizer;
if (parts.has('consistency') || parts.has('grid')) {
  const loaded = await loadModelDir(modelDir);
  tokenizer = JpegTokenizer.fromJSON(JSON.stringify(loaded.tokenizerJson));
  model = await OnnxCausalLM.create(loaded);
  checkVocabulary(model, tokenizer);
}

/** Generate one image per class label; cfg undefined: plain conditional sampling. */
async function sample(labels, cfg, s) {
  const t0 = performance.now();
  const options = {
    tokenizer,
    prompts: labels.map((classLabel) => ({ classLabel })),
    sampling: { ...sampling, seed: s },
    cfgScale: cfg,
    constrain: true,
  };
  // With one candidate there is nothing to rank: no scoring passes (as the CLI does).
  const r =
    bestOf > 1
      ? await generateBestImages(model, { ...options, bestOf })
      : await generateImages(model, options);
  const secs = (performance.now() - t0) / 1000;
  log(`${labels.length} images, cfg ${cfg ?? 1}, seed ${s}: ${secs.toFixed(1)} s`);
  return { images: r.images.map((img) => decodeJpeg(img.jpeg)), secs };
}

/**
 * The real images of the prepared dataset, decoded once (the classifier's training set and the
 * grid's reference column): the splits' samples, and every image's class and decoded pixels.
 */
let realCache;
async function realImages() {
  if (realCache) return realCache;
  log('decoding the real images from the prepared shards');
  const dataset = await openPreparedDataset(args.data);
  if (JSON.stringify(dataset.tokenizer.toJSON()) !== JSON.stringify(tokenizer.toJSON())) {
    throw new Error(`${args.data}: not the dataset this model was trained on (tokenizers differ)`);
  }
  const real = [];
  const splits = {};
  for (const split of ['train', 'val']) {
    splits[split] = await readSplit(dataset, split);
    for (const s of splits[split]) {
      real.push({ classId: s.classId, split, image: decodeJpeg(tokenizer.detokenize(s.tokens)) });
    }
  }
  realCache = { real, splits };
  return realCache;
}

// (b) Class consistency.
if (parts.has('consistency')) {
  // Pixel features: the 48x48 image averaged over 3x3 blocks to 16x16x3, values in [0, 1].
  const POOL = 3;
  const feature = (img) => {
    const w = img.width / POOL;
    const h = img.height / POOL;
    const f = new Float32Array(w * h * 3);
    for (let y = 0; y < img.height; y++)
      for (let x = 0; x < img.width; x++)
        for (let c = 0; c < 3; c++)
          f[(Math.floor(y / POOL) * w + Math.floor(x / POOL)) * 3 + c] +=
            img.data[(y * img.width + x) * 3 + c] / (255 * POOL * POOL);
    return f;
  };
  const dist2 = (a, b) => {
    let s = 0;
    for (let i = 0; i < a.length; i++) s += (a[i] - b[i]) ** 2;
    return s;
  };

  const decoded = await realImages();
  const splits = decoded.splits;
  const real = decoded.real.map((r) => ({ classId: r.classId, f: feature(r.image) }));
  // Train bits/byte, measured as eval measures val: on as many train images as val holds,
  // spread over the split (every k-th).
  const stride = Math.max(1, Math.floor(splits.train.length / Math.max(1, splits.val.length)));
  const trainSubset = splits.train.filter((_, i) => i % stride === 0);
  let trainScore;
  if (!args['skip-train-bpb']) {
    log(`train bits/byte on ${trainSubset.length} train images`);
    trainScore = await heldOutBitsPerByte(model, trainSubset);
  }
  const labels = tokenizer.classes;
  const count = new Map();
  for (const r of real) count.set(r.classId, (count.get(r.classId) ?? 0) + 1);
  // The most populous classes, ties by label; dog is added if it is not among them.
  const ranked = [...count.keys()].sort(
    (a, b) => count.get(b) - count.get(a) || labels[a].localeCompare(labels[b]),
  );
  const top = ranked.slice(0, Number(args['top-classes']));
  const dogId = labels.indexOf('dog');
  const evaluated = top.includes(dogId) ? top : [...top, dogId];
  const evaluatedSet = new Set(evaluated);

  /** Nearest real image among `pool` (a list of real entries): its class and distance. */
  const nearest = (f, pool, skip) => {
    let best = -1;
    let bestD = Infinity;
    for (let i = 0; i < pool.length; i++) {
      if (pool[i] === skip) continue;
      const d = dist2(f, pool[i].f);
      if (d < bestD) {
        bestD = d;
        best = i;
      }
    }
    return { classId: pool[best].classId, distance: Math.sqrt(bestD) };
  };
  const poolAll = real;
  const poolTop = real.filter((r) => evaluatedSet.has(r.classId));

  // Reference: how well the classifier labels held-out real images of these classes
  // (leave-one-out among the candidate set's images).
  let looHits = 0;
  for (const r of poolTop) if (nearest(r.f, poolTop, r).classId === r.classId) looHits++;

  const perClass = Number(args['per-class']);
  const prompts = evaluated.flatMap((id) => Array(perClass).fill(labels[id]));
  const runs = [];
  for (const cfg of args.cfgs.split(',').map(Number)) {
    const { images, secs } = await sample(prompts, cfg === 1 ? undefined : cfg, seed);
    const byClass = new Map(evaluated.map((id) => [id, { all: 0, top: 0, dist: 0 }]));
    images.forEach((img, i) => {
      const want = evaluated[Math.floor(i / perClass)];
      const f = feature(img);
      const a = nearest(f, poolAll);
      const t = nearest(f, poolTop);
      const e = byClass.get(want);
      if (a.classId === want) e.all++;
      if (t.classId === want) e.top++;
      e.dist += a.distance;
    });
    const classes = evaluated.map((id) => {
      const e = byClass.get(id);
      return {
        class: labels[id],
        realImages: count.get(id),
        accuracyAmongEvaluated: e.top / perClass,
        accuracyAmongAll: e.all / perClass,
        meanNearestDistance: e.dist / perClass,
      };
    });
    const mean = (k) => classes.reduce((s, c) => s + c[k], 0) / classes.length;
    const dog = classes.find((c) => c.class === 'dog');
    runs.push({
      cfg,
      seconds: Number(secs.toFixed(1)),
      accuracyAmongEvaluated: mean('accuracyAmongEvaluated'),
      accuracyAmongAll: mean('accuracyAmongAll'),
      dogAmongEvaluated: dog.accuracyAmongEvaluated,
      dogAmongAll: dog.accuracyAmongAll,
      meanNearestDistance: mean('meanNearestDistance'),
      classes,
    });
    log(
      `cfg ${cfg}: accuracy ${(100 * mean('accuracyAmongEvaluated')).toFixed(1)}% among ${evaluated.length} classes, ` +
        `${(100 * mean('accuracyAmongAll')).toFixed(1)}% among all ${count.size}; dog ${dog.accuracyAmongEvaluated}/${dog.accuracyAmongAll}`,
    );
  }
  const report = {
    model: path.relative(root, modelDir) || '.',
    classifier:
      '1-nearest neighbour, L2 on pixel features: the decoded 48x48 RGB image averaged over 3x3 blocks (16x16x3, values in [0, 1])',
    realImages: real.length,
    evaluatedClasses: evaluated.map((id) => labels[id]),
    candidateSets: {
      evaluated: {
        description: `the ${evaluated.length} evaluated classes (the ${top.length} most populous${top.includes(dogId) ? ', dog among them' : ', plus dog'}): the classifier's neighbours are their ${poolTop.length} real images`,
        chance: 1 / evaluated.length,
        realLeaveOneOutAccuracy: looHits / poolTop.length,
      },
      all: {
        description: `all ${count.size} classes of the dataset: neighbours among all ${real.length} real images`,
        chance: 1 / count.size,
      },
    },
    trainBitsPerByte: trainScore && {
      value: trainScore.bitsPerByte,
      images: trainScore.samples,
      bytes: trainScore.bytes,
      selection: `every ${stride}th image of the train split`,
    },
    samplesPerClass: perClass,
    sampling: { ...sampling, seed, bestOf, constrain: true },
    note: 'CFG scale 1 is plain class-conditional sampling (uncond + 1 * (cond - uncond) = cond), run without null-class rows',
    runs,
  };
  await fs.writeFile(
    path.join(outDir, 'class-consistency.json'),
    JSON.stringify(report, null, 2) + '\n',
  );
}

// (c) Sample grid: row = class; the first column is a real image of the class for reference (its
// first held-out image, else its first training image), then one column per seed, each one batch
// of all the rows' classes at the model's default settings (generation_config.json, CFG included).
if (parts.has('grid')) {
  const gridClasses = args['grid-classes'].split(',');
  for (const c of gridClasses) if (!tokenizer.classes.includes(c)) throw new Error(`no class ${c}`);
  const { real } = await realImages();
  const reference = gridClasses.map((c) => {
    const id = tokenizer.classes.indexOf(c);
    const of = real.filter((r) => r.classId === id);
    const pick = of.find((r) => r.split === 'val') ?? of[0];
    if (!pick) throw new Error(`${args.data}: no real image of class ${c}`);
    return pick;
  });
  const seeds = Array.from({ length: Number(args['grid-seeds']) }, (_, i) => i + 1);
  const columns = [];
  for (const s of seeds) columns.push((await sample(gridClasses, defaults.cfg, s)).images);
  const up = (img, k = 2) => {
    const w = img.width * k;
    const data = new Uint8Array(w * img.height * k * 3);
    for (let y = 0; y < img.height * k; y++)
      for (let x = 0; x < w; x++)
        for (let c = 0; c < 3; c++)
          data[(y * w + x) * 3 + c] =
            img.data[(Math.floor(y / k) * img.width + Math.floor(x / k)) * 3 + c];
    return { width: w, height: img.height * k, data };
  };
  const rows = gridClasses.map((_, r) => [
    up(reference[r].image),
    ...columns.map((col) => up(col[r])),
  ]);
  await fs.writeFile(path.join(outDir, 'samples.png'), encodePng(tileGrid(rows, 4)));
  await fs.writeFile(
    path.join(outDir, 'samples.json'),
    JSON.stringify(
      {
        rows: gridClasses,
        columns: [{ real: reference.map((r) => r.split) }, ...seeds.map((s) => ({ seed: s }))],
        sampling: { ...sampling, cfg: defaults.cfg ?? null, bestOf },
        scale: 2,
      },
      null,
      2,
    ) + '\n',
  );
  log(`samples.png: ${gridClasses.length} classes x (a real image + ${seeds.length} seeds)`);
}
await model?.dispose();

// evaluation.md: the figures of whatever reports the out folder holds, as tables for the README.
const readReport = async (name) =>
  JSON.parse(await fs.readFile(path.join(outDir, name), 'utf8').catch(() => 'null'));
const evalReport = await readReport('eval.json');
const consistency = await readReport('class-consistency.json');
const pct = (x) => `${(100 * x).toFixed(1)}%`;
const md = ['# Evaluation of models/emoji-48', '', 'Written by `evaluate.mjs`; see README.md.', ''];
if (evalReport) {
  const v = evalReport.validity;
  const rate = (r) => `${r.valid}/${r.samples} (${pct(r.rate)})`;
  md.push(
    '## `jpeglm eval` (eval.json)',
    '',
    '| measure | value |',
    '| --- | --- |',
    `| val bits per byte | ${evalReport.val.bitsPerByte.toFixed(4)} (${evalReport.val.samples} images, ${evalReport.val.bytes} bytes) |`,
    ...(consistency?.trainBitsPerByte
      ? [
          `| train bits per byte (${consistency.trainBitsPerByte.selection}) | ${consistency.trainBitsPerByte.value.toFixed(4)} (${consistency.trainBitsPerByte.images} images, ${consistency.trainBitsPerByte.bytes} bytes) |`,
        ]
      : []),
    `| valid, constrained (grammar mask) | ${rate(v.constrained)} |`,
    `| valid, unconstrained (raw model) | ${rate(v.unconstrained)} |`,
    '',
    `Checkers: ${v.checkers.join(', ')}. Command: \`${evalReport.command}\`.`,
    '',
  );
}
if (consistency) {
  const c = consistency;
  md.push(
    '## Class consistency (class-consistency.json)',
    '',
    `${c.classifier}, fit on all ${c.realImages} real images. ${c.samplesPerClass} generated images per class ` +
      `(seed ${c.sampling.seed}, temperature ${c.sampling.temperature}, top-k ${c.sampling.topK}, top-p ${c.sampling.topP}, ` +
      `${c.sampling.bestOf > 1 ? `best of ${c.sampling.bestOf} by the model's likelihood` : 'no reranking'}, grammar on).`,
    '',
    `- Among the evaluated classes: ${c.candidateSets.evaluated.description}; chance ${pct(c.candidateSets.evaluated.chance)}; ` +
      `the classifier labels held-out real images of these classes (leave-one-out) ${pct(c.candidateSets.evaluated.realLeaveOneOutAccuracy)} right.`,
    `- Among all classes: ${c.candidateSets.all.description}; chance ${pct(c.candidateSets.all.chance)}.`,
    '',
    `| CFG scale | accuracy, ${c.evaluatedClasses.length} classes | accuracy, all classes | dog (${c.evaluatedClasses.length} / all) | mean NN distance | seconds |`,
    '| --- | --- | --- | --- | --- | --- |',
    ...c.runs.map(
      (r) =>
        `| ${r.cfg} | ${pct(r.accuracyAmongEvaluated)} | ${pct(r.accuracyAmongAll)} | ${pct(r.dogAmongEvaluated)} / ${pct(r.dogAmongAll)} | ${r.meanNearestDistance.toFixed(2)} | ${r.seconds} |`,
    ),
    '',
    `Per class (accuracy among the ${c.evaluatedClasses.length} classes, CFG ${c.runs.map((r) => r.cfg).join(' / ')}):`,
    '',
    '| class | real images | ' + c.runs.map((r) => `CFG ${r.cfg}`).join(' | ') + ' |',
    '| --- | --- | ' + c.runs.map(() => '---').join(' | ') + ' |',
    ...c.evaluatedClasses.map((name, i) => {
      const row = c.runs.map((r) => pct(r.classes[i].accuracyAmongEvaluated));
      return `| ${name} | ${c.runs[0].classes[i].realImages} | ${row.join(' | ')} |`;
    }),
    '',
  );
}
await fs.writeFile(path.join(outDir, 'evaluation.md'), md.join('\n'));
