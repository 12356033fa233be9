import { CodecError, type CodecErrorCode } from '@jpeglm/codec-tokenizer';

/**
 * A problem with a model: a missing or corrupt model file, a config that makes no sense, weights
 * whose shapes disagree with the config. It is a CodecError (same `code` vocabulary), so the CLI
 * reports it as one line with the bad-input exit code like any other library error.
 */
export class ModelError extends CodecError {
  constructor(code: CodecErrorCode, message: string, offset?: number) {
    super(code, message, offset);
    this.name = 'ModelError';
  }
}

export function isModelError(e: unknown): e is ModelError {
  return e instanceof ModelError;
}
