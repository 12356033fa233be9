export type { CausalLM, KvCache, ForwardInput, ForwardOutput } from './causal-lm.js';
export { Xoshiro128 } from './prng.js';
export {
  type LogitsContext,
  type LogitsProcessor,
  applyProcessors,
  rankTokens,
  softmax,
  forceToken,
  TemperatureProcessor,
  TopKProcessor,
  TopPProcessor,
  MinPProcessor,
  ClassifierFreeGuidanceProcessor,
  ByteTokensOnlyProcessor,
  EndOfImageProcessor,
} from './logits-processors.js';
export {
  type TokenSampler,
  type SamplingOptions,
  type Sampling,
  argmax,
  sampleCategorical,
  GreedySampler,
  MultinomialSampler,
  createSampling,
  validateSamplingOptions,
} from './samplers.js';
export { type ByteConstraint, GrammarMaskProcessor } from './constraint.js';
export {
  type GenerateRequest,
  type GeneratedSequence,
  type GenerationResult,
  type GenerationStats,
  type FinishReason,
  generate,
} from './generate.js';
export { type ScoreOptions, type SequenceScore, logSoftmaxAt, scoreSequence } from './score.js';
