// AVC/H.264 (issue 7 section 6): canonicalisation speed, and agreement of our validator with
// ffmpeg's own error detection on a corruption corpus of real clips.
//
// 1. Canonicalisation: source videos (lavfi sources written to MP4 by the bundled ffmpeg, cached)
//    encoded to avc-lm-256x144. Ours = avcEncode (Node spawn + pipe) with the bundled ffmpeg; peers
//    in the same run: the identical argument list run directly with spawnSync (the wrapper's
//    overhead), and the system ffmpeg (Debian 5.1) with the same arguments. Medians over runs,
//    runs interleaved. Also timed: avcAnalyze (TypeScript structural check), tokenize+detokenize,
//    and avcValidate (structure + ffmpeg decode) against a bare `ffmpeg -v error -f null` decode.
// 2. Validator agreement: clips x corruption kinds x variants. For every corrupted stream:
//    ffmpeg flags it if `ffmpeg -v error -i clip.h264 -f null -` prints anything (bundled 2018
//    build and system 5.1 reported separately); we flag it structurally (TypeScript only) and
//    fully (structure + decode check). Confusion tables per kind, and repair results: every
//    repairable stream is repaired and the output decoded by both ffmpegs (must print nothing).
//
// Usage: npx tsc -b && node benchmarks/avc.mjs [--runs 5] [--per-kind 12] [--clips 4]
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import {
  AVC_LM_256X144,
  AvcTokenizer,
  avcAnalyze,
  avcEncode,
  avcEncodeArgs,
  avcProfileHeader,
  avcRepair,
  avcSameBytes,
  avcSplitNalUnits,
  avcValidate,
  bundledFfmpegPath,
  ffmpegVersion,
} from '../packages/codec-tokenizer/dist/index.js';
import { median, numberOption, timeAsync } from './lib/bench.mjs';

const RUNS = numberOption('--runs', 5);
const PER_KIND = numberOption('--per-kind', 12);
const CLIPS = numberOption('--clips', 4);
const SYSTEM = '/usr/bin/ffmpeg';
const BUNDLED = bundledFfmpegPath();
const CACHE = path.join(path.dirname(fileURLToPath(import.meta.url)), '.cache', 'avc');
mkdirSync(CACHE, { recursive: true });

// Source videos of different sizes, rates and content (all with motion).
const SOURCES = [
  ['testsrc2-640x360', 'testsrc2=s=640x360:r=30,rotate=t/3'],
  ['mandelbrot-320x240', 'mandelbrot=s=320x240:r=25'],
  ['bars-1280x720', 'smptebars=s=1280x720:r=30,hue=H=t:s=1+sin(t)'],
  ['life-480x480', 'life=s=480x480:r=25:mold=10:ratio=0.2:death_color=#102040:life_color=#e0c060'],
  ['cellauto-854x480', 'cellauto=s=854x480:r=24:rule=110,format=yuv420p,gblur=sigma=1'],
  ['gradients-720x576', 'gradients=s=720x576:r=25:speed=0.05,noise=alls=12:allf=t'],
].slice(0, Math.max(CLIPS, 4));

function sourceFile([name, lavfi]) {
  const file = path.join(CACHE, `${name}.mp4`);
  if (!existsSync(file)) {
    const r = spawnSync(BUNDLED, [
      '-v',
      'error',
      '-f',
      'lavfi',
      '-i',
      lavfi,
      '-t',
      '8',
      '-c:v',
      'libx264',
      '-preset',
      'veryfast',
      '-pix_fmt',
      'yuv420p',
      '-y',
      file,
    ]);
    if (r.status !== 0) throw new Error(`${name}: ${r.stderr}`);
  }
  return file;
}

const files = SOURCES.map(sourceFile);
const header = await avcProfileHeader(AVC_LM_256X144);
console.log(`bundled: ${await ffmpegVersion()}`);
console.log(`system:  ${await ffmpegVersion({ ffmpeg: SYSTEM })}`);
console.log(`${files.length} source videos, ${RUNS} runs\n`);

