/**
 * Structural byte constraints and the grammar-mask logits processor. A constraint is an
 * incremental recogniser of a byte language (for images: the JPEG entropy-coded scan of a fixed
 * frame, tables and restart interval, then EOI); masking the logits with it makes every
 * generated file decode. The interface is structural so any grammar with these members fits
 * (codec-tokenizer's JpegGrammar does).
 */
import { CodecError } from '@jpeglm/codec-tokenizer';
import { forceToken, type LogitsContext, type LogitsProcessor } from './logits-processors.js';

export interface ByteConstraint {
  /** 256 entries, 1 where the byte may come next. */
  allowedBytes(): Uint8Array;
  /** Advance by one byte (which must be allowed). */
  accept(byte: number): void;
  /** True once the bytes so far form a whole sentence of the language (nothing may follow). */
  readonly complete: boolean;
}

/**
 * The grammar mask: byte tokens (ids 0..255) the constraint forbids get -Infinity; every
 * special token is masked, except EOS exactly when the constraint is complete; once complete,
 * EOS is the only choice. One constraint per sequence, indexed by `LogitsContext.sequence`;
 * each is advanced by the bytes the generation loop reports through `accept`.
 */
export class GrammarMaskProcessor implements LogitsProcessor {
  readonly name = 'grammar-mask';

  constructor(
    private readonly constraints: readonly ByteConstraint[],
    readonly eosTokenId: number,
  ) {
    if (!(Number.isInteger(eosTokenId) && eosTokenId >= 256)) {
      throw new CodecError(
        'invalid-argument',
        `EOS must be a special token id >= 256, got ${eosTokenId}`,
      );
    }
  }

  constraint(sequence: number): ByteConstraint {
    const c = this.constraints[sequence];
    if (c === undefined) {
      throw new CodecError('invalid-argument', `no grammar constraint for sequence ${sequence}`);
    }
    return c;
  }

  process(logits: Float32Array, ctx: LogitsContext): Float32Array {
    const c = this.constraint(ctx.sequence);
    if (c.complete) {
      forceToken(logits, this.eosTokenId);
      return logits;
    }
    const allowed = c.allowedBytes();
    let any = false;
    for (let b = 0; b < 256; b++) {
      if (allowed[b] === 0) logits[b] = -Infinity;
      else any = true;
    }
    if (!any) {
      throw new CodecError(
        'corrupt',
        `the grammar allows no byte after ${ctx.tokens.length} tokens of sequence ${ctx.sequence}`,
      );
    }
    for (let i = 256; i < logits.length; i++) logits[i] = -Infinity;
    return logits;
  }

  accept(sequence: number, token: number): void {
    if (token < 256) this.constraint(sequence).accept(token);
  }
}
