import { CodecError } from './errors.js';

/**
 * A file's content given either as JSON text or as the parsed value (the library's fromJSON
 * functions take both); text that is not JSON is a CodecError.
 */
export function parseJsonInput(json: unknown): unknown {
  if (typeof json !== 'string') return json;
  try {
    return JSON.parse(json);
  } catch (e) {
    throw new CodecError('invalid-argument', `invalid JSON: ${(e as Error).message}`);
  }
}
