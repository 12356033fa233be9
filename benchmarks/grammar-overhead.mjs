// What the JPEG grammar mask costs during generation (issue 4 section 5: "the grammar mask adds
// <= 5%"). One ONNX Runtime model, one run: the batched generation loop with the grammar mask
// (what `jpeglm generate` does) against the same loop with no mask, at batch 1 and batch 16.
// Both variants sample exactly the same number of tokens (EOS is suppressed in the baseline and
// the image profile is large enough that no constrained stream completes early), with the same
// seed and sampler. Reported: tokens/s of each (median of the runs, variants interleaved), their
// ratio, and the time spent inside the mask itself (allowedBytes + accept) as a share of the
// constrained run, which is the overhead with the forward-pass noise taken out.
//
// Usage: npx tsc -b && node benchmarks/grammar-overhead.mjs [--runs 5] [--tokens 256]
import os from 'node:os';
import { performance } from 'node:perf_hooks';
import {
  GrammarMaskProcessor,
  MultinomialSampler,
  OnnxCausalLM,
  createRandomModel,
  generate,
  profileGrammar,
} from '../packages/byte-lm/dist/index.js';
import { JpegTokenizer, getProfile, mcuCount } from '../packages/codec-tokenizer/dist/index.js';
import { median, numberOption } from './lib/bench.mjs';

const RUNS = numberOption('--runs', 5);
const TOKENS = numberOption('--tokens', 256);
const BATCHES = [1, 16];

// 64x64 at quality 50: 16 MCUs, about 1-2 KB of scan for a random model, so TOKENS stays
// below the end of every constrained stream.
const profile = getProfile('jpeglm-64-q50');
const tokenizer = new JpegTokenizer({ profile, classes: ['a', 'b', 'c', 'd'] });
// The ~5M-parameter config of the runtime benchmarks.
const config = {
  vocabSize: tokenizer.vocabSize,
  hiddenSize: 256,
  intermediateSize: 704,
  numHiddenLayers: 6,
  numAttentionHeads: 8,
  numKeyValueHeads: 4,
  maxPositionEmbeddings: 2048,
};
const model = await OnnxCausalLM.create(createRandomModel(config, 1));

/** The processor as the library builds it, with its time measured. */
class TimedMask {
  name = 'timed-grammar-mask';
  ms = 0;
  constructor(inner) {
    this.inner = inner;
  }
  process(logits, ctx) {
    const t = performance.now();
    const r = this.inner.process(logits, ctx);
    this.ms += performance.now() - t;
    return r;
  }
  accept(s, token) {
    const t = performance.now();
    this.inner.accept(s, token);
    this.ms += performance.now() - t;
  }
}

/** The baseline's only processor: no EOS, so every row samples exactly TOKENS tokens. */
const noEos = {
  name: 'no-eos',
  process(logits) {
    logits[tokenizer.eos] = -Infinity;
    return logits;
  },
};

async function once(batch, constrained, seed) {
  const prompts = Array.from({ length: batch }, (_, i) => [
    tokenizer.bos,
    tokenizer.classId(['a', 'b', 'c', 'd'][i % 4]),
  ]);
  let mask;
  let processors = [noEos];
  if (constrained) {
    mask = new TimedMask(
      new GrammarMaskProcessor(
        prompts.map(() => profileGrammar(profile)),
        tokenizer.eos,
      ),
    );
    processors = [mask];
  }
  const t = performance.now();
  const r = await generate(model, {
    prompts,
    maxNewTokens: TOKENS,
    eosTokenId: tokenizer.eos,
    padTokenId: tokenizer.pad,
    processors,
    sampler: new MultinomialSampler(seed),
  });
  const seconds = (performance.now() - t) / 1000;
  const early = r.sequences.filter((s) => s.finishReason !== 'length').length;
  if (early > 0)
    throw new Error(`${early} sequences ended before ${TOKENS} tokens: use fewer --tokens`);
  return { tps: r.stats.generatedTokens / seconds, maskShare: mask ? mask.ms / 1000 / seconds : 0 };
}

console.log(
  `grammar-overhead: ${os.cpus()[0]?.model ?? '?'}, ${os.availableParallelism()} threads, ` +
    `profile ${profile.name} (${mcuCount(profile)} MCUs), model ${config.hiddenSize}x${config.numHiddenLayers}, ` +
    `${TOKENS} tokens per row, ${RUNS} runs`,
);
await once(1, true, 99); // warm-up: ORT sessions, grammar automaton
await once(1, false, 99);
console.log('| batch | no mask tokens/s | grammar mask tokens/s | ratio | time in mask |');
console.log('| ---: | ---: | ---: | ---: | ---: |');
for (const batch of BATCHES) {
  const plain = [];
  const masked = [];
  const share = [];
  for (let r = 0; r < RUNS; r++) {
    plain.push((await once(batch, false, r)).tps);
    const m = await once(batch, true, r);
    masked.push(m.tps);
    share.push(m.maskShare);
  }
  const p = median(plain);
  const m = median(masked);
  console.log(
    `| ${batch} | ${p.toFixed(0)} | ${m.toFixed(0)} | ${(m / p).toFixed(3)} | ${(100 * median(share)).toFixed(1)}% |`,
  );
}
await model.dispose();
