/**
 * Image generation on top of the token loop: prompts are [BOS, class or NULL_CLASS, scan-byte
 * prefix], the JPEG grammar of the tokenizer's profile masks the logits (on by default, so every
 * file decodes), and each result is a whole JPEG file: the profile's header is put back by the
 * tokenizer's detokenize, and a stream cut off by the length limit is repaired (repairJpeg) into
 * a complete image, with a warning saying so.
 */
import {
  CANONICAL_SCAN,
  CodecError,
  JpegGrammar,
  canonicalizeRgb,
  createCanonicalFrame,
  createRgbImage,
  createStandardTables,
  mcuCount,
  repairJpeg,
  type CanonicalJpegProfile,
  type JpegTokenizer,
  type ScanStructure,
} from '@jpeglm/codec-tokenizer';
import type { CausalLM } from './causal-lm.js';
import {
  checkVocabulary,
  conditionedPrompt,
  generateConditioned,
  type ConditionedSamplingOptions,
} from './conditioned-generation.js';
import { GrammarMaskProcessor } from './constraint.js';
import type { FinishReason, GenerationStats } from './generate.js';
import {
  ByteTokensOnlyProcessor,
  EndOfImageProcessor,
  tokenBytes,
  type MergeTokens,
} from './logits-processors.js';

export { checkVocabulary } from './conditioned-generation.js';

/** Frame, tables, restart interval and scan of every canonical file of `profile`. */
export function profileScanStructure(profile: CanonicalJpegProfile): ScanStructure {
  return {
    frame: createCanonicalFrame(profile.width, profile.height, profile.subsampling),
    tables: createStandardTables(profile.quality),
    restartInterval: profile.restartInterval,
    scan: CANONICAL_SCAN,
  };
}

/** A fresh grammar for the headerless body (scan bytes, RST markers, EOI) of `profile`. */
export function profileGrammar(profile: CanonicalJpegProfile): JpegGrammar {
  return JpegGrammar.forStructure(profileScanStructure(profile), { includeHeader: false });
}

/** The BPE merges of a tokenizer as the processors want them, or undefined (bytes only). */
export function tokenizerMerges(tokenizer: JpegTokenizer): MergeTokens | undefined {
  if (tokenizer.firstMergeId === tokenizer.vocabSize) return undefined;
  const bytes: Uint8Array[] = [];
  for (let id = tokenizer.firstMergeId; id < tokenizer.vocabSize; id++) {
    bytes.push(tokenizer.tokenBytes(id) as Uint8Array);
  }
  return { first: tokenizer.firstMergeId, bytes };
}

export interface ImagePrompt {
  /** Class label; null or undefined: unconditional (NULL_CLASS). */
  readonly classLabel?: string | null;
  /** The start of the image's body (scan bytes), e.g. cut just after a restart marker. */
  readonly body?: Uint8Array;
}

export interface GenerateImagesOptions extends ConditionedSamplingOptions {
  readonly tokenizer: JpegTokenizer;
  /** One per image. */
  readonly prompts: readonly ImagePrompt[];
  /** Mask the logits with the profile's JPEG grammar; default true. */
  readonly constrain?: boolean;
  /** Streaming: each generated token's bytes as soon as it is chosen (for live previews). */
  readonly onBytes?: (image: number, bytes: Uint8Array) => void;
  /**
   * After every generated token: `mcus` is the number of complete MCUs of that image (known
   * only with the grammar on), for progress and ETA.
   */
  readonly onToken?: (image: number, token: number, mcus: number | undefined) => void;
}

export interface GeneratedImage {
  /** A complete JPEG file: header, prompt and generated scan bytes, EOI. */
  readonly jpeg: Uint8Array;
  /** Generated tokens, EOS excluded. */
  readonly tokens: number[];
  readonly finishReason: FinishReason;
  /** MCUs the model finished itself (with the grammar on; otherwise undefined). */
  readonly mcus: number | undefined;
  /** True when the stream ended early (length limit) and was repaired into a whole file. */
  readonly repaired: boolean;
  /** What happened, for stderr, when the file is not just what the model wrote. */
  readonly warning?: string;
}

export interface ImageGenerationResult {
  readonly images: GeneratedImage[];
  readonly stats: GenerationStats;
  /** MCUs in one image of the profile. */
  readonly mcuCount: number;
}

