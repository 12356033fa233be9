/**
 * Video generation on top of the token loop (AVC-LM): prompts are [BOS, class or NULL_CLASS,
 * the first pictures of a canonical clip's body], only byte tokens and EOS may be sampled, and
 * every result is repaired (avcRepair) into a clip ffmpeg decodes without errors: the profile
 * header is restored, damaged or unfinished slices concealed, undecodable pictures dropped.
 * A sample with nothing usable left is returned as rejected, with the reason.
 */
import {
  CodecError,
  avcKeepFrames,
  avcRepair,
  type AvcRepairResult,
  type AvcTokenizer,
  type FfmpegOptions,
} from '@jpeglm/codec-tokenizer';
import type { CausalLM } from './causal-lm.js';
import {
  checkVocabulary,
  conditionedPrompt,
  generateConditioned,
  type ConditionedSamplingOptions,
} from './conditioned-generation.js';
import type { FinishReason, GenerationStats } from './generate.js';
import { ByteTokensOnlyProcessor } from './logits-processors.js';

export interface ClipPrompt {
  /** Class label; null or undefined: unconditional (NULL_CLASS). */
  readonly classLabel?: string | null;
  /** The start of the clip's body (headerless Annex B bytes), e.g. from avcKeepFrames. */
  readonly body?: Uint8Array;
}

export interface GenerateClipsOptions extends FfmpegOptions, ConditionedSamplingOptions {
  readonly tokenizer: AvcTokenizer;
  /** One per clip. */
  readonly prompts: readonly ClipPrompt[];
  /** Reject a clip when more than this share of its slices had to be concealed (default 0.5). */
  readonly maxConcealedFraction?: number;
  readonly onToken?: (clip: number, token: number) => void;
}

export interface GeneratedClip {
  /** The repaired clip (decodes with no error), or undefined when repair rejected it. */
  readonly clip: Uint8Array | undefined;
  /** What the model wrote, header restored, before repair (stray bytes left out). */
  readonly raw: Uint8Array;
  /** Bytes a completion wrote before its first start code, left out (see generateClips). */
  readonly strayBytes: number;
  /** Generated tokens, EOS excluded. */
  readonly tokens: number[];
  readonly finishReason: FinishReason;
  readonly repair: AvcRepairResult;
}

export interface ClipGenerationResult {
  readonly clips: GeneratedClip[];
  readonly stats: GenerationStats;
}

/** Index of the first start code (00 00 01, or 00 00 00 01) in byte tokens; length if none. */
function firstStartCode(tokens: readonly number[]): number {
  for (let i = 0; i + 2 < tokens.length; i++) {
    if (tokens[i] === 0 && tokens[i + 1] === 0) {
      if (tokens[i + 2] === 1) return i;
      if (tokens[i + 2] === 0 && tokens[i + 3] === 1) return i;
    }
  }
  return tokens.length;
}

/** A completion prompt: the first `frames` pictures of a canonical clip. */
export function clipPrompt(
  tokenizer: AvcTokenizer,
  clip: Uint8Array,
  frames: number,
  classLabel?: string | null,
): ClipPrompt {
  const body = avcKeepFrames(tokenizer.body(clip), frames);
  if (body.length === 0) {
    throw new CodecError('invalid-argument', 'the prompt keeps no picture (--keep-frames 0?)');
  }
  return { classLabel, body };
}

export async function generateClips(
  model: CausalLM,
  options: GenerateClipsOptions,
): Promise<ClipGenerationResult> {
  const { tokenizer, prompts } = options;
  checkVocabulary(model, tokenizer, 'AVC tokenizer');
  if (prompts.length === 0) throw new CodecError('invalid-argument', 'no clips to generate');
  const promptIds = prompts.map((p) =>
    conditionedPrompt(tokenizer, p.classLabel, tokenizer.encodeBody(p.body ?? new Uint8Array(0))),
  );
  const { sequences, stats } = await generateConditioned(model, {
    tokenizer,
    prompts: promptIds,
    sampling: options.sampling,
    cfgScale: options.cfgScale,
    constraints: [new ByteTokensOnlyProcessor(tokenizer.eos)],
    maxNewTokens: options.maxNewTokens,
    onToken: options.onToken,
  });
  const clips: GeneratedClip[] = [];
  for (let i = 0; i < sequences.length; i++) {
    const seq = sequences[i];
    let tokens = seq.tokens;
    let strayBytes = 0;
    if ((prompts[i].body?.length ?? 0) > 0) {
      // A prompt ends with a whole NAL unit: the continuation must open a new one. Bytes before
      // the model's first start code would only lengthen (damage) the prompt's last slice.
      strayBytes = firstStartCode(tokens);
      tokens = tokens.slice(strayBytes);
    }
    const raw = tokenizer.detokenize([...promptIds[i], ...tokens], { allowUnterminated: true });
    const repair = await avcRepair(raw, {
      profile: tokenizer.profile,
      header: tokenizer.header,
      ffmpeg: options.ffmpeg,
      maxConcealedFraction: options.maxConcealedFraction,
    });
    clips.push({
      clip: repair.ok ? repair.stream : undefined,
      raw,
      strayBytes,
      tokens: seq.tokens,
      finishReason: seq.finishReason,
      repair,
    });
  }
  return { clips, stats };
}