// ---- 1. Speed -------------------------------------------------------------------------------
const clips = [];
for (const f of files) clips.push(await avcEncode(f));
const direct = (bin) => () => {
  for (const f of files) {
    const r = spawnSync(bin, avcEncodeArgs(AVC_LM_256X144, f), { maxBuffer: 64 << 20 });
    if (r.status !== 0) throw new Error(String(r.stderr));
  }
};
const tok = new AvcTokenizer({ profile: AVC_LM_256X144, header });
const bareDecode = () => {
  for (const c of clips) {
    spawnSync(
      BUNDLED,
      ['-v', 'error', '-threads', '1', '-f', 'h264', '-i', 'pipe:0', '-f', 'null', '-'],
      {
        input: c,
      },
    );
  }
};
const contenders = [
  [
    'encode: avcEncode (bundled ffmpeg, Node spawn)',
    async () => {
      for (const f of files) await avcEncode(f);
    },
    'clips',
  ],
  ['encode: same args, spawnSync (bundled)', direct(BUNDLED), 'clips'],
  ['encode: same args, spawnSync (system ffmpeg 5.1)', direct(SYSTEM), 'clips'],
  [
    'avcAnalyze (TypeScript structure)',
    () => {
      for (const c of clips) avcAnalyze(c, { profile: AVC_LM_256X144, header });
    },
    'clips',
  ],
  [
    'tokenize + detokenize (TypeScript)',
    () => {
      for (const c of clips)
        if (!avcSameBytes(tok.detokenize(tok.tokenize(c)), c)) throw new Error('round trip');
    },
    'clips',
  ],
  [
    'avcValidate (structure + ffmpeg decode)',
    async () => {
      for (const c of clips) await avcValidate(c, { header });
    },
    'clips',
  ],
  ['ffmpeg -v error -f null decode only (bundled)', bareDecode, 'clips'],
];
const times = contenders.map(() => []);
for (let r = 0; r < RUNS; r++) {
  for (let i = 0; i < contenders.length; i++) times[i].push(await timeAsync(contenders[i][1]));
}
const encodeMs = median(times[0]);
console.log('| task | median ms per clip | clips/s | vs avcEncode |');
console.log('| --- | ---: | ---: | ---: |');
contenders.forEach(([name], i) => {
  const ms = median(times[i]) / files.length;
  console.log(
    `| ${name} | ${ms.toFixed(2)} | ${(1000 / ms).toFixed(1)} | ${(median(times[i]) / encodeMs).toFixed(2)} |`,
  );
});
const totalBytes = clips.reduce((n, c) => n + c.length, 0);
console.log(`\nmean clip size ${(totalBytes / clips.length / 1024).toFixed(1)} KiB\n`);

// ---- 2. Corruption corpus -------------------------------------------------------------------
function prng(seed) {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}
const concat = (...parts) =>
  Buffer.concat(parts.map((p) => Buffer.from(p.buffer, p.byteOffset, p.length)));
const slicesOf = (units) => units.filter((u) => u.type === 1 || u.type === 5);
const rangeBytes = (clip, units, a, b) => [
  units[a].offset,
  b < units.length ? units[b].offset : clip.length,
];

const KINDS = {
  'bit flip (1 bit)': (c, rnd) => {
    const x = new Uint8Array(c);
    const at = header.bytes.length + Math.floor(rnd() * (c.length - header.bytes.length));
    x[at] ^= 1 << Math.floor(rnd() * 8);
    return x;
  },
  'bit flips (8 bits)': (c, rnd) => {
    const x = new Uint8Array(c);
    for (let k = 0; k < 8; k++)
      x[header.bytes.length + Math.floor(rnd() * (c.length - header.bytes.length))] ^=
        1 << Math.floor(rnd() * 8);
    return x;
  },
  'header byte flip': (c, rnd) => {
    const x = new Uint8Array(c);
    x[4 + Math.floor(rnd() * (header.bytes.length - 4))] ^= 1 << Math.floor(rnd() * 8);
    return x;
  },
  truncation: (c, rnd) =>
    c.slice(
      0,
      header.bytes.length + Math.floor((0.2 + 0.8 * rnd()) * (c.length - header.bytes.length)),
    ),
  'dropped NAL units (1-5)': (c, rnd) => {
    const u = avcSplitNalUnits(c).units;
    const a = 3 + Math.floor(rnd() * (u.length - 8));
    const [s, e] = rangeBytes(c, u, a, a + 1 + Math.floor(rnd() * 5));
    return concat(c.subarray(0, s), c.subarray(e));
  },
  'duplicated NAL units (1-5)': (c, rnd) => {
    const u = avcSplitNalUnits(c).units;
    const a = 3 + Math.floor(rnd() * (u.length - 8));
    const [s, e] = rangeBytes(c, u, a, a + 1 + Math.floor(rnd() * 5));
    return concat(c.subarray(0, e), c.subarray(s, e), c.subarray(e));
  },
  'dropped picture': (c, rnd) => {
    const u = avcSplitNalUnits(c).units;
    const sl = slicesOf(u);
    const pic = 1 + Math.floor(rnd() * (sl.length / 144 - 1));
    const first = sl[pic * 144].index;
    const last = sl[pic * 144 + 143].index;
    const [s, e] = rangeBytes(c, u, first, last + 1);
    return concat(c.subarray(0, s), c.subarray(e));
  },
  'duplicated picture': (c, rnd) => {
    const u = avcSplitNalUnits(c).units;
    const sl = slicesOf(u);
    const pic = 1 + Math.floor(rnd() * (sl.length / 144 - 1));
    const [s, e] = rangeBytes(c, u, sl[pic * 144].index, sl[pic * 144 + 143].index + 1);
    return concat(c.subarray(0, e), c.subarray(s, e), c.subarray(e));
  },
  'random bytes inserted (1-16)': (c, rnd) => {
    const at = header.bytes.length + Math.floor(rnd() * (c.length - header.bytes.length));
    const junk = Uint8Array.from({ length: 1 + Math.floor(rnd() * 16) }, () =>
      Math.floor(rnd() * 256),
    );
    return concat(c.subarray(0, at), junk, c.subarray(at));
  },
};