export async function generateImages(
  model: CausalLM,
  options: GenerateImagesOptions,
): Promise<ImageGenerationResult> {
  const { tokenizer, prompts } = options;
  checkVocabulary(model, tokenizer);
  if (prompts.length === 0) throw new CodecError('invalid-argument', 'no images to generate');
  const constrain = options.constrain ?? true;
  const merges = tokenizerMerges(tokenizer);
  const profile = tokenizer.profile;
  const total = mcuCount(profile);

  const grammars = constrain ? prompts.map(() => profileGrammar(profile)) : undefined;
  const promptIds: number[][] = [];
  prompts.forEach((p, i) => {
    const body = p.body ?? new Uint8Array(0);
    if (grammars) {
      const g = grammars[i];
      if (!g.acceptsAll(body)) {
        throw new CodecError(
          'invalid-argument',
          `prompt ${i} is not the start of a canonical ${profile.name} scan`,
        );
      }
      for (const b of body) g.accept(b);
      if (g.complete) {
        throw new CodecError('invalid-argument', `prompt ${i} is already a whole image`);
      }
    }
    promptIds.push(conditionedPrompt(tokenizer, p.classLabel, tokenizer.encodeBody(body)));
  });

  const { sequences, stats, maxNewTokens } = await generateConditioned(model, {
    tokenizer,
    prompts: promptIds,
    sampling: options.sampling,
    cfgScale: options.cfgScale,
    constraints: grammars
      ? [new GrammarMaskProcessor(grammars, tokenizer.eos, merges)]
      : [
          new ByteTokensOnlyProcessor(tokenizer.eos, merges),
          new EndOfImageProcessor(tokenizer.eos, merges),
        ],
    maxNewTokens: options.maxNewTokens,
    onToken: (s, token) => {
      if (token !== tokenizer.eos) {
        const bytes = tokenBytes(token, merges);
        if (bytes) options.onBytes?.(s, bytes);
      }
      options.onToken?.(s, token, grammars?.[s].mcuIndex);
    },
  });

  const images = sequences.map((seq, i): GeneratedImage => {
    const ids = [...promptIds[i], ...seq.tokens];
    if (seq.finishReason === 'eos') ids.push(tokenizer.eos);
    const raw = tokenizer.detokenize(ids, { allowUnterminated: true });
    const mcus = grammars?.[i].mcuIndex;
    const { finishReason } = seq;
    // With the grammar, complete means a valid whole stream; without it, trust an EOI ending.
    const whole = grammars
      ? grammars[i].complete
      : raw.length >= 2 && raw[raw.length - 2] === 0xff && raw[raw.length - 1] === 0xd9;
    if (whole) return { jpeg: raw, tokens: seq.tokens, finishReason, mcus, repaired: false };
    const where = mcus === undefined ? '' : ` at MCU ${mcus} of ${total}`;
    const stop =
      finishReason === 'length'
        ? `image ${i + 1} stopped at the ${maxNewTokens}-token limit${where}`
        : `image ${i + 1} ended (EOS) before its end-of-image marker${where}`;
    try {
      const r = repairJpeg(raw);
      return {
        jpeg: r.bytes,
        tokens: seq.tokens,
        finishReason,
        mcus,
        repaired: true,
        warning: `${stop}; repaired (${r.repairedMcus} of ${total} MCUs filled in)`,
      };
    } catch (e) {
      if (!(e instanceof CodecError)) throw e;
      if (grammars && mcus === 0) {
        // Repair keeps intact MCUs; with none there is nothing to keep: a flat image it is.
        return {
          jpeg: blankImage(profile),
          tokens: seq.tokens,
          finishReason,
          mcus,
          repaired: true,
          warning: `${stop}, before its first MCU was complete; written as a blank (grey) image`,
        };
      }
      if (grammars) throw e;
      // Unconstrained bytes may be beyond repair: hand them back as the model wrote them.
      return {
        jpeg: raw,
        tokens: seq.tokens,
        finishReason,
        mcus,
        repaired: false,
        warning: `${stop}; could not be repaired (${e.message}), written as generated`,
      };
    }
  });
  return { images, stats, mcuCount: total };
}

/** A flat mid-grey canonical image of `profile` (every DCT coefficient zero after the level shift). */
function blankImage(profile: CanonicalJpegProfile): Uint8Array {
  const img = createRgbImage(profile.width, profile.height);
  img.data.fill(128);
  return canonicalizeRgb(img, profile);
}

export interface ImagePromptCut {
  /** The body prefix to use as the prompt. */
  readonly body: Uint8Array;
  /** MCUs in the prompt. */
  readonly keptMcus: number;
  readonly totalMcus: number;
}

/**
 * The first `keep` fraction of a canonical body's MCUs, cut exactly at a restart boundary (just
 * after an RSTm marker), as JPEG-LM's prompts are: the number of whole restart intervals nearest
 * to keep * MCUs, at most all intervals but the last. Entropy-coded MCUs end mid-byte, so
 * restart markers are the only byte-exact cut points.
 */
export function cutBodyAtRestart(
  body: Uint8Array,
  profile: CanonicalJpegProfile,
  keep: number,
): ImagePromptCut {
  if (!(Number.isFinite(keep) && keep >= 0 && keep < 1)) {
    throw new CodecError('invalid-argument', `keep must be a fraction in [0, 1), got ${keep}`);
  }
  const total = mcuCount(profile);
  const r = profile.restartInterval;
  if (keep === 0) return { body: body.subarray(0, 0), keptMcus: 0, totalMcus: total };
  if (r === 0) {
    throw new CodecError(
      'unsupported',
      `profile ${profile.name} has no restart markers, so an image can only be cut at its start`,
    );
  }
  const intervals = Math.ceil(total / r);
  const k = Math.min(intervals - 1, Math.round((keep * total) / r));
  let seen = 0;
  let cut = 0;
  for (let i = 0; seen < k && i + 1 < body.length; i++) {
    // In entropy-coded data FF is followed by 00 (stuffing) or a marker (T.81 B.1.1.5).
    if (body[i] === 0xff && body[i + 1] >= 0xd0 && body[i + 1] <= 0xd7) {
      seen++;
      cut = i + 2;
      i++;
    }
  }
  if (seen < k) {
    throw new CodecError(
      'corrupt',
      `the scan has ${seen} restart markers, fewer than the ${k} needed to keep ${keep}`,
    );
  }
  return { body: body.subarray(0, cut), keptMcus: k * r, totalMcus: total };
}
