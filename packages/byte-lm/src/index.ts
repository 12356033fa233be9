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
  type MergeTokens,
  tokenBytes,
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
export {
  type ScoreOptions,
  type SequenceScore,
  type ScoreImageOptions,
  logSoftmaxAt,
  scoreSequence,
  scoreImage,
} from './score.js';
export {
  type ImagePrompt,
  type GenerateImagesOptions,
  type GeneratedImage,
  type ImageGenerationResult,
  type ImagePromptCut,
  generateImages,
  cutBodyAtRestart,
  profileScanStructure,
  profileGrammar,
  tokenizerMerges,
  checkVocabulary,
} from './image-generation.js';
export { type RankedImage, type BestOfResult, MAX_BEST_OF, generateBestImages } from './best-of.js';
export { ModelError, isModelError } from './model-error.js';
export {
  type LlamaConfig,
  type LlamaConfigInit,
  type TorchDtype,
  llamaConfig,
  parseLlamaConfig,
  llamaConfigToJson,
  parameterCount,
} from './config.js';
export {
  type SafetensorsDtype,
  type RawTensor,
  type SafetensorsFile,
  SAFETENSORS_DTYPE_BYTES,
  MAX_SAFETENSORS_HEADER_BYTES,
  parseSafetensors,
  serializeSafetensors,
} from './safetensors.js';
export {
  type FloatTensor,
  type LlamaWeights,
  type LlamaModel,
  type RandomWeightsOptions,
  EMBED_TOKENS,
  FINAL_NORM,
  LM_HEAD,
  layerTensorNames,
  expectedWeightShapes,
  validateWeights,
  createRandomWeights,
  roundWeights,
  rawToFloat32,
  float32ToRaw,
  float32ToFloat16Bits,
  float16BitsToFloat32,
  float32ToBfloat16Bits,
  bfloat16BitsToFloat32,
  weightsFromSafetensors,
  weightsToRaw,
} from './weights.js';
export {
  type LoadedModelDir,
  type SaveModelDirInput,
  CONFIG_FILE,
  WEIGHTS_FILE,
  TOKENIZER_FILE,
  ONNX_FILE,
  GENERATION_CONFIG_FILE,
  DEFAULT_MAX_MODEL_BYTES,
  loadModelDir,
  saveModelDir,
  createRandomModel,
} from './model-dir.js';
export {
  type DType,
  type Dim,
  type Value,
  type Attr,
  type Node,
  type Graph,
  type Initializer,
  type TensorStorage,
  attr,
  MS_DOMAIN,
  DTYPE_BYTES,
} from './onnx/ir.js';
export { GraphBuilder, ONNX_OPSET, broadcastShapes, reshapeShape } from './onnx/builder.js';
export { serializeGraph, ONNX_IR_VERSION } from './onnx/serialize.js';
export {
  type LlamaGraph,
  type LlamaGraphOptions,
  type WeightFormat,
  DIM,
  buildLlamaGraph,
  buildLlamaOnnx,
  ropeTables,
  quantizeMatMulNBits,
  dequantizeMatMulNBits,
  pastKeyName,
  pastValueName,
  presentKeyName,
  presentValueName,
  ATTENTION_BIAS,
  NEW_KEY_VALUES,
} from './llama-graph.js';
export {
  ReferenceModel,
  ReferenceKvCache,
  ReferenceCausalLM,
  type ReferenceForwardResult,
  checkForwardInput,
  lastPositionLogits,
} from './reference.js';
export { OnnxCausalLM, type OnnxRuntimeOptions } from './onnx-runtime.js';
export {
  type ClipPrompt,
  type GenerateClipsOptions,
  type GeneratedClip,
  type ClipGenerationResult,
  clipPrompt,
  generateClips,
} from './video-generation.js';
export {
  SHARD_MAGIC,
  SHARD_VERSION,
  SHARD_HEADER_BYTES,
  parseShardHeader,
  shardHeader,
  decodeShard,
  tokensToBytes,
  formatIndexEntry,
  parseShardIndex,
  type ShardIndexEntry,
} from './dataset/shard.js';
export {
  type InputSample,
  type InputListing,
  listImageFolder,
  readManifest,
  parseCsv,
} from './dataset/inputs.js';
export { type Split, splitOf } from './dataset/split.js';
export {
  type PrepSource,
  type PrepProgress,
  type PrepOptions,
  type DatasetCard,
  type DatasetClassInfo,
  type DatasetShardInfo,
  type DatasetSplitInfo,
  DATASET_CARD_FILE,
  DATASET_FORMAT,
  DATASET_VERSION,
  DATASET_TOKENIZER_FILE,
  REJECTS_FILE,
  PREP_WORK_DIR,
  DEFAULT_CHUNK_SIZE,
  DEFAULT_SHARD_TOKENS,
  DEFAULT_VAL_FRACTION,
  DEFAULT_MAX_VIDEO_INPUT_BYTES,
  DEFAULT_VIDEO_TIMEOUT_MS,
  type DatasetCodec,
  type DatasetTokenizer,
  isAvcProfile,
  prepareDataset,
} from './dataset/prep.js';
export {
  type PreparedDataset,
  type OpenDatasetOptions,
  type DatasetSample,
  openPreparedDataset,
  parseDatasetTokenizer,
  readShardWithIndex,
  readSplit,
} from './dataset/read.js';
export {
  type ScoredGroup,
  type HeldOutResult,
  type HeldOutSample,
  heldOutBitsPerByte,
  jpegDecodeProblem,
} from './dataset/evaluate.js';
export {
  type GradientRule,
  type BackwardOptions,
  GradContext,
  GRADIENT_RULES,
  backward,
} from './train/autodiff.js';
export { type ReopenedGraph, reopenGraph, promoteToFloat64 } from './train/graph-edit.js';
export {
  type AdamWSettings,
  type TrainGraph,
  type TrainGraphKind,
  type TrainGraphOptions,
  IGNORE_INDEX,
  TRAIN_IO,
  DEFAULT_ADAMW,
  buildTrainGraph,
  decayed,
} from './train/train-graph.js';
export {
  type ShardFiles,
  type TrainingData,
  SHARD_INDEX_SUFFIX,
  Shard,
  locateTrainingData,
} from './train/shards.js';
export {
  type Batch,
  type DataPosition,
  type PackOptions,
  type LoaderOptions,
  TokenStream,
  BatchLoader,
  packWindows,
  validationBatches,
  windowCount,
} from './train/data.js';
export { type LrSchedule, learningRate, checkSchedule } from './train/schedule.js';
export {
  type TrainingSessionOptions,
  type OptimizerState,
  type StepResult,
  TrainingSession,
} from './train/session.js';
export {
  type TrainConfig,
  type ModelShape,
  DEFAULT_TRAIN_CONFIG,
  resolveTrainConfig,
  modelConfigFor,
  trainConfigToJson,
} from './train/train-config.js';
export {
  type Checkpoint,
  type DataFingerprint,
  type TrainerProgress,
  CHECKPOINT_DIR,
  saveCheckpoint,
  loadCheckpoint,
  findCheckpoint,
  checkpointTrainConfig,
} from './train/checkpoint.js';
export {
  type TrainEvent,
  type TrainOptions,
  type TrainResult,
  type OpenedTrainingData,
  TRAIN_LOG_FILE,
  train,
  openTrainingData,
  validate,
} from './train/trainer.js';
export { writeFileAtomic } from './atomic-write.js';
