/**
 * The one interface between a language model and everything that drives it (generation,
 * scoring, CFG, constrained decoding). The ONNX runtime implements it; tests may implement it
 * with a plain TypeScript reference forward pass.
 */

/** Opaque per-batch key/value cache. `length` = tokens already consumed by every row. */
export interface KvCache {
  readonly batch: number;
  readonly length: number;
}

export interface ForwardInput {
  /** Token ids, row-major [batch, seqLen]. */
  readonly inputIds: Int32Array;
  readonly seqLen: number;
  /**
   * Attention mask over past + new positions, row-major [batch, cache.length + seqLen];
   * 1 = attend, 0 = ignore (left padding of ragged prompts). Omitted = all ones.
   */
  readonly attentionMask?: Uint8Array;
  /** Position ids [batch, seqLen]. Omitted = cache.length + i for every row. */
  readonly positionIds?: Int32Array;
}

export interface ForwardOutput {
  /**
   * Logits. With `allPositions` false: [batch, vocab] for the last new position of each row.
   * With `allPositions` true: [batch, seqLen, vocab].
   */
  readonly logits: Float32Array;
  /** The cache extended by the new tokens (the input cache must not be used again). */
  readonly cache: KvCache;
}

export interface CausalLM {
  readonly vocabSize: number;
  readonly maxPositions: number;
  /** An empty cache for `batch` sequences. */
  newCache(batch: number): KvCache;
  forward(
    cache: KvCache,
    input: ForwardInput,
    options?: { allPositions?: boolean },
  ): Promise<ForwardOutput>;
  /** A cache holding only the listed rows, in that order (beam/batch pruning). */
  selectRows(cache: KvCache, rows: readonly number[]): KvCache;
  dispose(): Promise<void>;
}
