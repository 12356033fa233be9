/**
 * Typed errors. Every failure the codecs can hit on bad input is a CodecError with a stable
 * `code`, so callers (the CLI, the dataset pipeline) can report one clear line and move on.
 */
export type CodecErrorCode =
  | 'truncated' // the stream ends before a required structure is complete
  | 'corrupt' // a structure is present but malformed
  | 'unsupported' // valid JPEG/H.264, but a feature this codec does not implement
  | 'too-large' // dimensions or size exceed the configured limit
  | 'invalid-argument' // the caller passed options that make no sense
  | 'not-an-image' // the bytes are not an image format we recognise
  | 'io'; // the file could not be read or written

export class CodecError extends Error {
  readonly code: CodecErrorCode;
  /** Byte offset into the input where the problem was detected, when known. */
  readonly offset: number | undefined;

  constructor(code: CodecErrorCode, message: string, offset?: number) {
    super(message);
    this.name = 'CodecError';
    this.code = code;
    this.offset = offset;
  }
}

export function isCodecError(e: unknown): e is CodecError {
  return e instanceof CodecError;
}