const ffmpegFlags = (bin, stream) => {
  const r = spawnSync(
    bin,
    ['-hide_banner', '-nostdin', '-v', 'error', '-f', 'h264', '-i', 'pipe:0', '-f', 'null', '-'],
    {
      input: stream,
    },
  );
  return r.status !== 0 || r.stderr.toString().trim() !== '';
};

const rows = [];
const rnd = prng(20241125);
for (const [kind, corrupt] of Object.entries(KINDS)) {
  const row = {
    kind,
    n: 0,
    both: 0,
    oursOnly: 0,
    ffOnly: 0,
    neither: 0,
    full: 0,
    sys: 0,
    sysNotBundled: 0,
    fullMissesSys: 0,
    repairable: 0,
    rejected: 0,
    repairedClean: 0,
    concealed: 0,
    frames: 0,
    skips: 0,
  };
  for (let v = 0; v < PER_KIND; v++) {
    const clip = clips[v % clips.length];
    const bad = corrupt(clip, rnd);
    if (avcSameBytes(bad, clip)) continue;
    row.n++;
    const structural = avcAnalyze(bad, { profile: AVC_LM_256X144, header }).issues.length > 0;
    const ff = ffmpegFlags(BUNDLED, bad);
    const sys = ffmpegFlags(SYSTEM, bad);
    if (structural && ff) row.both++;
    else if (structural) row.oursOnly++;
    else if (ff) row.ffOnly++;
    else row.neither++;
    const val = await avcValidate(bad, { header });
    if (val.verdict !== 'valid') row.full++;
    if (sys) row.sys++;
    if (sys && !ff) row.sysNotBundled++;
    if (sys && val.verdict === 'valid') row.fullMissesSys++;
    if (val.verdict === 'repairable') {
      row.repairable++;
      const r = await avcRepair(bad, { header });
      if (r.ok && !ffmpegFlags(BUNDLED, r.stream) && !ffmpegFlags(SYSTEM, r.stream))
        row.repairedClean++;
      if (r.ok) {
        row.concealed += r.stats.concealedSlices;
        row.frames += r.stats.frames;
        row.skips += r.stats.skipFrames;
      }
    } else if (val.verdict === 'rejected') row.rejected++;
  }
  rows.push(row);
}

console.log(
  'Structural check (TypeScript only) vs ffmpeg (bundled 2018 build), per corruption kind:\n',
);
console.log(
  '| corruption | n | both flag | only ours | only ffmpeg | neither | full validator flags | system ffmpeg 5.1 flags |',
);
console.log('| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |');
const sum = (k) => rows.reduce((n, r) => n + r[k], 0);
for (const r of rows) {
  console.log(
    `| ${r.kind} | ${r.n} | ${r.both} | ${r.oursOnly} | ${r.ffOnly} | ${r.neither} | ${r.full} | ${r.sys} |`,
  );
}
console.log(
  `| **all** | ${sum('n')} | ${sum('both')} | ${sum('oursOnly')} | ${sum('ffOnly')} | ${sum('neither')} | ${sum('full')} | ${sum('sys')} |`,
);
console.log(
  `\nsystem ffmpeg flags that the bundled one does not: ${sum('sysNotBundled')}; ` +
    `streams the system ffmpeg flags but the full validator passes: ${sum('fullMissesSys')}`,
);
console.log('\nRepair:\n');
console.log(
  '| corruption | repairable | rejected | repaired, 0 errors in both ffmpegs | mean concealed slices | mean frames out | of which skip pictures |',
);
console.log('| --- | ---: | ---: | ---: | ---: | ---: | ---: |');
for (const r of rows) {
  const m = (x) => (r.repairable ? (x / r.repairable).toFixed(1) : '-');
  console.log(
    `| ${r.kind} | ${r.repairable} | ${r.rejected} | ${r.repairedClean} | ${m(r.concealed)} | ${m(r.frames)} | ${m(r.skips)} |`,
  );
}
console.log(
  `| **all** | ${sum('repairable')} | ${sum('rejected')} | ${sum('repairedClean')} | | | |`,
);
