/**
 * What `jpeglm tokenize` / `detokenize` and `jpeglm avc tokenize` / `detokenize` share about
 * token files: telling a JSON file from uint16 ids, and writing sequences in either format.
 */
import { idsToUint16LE } from '@jpeglm/codec-tokenizer';
import { writeFileAtomic, writeStdout, emitBinary } from './io.js';

/** The first byte that is not JSON whitespace, or -1: `{` tokens file, `[` id array, else bin. */
export function firstSignificantByte(bytes: Uint8Array): number {
  for (const b of bytes) if (b !== 0x20 && b !== 0x09 && b !== 0x0a && b !== 0x0d) return b;
  return -1;
}

export interface TokenOutputOptions {
  readonly format: 'json' | 'bin';
  /** File, or undefined / '-' for stdout. */
  readonly output?: string;
  /** Also write the tokenizer's JSON file here. */
  readonly saveTokenizer?: string;
}

/**
 * Write tokenized sequences: `bin` puts their uint16 LE ids back to back, `json` writes the
 * self-describing tokens file `tokensFile` makes (which names the tokenizer).
 */
export async function writeTokenSequences<T extends { toJSON(): unknown }>(
  tokenizer: T,
  sequences: readonly { source: string; ids: Uint16Array }[],
  opts: TokenOutputOptions,
  tokensFile: (tokenizer: T, sequences: readonly { source: string; ids: Uint16Array }[]) => unknown,
): Promise<void> {
  if (opts.saveTokenizer !== undefined) {
    await writeFileAtomic(opts.saveTokenizer, `${JSON.stringify(tokenizer.toJSON(), null, 2)}\n`);
  }
  if (opts.format === 'bin') {
    const flat = new Uint16Array(sequences.reduce((n, s) => n + s.ids.length, 0));
    let o = 0;
    for (const s of sequences) {
      flat.set(s.ids, o);
      o += s.ids.length;
    }
    await emitBinary(idsToUint16LE(flat), opts.output);
    return;
  }
  const text = `${JSON.stringify(tokensFile(tokenizer, sequences))}\n`;
  if (opts.output === undefined || opts.output === '-') await writeStdout(text);
  else await writeFileAtomic(opts.output, text);
}
