/**
 * Structural byte constraints and the grammar-mask logits processor. A constraint is an
 * incremental recogniser of a byte language (for images: the JPEG entropy-coded scan of a fixed
 * frame, tables and restart interval, then EOI); masking the logits with it makes every
 * generated file decode. The interface is structural so any grammar with these members fits
 * (codec-tokenizer's JpegGrammar does).
 */
import { CodecError } from '@jpeglm/codec-tokenizer';
import {
  forceToken,
  type LogitsContext,
  type LogitsProcessor,
  type MergeTokens,
} from './logits-processors.js';

export interface ByteConstraint {
  /** 256 entries, 1 where the byte may come next. */
  allowedBytes(): Uint8Array;
  /** Advance by one byte (which must be allowed). */
  accept(byte: number): void;
  /** Whether all these bytes (one multi-byte token) would be accepted from here; no change. */
  acceptsAll(bytes: Uint8Array): boolean;
  /** True once the bytes so far form a whole sentence of the language (nothing may follow). */
  readonly complete: boolean;
}

/**
 * The grammar mask: byte tokens the constraint forbids get -Infinity (a BPE merge token is
 * allowed when the constraint accepts all of its bytes); every special token is masked, except
 * EOS exactly when the constraint is complete; once complete, EOS is the only choice. One
 * constraint per sequence, indexed by `LogitsContext.sequence`; each is advanced by the tokens
 * the generation loop reports through `accept`.
 */
export class GrammarMaskProcessor implements LogitsProcessor {
  readonly name = 'grammar-mask';

  constructor(
    private readonly constraints: readonly ByteConstraint[],
    readonly eosTokenId: number,
    private readonly merges?: MergeTokens,
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
    const m = this.merges;
    // Grammars may reuse the mask array; keep our own copy while walking merge tokens.
    const allowed = m ? c.allowedBytes().slice() : c.allowedBytes();
    let any = false;
    for (let b = 0; b < 256; b++) {
      if (allowed[b] === 0) logits[b] = -Infinity;
      else any = true;
    }
    const end = m ? Math.min(m.first, logits.length) : logits.length;
    for (let i = 256; i < end; i++) logits[i] = -Infinity;
    if (m) {
      for (let i = m.first; i < logits.length; i++) {
        const bytes = m.bytes[i - m.first];
        // The first byte's mask is at hand; only then walk the whole token.
        if (bytes === undefined || allowed[bytes[0]] === 0 || !c.acceptsAll(bytes)) {
          logits[i] = -Infinity;
        }
      }
    }
    if (!any) {
      throw new CodecError(
        'corrupt',
        `the grammar allows no byte after ${ctx.tokens.length} tokens of sequence ${ctx.sequence}`,
      );
    }
    return logits;
  }

  accept(sequence: number, token: number): void {
    if (token < 256) {
      this.constraint(sequence).accept(token);
    } else if (this.merges && token >= this.merges.first) {
      const c = this.constraint(sequence);
      for (const b of this.merges.bytes[token - this.merges.first]) c.accept(b);
    }
  }
}
