import { spawnSync } from 'node:child_process';
import { beforeAll, describe, expect, it } from 'vitest';
import {
  AvcTokenizer,
  avcEncode,
  avcKeepFrames,
  avcProfile,
  avcSameBytes,
  bundledFfmpegPath,
} from '@jpeglm/codec-tokenizer';
import {
  OnnxCausalLM,
  clipPrompt,
  createRandomModel,
  generateClips,
  type CausalLM,
  type ForwardInput,
  type ForwardOutput,
  type KvCache,
} from '../src/index.js';

const PROFILE = avcProfile('avc-lm-64x48-4f');

function ffmpegErrors(bin: string, stream: Uint8Array): string {
  const r = spawnSync(bin, ['-v', 'error', '-f', 'h264', '-i', 'pipe:0', '-f', 'null', '-'], {
    input: stream,
  });
  return r.stderr.toString() + (r.status === 0 ? '' : `exit ${r.status}`);
}

/**
 * A stand-in model that always puts its mass on the next token of a fixed sequence (then EOS):
 * greedy decoding replays that sequence, so the whole generate-detokenize-repair path can be
 * checked against known bytes.
 */
class TeacherLM implements CausalLM {
  readonly maxPositions: number;
  constructor(
    private readonly target: readonly number[],
    readonly vocabSize: number,
    private readonly eos: number,
  ) {
    this.maxPositions = target.length + 16;
  }
  newCache(batch: number): KvCache {
    return { batch, length: 0 };
  }
  async forward(cache: KvCache, input: ForwardInput): Promise<ForwardOutput> {
    const length = cache.length + input.seqLen;
    const logits = new Float32Array(cache.batch * this.vocabSize).fill(-20);
    for (let r = 0; r < cache.batch; r++)
      logits[r * this.vocabSize + (this.target[length] ?? this.eos)] = 20;
    return { logits, cache: { batch: cache.batch, length } };
  }
  selectRows(cache: KvCache, rows: readonly number[]): KvCache {
    return { batch: rows.length, length: cache.length };
  }
  async dispose(): Promise<void> {}
}

let tokenizer: AvcTokenizer;
let clip: Uint8Array;

beforeAll(async () => {
  tokenizer = await AvcTokenizer.forProfile(PROFILE);
  clip = await avcEncode({ lavfi: 'testsrc2=s=64x48:r=25,rotate=t/2' }, { profile: PROFILE });
});

describe('generateClips', () => {
  it('replays a canonical clip exactly when the model does (header restored, nothing to repair)', async () => {
    const ids = Array.from(tokenizer.tokenize(clip));
    const teacher = new TeacherLM(ids, tokenizer.vocabSize, tokenizer.eos);
    const { clips } = await generateClips(teacher, {
      tokenizer,
      prompts: [{}],
      sampling: { temperature: 0 },
    });
    expect(clips[0].finishReason).toBe('eos');
    expect(clips[0].repair.ok && !clips[0].repair.changed).toBe(true);
    expect(avcSameBytes(clips[0].clip!, clip)).toBe(true);
  });

  it('repairs a stream that stops in the middle of a picture into a decodable clip', async () => {
    const ids = Array.from(tokenizer.tokenize(clip));
    const cut = ids.slice(0, Math.floor(ids.length * 0.7)); // then EOS
    const teacher = new TeacherLM(cut, tokenizer.vocabSize, tokenizer.eos);
    const { clips } = await generateClips(teacher, {
      tokenizer,
      prompts: [{}],
      sampling: { temperature: 0 },
    });
    const c = clips[0];
    expect(c.repair.ok && c.repair.changed).toBe(true);
    expect(ffmpegErrors(bundledFfmpegPath(), c.clip!)).toBe('');
    expect(ffmpegErrors('/usr/bin/ffmpeg', c.clip!)).toBe('');
  });

  it('continues the first frames of a clip with a tiny random ONNX model; the result always decodes', async () => {
    const random = createRandomModel(
      {
        vocabSize: tokenizer.vocabSize,
        hiddenSize: 32,
        intermediateSize: 64,
        numHiddenLayers: 1,
        numAttentionHeads: 2,
        maxPositionEmbeddings: 8192,
      },
      7,
    );
    const model = await OnnxCausalLM.create(random, { intraOpNumThreads: 1 });
    try {
      const prompt = clipPrompt(tokenizer, clip, 2);
      const { clips } = await generateClips(model, {
        tokenizer,
        prompts: [prompt, prompt],
        sampling: { seed: 3, topK: 40 },
        maxNewTokens: 200,
      });
      for (const c of clips) {
        expect(c.tokens.length).toBeGreaterThan(0);
        expect(c.clip).toBeDefined();
        expect(ffmpegErrors(bundledFfmpegPath(), c.clip!)).toBe('');
        expect(ffmpegErrors('/usr/bin/ffmpeg', c.clip!)).toBe('');
        // The two prompt pictures come through unchanged.
        expect(avcSameBytes(avcKeepFrames(c.clip!, 2), avcKeepFrames(clip, 2))).toBe(true);
      }
      // From nothing, random bytes hold no decodable IDR picture: rejected, with the reason.
      const scratch = await generateClips(model, { tokenizer, prompts: [{}], maxNewTokens: 100 });
      expect(scratch.clips[0].clip).toBeUndefined();
      expect(scratch.clips[0].repair.ok).toBe(false);
    } finally {
      await model.dispose();
    }
  });

  it('refuses a model whose vocabulary is not the tokenizer’s', async () => {
    const teacher = new TeacherLM([], 300, 257);
    await expect(generateClips(teacher, { tokenizer, prompts: [{}] })).rejects.toThrow(
      /do not belong together/,
    );
  });
});
